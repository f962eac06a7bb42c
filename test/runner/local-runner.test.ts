import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import nodeAssert from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalRunner, type LocalRunnerOptions } from '../../src/runner/local-runner.ts';
import { buildPlan } from '../../src/runner/cycle.ts';
import { listTestMethods, type LoadedTest } from '../../src/runner/loader.ts';
import type { TestCaseClass } from '../../src/runner/test-case.ts';
import { TestCase } from '../../src/index.ts';
import { Outcome } from '../../src/metrics/events.ts';
import {
  startHttpServer,
  startWsServer,
  type TestServer,
  type TestWsServer,
} from '../helpers/servers.ts';
import { CollectSink } from '../helpers/events.ts';

function loaded(testClass: TestCaseClass, methods = listTestMethods(testClass)): LoadedTest {
  return {
    fqn: `x.${testClass.name}`,
    file: '/x.ts',
    testClass,
    className: testClass.name,
    methods,
  };
}

interface Run {
  users: number[];
  hits?: number[];
  durationMs?: number;
  timeoutMs?: number;
  testTimeoutMs?: number;
  signal?: AbortSignal;
  serverUrl?: string;
}

function runner(testClass: TestCaseClass, run: Run, methods?: string[]) {
  const sink = new CollectSink();
  const options: LocalRunnerOptions = {
    test: loaded(testClass, methods),
    plan: buildPlan(
      run.users,
      run.durationMs === undefined ? (run.hits ?? null) : null,
      run.durationMs ?? null,
    ),
    sink,
    signal: run.signal ?? new AbortController().signal,
    timeoutMs: run.timeoutMs ?? 5000,
    testTimeoutMs: run.testTimeoutMs ?? 0,
    serverUrl: run.serverUrl,
  };
  return { runner: new LocalRunner(options), sink };
}

function timeouts(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

let server: TestServer;
let slowServer: TestServer;
let wsServer: TestWsServer;
let wsClosed = 0;

before(async () => {
  server = await startHttpServer((_req, res) => {
    res.end('ok');
  });
  slowServer = await startHttpServer((_req, res) => {
    setTimeout(() => res.end('slow'), 30);
  });
  wsServer = await startWsServer((socket) => {
    socket.on('close', () => {
      wsClosed++;
    });
  });
});

after(async () => {
  await server.close();
  await slowServer.close();
  await wsServer.close();
});

describe('LocalRunner in hits mode', () => {
  it('runs (2+3)×(2+1) test runs for users 2:3 × hits 2:1, users of a step at once', async () => {
    let inFlight = 0;
    const maxPerStep: number[] = [];
    class Site extends TestCase {
      async test_get() {
        const step = this.loadsStatus.cycleIndex;
        inFlight++;
        maxPerStep[step] = Math.max(maxPerStep[step] ?? 0, inFlight);
        try {
          const res = await this.session.get(`${slowServer.url}/`);
          this.assertEqual(res.status, 200);
        } finally {
          inFlight--;
        }
      }
    }
    const requestsBefore = slowServer.requests;
    const { runner: r, sink } = runner(Site, { users: [2, 3], hits: [2, 1] });
    assert.deepEqual(await r.run(), { interrupted: false });

    const endsPerStep = [0, 0, 0, 0];
    for (const end of sink.ofType('test-end')) {
      assert.equal(end.outcome, Outcome.SUCCESS, end.errorMessage);
      endsPerStep[end.cycleIndex]!++;
    }
    assert.deepEqual(endsPerStep, [2 * 2, 2 * 1, 3 * 2, 3 * 1]);
    assert.equal(sink.ofType('test-end').length, (2 + 3) * (2 + 1));
    assert.equal(sink.ofType('test-start').length, 15);
    assert.equal(sink.ofType('hit').length, 15);
    assert.equal(slowServer.requests - requestsBefore, 15);
    assert.deepEqual(maxPerStep, [2, 2, 3, 3]);
    assert.deepEqual(
      sink.ofType('cycle-start').map(({ cycleIndex, users, hits, durationMs }) => ({
        cycleIndex,
        users,
        hits,
        durationMs,
      })),
      [
        { cycleIndex: 0, users: 2, hits: 2, durationMs: 0 },
        { cycleIndex: 1, users: 2, hits: 1, durationMs: 0 },
        { cycleIndex: 2, users: 3, hits: 2, durationMs: 0 },
        { cycleIndex: 3, users: 3, hits: 1, durationMs: 0 },
      ],
    );
    // Steps run one after the other: each cycle-end comes before the next cycle-start.
    assert.deepEqual(
      sink.events
        .filter((e) => e.type === 'cycle-start' || e.type === 'cycle-end')
        .map((e) => `${e.type} ${e.cycleIndex}`),
      [
        'cycle-start 0',
        'cycle-end 0',
        'cycle-start 1',
        'cycle-end 1',
        'cycle-start 2',
        'cycle-end 2',
        'cycle-start 3',
        'cycle-end 3',
      ],
    );
  });

  it('calls every test method of the class in each run', async () => {
    class Two extends TestCase {
      async test_one() {}
      async test_two() {}
    }
    const { runner: r, sink } = runner(Two, { users: [3], hits: [2] });
    await r.run();
    const names = sink.ofType('test-end').map((e) => e.test);
    assert.equal(names.length, 3 * 2 * 2);
    assert.equal(names.filter((n) => n === 'Two.test_one').length, 6);
    assert.equal(names.filter((n) => n === 'Two.test_two').length, 6);
  });

  it('classifies runs per user, sees loadsStatus and counts incrCounter', async () => {
    const statuses: string[] = [];
    const order: string[] = [];
    class Mixed extends TestCase {
      override async setUp() {
        order.push(`setUp ${this.loadsStatus.currentUser}`);
      }
      override async tearDown() {
        order.push(`tearDown ${this.loadsStatus.currentUser}`);
      }
      async test_mixed() {
        const s = this.loadsStatus;
        statuses.push(
          `${s.cycleIndex}/${s.users}/${s.hits} user ${s.currentUser} hit ${s.currentHit}`,
        );
        this.incrCounter('calls');
        order.push(`test ${s.currentUser}`);
        if (s.currentUser === 2) {
          nodeAssert.equal(s.currentHit, 0);
        }
        if (s.currentUser === 3) {
          throw `user 3 threw on hit ${s.currentHit}`;
        }
      }
    }
    const { runner: r, sink } = runner(Mixed, { users: [3], hits: [2] });
    await r.run();
    assert.deepEqual(statuses.sort(), [
      '0/3/2 user 1 hit 1',
      '0/3/2 user 1 hit 2',
      '0/3/2 user 2 hit 1',
      '0/3/2 user 2 hit 2',
      '0/3/2 user 3 hit 1',
      '0/3/2 user 3 hit 2',
    ]);
    const byUser = sink
      .ofType('test-end')
      .map((e) => `${e.currentUser}:${e.currentHit} ${e.outcome} ${e.errorName} ${e.errorMessage}`)
      .sort();
    assert.deepEqual(byUser, [
      `1:1 ${Outcome.SUCCESS}  `,
      `1:2 ${Outcome.SUCCESS}  `,
      `2:1 ${Outcome.FAILURE} AssertionError 1 == 0`,
      `2:2 ${Outcome.FAILURE} AssertionError 2 == 0`,
      `3:1 ${Outcome.ERROR} Error user 3 threw on hit 1`,
      `3:2 ${Outcome.ERROR} Error user 3 threw on hit 2`,
    ]);
    assert.deepEqual(
      sink.ofType('counter').map((e) => `${e.name}+${e.value}`),
      Array(6).fill('calls+1'),
    );
    // For each user: setUp, test, tearDown, twice.
    for (const user of [1, 2, 3]) {
      assert.deepEqual(
        order.filter((line) => line.endsWith(` ${user}`)),
        [
          `setUp ${user}`,
          `test ${user}`,
          `tearDown ${user}`,
          `setUp ${user}`,
          `test ${user}`,
          `tearDown ${user}`,
        ],
      );
    }
  });

  it('bounds each run with testTimeoutMs, then the user goes on', async () => {
    class SometimesHangs extends TestCase {
      async test_maybe() {
        if (this.loadsStatus.currentHit === 1) {
          await new Promise(() => {});
        }
      }
    }
    const timersBefore = timeouts();
    const { runner: r, sink } = runner(SometimesHangs, {
      users: [2],
      hits: [3],
      testTimeoutMs: 40,
    });
    await r.run();
    assert.deepEqual(
      sink
        .ofType('test-end')
        .map((e) => `${e.currentUser}:${e.currentHit} ${e.outcome} ${e.errorMessage}`)
        .sort(),
      [
        `1:1 ${Outcome.ERROR} test run exceeded --test-timeout of 0.04 s; its requests and sockets were aborted`,
        `1:2 ${Outcome.SUCCESS} `,
        `1:3 ${Outcome.SUCCESS} `,
        `2:1 ${Outcome.ERROR} test run exceeded --test-timeout of 0.04 s; its requests and sockets were aborted`,
        `2:2 ${Outcome.SUCCESS} `,
        `2:3 ${Outcome.SUCCESS} `,
      ],
    );
    assert.equal(timeouts(), timersBefore);
  });

  it('closes the sockets a run left open', async () => {
    const closedBefore = wsClosed;
    class Sockets extends TestCase {
      async test_ws() {
        await this.createWs(wsServer.url);
      }
    }
    const { runner: r, sink } = runner(Sockets, { users: [2], hits: [2] });
    await r.run();
    assert.equal(sink.ofType('socket-open').length, 4);
    assert.equal(sink.ofType('socket-close').length, 4);
    assert.deepEqual(
      sink.ofType('test-end').map((e) => e.outcome),
      [Outcome.SUCCESS, Outcome.SUCCESS, Outcome.SUCCESS, Outcome.SUCCESS],
    );
    // The server sees the closes shortly after the client's close handshake.
    for (let i = 0; i < 100 && wsClosed - closedBefore < 4; i++) {
      await sleep(10);
    }
    assert.equal(wsClosed - closedBefore, 4);
  });
});

describe('LocalRunner in duration mode', () => {
  it('loops each user until the duration is over, then ends', async () => {
    class Loop extends TestCase {
      async test_loop() {
        await this.session.get(`${server.url}/`);
      }
    }
    const { runner: r, sink } = runner(Loop, { users: [2], durationMs: 300 });
    const started = Date.now();
    assert.deepEqual(await r.run(), { interrupted: false });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 290 && elapsed < 2000, `took ${elapsed} ms`);
    const ends = sink.ofType('test-end');
    assert.ok(ends.length >= 4, `only ${ends.length} runs`);
    assert.ok(ends.every((e) => e.outcome === Outcome.SUCCESS));
    assert.equal(sink.ofType('test-start').length, ends.length);
    assert.equal(sink.ofType('hit').length, ends.length);
    const cycleStart = sink.ofType('cycle-start')[0]!;
    assert.equal(cycleStart.durationMs, 300);
    assert.equal(cycleStart.hits, 0);
    // No run starts after the duration.
    for (const start of sink.ofType('test-start')) {
      assert.ok(start.startedAt < cycleStart.startedAt + 300 + 5);
    }
    // Both users ran, each counting its hits from 1.
    assert.deepEqual(new Set(ends.map((e) => e.currentUser)), new Set([1, 2]));
    assert.ok(ends.some((e) => e.currentHit === 1) && ends.some((e) => e.currentHit > 1));
  });

  it('ends even when a test never resolves, counting it as an error after the grace period, with no timer left', async () => {
    class Never extends TestCase {
      async test_never() {
        await new Promise(() => {});
      }
    }
    const timersBefore = timeouts();
    const { runner: r, sink } = runner(Never, { users: [2], durationMs: 100, timeoutMs: 100 });
    const started = Date.now();
    assert.deepEqual(await r.run(), { interrupted: false });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 190 && elapsed < 2000, `took ${elapsed} ms`);
    assert.deepEqual(
      sink
        .ofType('test-end')
        .map((e) => `${e.currentUser} ${e.outcome} ${e.errorName}: ${e.errorMessage}`),
      [1, 2].map(
        (user) =>
          `${user} ${Outcome.ERROR} TestRunAbandonedError: test run still running when the run ended (after the grace period of 0.1 s)`,
      ),
    );
    assert.equal(timeouts(), timersBefore);
    assert.equal(sink.ofType('cycle-end').length, 1);
  });

  it('also abandons a request that hangs on a silent server, aborting it and counting it once', async () => {
    const silent = await startHttpServer(() => {});
    class Silent extends TestCase {
      async test_silent() {
        await this.session.get(`${silent.url}/`, { timeout: 60 });
      }
    }
    try {
      const { runner: r, sink } = runner(Silent, { users: [1], durationMs: 50, timeoutMs: 50 });
      await r.run();
      assert.equal(sink.ofType('test-end').length, 1);
      assert.equal(sink.ofType('test-end')[0]!.errorName, 'TestRunAbandonedError');
      assert.deepEqual(
        sink.ofType('hit').map((h) => [h.status, h.errorKey]),
        [[0, 'ABORTED']],
      );
    } finally {
      await silent.close();
    }
  });
});

describe('LocalRunner abort', () => {
  it('stops at once without counting runs in flight', async () => {
    class Busy extends TestCase {
      async test_busy() {
        await this.session.get(`${slowServer.url}/`);
      }
    }
    const controller = new AbortController();
    const { runner: r, sink } = runner(Busy, {
      users: [3],
      hits: [1000],
      signal: controller.signal,
    });
    const running = r.run();
    await sleep(150);
    const aborted = Date.now();
    controller.abort();
    assert.deepEqual(await running, { interrupted: true });
    assert.ok(Date.now() - aborted < 1500, `took ${Date.now() - aborted} ms`);
    const ends = sink.ofType('test-end');
    const starts = sink.ofType('test-start');
    assert.ok(ends.length >= 3, `${ends.length} runs before the abort`);
    assert.ok(ends.every((e) => e.outcome === Outcome.SUCCESS));
    // Each user had one run in flight: started, not counted.
    assert.equal(starts.length - ends.length, 3);
    assert.equal(sink.ofType('hit').length, ends.length);
    const count = sink.events.length;
    await sleep(100);
    assert.equal(sink.events.length, count, 'no event after run() resolved');
  });

  it('returns promptly even when tests hang, with no timer left', async () => {
    class Hang extends TestCase {
      async test_hang() {
        await new Promise(() => {});
      }
    }
    const timersBefore = timeouts();
    const controller = new AbortController();
    const { runner: r, sink } = runner(Hang, {
      users: [2],
      durationMs: 60_000,
      testTimeoutMs: 30_000,
      signal: controller.signal,
    });
    const running = r.run();
    await sleep(30);
    controller.abort();
    assert.deepEqual(await running, { interrupted: true });
    assert.equal(sink.ofType('test-start').length, 2);
    assert.equal(sink.ofType('test-end').length, 0);
    assert.equal(timeouts(), timersBefore);
  });

  it('does nothing when the signal is already aborted', async () => {
    class Nothing extends TestCase {
      async test_nothing() {}
    }
    const { runner: r, sink } = runner(Nothing, {
      users: [1],
      hits: [1],
      signal: AbortSignal.abort(),
    });
    assert.deepEqual(await r.run(), { interrupted: true });
    assert.equal(sink.events.length, 0);
  });
});
