// --find-capacity's probe loop in process, against the example queue server
// (one request at a time, a fixed service time: a known capacity), with
// short probes so the suite stays quick.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { parseThreshold } from '../../src/metrics/thresholds.ts';
import { loadTest } from '../../src/runner/loader.ts';
import {
  capacityRunBoundMs,
  checkCapacityThresholds,
  probeVerdict,
  runCapacitySearch,
  type CapacityRunOptions,
} from '../../src/cli/capacity-run.ts';
import { UsageError } from '../../src/errors.ts';
import { spawnQueueServer } from '../helpers/queue-server.ts';
import { REPO_ROOT } from '../helpers/tmp-project.ts';

const EXAMPLES = path.join(REPO_ROOT, 'examples');

async function search(serviceMs: number, overrides: Partial<CapacityRunOptions> = {}) {
  const server = await spawnQueueServer(serviceMs);
  try {
    const test = await loadTest('capacity.TestQueue.test_get', EXAMPLES);
    const aggregator = new Aggregator();
    const outcome = await runCapacitySearch({
      test,
      fqn: 'capacity.TestQueue.test_get',
      cwd: EXAMPLES,
      // 300 ms rather than 200: on a loaded CI a stall of the machine of
      // 200 ms or so made a 2 s probe at 80 % of the capacity break p95<200ms
      // (three runs found 75/s of 100/s). Past the capacity, the queue of a
      // 2 s probe still outgrows 300 ms within 20 % of it.
      thresholds: [parseThreshold('p95<300ms'), parseThreshold('errors<1%')],
      startRate: 20,
      maxRate: null,
      precision: 0.1,
      durationMs: 2000,
      rampUpMs: 0,
      restMs: 300,
      maxUsers: 400,
      workers: 1,
      timeoutMs: 10_000,
      testTimeoutMs: 0,
      maxBodyBytes: undefined,
      discardBodies: false,
      transport: undefined,
      serverUrl: server.url,
      aggregator,
      eventSink: undefined,
      signal: new AbortController().signal,
      timelineOriginMs: Date.now(),
      ...overrides,
    });
    return { outcome, snapshot: aggregator.snapshot() };
  } finally {
    await server.close();
  }
}

// One search at a time: the load of two would share this process's loop.
describe('runCapacitySearch', () => {
  for (const serviceMs of [10, 20]) {
    const capacity = 1000 / serviceMs;
    it(`when the service takes ${serviceMs} ms a request then the capacity found is within 20 % of ${capacity}/s`, async (t) => {
      const probesOf = (r: Awaited<ReturnType<typeof search>>): string =>
        JSON.stringify(r.outcome.probes.map((p) => [p.rate, p.p95Ms]));
      const accurate = (r: Awaited<ReturnType<typeof search>>): boolean =>
        r.outcome.reason === 'found' &&
        r.outcome.heldRate !== null &&
        Math.abs(r.outcome.heldRate - capacity) / capacity <= 0.2;
      let result = await search(serviceMs);
      if (!accurate(result)) {
        // A search is a measurement of this machine too: on a loaded CI the
        // generator lagged 100+ ms at 40/s (generator-saturated), and a stall
        // of another suite's burst (npm, chromium) broke the 80/s probe at
        // p95 430-500 ms while 40/s held at 90-200 ms (held 75/s, in three
        // whole-suite runs; alone or beside a busy loop it finds 100-110/s).
        // So one search that missed searches once more; two that miss fail.
        t.diagnostic(
          `${result.outcome.reason}, held ${String(result.outcome.heldRate)}/s: ${probesOf(result)}; searching again`,
        );
        result = await search(serviceMs);
      }
      const { outcome, snapshot } = result;
      assert.equal(
        outcome.reason,
        'found',
        JSON.stringify(outcome.probes.map((p) => [p.rate, p.held, p.p95Ms])),
      );
      assert.ok(outcome.heldRate !== null && outcome.brokeRate !== null);
      const found = outcome.heldRate;
      assert.ok(
        Math.abs(found - capacity) / capacity <= 0.2,
        `held ${found}/s, broke ${outcome.brokeRate}/s; capacity ${capacity}/s; probes ${probesOf(result)}`,
      );
      // One step row per probe, in the run's aggregator.
      assert.equal(snapshot.steps.length, outcome.probes.length);
      assert.deepEqual(
        snapshot.steps.map((s) => s.rate),
        outcome.probes.map((p) => p.rate),
      );
      const broke = outcome.probes.find((p) => p.rate === outcome.brokeRate)!;
      assert.deepEqual(broke.broken, ['p95<300ms']);
    });
  }

  it('when the service is fast then the search reaches --max-rate and says so', async () => {
    const { outcome } = await search(0, { startRate: 10, maxRate: 40, durationMs: 1000 });
    assert.equal(outcome.reason, 'max-rate-held');
    assert.deepEqual(
      outcome.probes.map((p) => p.rate),
      [10, 20, 40],
    );
    assert.equal(outcome.heldRate, 40);
    assert.equal(outcome.brokeRate, null);
  });

  it('when the generator was saturated then a probe is untrusted unless it held at its rate, or broke by more than the generator delay', () => {
    const slo = [parseThreshold('p95<200ms'), parseThreshold('errors<1%')];
    const p95 = (ms: number) => ({
      expression: 'p95<200ms',
      passed: ms < 200,
      measured: ms,
      display: `${ms}ms`,
    });
    const errors = (percent: number) => ({
      expression: 'errors<1%',
      passed: percent < 1,
      measured: percent,
      display: `${percent}%`,
    });
    const verdict = (results: ReturnType<typeof p95>[], delayMs: number | null, share = 1) =>
      probeVerdict(slo, results, delayMs, share);
    // Held: trusted when the rate was delivered.
    assert.equal(verdict([p95(12), errors(0)], 80, 1).saturated, false);
    assert.equal(verdict([p95(12), errors(0)], 80, 0.9).saturated, true);
    // Broke on latency far past what the generator's delay explains: the service's doing.
    assert.deepEqual(verdict([p95(900), errors(0)], 80), {
      held: false,
      broken: ['p95<200ms'],
      saturated: false,
    });
    // Broke by less than the delay, or on errors: no verdict on the service.
    assert.equal(verdict([p95(250), errors(0)], 80).saturated, true);
    assert.equal(verdict([p95(900), errors(5)], 80).saturated, true);
    // A generator that kept up: every verdict stands.
    assert.equal(verdict([p95(250), errors(5)], null).saturated, false);
  });

  it('when the thresholds cannot judge a probe then the usage error says why', () => {
    assert.throws(() => checkCapacityThresholds([]), UsageError);
    assert.throws(
      () => checkCapacityThresholds([parseThreshold('step:2 p95<1s')]),
      /names a step, but with --find-capacity/,
    );
    assert.throws(() => checkCapacityThresholds([parseThreshold('rps>100')]), /judges the rate/);
    assert.equal(capacityRunBoundMs({ durationMs: 10_000, restMs: 3000 }), 12 * 10_000 + 11 * 3000);
  });
});
