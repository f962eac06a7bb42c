// The open model (--rate): the schedule as pure functions, the backlog
// queue, and LocalRunner running rate steps in process against a real
// server on 127.0.0.1 (the spawned CLI is covered in test/cli/rate.test.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  firstRunInShare,
  intendedStartMs,
  runsInStep,
  TimeQueue,
  type Schedule,
} from '../../src/runner/arrival.ts';
import { buildRatePlan, buildPlan, type CycleStep } from '../../src/runner/cycle.ts';
import { userStartMs } from '../../src/runner/staggered-start.ts';
import { LocalRunner, type LocalRunnerOptions } from '../../src/runner/local-runner.ts';
import { listTestMethods } from '../../src/runner/loader.ts';
import type { TestCaseClass } from '../../src/runner/test-case.ts';
import { TestCase } from '../../src/index.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { CollectSink } from '../helpers/events.ts';

const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-6;

describe('intendedStartMs', () => {
  it('is i / rate without ramp-up', () => {
    const schedule: Schedule = { rate: 200, rampUpMs: 0 };
    assert.equal(intendedStartMs(0, schedule), 0);
    assert.equal(intendedStartMs(1, schedule), 5);
    assert.equal(intendedStartMs(1999, schedule), 9995);
    assert.equal(intendedStartMs(1, { rate: 0.5, rampUpMs: 0 }), 2000);
  });

  it('inverts N(t) = R·t²/(2S) during the ramp-up, then R·S/2 + R·(t − S)', () => {
    const schedule: Schedule = { rate: 100, rampUpMs: 2000 };
    // N(S) = 100 × 2 / 2 = 100 runs during the ramp-up.
    assert.ok(close(intendedStartMs(100, schedule), 2000));
    assert.ok(close(intendedStartMs(25, schedule), 1000), 'N(1 s) = 100 × 1² / 4 = 25');
    assert.ok(close(intendedStartMs(101, schedule), 2010), 'full rate after the ramp-up');
    assert.ok(close(intendedStartMs(300, schedule), 4000));
    for (let i = 0; i < 400; i++) {
      const t = intendedStartMs(i, schedule) / 1000;
      const n = t <= 2 ? (100 * t * t) / 4 : 100 + 100 * (t - 2);
      assert.ok(Math.abs(n - i) < 1e-6, `N(t_${i}) = ${n}`);
      assert.ok(intendedStartMs(i + 1, schedule) > intendedStartMs(i, schedule), 'increasing');
    }
  });
});

describe('runsInStep', () => {
  it('counts every run due before the step ends', () => {
    assert.equal(runsInStep({ rate: 200, rampUpMs: 0, durationMs: 10_000 }), 2000);
    assert.equal(runsInStep({ rate: 50, rampUpMs: 0, durationMs: 2000 }), 100);
    assert.equal(runsInStep({ rate: 0.5, rampUpMs: 0, durationMs: 3000 }), 2, 'at 0 s and 2 s');
    assert.equal(runsInStep({ rate: 3, rampUpMs: 0, durationMs: 1001 }), 4, 'at 0, ⅓, ⅔, 1 s');
    assert.equal(runsInStep({ rate: 100, rampUpMs: 2000, durationMs: 4000 }), 300);
    assert.equal(runsInStep({ rate: 100, rampUpMs: 2000, durationMs: 1000 }), 25);
    assert.equal(runsInStep({ rate: 100, rampUpMs: 0, durationMs: 0 }), 0);
  });

  it('agrees with intendedStartMs at the boundary for many rates', () => {
    for (const rate of [0.3, 1, 7, 33.3, 99.9, 200, 1234.5]) {
      for (const rampUpMs of [0, 700, 2500]) {
        const step = { rate, rampUpMs, durationMs: 3000 };
        const runs = runsInStep(step);
        assert.ok(intendedStartMs(runs - 1, step) < 3000);
        assert.ok(intendedStartMs(runs, step) >= 3000);
      }
    }
  });

  it('split by share of the pool, the shares union to the whole schedule once, in proportion', () => {
    const step = { rate: 137, rampUpMs: 1500, durationMs: 5000 };
    const total = runsInStep(step);
    // [pool size, users per share]: even and uneven splits, as threaded-runner makes them.
    for (const [period, counts] of [
      [1, [1]],
      [3, [2, 1]],
      [10, [4, 3, 3]],
      [7, [2, 2, 2, 1]],
    ] as const) {
      const seen: number[] = [];
      let offset = 0;
      for (const count of counts) {
        const share = { offset, count, period };
        let mine = 0;
        for (let i = firstRunInShare(0, share); i < total; i = firstRunInShare(i + 1, share)) {
          assert.ok(i % period >= offset && i % period < offset + count);
          seen.push(i);
          mine++;
        }
        // Runs in proportion to the share's users (within one period's worth).
        assert.ok(Math.abs(mine - (total * count) / period) <= count, `${mine} of ${total}`);
        offset += count;
      }
      seen.sort((a, b) => a - b);
      assert.deepEqual(
        seen,
        Array.from({ length: total }, (_, i) => i),
      );
    }
  });
});

describe('userStartMs (closed-model ramp-up)', () => {
  it('starts user k of U at S × (k − 1) / U', () => {
    const step = { users: 20, rampUpMs: 3000 };
    assert.equal(userStartMs(1, step), 0);
    assert.equal(userStartMs(11, step), 1500);
    assert.equal(userStartMs(20, step), 2850);
  });
});

describe('TimeQueue', () => {
  it('is first in, first out across growth', () => {
    const queue = new TimeQueue();
    for (let i = 0; i < 50; i++) {
      queue.push(i);
    }
    for (let i = 0; i < 40; i++) {
      assert.equal(queue.shift(), i);
    }
    for (let i = 50; i < 300; i++) {
      queue.push(i);
    }
    assert.equal(queue.length, 260);
    assert.equal(queue.peek(), 40);
    for (let i = 40; i < 300; i++) {
      assert.equal(queue.shift(), i);
    }
    assert.equal(queue.length, 0);
  });
});

let fast: TestServer;
let slow: TestServer;

before(async () => {
  fast = await startHttpServer((_req, res) => res.end('ok'));
  slow = await startHttpServer((_req, res) => setTimeout(() => res.end('ok'), 200));
});

after(async () => {
  await fast.close();
  await slow.close();
});

function getter(url: string): TestCaseClass {
  return class TestGet extends TestCase {
    async test_one(): Promise<void> {
      await this.session.get(`${url}/one`);
    }
    async test_two(): Promise<void> {
      await this.session.get(`${url}/two`);
    }
  };
}

function rateRunner(
  testClass: TestCaseClass,
  plan: CycleStep[],
  extra: Partial<LocalRunnerOptions> = {},
): { runner: LocalRunner; sink: CollectSink } {
  const sink = new CollectSink();
  const runner = new LocalRunner({
    test: {
      fqn: 'x.TestGet',
      file: '/x.ts',
      testClass,
      className: 'TestGet',
      methods: listTestMethods(testClass),
    },
    plan,
    sink,
    signal: new AbortController().signal,
    timeoutMs: 5000,
    testTimeoutMs: 0,
    serverUrl: undefined,
    ...extra,
  });
  return { runner, sink };
}

function timeouts(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

describe('LocalRunner in rate mode', () => {
  it('starts the scheduled runs, each running every method, with users = max-users', async () => {
    const before = timeouts();
    // As many users as runs: nothing can be dropped, even on a loaded machine.
    const { runner, sink } = rateRunner(getter(fast.url), buildRatePlan([40], 1000, 40));
    assert.deepEqual(await runner.run(), { interrupted: false });
    const ends = sink.ofType('test-end');
    assert.equal(ends.length, 40 * 2, '40 runs of 2 methods');
    assert.equal(sink.ofType('dropped').length, 0);
    for (const end of ends) {
      assert.equal(end.users, 40);
      assert.ok(end.currentUser >= 1 && end.currentUser <= 40);
      assert.ok(end.lagMs >= 0);
    }
    const hits = sink.ofType('hit');
    assert.equal(hits.length, 80);
    // A run's hits carry the lag of that run, the same as its test-ends.
    const lagOf = new Map(ends.map((end) => [`${end.currentUser}/${end.currentHit}`, end.lagMs]));
    for (const hit of hits) {
      assert.equal(hit.lagMs, lagOf.get(`${hit.currentUser}/${hit.currentHit}`));
    }
    assert.ok(timeouts() <= before, 'no timer left');
  });

  it("loadsStatus: users = max-users, hits = 0, currentHit = the pool user's run count", async () => {
    const seen: { users: number; hits: number; currentUser: number; currentHit: number }[] = [];
    class Status extends TestCase {
      async test_status(): Promise<void> {
        const { users, hits, currentUser, currentHit } = this.loadsStatus;
        seen.push({ users, hits, currentUser, currentHit });
      }
    }
    const { runner } = rateRunner(Status, buildRatePlan([20], 500, 7));
    await runner.run();
    assert.equal(seen.length, 10);
    assert.ok(seen.every((status) => status.users === 7 && status.hits === 0));
    const byUser = new Map<number, number[]>();
    for (const status of seen) {
      byUser.set(status.currentUser, [
        ...(byUser.get(status.currentUser) ?? []),
        status.currentHit,
      ]);
    }
    for (const hits of byUser.values()) {
      assert.deepEqual(
        hits,
        hits.map((_, i) => i + 1),
      );
    }
  });

  it('queues runs when the pool is full, with their lag, and drops what the step end leaves', async () => {
    // 20 runs due in 1 s, one user, 400 ms per run (2 methods × 200 ms).
    const { runner, sink } = rateRunner(getter(slow.url), buildRatePlan([20], 1000, 1));
    await runner.run();
    const ends = sink.ofType('test-end');
    const dropped = sink.ofType('dropped');
    assert.ok(ends.length > 0 && ends.length % 2 === 0, `${ends.length} test-ends`);
    assert.ok(ends.length < 20, 'far fewer runs than scheduled');
    assert.ok(dropped.length >= 1);
    const droppedRuns = dropped.reduce((sum, event) => sum + event.count, 0);
    assert.equal(droppedRuns % 2, 0, 'in test-run units: 2 per dropped iteration');
    assert.equal(ends.length + droppedRuns, 20 * 2, 'runs + dropped = the schedule');
    assert.ok(Math.max(...ends.map((end) => end.lagMs)) > 300, 'backlog runs started late');
    assert.ok(ends.every((end) => end.currentUser === 1));
  });

  it('drops a backlog run that would start more than the request timeout late', async () => {
    const { runner, sink } = rateRunner(getter(slow.url), buildRatePlan([20], 1000, 1), {
      timeoutMs: 300,
    });
    await runner.run();
    const ends = sink.ofType('test-end');
    const droppedRuns = sink.ofType('dropped').reduce((sum, event) => sum + event.count, 0);
    assert.equal(ends.length + droppedRuns, 40);
    for (const end of ends) {
      // Without the drop, the last runs would start ~900 ms late.
      assert.ok(end.lagMs < 500, `lag ${end.lagMs}`);
    }
  });

  it('two shares of the pool run the whole schedule between them, users numbered globally', async () => {
    // 15 users per share for 15 runs each: nothing can be dropped.
    const plan = buildRatePlan([30], 1000, 30);
    const a = rateRunner(getter(fast.url), plan, {
      runShare: { offset: 0, count: 15, period: 30 },
      userShare: { offset: 0, count: 15 },
    });
    const b = rateRunner(getter(fast.url), plan, {
      runShare: { offset: 15, count: 15, period: 30 },
      userShare: { offset: 15, count: 15 },
    });
    await Promise.all([a.runner.run(), b.runner.run()]);
    assert.equal(a.sink.ofType('test-end').length, 15 * 2);
    assert.equal(b.sink.ofType('test-end').length, 15 * 2);
    assert.ok(a.sink.ofType('test-end').every((end) => end.currentUser <= 15));
    assert.ok(b.sink.ofType('test-end').every((end) => end.currentUser >= 16));
  });

  it('rises with the ramp-up: fewer runs in its first half than in the second', async () => {
    const { runner, sink } = rateRunner(getter(fast.url), buildRatePlan([100], 1500, 10, 1000));
    await runner.run();
    const starts = sink.ofType('test-start').filter((event) => event.test.endsWith('test_one'));
    assert.equal(starts.length, runsInStep({ rate: 100, rampUpMs: 1000, durationMs: 1500 }));
    const t0 = sink.ofType('cycle-start')[0]!.startedAt;
    const firstHalf = starts.filter((event) => event.startedAt - t0 < 500).length;
    const secondHalf = starts.filter((event) => {
      const t = event.startedAt - t0;
      return t >= 500 && t < 1000;
    }).length;
    assert.ok(firstHalf < secondHalf, `${firstHalf} then ${secondHalf}`);
  });

  it('stops at once on abort, counting no run in flight, with no timer left', async () => {
    class Hang extends TestCase {
      async test_hang(): Promise<void> {
        await new Promise(() => {});
      }
    }
    const before = timeouts();
    const controller = new AbortController();
    const { runner, sink } = rateRunner(Hang, buildRatePlan([50], 10_000, 3), {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 300);
    const started = performance.now();
    assert.deepEqual(await runner.run(), { interrupted: true });
    assert.ok(performance.now() - started < 2000);
    assert.equal(sink.ofType('test-start').length, 3, 'the pool filled up');
    assert.equal(sink.ofType('test-end').length, 0, 'runs in flight are not counted');
    assert.equal(sink.ofType('dropped').length, 0, 'Ctrl-C drops nothing');
    assert.ok(timeouts() <= before, 'no timer left');
  });
});

describe('LocalRunner closed model with --ramp-up', () => {
  it('staggers the users of a hits step and still runs every hit', async () => {
    const { runner, sink } = rateRunner(getter(fast.url), buildPlan([4], [2], null, 600));
    const before = timeouts();
    await runner.run();
    const starts = sink.ofType('test-start').filter((event) => event.test.endsWith('test_one'));
    assert.equal(starts.length, 8);
    const t0 = sink.ofType('cycle-start')[0]!.startedAt;
    const firstOf = (user: number): number =>
      Math.min(...starts.filter((e) => e.currentUser === user).map((e) => e.startedAt - t0));
    assert.ok(firstOf(4) >= 450 - 5, `user 4 starts at ${firstOf(4)} ms (due at 450)`);
    assert.ok(firstOf(1) < 100);
    assert.ok(timeouts() <= before, 'no timer left');
  });

  it('cancels the staggered starts on abort', async () => {
    const before = timeouts();
    const controller = new AbortController();
    const { runner, sink } = rateRunner(getter(fast.url), buildPlan([10], null, 5000, 4000), {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 200);
    assert.deepEqual(await runner.run(), { interrupted: true });
    const users = new Set(sink.ofType('test-start').map((event) => event.currentUser));
    assert.ok(!users.has(10), 'user 10 (due at 3.6 s) never started');
    assert.ok(timeouts() <= before, 'no timer left');
  });
});
