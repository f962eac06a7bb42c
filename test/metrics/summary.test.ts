import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { Outcome } from '../../src/metrics/events.ts';
import type { HitEvent, TestEndEvent } from '../../src/metrics/events.ts';
import { buildSummary } from '../../src/metrics/summary.ts';
import type { RunInfo } from '../../src/metrics/summary.ts';
import { assessGeneratorLoad } from '../../src/metrics/loop-monitor.ts';

const T0 = 1_800_000_000_000;

const INFO: RunInfo = {
  startedAt: T0,
  fqn: 'example.Foo.test_a',
  projectName: 'demo',
  users: [2],
  hits: [5],
  durationMs: null,
  rate: null,
  maxUsers: null,
  rampUpMs: 0,
};

function hit(url: string, status: number, elapsedMs: number): HitEvent {
  return {
    type: 'hit',
    method: 'GET',
    url,
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
      { thread: 'main', delayP99Ms: 2, delayMaxMs: 8, utilization: 0.4 },
      { thread: 'worker 1', delayP99Ms: 70, delayMaxMs: 90, utilization: 0.95 },
    ]);
    const s = buildSummary(aggregatorWithRun().snapshot(), INFO, T0 + 2000, false, generator);
    assert.deepEqual(s.generator, {
      threads: [
        { thread: 'main', delayP99Ms: 2, delayMaxMs: 8, utilization: 0.4 },
        { thread: 'worker 1', delayP99Ms: 70, delayMaxMs: 90, utilization: 0.95 },
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
