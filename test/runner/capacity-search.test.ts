// The --find-capacity search on a simulated service (no network): a service
// holds the SLO up to a known rate and breaks it above.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CapacitySearch,
  DEFAULT_CAPACITY_SEARCH,
  roundRate,
  type CapacityResult,
  type CapacitySearchOptions,
} from '../../src/runner/capacity-search.ts';

function search(
  capacity: number,
  options: Partial<CapacitySearchOptions> = {},
  saturatedFrom = Infinity,
): CapacityResult {
  const s = new CapacitySearch({
    ...DEFAULT_CAPACITY_SEARCH,
    startRate: 10,
    maxRate: null,
    ...options,
  });
  for (let rate = s.next(); rate !== null; rate = s.next()) {
    const held = rate <= capacity;
    s.record({ held, broken: held ? [] : ['p95<200ms'], saturated: rate >= saturatedFrom });
  }
  return s.result();
}

describe('CapacitySearch', () => {
  it('when the service holds up to 100/s then the rate doubles, then bisects to within 5 %', () => {
    const result = search(100);
    assert.deepEqual(
      result.probes.map((p) => p.rate),
      [10, 20, 40, 80, 160, 120, 100, 110, 105],
    );
    assert.equal(result.reason, 'found');
    assert.equal(result.heldRate, 100);
    assert.equal(result.brokeRate, 105);
    assert.ok((result.brokeRate! - result.heldRate!) / result.heldRate! <= 0.05);
    assert.deepEqual(result.probes[4]!.broken, ['p95<200ms']);
  });

  it('when the precision is 20 % then fewer probes are run', () => {
    const result = search(100, { precision: 0.2 });
    assert.deepEqual(
      result.probes.map((p) => p.rate),
      [10, 20, 40, 80, 160, 120, 100],
    );
    assert.equal(result.heldRate, 100);
    assert.equal(result.brokeRate, 120);
  });

  it('when the probe limit is reached first then the search stops there and says so', () => {
    const result = search(100, { maxProbes: 6 });
    assert.equal(result.probes.length, 6);
    assert.equal(result.reason, 'probe-limit');
    assert.equal(result.heldRate, 80);
    assert.equal(result.brokeRate, 120);
  });

  it('when --max-rate holds then the search ends at it', () => {
    const result = search(1e9, { maxRate: 50 });
    assert.deepEqual(
      result.probes.map((p) => p.rate),
      [10, 20, 40, 50],
    );
    assert.equal(result.reason, 'max-rate-held');
    assert.equal(result.heldRate, 50);
    assert.equal(result.brokeRate, null);
  });

  it('when even the first rate breaks then nothing held', () => {
    const result = search(5);
    assert.deepEqual(
      result.probes.map((p) => p.rate),
      [10],
    );
    assert.equal(result.reason, 'first-rate-broke');
    assert.equal(result.heldRate, null);
    assert.equal(result.brokeRate, 10);
  });

  it('when a probe saturates the generator then the search stops without blaming the service', () => {
    const result = search(1000, {}, 80);
    assert.deepEqual(
      result.probes.map((p) => p.rate),
      [10, 20, 40, 80],
    );
    assert.equal(result.reason, 'generator-saturated');
    assert.equal(result.heldRate, 40);
    assert.equal(result.brokeRate, null);
  });

  it('when the capacity is unknown then the probe count never passes the limit', () => {
    for (const capacity of [1, 7, 33, 99, 250, 1234, 5e4]) {
      const result = search(capacity);
      assert.ok(result.probes.length <= DEFAULT_CAPACITY_SEARCH.maxProbes, `${capacity}`);
      if (result.reason === 'found') {
        assert.ok(result.heldRate! <= capacity && capacity < result.brokeRate!, `${capacity}`);
      }
    }
  });

  it('when rates are rounded then they keep three significant digits', () => {
    assert.deepEqual(
      [roundRate(12.345), roundRate(187.4), roundRate(1234.5), roundRate(0.1234)],
      [12.3, 187, 1230, 0.123],
    );
  });
});
