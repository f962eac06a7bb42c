import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { Outcome } from '../../src/metrics/events.ts';
import type { HitEvent, TestEndEvent } from '../../src/metrics/events.ts';
import { buildSummary } from '../../src/metrics/summary.ts';
import type { Snapshot, StepSnapshot } from '../../src/metrics/aggregator.ts';
import { LatencyHistogram } from '../../src/metrics/histogram.ts';
import type { RunInfo } from '../../src/metrics/summary.ts';
import { assessGeneratorLoad } from '../../src/metrics/loop-monitor.ts';

const T0 = 1_800_000_000_000;

const INFO: RunInfo = {
  startedAt: T0,
  fqn: 'example.Foo.test_a',
  projectName: 'demo',
  version: '0.1.0',
  users: [2],
  hits: [5],
  durationMs: null,
  rate: null,
  maxUsers: null,
  rampUpMs: 0,
  workers: 1,
};

function hit(url: string, status: number, elapsedMs: number): HitEvent {
  return {
    type: 'hit',
    method: 'GET',
    url,
    name: '',
    status,
    errorKey: status === 0 ? 'ECONNREFUSED' : '',
    startedAt: T0,
    elapsedMs,
    bytes: 0,
    test: 'Foo.test_a',
    cycleIndex: 0,
    currentUser: 1,
    currentHit: 1,
    lagMs: 0,
    protocol: 'h1',
  };
}

function testEnd(outcome: Outcome, name = '', message = ''): TestEndEvent {
  return {
    type: 'test-end',
    test: 'Foo.test_a',
    startedAt: T0,
    elapsedMs: 1,
    outcome,
    errorName: name,
    errorMessage: message,
    errorStack: name === '' ? '' : `${name}: ${message}\n    at here`,
    cycleIndex: 0,
    users: 2,
    currentUser: 1,
    currentHit: 1,
    lagMs: 0,
  };
}

function aggregatorWithRun(): Aggregator {
  const a = new Aggregator();
  // 8 fast hits on /fast (40 ms), 2 slow ones on /slow (500 ms, one 500 error).
  for (let i = 0; i < 8; i++) {
    a.emit(hit(`http://h/fast?i=${i}`, 200, 40));
  }
  a.emit(hit('http://h/slow', 200, 500));
  a.emit(hit('http://h/slow', 500, 500));
  for (let i = 0; i < 6; i++) {
    a.emit(testEnd(Outcome.SUCCESS));
  }
  // Five distinct errors with counts 4, 3, 2, 1, 1: the summary keeps the top 3.
  const errors: [string, number][] = [
    ['a', 1],
    ['b', 4],
    ['c', 2],
    ['d', 3],
    ['e', 1],
  ];
  for (const [message, count] of errors) {
    for (let i = 0; i < count; i++) {
      a.emit(testEnd(Outcome.ERROR, 'Error', message));
    }
  }
  a.emit(testEnd(Outcome.FAILURE, 'AssertionError', 'nope'));
  a.emit({ type: 'socket-open', url: 'ws://h', startedAt: T0 });
  a.emit({ type: 'socket-message', url: 'ws://h', bytes: 42 });
  a.emit({ type: 'counter', name: 'logins', value: 7 });
  return a;
}

describe('buildSummary', () => {
  it('when a run lasted 2 s with 10 hits then durations, RPS and counts are exact', () => {
    const s = buildSummary(aggregatorWithRun().snapshot(), INFO, T0 + 2000, false);
    assert.equal(s.projectName, 'demo');
    assert.equal(s.fqn, 'example.Foo.test_a');
    assert.equal(s.hits, 10);
    assert.equal(s.startedAt, T0);
    assert.equal(s.endedAt, T0 + 2000);
    assert.equal(s.durationS, 2);
    assert.equal(s.rps, 5);
    assert.equal(s.successes, 6);
    assert.equal(s.errors, 11);
    assert.equal(s.failures, 1);
    assert.equal(s.socketsOpened, 1);
    assert.equal(s.wsMessages, 1);
    assert.equal(s.wsBytesReceived, 42);
    assert.equal(s.hitErrors, 1);
    assert.deepEqual(s.statusCounts, { '500': 1 });
    assert.deepEqual(s.counters, { logins: 7 });
    assert.deepEqual(s.perTest, { 'Foo.test_a': { successes: 6, failures: 1, errors: 11 } });
    assert.equal(s.interrupted, false);
  });

  it('when latencies are 8×40 ms and 2×500 ms then mean and percentiles are in seconds', () => {
    const s = buildSummary(aggregatorWithRun().snapshot(), INFO, T0 + 2000, false);
    // (8×40 + 2×500) / 10 = 132 ms, within HDR precision.
    assert.ok(Math.abs(s.avgRequestTimeS - 0.132) < 0.132 * 0.001, `avg ${s.avgRequestTimeS}`);
    // HDR reports the highest value of each bucket: 40 ms → 40.031, 500 ms → 500.223.
    assert.equal(s.latency.p50, 0.040031);
    assert.equal(s.latency.p90, 0.500223);
    assert.equal(s.latency.p99, 0.500223);
    assert.equal(s.latency.max, 0.500223);
  });

  it('when errors have different counts then only the three most frequent are kept', () => {
    const s = buildSummary(aggregatorWithRun().snapshot(), INFO, T0 + 2000, false);
    assert.deepEqual(
      s.topErrors.map((e) => [e.count, e.name, e.message]),
      [
        [4, 'Error', 'b'],
        [3, 'Error', 'd'],
        [2, 'Error', 'c'],
      ],
    );
    assert.equal(s.topErrors[0]?.stack, 'Error: b\n    at here');
    assert.deepEqual(
      s.topFailures.map((e) => [e.count, e.name, e.message]),
      [[1, 'AssertionError', 'nope']],
    );
  });

  it('when URLs differ in speed then they are sorted slowest first with success rates', () => {
    const s = buildSummary(aggregatorWithRun().snapshot(), INFO, T0 + 2000, false);
    assert.deepEqual(
      s.urls.map((u) => [u.key, u.hits, u.successRate]),
      [
        ['GET http://h/slow', 2, 0.5],
        ['GET http://h/fast', 8, 1],
      ],
    );
    assert.equal(s.slowestUrl?.key, 'GET http://h/slow');
    // Means use each bucket's middle value: 500 ms → 500.096, 40 ms → 40.016.
    assert.equal(s.slowestUrl?.avgS, 0.500096);
    assert.equal(s.slowestUrl?.p95S, 0.500223);
    assert.ok(Math.abs((s.urls[1]?.avgS ?? 0) - 0.040016) < 1e-12);
  });

  it('when nothing ran then every number is 0 and there is no slowest URL', () => {
    const s = buildSummary(new Aggregator().snapshot(), INFO, T0, true);
    assert.equal(s.hits, 0);
    assert.equal(s.durationS, 0);
    assert.equal(s.rps, 0);
    assert.equal(s.avgRequestTimeS, 0);
    assert.deepEqual(s.latency, { p50: 0, p90: 0, p95: 0, p99: 0, max: 0 });
    assert.equal(s.slowestUrl, null);
    assert.deepEqual(s.urls, []);
    assert.equal(s.interrupted, true);
  });

  it('when no generator load is given then the summary has generator null', () => {
    const s = buildSummary(aggregatorWithRun().snapshot(), INFO, T0 + 2000, false);
    assert.equal(s.generator, null);
  });

  it('when a generator load is given then the summary carries it unchanged', () => {
    const generator = assessGeneratorLoad([
      {
        thread: 'main',
        monitoredMs: 3000,
        judgedMs: 2500,
        delayP99Ms: 2,
        delayMaxMs: 8,
        utilization: 0.4,
      },
      {
        thread: 'worker 1',
        monitoredMs: 3000,
        judgedMs: 2500,
        delayP99Ms: 70,
        delayMaxMs: 90,
        utilization: 0.95,
      },
    ]);
    const s = buildSummary(aggregatorWithRun().snapshot(), INFO, T0 + 2000, false, generator);
    assert.deepEqual(s.generator, {
      threads: [
        {
          thread: 'main',
          monitoredMs: 3000,
          judgedMs: 2500,
          delayP99Ms: 2,
          delayMaxMs: 8,
          utilization: 0.4,
        },
        {
          thread: 'worker 1',
          monitoredMs: 3000,
          judgedMs: 2500,
          delayP99Ms: 70,
          delayMaxMs: 90,
          utilization: 0.95,
        },
      ],
      saturated: true,
      reason: 'event-loop delay p99 70 ms on worker 1; worker 1 busy 95% of the time',
    });
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  });

  it('when built then the summary is plain JSON data', () => {
    const s = buildSummary(aggregatorWithRun().snapshot(), INFO, T0 + 2000, false);
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  });
});

function encoded(...ms: number[]): string {
  const h = new LatencyHistogram();
  for (const v of ms) {
    h.record(v);
  }
  return h.encode();
}

function stepSnapshot(overrides: Partial<StepSnapshot> & { cycleIndex: number }): StepSnapshot {
  return {
    users: 0,
    runsPerUser: 0,
    rate: 0,
    startedAt: 0,
    elapsedMs: 0,
    hits: 0,
    hitErrors: 0,
    hits5xx: 0,
    successes: 0,
    failures: 0,
    errors: 0,
    dropped: 0,
    latency: encoded(),
    ...overrides,
  };
}

/** A hand-built snapshot of a run of `steps`, totals summed from the steps. */
function snapshotOf(steps: StepSnapshot[], overrides: Partial<Snapshot> = {}): Snapshot {
  const sum = (key: 'hits' | 'hitErrors' | 'successes' | 'failures' | 'errors' | 'dropped') =>
    steps.reduce((total, step) => total + step[key], 0);
  const all = new LatencyHistogram();
  for (const step of steps) {
    all.merge(LatencyHistogram.decode(step.latency));
  }
  return {
    ...new Aggregator().snapshot(),
    hits: sum('hits'),
    hitErrors: sum('hitErrors'),
    latency: all.encode(),
    serviceLatency: all.encode(),
    tests: { successes: sum('successes'), failures: sum('failures'), errors: sum('errors') },
    dropped: sum('dropped'),
    steps,
    ...overrides,
  };
}

describe('buildSummary steps', () => {
  const steps = [
    stepSnapshot({
      cycleIndex: 0,
      users: 10,
      runsPerUser: 20,
      startedAt: T0,
      elapsedMs: 2000,
      hits: 400,
      successes: 200,
      latency: encoded(...Array<number>(400).fill(10)),
    }),
    stepSnapshot({
      cycleIndex: 1,
      users: 20,
      runsPerUser: 20,
      startedAt: T0 + 2000,
      elapsedMs: 4000,
      hits: 800,
      hitErrors: 30,
      hits5xx: 20,
      successes: 370,
      failures: 10,
      errors: 20,
      latency: encoded(...Array<number>(700).fill(50), ...Array<number>(100).fill(900)),
    }),
  ];

  it('when a cycle has two steps then there is one row per step with its counts, RPS and percentiles', () => {
    const s = buildSummary(
      snapshotOf(steps),
      { ...INFO, users: [10, 20], hits: [20] },
      T0 + 6000,
      false,
    );
    assert.equal(s.steps.length, 2);
    assert.deepEqual(s.steps[0], {
      step: 1,
      users: 10,
      runsPerUser: 20,
      rate: null,
      durationS: 2,
      runs: 200,
      successes: 200,
      failures: 0,
      errors: 0,
      dropped: 0,
      hits: 400,
      hitErrors: 0,
      hits5xx: 0,
      rps: 200,
      // HDR reports the highest value of each bucket: 10 ms → 10.007.
      p50S: 0.010007,
      p95S: 0.010007,
      p99S: 0.010007,
    });
    const second = s.steps[1]!;
    assert.equal(second.step, 2);
    assert.equal(second.users, 20);
    assert.equal(second.durationS, 4);
    assert.equal(second.runs, 400);
    assert.equal(second.failures, 10);
    assert.equal(second.errors, 20);
    assert.equal(second.hitErrors, 30);
    assert.equal(second.hits5xx, 20);
    assert.equal(second.rps, 200);
    // HDR bucket tops: 50 ms → 50.015, 900 ms → 900.095.
    assert.ok(Math.abs(second.p50S - 0.050015) < 1e-12, `p50 ${second.p50S}`);
    assert.ok(Math.abs(second.p95S - 0.900095) < 1e-12, `p95 ${second.p95S}`);
    assert.ok(Math.abs(second.p99S - 0.900095) < 1e-12, `p99 ${second.p99S}`);
  });

  it('when the rows are summed then runs, hits, errors and failures equal the totals', () => {
    const s = buildSummary(snapshotOf(steps), INFO, T0 + 6000, false);
    const total = (key: 'runs' | 'hits' | 'errors' | 'failures' | 'successes') =>
      s.steps.reduce((sum, row) => sum + row[key], 0);
    assert.equal(total('hits'), s.hits);
    assert.equal(total('runs'), s.successes + s.failures + s.errors);
    assert.equal(total('errors'), s.errors);
    assert.equal(total('failures'), s.failures);
    assert.equal(total('successes'), s.successes);
    assert.equal(s.hits, 1200);
  });

  it('when an aggregator saw a real two-step cycle then the rows sum to the totals', () => {
    const a = new Aggregator();
    for (const cycleIndex of [0, 1]) {
      a.emit({
        type: 'cycle-start',
        cycleIndex,
        users: cycleIndex + 1,
        hits: 3,
        durationMs: 0,
        rate: 0,
        rampUpMs: 0,
        startedAt: T0 + cycleIndex * 1000,
      });
      for (let i = 0; i < 3 * (cycleIndex + 1); i++) {
        a.emit({ ...hit('http://h/x', i === 0 ? 500 : 200, 5), cycleIndex });
        a.emit({ ...testEnd(i === 0 ? Outcome.ERROR : Outcome.SUCCESS, 'Error', 'x'), cycleIndex });
      }
      a.emit({ type: 'cycle-end', cycleIndex, elapsedMs: 500 });
    }
    const s = buildSummary(a.snapshot(), { ...INFO, users: [1, 2], hits: [3] }, T0 + 2000, false);
    assert.deepEqual(
      s.steps.map((r) => [r.step, r.users, r.runs, r.hits, r.errors, r.hits5xx, r.rps]),
      [
        [1, 1, 3, 3, 1, 1, 6],
        [2, 2, 6, 6, 1, 1, 12],
      ],
    );
    assert.equal(s.hits, 9);
    assert.equal(s.errors, 2);
    assert.equal(s.successes + s.errors + s.failures, 9);
  });

  it('when a single step has no duration then the run duration is used for its RPS', () => {
    const lone = stepSnapshot({ cycleIndex: 0, hits: 50, successes: 50 });
    const s = buildSummary(snapshotOf([lone]), INFO, T0 + 2500, false);
    assert.equal(s.steps[0]?.durationS, 2.5);
    assert.equal(s.steps[0]?.rps, 20);
  });

  it('when the last step never ended (Ctrl-C) then it lasted until the run ended', () => {
    const cut = [
      steps[0]!,
      stepSnapshot({ cycleIndex: 1, users: 20, startedAt: T0 + 2000, hits: 300 }),
    ];
    const s = buildSummary(snapshotOf(cut), INFO, T0 + 3000, true);
    assert.equal(s.steps[1]?.durationS, 1);
    assert.equal(s.steps[1]?.rps, 300);
  });

  it('when a step has no duration and no start among several then its RPS is 0', () => {
    const unknown = [steps[0]!, stepSnapshot({ cycleIndex: 1, hits: 10 })];
    const s = buildSummary(snapshotOf(unknown), INFO, T0 + 3000, true);
    assert.equal(s.steps[1]?.durationS, 0);
    assert.equal(s.steps[1]?.rps, 0);
  });

  it('when the model is open then rate, max users, dropped and both latencies are carried', () => {
    const open = [
      stepSnapshot({
        cycleIndex: 0,
        users: 50,
        rate: 100,
        startedAt: T0,
        elapsedMs: 1000,
        hits: 90,
        successes: 90,
        dropped: 10,
        latency: encoded(...Array<number>(90).fill(300)),
      }),
    ];
    const s = buildSummary(
      snapshotOf(open, { serviceLatency: encoded(...Array<number>(90).fill(20)) }),
      { ...INFO, rate: [100], maxUsers: 50 },
      T0 + 1000,
      false,
    );
    assert.deepEqual(s.rate, [100]);
    assert.equal(s.maxUsers, 50);
    assert.equal(s.dropped, 10);
    assert.equal(s.steps[0]?.dropped, 10);
    assert.equal(s.steps[0]?.rate, 100);
    // Response time (from the intended start) vs service time (from the actual start).
    assert.ok(Math.abs(s.latency.p50 - 0.300031) < 1e-9, `response p50 ${s.latency.p50}`);
    assert.ok(Math.abs(s.serviceTime.p50 - 0.020015) < 1e-9, `service p50 ${s.serviceTime.p50}`);
    assert.ok(Math.abs(s.avgRequestTimeS - 0.02) < 0.0001, `avg ${s.avgRequestTimeS}`);
  });

  it('when the model is closed then rate and max users are null, and each step rate too', () => {
    const s = buildSummary(aggregatorWithRun().snapshot(), INFO, T0 + 2000, false);
    assert.ok(s.steps.length >= 1);
    for (const step of s.steps) {
      assert.equal(step.rate, null, 'like the top-level rate, not 0');
    }
    const cycle = buildSummary(snapshotOf(steps), INFO, T0 + 3000, false);
    assert.deepEqual(
      cycle.steps.map((step) => step.rate),
      steps.map(() => null),
    );
    assert.equal(s.rate, null);
    assert.equal(s.maxUsers, null);
    assert.equal(s.dropped, 0);
    assert.deepEqual(s.serviceTime, s.latency);
  });
});
