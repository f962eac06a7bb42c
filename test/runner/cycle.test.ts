import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildPlan, buildRatePlan, countRuns } from '../../src/runner/cycle.ts';
import { UsageError } from '../../src/errors.ts';

describe('buildPlan', () => {
  it('defaults to one step of the given users, one hit each', () => {
    assert.deepEqual(buildPlan([1], null, null), [
      { cycleIndex: 0, users: 1, hits: 1, durationMs: 0, rate: 0, rampUpMs: 0 },
    ]);
  });

  it('takes users as the outer loop and hits as the inner one', () => {
    assert.deepEqual(buildPlan([2, 3], [2, 1], null), [
      { cycleIndex: 0, users: 2, hits: 2, durationMs: 0, rate: 0, rampUpMs: 0 },
      { cycleIndex: 1, users: 2, hits: 1, durationMs: 0, rate: 0, rampUpMs: 0 },
      { cycleIndex: 2, users: 3, hits: 2, durationMs: 0, rate: 0, rampUpMs: 0 },
      { cycleIndex: 3, users: 3, hits: 1, durationMs: 0, rate: 0, rampUpMs: 0 },
    ]);
  });

  it('makes one step per users value in duration mode, each lasting the duration', () => {
    assert.deepEqual(buildPlan([10, 20], null, 5000), [
      { cycleIndex: 0, users: 10, hits: 0, durationMs: 5000, rate: 0, rampUpMs: 0 },
      { cycleIndex: 1, users: 20, hits: 0, durationMs: 5000, rate: 0, rampUpMs: 0 },
    ]);
  });

  for (const [users, hits, durationMs, message] of [
    [[1], [1], 1000, '--hits and --duration cannot be used together; pick one'],
    [[], null, null, 'no users given; pass a count such as 10 or a cycle such as 10:20:30'],
    [[1], [], null, 'no hits given; pass a count such as 10 or a cycle such as 10:20:30'],
    [[0], null, null, 'bad users count 0: each must be a whole number of at least 1'],
    [[1.5], null, null, 'bad users count 1.5: each must be a whole number of at least 1'],
    [[1], [-2], null, 'bad hits count -2: each must be a whole number of at least 1'],
    [[1], null, 0, 'bad duration 0 ms: it must be more than 0'],
  ] as const) {
    it(`rejects users=${JSON.stringify(users)} hits=${JSON.stringify(hits)} duration=${durationMs}`, () => {
      assert.throws(
        () => buildPlan(users, hits, durationMs),
        (err: unknown) => err instanceof UsageError && err.message === message,
      );
    });
  }
});

describe('countRuns', () => {
  it('is the sum of users × hits × methods over the steps', () => {
    // SPEC §4: users 10:20:30 with hits 20 is (10+20+30)×20 = 1200 runs.
    assert.equal(countRuns(buildPlan([10, 20, 30], [20], null), 1), 1200);
    assert.equal(countRuns(buildPlan([2, 3], [2, 1], null), 2), (2 + 3) * (2 + 1) * 2);
  });

  it('counts 0 for duration steps', () => {
    assert.equal(countRuns(buildPlan([5], null, 1000), 1), 0);
  });

  it('counts the schedule of rate steps (runs × methods), the bound for share thresholds', () => {
    // 200/s for 10 s, then 50/s for 10 s ramped over 4 s (50·4/2 = 100 runs in the ramp + 300).
    assert.equal(countRuns(buildRatePlan([200], 10_000, 5), 2), 4000);
    assert.equal(countRuns(buildRatePlan([50], 10_000, 5, 4000), 1), 400);
  });
});

describe('buildPlan with --ramp-up', () => {
  it('puts the ramp-up on every step', () => {
    assert.deepEqual(
      buildPlan([2, 4], null, 5000, 3000).map((step) => step.rampUpMs),
      [3000, 3000],
    );
    assert.equal(buildPlan([2], [3], null, 10_000)[0]!.rampUpMs, 10_000, 'hits mode: any length');
  });

  it('rejects a ramp-up that is negative or not shorter than the duration', () => {
    assert.throws(() => buildPlan([1], null, 5000, -1), UsageError);
    assert.throws(() => buildPlan([1], null, 5000, 5000), /not shorter than the duration/);
  });
});

describe('buildRatePlan', () => {
  it('makes one step per rate, each lasting the duration, users = max-users', () => {
    assert.deepEqual(buildRatePlan([50, 0.5], 2000, 10, 500), [
      { cycleIndex: 0, users: 10, hits: 0, durationMs: 2000, rate: 50, rampUpMs: 500 },
      { cycleIndex: 1, users: 10, hits: 0, durationMs: 2000, rate: 0.5, rampUpMs: 500 },
    ]);
    assert.equal(countRuns(buildRatePlan([50], 2000, 10), 1), 100, 'the schedule: 50/s × 2 s');
  });

  for (const [rates, durationMs, maxUsers, rampUpMs] of [
    [[], 1000, 10, 0],
    [[0], 1000, 10, 0],
    [[-1], 1000, 10, 0],
    [[Number.NaN], 1000, 10, 0],
    [[5], 0, 10, 0],
    [[5], 1000, 0, 0],
    [[5], 1000, 10, 1000],
  ] as const) {
    it(`rejects rates=${JSON.stringify(rates)} duration=${durationMs} max-users=${maxUsers} ramp-up=${rampUpMs}`, () => {
      assert.throws(() => buildRatePlan(rates, durationMs, maxUsers, rampUpMs), UsageError);
    });
  }
});
