import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import nodeAssert from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import net, { type AddressInfo } from 'node:net';
import { VirtualUser, isAssertionError } from '../../src/runner/virtual-user.ts';
import { RunWatchdog } from '../../src/runner/run-watchdog.ts';
import type { CycleStep } from '../../src/runner/cycle.ts';
import type { TestCaseClass } from '../../src/runner/test-case.ts';
import { TestCase, LoadsError, type WsSocket } from '../../src/index.ts';
import { Outcome, type TestEndEvent } from '../../src/metrics/events.ts';
import {
  startHttpServer,
  startMuteWsServer,
  startSilentServer,
  startWsServer,
  type TestServer,
  type TestWsServer,
} from '../helpers/servers.ts';
import { CollectSink } from '../helpers/events.ts';

interface MakeUser {
  methods: string[];
  step?: Partial<CycleStep>;
  currentUser?: number;
  testTimeoutMs?: number;
  serverUrl?: string;
  watchdog?: RunWatchdog;
  timeoutMs?: number;
}

function makeUser(testClass: TestCaseClass, options: MakeUser) {
  const sink = new CollectSink();
  const controller = new AbortController();
  const user = new VirtualUser({
    testClass,
    className: testClass.name,
    methods: options.methods,
    step: {
      cycleIndex: 0,
      users: 1,
      hits: 1,
      durationMs: 0,
      rate: 0,
      rampUpMs: 0,
      ...options.step,
    },
    currentUser: options.currentUser ?? 1,
    sink,
    timeoutMs: options.timeoutMs ?? 5000,
    testTimeoutMs: options.testTimeoutMs ?? 0,
    serverUrl: options.serverUrl,
    signal: controller.signal,
    watchdog: options.watchdog,
  });
  return { user, sink, controller };
}

function ends(
  sink: CollectSink,
): Pick<TestEndEvent, 'test' | 'outcome' | 'errorName' | 'errorMessage'>[] {
  return sink.ofType('test-end').map(({ test, outcome, errorName, errorMessage }) => ({
    test,
    outcome,
    errorName,
    errorMessage,
  }));
}

let server: TestServer;
let wsServer: TestWsServer;

before(async () => {
  server = await startHttpServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`you asked for ${req.url}`);
  });
  wsServer = await startWsServer((socket) => {
    socket.on('message', (data, isBinary) => {
      if (data.toString() === 'die') {
        socket.terminate();
      } else {
        socket.send(data, { binary: isBinary });
      }
    });
  });
});

after(async () => {
  await server.close();
  await wsServer.close();
});

describe('VirtualUser events of several users', () => {
  it('fills every field of each test-start and test-end from its own user, also when abandoned', async () => {
    // The users of a thread share one event object per kind: runs that
    // interleave must not carry another user's fields.
    class Interleaved extends TestCase {
      async test_a(): Promise<void> {
        await sleep(3);
      }
      async test_b(): Promise<void> {
        await sleep(1);
      }
    }
    const step = { cycleIndex: 3, users: 2, hits: 3 };
    const one = makeUser(Interleaved, { methods: ['test_a', 'test_b'], step, currentUser: 1 });
    const two = makeUser(Interleaved, { methods: ['test_b', 'test_a'], step, currentUser: 2 });
    await Promise.all([one.user.run(), two.user.run()]);
    for (const [made, currentUser, first, second] of [
      [one, 1, 'Interleaved.test_a', 'Interleaved.test_b'],
      [two, 2, 'Interleaved.test_b', 'Interleaved.test_a'],
    ] as const) {
      const events = [...made.sink.ofType('test-start'), ...made.sink.ofType('test-end')];
      assert.equal(events.length, 12);
      for (const event of events) {
        assert.equal(event.currentUser, currentUser);
        assert.equal(event.cycleIndex, 3);
        assert.equal(event.users, 2);
      }
      assert.deepEqual(
        made.sink.ofType('test-end').map((end) => [end.test, end.currentHit, end.outcome]),
        [1, 1, 2, 2, 3, 3].map((hit, i) => [i % 2 === 0 ? first : second, hit, Outcome.SUCCESS]),
      );
    }

    // A run abandoned in flight ends as its own test, while another user runs.
    class Hangs extends TestCase {
      async test_hang(): Promise<void> {
        await sleep(10_000);
      }
    }
    const hanging = makeUser(Hangs, { methods: ['test_hang'], step, currentUser: 2 });
    const busy = makeUser(Interleaved, { methods: ['test_a'], step, currentUser: 1 });
    const done = hanging.user.run();
    await busy.user.run();
    hanging.user.abandon('left behind');
    await done;
    const [end] = hanging.sink.ofType('test-end');
    assert.equal(end?.test, 'Hangs.test_hang');
    assert.equal(end?.currentUser, 2);
    assert.equal(end?.errorMessage, 'left behind');
    await hanging.user.close();
  });
});

describe('VirtualUser outcomes', () => {
  class Outcomes extends TestCase {
    async test_ok() {}
    test_sync_ok() {}
    async test_assert() {
      this.assertEqual(1, 2, 'one is not two');
    }
    async test_node_assert() {
      nodeAssert.equal(1, 2);
    }
    async test_type_error() {
      throw new TypeError('bad type');
    }
    async test_string() {
      throw 'just a string';
    }
    test_reject() {
      return Promise.reject(new RangeError('rejected'));
    }
    test_sync_throw() {
      throw new Error('sync');
    }
    async test_fail() {
      this.fail('gave up');
    }
  }

  it('classifies success, failure (ours and node:assert) and error (throw, rejection, string)', async () => {
    const methods = [
      'test_ok',
      'test_sync_ok',
      'test_assert',
      'test_node_assert',
      'test_type_error',
      'test_string',
      'test_reject',
      'test_sync_throw',
      'test_fail',
    ];
    const { user, sink } = makeUser(Outcomes, { methods });
    await user.run();
    assert.deepEqual(ends(sink), [
      { test: 'Outcomes.test_ok', outcome: Outcome.SUCCESS, errorName: '', errorMessage: '' },
      { test: 'Outcomes.test_sync_ok', outcome: Outcome.SUCCESS, errorName: '', errorMessage: '' },
      {
        test: 'Outcomes.test_assert',
        outcome: Outcome.FAILURE,
        errorName: 'AssertionError',
        errorMessage: '1 != 2 : one is not two',
      },
      {
        test: 'Outcomes.test_node_assert',
        outcome: Outcome.FAILURE,
        errorName: 'AssertionError',
        errorMessage: '1 == 2',
      },
      {
        test: 'Outcomes.test_type_error',
        outcome: Outcome.ERROR,
        errorName: 'TypeError',
        errorMessage: 'bad type',
      },
      {
        test: 'Outcomes.test_string',
        outcome: Outcome.ERROR,
        errorName: 'Error',
        errorMessage: 'just a string',
      },
      {
        test: 'Outcomes.test_reject',
        outcome: Outcome.ERROR,
        errorName: 'RangeError',
        errorMessage: 'rejected',
      },
      {
        test: 'Outcomes.test_sync_throw',
        outcome: Outcome.ERROR,
        errorName: 'Error',
        errorMessage: 'sync',
      },
      {
        test: 'Outcomes.test_fail',
        outcome: Outcome.FAILURE,
        errorName: 'AssertionError',
        errorMessage: 'gave up',
      },
    ]);
    const starts = sink.ofType('test-start');
    assert.deepEqual(
      starts.map((e) => e.test),
      methods.map((m) => `Outcomes.${m}`),
    );
    // A thrown string has no stack; an Error's stack keeps the user's frames only.
    const stringEnd = sink.ofType('test-end')[5]!;
    assert.equal(stringEnd.errorStack, '');
    const assertEnd = sink.ofType('test-end')[2]!;
    const frames = assertEnd.errorStack.split('\n');
    assert.match(frames[0]!, /^\s+at .*Outcomes\.test_assert/);
    assert.ok(
      frames.every((frame) => !/src[\\/](runner|client)[\\/]/.test(frame)),
      assertEnd.errorStack,
    );
  });

  it('emits events with their context and a fixed shape', async () => {
    const { user, sink } = makeUser(Outcomes, {
      methods: ['test_ok'],
      step: { cycleIndex: 3, users: 4, hits: 2 },
      currentUser: 2,
    });
    await user.run();
    const [start1, end1, start2, end2] = sink.events;
    assert.deepEqual(Object.keys(start1!), [
      'type',
      'test',
      'startedAt',
      'cycleIndex',
      'users',
      'currentUser',
      'currentHit',
    ]);
    assert.deepEqual(
      { ...start1, startedAt: 0 },
      {
        type: 'test-start',
        test: 'Outcomes.test_ok',
        startedAt: 0,
        cycleIndex: 3,
        users: 4,
        currentUser: 2,
        currentHit: 1,
      },
    );
    assert.deepEqual(
      { ...end2, startedAt: 0, elapsedMs: 0 },
      {
        type: 'test-end',
        test: 'Outcomes.test_ok',
        startedAt: 0,
        elapsedMs: 0,
        outcome: Outcome.SUCCESS,
        errorName: '',
        errorMessage: '',
        errorStack: '',
        cycleIndex: 3,
        users: 4,
        currentUser: 2,
        currentHit: 2,
        lagMs: 0,
      },
    );
    assert.equal(start2?.type, 'test-start');
    assert.equal(end1?.type, 'test-end');
    assert.ok(end1.type === 'test-end' && start1?.type === 'test-start');
    assert.equal(end1.startedAt, start1.startedAt);
    assert.ok(end1.elapsedMs >= 0 && end1.elapsedMs < 5000);
    assert.ok(Math.abs(start1.startedAt - Date.now()) < 60_000);
  });

  it('recognises assertion errors by name or code only', () => {
    assert.equal(isAssertionError(new nodeAssert.AssertionError({ message: 'x' })), true);
    assert.equal(isAssertionError({ name: 'AssertionError', message: 'x' }), true);
    assert.equal(isAssertionError(Object.assign(new Error('x'), { code: 'ERR_ASSERTION' })), true);
    assert.equal(isAssertionError(new TypeError('x')), false);
    assert.equal(isAssertionError('AssertionError'), false);
    assert.equal(isAssertionError(null), false);
  });
});

describe('VirtualUser setUp and tearDown', () => {
  const log: string[] = [];

  class Lifecycle extends TestCase {
    mode = '';
    override async setUp() {
      log.push(`setUp ${this.mode}`);
      if (this.mode === 'setUp-throws') {
        throw new Error('setUp broke');
      }
    }
    override tearDown() {
      log.push(`tearDown ${this.mode}`);
      if (this.mode.startsWith('tearDown-throws')) {
        this.assertTrue(false, 'tearDown assertion');
      }
    }
    async test_a() {
      log.push(`test_a ${this.mode}`);
      if (this.mode === 'tearDown-throws-after-failure') {
        this.fail('test failed first');
      }
    }
    async test_b() {
      log.push(`test_b ${this.mode}`);
      throw new Error('test_b broke');
    }
  }

  async function runWith(mode: string, methods: string[]) {
    log.length = 0;
    class Moded extends Lifecycle {
      override mode = mode;
    }
    const { user, sink } = makeUser(Moded, { methods });
    await user.run();
    return { log: log.slice(), ends: ends(sink) };
  }

  it('runs setUp, the method, tearDown for each method in order, tearDown even after an error', async () => {
    const result = await runWith('plain', ['test_a', 'test_b']);
    assert.deepEqual(result.log, [
      'setUp plain',
      'test_a plain',
      'tearDown plain',
      'setUp plain',
      'test_b plain',
      'tearDown plain',
    ]);
    assert.deepEqual(
      result.ends.map((e) => [e.test, e.outcome]),
      [
        ['Moded.test_a', Outcome.SUCCESS],
        ['Moded.test_b', Outcome.ERROR],
      ],
    );
  });

  it('skips the method when setUp throws, still runs tearDown, and counts an error', async () => {
    const result = await runWith('setUp-throws', ['test_a']);
    assert.deepEqual(result.log, ['setUp setUp-throws', 'tearDown setUp-throws']);
    assert.deepEqual(result.ends, [
      {
        test: 'Moded.test_a',
        outcome: Outcome.ERROR,
        errorName: 'Error',
        errorMessage: 'setUp broke',
      },
    ]);
  });

  it('counts a tearDown that throws as an error when the run was otherwise a success', async () => {
    const result = await runWith('tearDown-throws', ['test_a']);
    assert.deepEqual(result.ends, [
      {
        test: 'Moded.test_a',
        outcome: Outcome.ERROR,
        errorName: 'AssertionError',
        errorMessage: 'false is not true : tearDown assertion',
      },
    ]);
  });

  it('keeps the failure of the method when tearDown throws too', async () => {
    const result = await runWith('tearDown-throws-after-failure', ['test_a']);
    assert.deepEqual(result.ends, [
      {
        test: 'Moded.test_a',
        outcome: Outcome.FAILURE,
        errorName: 'AssertionError',
        errorMessage: 'test failed first',
      },
    ]);
  });
});

describe('VirtualUser context', () => {
  it('shows loadsStatus with the step, the user and the current hit', async () => {
    const seen: unknown[] = [];
    class Status extends TestCase {
      async test_status() {
        seen.push(this.loadsStatus);
      }
    }
    const { user } = makeUser(Status, {
      methods: ['test_status'],
      step: { cycleIndex: 2, users: 3, hits: 2 },
      currentUser: 3,
    });
    await user.run();
    assert.deepEqual(seen, [
      { hits: 2, users: 3, currentHit: 1, currentUser: 3, cycleIndex: 2 },
      { hits: 2, users: 3, currentHit: 2, currentUser: 3, cycleIndex: 2 },
    ]);
  });

  it('emits counter events for incrCounter, by 1 by default', async () => {
    class Counting extends TestCase {
      async test_count() {
        this.incrCounter('logins');
        this.incrCounter('bytes', 512);
      }
    }
    const { user, sink } = makeUser(Counting, { methods: ['test_count'], step: { hits: 2 } });
    await user.run();
    assert.deepEqual(sink.ofType('counter'), [
      { type: 'counter', name: 'logins', value: 1 },
      { type: 'counter', name: 'bytes', value: 512 },
      { type: 'counter', name: 'logins', value: 1 },
      { type: 'counter', name: 'bytes', value: 512 },
    ]);
  });

  it('rejects a bad counter name or amount as an error of the run', async () => {
    class BadCounter extends TestCase {
      async test_nan() {
        this.incrCounter('x', Number.NaN);
      }
    }
    const { user, sink } = makeUser(BadCounter, { methods: ['test_nan'] });
    await user.run();
    assert.deepEqual(ends(sink), [
      {
        test: 'BadCounter.test_nan',
        outcome: Outcome.ERROR,
        errorName: 'TypeError',
        errorMessage: "incrCounter: 'by' must be a finite number, got NaN",
      },
    ]);
    assert.equal(sink.ofType('counter').length, 0);
  });

  it('sends hits tagged with the test name and the user context', async () => {
    class Hitting extends TestCase {
      async test_get() {
        const res = await this.session.get(`${server.url}/a?b=1`);
        this.assertEqual(res.text, 'you asked for /a?b=1');
      }
    }
    const { user, sink } = makeUser(Hitting, {
      methods: ['test_get'],
      step: { cycleIndex: 1, users: 2, hits: 2 },
      currentUser: 2,
    });
    await user.run();
    assert.deepEqual(
      sink
        .ofType('hit')
        .map(({ method, url, status, test, cycleIndex, currentUser, currentHit }) => ({
          method,
          url,
          status,
          test,
          cycleIndex,
          currentUser,
          currentHit,
        })),
      [1, 2].map((hit) => ({
        method: 'GET',
        url: `${server.url}/a?b=1`,
        status: 200,
        test: 'Hitting.test_get',
        cycleIndex: 1,
        currentUser: 2,
        currentHit: hit,
      })),
    );
    assert.deepEqual(
      ends(sink).map((e) => e.outcome),
      [Outcome.SUCCESS, Outcome.SUCCESS],
    );
  });

  it('gives this.app the class serverUrl, and --server-url wins over it', async () => {
    const texts: string[] = [];
    class WithApp extends TestCase {
      override serverUrl = 'http://127.0.0.1:1';
      async test_app() {
        texts.push((await this.app.get('/path')).text);
      }
    }
    class Fixed extends WithApp {
      override serverUrl = server.url;
    }
    await makeUser(Fixed, { methods: ['test_app'] }).user.run();
    await makeUser(WithApp, { methods: ['test_app'], serverUrl: server.url }).user.run();
    assert.deepEqual(texts, ['you asked for /path', 'you asked for /path']);
  });

  it('makes every run an error when the constructor uses this.session', async () => {
    class Eager extends TestCase {
      readonly started = this.session;
      async test_x() {}
    }
    const { user, sink } = makeUser(Eager, { methods: ['test_x'], step: { hits: 2 } });
    await user.run();
    const message =
      'this.session is not available yet: loads-runner sets it up after the constructor; use it in setUp() or a test method';
    assert.deepEqual(ends(sink), [
      {
        test: 'Eager.test_x',
        outcome: Outcome.ERROR,
        errorName: 'LoadsError',
        errorMessage: message,
      },
      {
        test: 'Eager.test_x',
        outcome: Outcome.ERROR,
        errorName: 'LoadsError',
        errorMessage: message,
      },
    ]);
    assert.throws(() => new Eager(), LoadsError);
  });
});

describe('VirtualUser sockets', () => {
  it('closes the sockets a run left open, and the user still succeeds', async () => {
    const sockets: WsSocket[] = [];
    class LeavesOpen extends TestCase {
      async test_ws() {
        const ws = await this.createWs(wsServer.url);
        await ws.send('hello');
        this.assertEqual(await ws.receive(), 'hello');
        sockets.push(ws);
      }
    }
    const { user, sink } = makeUser(LeavesOpen, { methods: ['test_ws'], step: { hits: 2 } });
    await user.run();
    assert.equal(sockets.length, 2);
    assert.deepEqual(
      sockets.map((s) => s.isOpen),
      [false, false],
    );
    assert.deepEqual(
      sink.events.map((e) => e.type),
      [
        'test-start',
        'socket-open',
        'socket-message',
        'socket-close',
        'test-end',
        'test-start',
        'socket-open',
        'socket-message',
        'socket-close',
        'test-end',
      ],
    );
    assert.deepEqual(
      ends(sink).map((e) => e.outcome),
      [Outcome.SUCCESS, Outcome.SUCCESS],
    );
  });

  it('makes the run an error when a socket broke during it', async () => {
    class Broken extends TestCase {
      async test_ws() {
        const ws = await this.createWs(wsServer.url);
        await ws.send('die');
        while (ws.isOpen) {
          await sleep(5);
        }
      }
    }
    const { user, sink } = makeUser(Broken, { methods: ['test_ws'] });
    await user.run();
    assert.deepEqual(ends(sink), [
      {
        test: 'Broken.test_ws',
        outcome: Outcome.ERROR,
        errorName: 'WebSocketError',
        errorMessage: `WebSocket ${wsServer.url}: connection closed abnormally (code 1006)`,
      },
    ]);
  });
});

describe('VirtualUser timeouts and abandonment', () => {
  it('ends a run that exceeds testTimeoutMs as an error and goes on with the next run', async () => {
    let calls = 0;
    class Slow extends TestCase {
      async test_slow() {
        calls++;
        if (calls === 1) {
          await new Promise(() => {}); // never settles
        }
      }
    }
    const { user, sink } = makeUser(Slow, {
      methods: ['test_slow'],
      step: { hits: 2 },
      testTimeoutMs: 50,
    });
    await user.run();
    assert.equal(calls, 2);
    assert.deepEqual(ends(sink), [
      {
        test: 'Slow.test_slow',
        outcome: Outcome.ERROR,
        errorName: 'TestTimeoutError',
        errorMessage:
          'test run exceeded --test-timeout of 0.05 s; its requests and sockets were aborted',
      },
      { test: 'Slow.test_slow', outcome: Outcome.SUCCESS, errorName: '', errorMessage: '' },
    ]);
  });

  it('abandon(message) counts the run in flight as an error, abandon(null) does not count it', async () => {
    class Hangs extends TestCase {
      async test_hang() {
        await new Promise(() => {});
      }
    }
    const counted = makeUser(Hangs, { methods: ['test_hang'] });
    void counted.user.run();
    await sleep(10);
    assert.equal(counted.user.inFlight, true);
    counted.user.abandon('given up');
    assert.equal(counted.user.inFlight, false);
    assert.deepEqual(ends(counted.sink), [
      {
        test: 'Hangs.test_hang',
        outcome: Outcome.ERROR,
        errorName: 'TestRunAbandonedError',
        errorMessage: 'given up',
      },
    ]);
    await counted.user.close();

    const silent = makeUser(Hangs, { methods: ['test_hang'] });
    void silent.user.run();
    await sleep(10);
    silent.user.abandon(null);
    assert.equal(silent.sink.ofType('test-end').length, 0);
    assert.equal(silent.sink.ofType('test-start').length, 1);
    await silent.user.close();
  });
});

describe('TestCase assertions', () => {
  const t = new TestCase();

  function failsWith(action: () => void, message: string): void {
    assert.throws(action, (err: unknown) => {
      assert.ok(err instanceof nodeAssert.AssertionError);
      assert.equal(err.message, message);
      assert.equal(isAssertionError(err), true);
      return true;
    });
  }

  it('assertEqual compares deeply and strictly', () => {
    t.assertEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] });
    t.assertEqual(new Map([[1, 'x']]), new Map([[1, 'x']]));
    failsWith(() => t.assertEqual(1, 2), '1 != 2');
    failsWith(() => t.assertEqual(1, '1'), "1 != '1'");
    failsWith(() => t.assertEqual({ a: 1 }, { a: 2 }, 'body'), '{ a: 1 } != { a: 2 } : body');
  });

  it('assertNotEqual', () => {
    t.assertNotEqual([1], [2]);
    failsWith(() => t.assertNotEqual([1], [1]), '[ 1 ] == [ 1 ]');
  });

  it('assertTrue and assertFalse test truthiness', () => {
    t.assertTrue(1);
    t.assertFalse('');
    failsWith(() => t.assertTrue(0), '0 is not true');
    failsWith(() => t.assertFalse('x', 'why'), "'x' is not false : why");
  });

  it('assertIn and assertNotIn look into strings, arrays, sets, maps and objects', () => {
    t.assertIn('ell', 'hello');
    t.assertIn({ id: 1 }, [{ id: 1 }, { id: 2 }]);
    t.assertIn(2, new Set([1, 2]));
    t.assertIn('k', new Map([['k', 1]]));
    t.assertIn('key', { key: undefined });
    t.assertNotIn('toString', {});
    t.assertNotIn(3, [1, 2]);
    failsWith(() => t.assertIn('z', 'hello'), "'z' not found in 'hello'");
    failsWith(() => t.assertNotIn(1, [1, 2]), '1 unexpectedly found in [ 1, 2 ]');
  });

  it('assertIsNone accepts null and undefined only', () => {
    t.assertIsNone(null);
    t.assertIsNone(undefined);
    t.assertIsNotNone(0);
    failsWith(() => t.assertIsNone(0), '0 is not null or undefined');
    failsWith(() => t.assertIsNotNone(null), 'unexpectedly null');
  });

  it('assertGreater and assertLess', () => {
    t.assertGreater(2, 1);
    t.assertLess('a', 'b');
    failsWith(() => t.assertGreater(1, 1), '1 not greater than 1');
    failsWith(() => t.assertLess(2n, 1n), '2n not less than 1n');
  });

  it('assertMatch searches with a RegExp or a string pattern, ignoring lastIndex', () => {
    const global = /b+/g;
    t.assertMatch('abbbc', global);
    t.assertMatch('abbbc', global);
    t.assertMatch('version 12', 'version \\d+');
    failsWith(() => t.assertMatch('abc', /^b/), "Regex didn't match: /^b/ not found in 'abc'");
  });

  it('fail throws at once', () => {
    failsWith(() => t.fail('stop here'), 'stop here');
    failsWith(() => t.fail(), 'fail() called');
  });

  it('assertRaises returns the error, fails when nothing is thrown, lets other classes through', async () => {
    const err = await t.assertRaises(async () => {
      throw new RangeError('r');
    }, RangeError);
    assert.ok(err instanceof RangeError);
    const fromPromise = await t.assertRaises(Promise.reject(new TypeError('p')));
    assert.equal(fromPromise.message, 'p');
    await assert.rejects(
      t.assertRaises(() => 1, TypeError),
      {
        name: 'AssertionError',
        message: 'TypeError not raised',
      },
    );
    await assert.rejects(
      t.assertRaises(async () => {}),
      { message: 'an error not raised' },
    );
    await assert.rejects(
      t.assertRaises(() => {
        throw new SyntaxError('other');
      }, TypeError),
      SyntaxError,
    );
  });

  it('throws a clear error when context members are used before the runner attaches them', () => {
    for (const use of [
      () => t.session,
      () => t.app,
      () => t.loadsStatus,
      () => t.incrCounter('x'),
      () => t.createWs('ws://127.0.0.1:1'),
    ]) {
      assert.throws(use, (err: unknown) => {
        assert.ok(err instanceof LoadsError);
        assert.equal(err.code, 'LOADS_ERR_NOT_ATTACHED');
        return true;
      });
    }
  });
});

function timeouts(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

describe('VirtualUser --test-timeout watchdog', () => {
  it('times out a hung run of users sharing one watchdog; each goes on and the late outcome is dropped', async () => {
    const timersBefore = timeouts();
    let lateSettled = false;
    class SlowFirst extends TestCase {
      async test_slow() {
        if (this.loadsStatus.currentUser === 1 && this.loadsStatus.currentHit === 1) {
          await sleep(300);
          lateSettled = true;
          throw new Error('late outcome, to be dropped');
        }
      }
    }
    const users: VirtualUser[] = [];
    const watchdog = new RunWatchdog(40, users);
    const one = makeUser(SlowFirst, {
      methods: ['test_slow'],
      step: { hits: 2 },
      testTimeoutMs: 40,
      watchdog,
    });
    const two = makeUser(SlowFirst, {
      methods: ['test_slow'],
      step: { hits: 2 },
      currentUser: 2,
      testTimeoutMs: 40,
      watchdog,
    });
    users.push(one.user, two.user);
    watchdog.start();
    await Promise.all([one.user.run(), two.user.run()]);
    assert.equal(lateSettled, false, 'the user went on before the hung body settled');
    await sleep(350);
    assert.equal(lateSettled, true);
    watchdog.stop();
    assert.deepEqual(ends(one.sink), [
      {
        test: 'SlowFirst.test_slow',
        outcome: Outcome.ERROR,
        errorName: 'TestTimeoutError',
        errorMessage:
          'test run exceeded --test-timeout of 0.04 s; its requests and sockets were aborted',
      },
      { test: 'SlowFirst.test_slow', outcome: Outcome.SUCCESS, errorName: '', errorMessage: '' },
    ]);
    const timedOut = one.sink.ofType('test-end')[0]!;
    assert.ok(
      timedOut.elapsedMs >= 40 && timedOut.elapsedMs < 40 + watchdog.periodMs + 200,
      `timed out after ${timedOut.elapsedMs} ms`,
    );
    assert.deepEqual(
      ends(two.sink).map((e) => e.outcome),
      [Outcome.SUCCESS, Outcome.SUCCESS],
    );
    assert.equal(timeouts(), timersBefore);
  });

  it('runs its own watchdog without a shared one, and leaves no timer after run()', async () => {
    const timersBefore = timeouts();
    class Hangs extends TestCase {
      async test_hang() {
        await new Promise(() => {});
      }
    }
    const { user, sink } = makeUser(Hangs, {
      methods: ['test_hang'],
      step: { hits: 3 },
      testTimeoutMs: 20,
    });
    await user.run();
    assert.deepEqual(
      ends(sink).map((e) => e.errorName),
      ['TestTimeoutError', 'TestTimeoutError', 'TestTimeoutError'],
    );
    assert.equal(user.inFlight, false);
    assert.equal(timeouts(), timersBefore);
  });

  it('with a watchdog given, starts no timer of its own', async () => {
    const timersBefore = timeouts();
    class Hangs extends TestCase {
      async test_hang() {
        await new Promise(() => {});
      }
    }
    const watchdog = new RunWatchdog(20, []);
    const { user, sink } = makeUser(Hangs, { methods: ['test_hang'], testTimeoutMs: 20, watchdog });
    void user.run();
    await sleep(60);
    assert.equal(timeouts(), timersBefore);
    assert.equal(sink.ofType('test-end').length, 0, 'only the watchdog times runs out');
    user.abandon(null);
    await user.close();
  });
});

describe('VirtualUser abortIO', () => {
  let silent: TestServer;
  before(async () => {
    silent = await startSilentServer();
  });
  after(async () => {
    await silent.close();
  });

  it('ends the request in flight and the open socket with the reason, with no AbortController', async () => {
    const reason = new Error('step ended');
    const seen: { request?: unknown; receive?: unknown; later?: unknown; laterWs?: unknown } = {};
    let started!: () => void;
    const bothPending = new Promise<void>((resolve) => {
      started = resolve;
    });
    let socket: WsSocket | undefined;
    class Stuck extends TestCase {
      async test_stuck() {
        socket = await this.createWs(wsServer.url);
        const receive = socket.receive(0).then(
          () => undefined,
          (err: unknown) => err,
        );
        const request = this.session.get(`${silent.url}/never`).then(
          () => undefined,
          (err: unknown) => err,
        );
        started();
        [seen.receive, seen.request] = await Promise.all([receive, request]);
        seen.later = await this.session.get(`${server.url}/x`).then(
          () => undefined,
          (err: unknown) => err,
        );
        seen.laterWs = await this.createWs(wsServer.url).then(
          () => undefined,
          (err: unknown) => err,
        );
      }
    }
    const RealAbortController = globalThis.AbortController;
    let controllers = 0;
    globalThis.AbortController = class extends RealAbortController {
      constructor() {
        super();
        controllers++;
      }
    };
    let made: ReturnType<typeof makeUser>;
    try {
      made = makeUser(Stuck, { methods: ['test_stuck'] });
    } finally {
      globalThis.AbortController = RealAbortController;
    }
    assert.equal(controllers, 1, 'only the test helper made one (the step signal)');
    const running = made.user.run();
    await bothPending;
    made.user.abortIO(reason);
    await running;
    assert.equal(seen.request, reason);
    assert.equal(seen.receive, reason);
    assert.equal(seen.later, reason);
    assert.equal(seen.laterWs, reason);
    assert.equal(socket?.isOpen, false);
    assert.equal(made.sink.ofType('hit').length, 0);
    assert.deepEqual(
      ends(made.sink).map((e) => e.outcome),
      [Outcome.SUCCESS],
    );
  });
});

describe('VirtualUser run loop', () => {
  it('runs 10,000 synchronous runs without nesting, and yields to the event loop meanwhile', async () => {
    let immediateRan = false;
    let immediateSeenAt = 0;
    const depths: number[] = [];
    class Sync extends TestCase {
      count = 0;
      override setUp() {}
      override tearDown() {}
      test_sync() {
        this.count++;
        if (immediateRan && immediateSeenAt === 0) {
          immediateSeenAt = this.count;
        }
        if (this.count === 2 || this.count === 50) {
          depths.push(new Error().stack!.split('\n').length);
        }
      }
    }
    const { user, sink } = makeUser(Sync, { methods: ['test_sync'], step: { hits: 10_000 } });
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = Infinity;
    let done: Promise<void>;
    try {
      setImmediate(() => {
        immediateRan = true;
      });
      done = user.run();
    } finally {
      Error.stackTraceLimit = limit;
    }
    await done;
    const outcomes = sink.ofType('test-end').map((e) => e.outcome);
    assert.equal(outcomes.length, 10_000);
    assert.ok(outcomes.every((o) => o === Outcome.SUCCESS));
    assert.ok(immediateSeenAt > 0 && immediateSeenAt < 10_000, `seen at ${immediateSeenAt}`);
    // Run 50 is no deeper in the stack than run 2: synchronous runs do not recurse.
    assert.equal(depths.length, 2);
    assert.equal(depths[1], depths[0]);
  });

  it('keeps the order of events with async setUp and tearDown and two methods', async () => {
    const log: string[] = [];
    class Ordered extends TestCase {
      override async setUp() {
        log.push('setUp');
        await sleep(1);
      }
      override async tearDown() {
        await Promise.resolve();
        log.push('tearDown');
      }
      async test_a() {
        log.push('test_a');
        await sleep(1);
      }
      test_b() {
        log.push('test_b');
      }
    }
    const user = new VirtualUser({
      testClass: Ordered,
      className: 'Ordered',
      methods: ['test_a', 'test_b'],
      step: { cycleIndex: 0, users: 1, hits: 2, durationMs: 0, rate: 0, rampUpMs: 0 },
      currentUser: 1,
      sink: {
        emit(event) {
          if (event.type === 'test-start' || event.type === 'test-end') {
            const outcome = event.type === 'test-end' ? ` ${event.outcome}` : '';
            log.push(`${event.type} ${event.test} ${event.currentHit}${outcome}`);
          }
        },
      },
      timeoutMs: 5000,
      testTimeoutMs: 0,
      serverUrl: undefined,
      signal: new AbortController().signal,
    });
    await user.run();
    const run = (test: string, hit: number) => [
      `test-start Ordered.${test} ${hit}`,
      'setUp',
      test,
      'tearDown',
      `test-end Ordered.${test} ${hit} ${Outcome.SUCCESS}`,
    ];
    assert.deepEqual(log, [
      ...run('test_a', 1),
      ...run('test_b', 1),
      ...run('test_a', 2),
      ...run('test_b', 2),
    ]);
  });
});

describe('VirtualUser --test-timeout aborts what the run started', () => {
  /** A server that never answers, behind a TCP proxy that counts the connections open at once. */
  let silent: TestServer;
  let proxy: net.Server;
  let proxyUrl = '';
  let open = 0;
  let peak = 0;
  let made = 0;
  before(async () => {
    silent = await startHttpServer(() => {});
    proxy = net.createServer((client) => {
      made++;
      open++;
      peak = Math.max(peak, open);
      const upstream = net.connect(silent.port, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('close', () => {
        open--;
        upstream.destroy();
      });
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => proxy.close(resolve));
    await silent.close();
  });

  it('counts the request in flight once, as a TEST_TIMEOUT hit, and closes its connection as the next run starts', async () => {
    class Stuck extends TestCase {
      async test_stuck() {
        await this.session.get(`${proxyUrl}/never`, { timeout: 0 });
      }
    }
    const { user, sink } = makeUser(Stuck, {
      methods: ['test_stuck'],
      step: { hits: 3 },
      testTimeoutMs: 100,
    });
    await user.run();
    assert.deepEqual(
      ends(sink).map((e) => e.errorName),
      ['TestTimeoutError', 'TestTimeoutError', 'TestTimeoutError'],
    );
    assert.deepEqual(
      sink.ofType('hit').map((h) => [h.status, h.errorKey, h.test, h.currentHit]),
      [1, 2, 3].map((run) => [0, 'TEST_TIMEOUT', 'Stuck.test_stuck', run]),
    );
    await sleep(100);
    assert.equal(made, 3, 'a connection per run');
    // The old one is being closed while the next run connects: never more.
    assert.ok(peak <= 2, `${peak} connections open at once`);
    assert.equal(open, 0, 'none left open');
  });

  it('records nothing the timed-out body does later, and runs the next run on a new instance with the same cookies', async () => {
    const instances: TestCase[] = [];
    const later: unknown[] = [];
    let runs = 0;
    class Sneaky extends TestCase {
      async test_sneaky() {
        instances.push(this);
        runs++;
        if (runs === 1) {
          await this.session.get(`${server.url}/login`, { cookies: {} });
          this.session.cookies.setCookie('sid=abc', new URL(server.url));
          try {
            await this.session.get(`${silent.url}/never`, { timeout: 0 });
          } catch (err) {
            later.push(err);
          }
          // After the timeout: none of this may count.
          later.push(await this.session.get(`${server.url}/after`).catch((err: unknown) => err));
          later.push(await this.createWs(wsServer.url).catch((err: unknown) => err));
          this.incrCounter('late');
          return;
        }
        const res = await this.session.get(`${server.url}/second`);
        this.assertEqual(res.status, 200);
        this.assertEqual(this.session.cookies.cookieHeader(new URL(server.url)), 'sid=abc');
      }
    }
    const { user, sink } = makeUser(Sneaky, {
      methods: ['test_sneaky'],
      step: { hits: 2 },
      testTimeoutMs: 150,
    });
    await user.run();
    await sleep(50);
    assert.deepEqual(
      ends(sink).map((e) => [e.outcome, e.errorName]),
      [
        [Outcome.ERROR, 'TestTimeoutError'],
        [Outcome.SUCCESS, ''],
      ],
    );
    assert.deepEqual(
      sink.ofType('hit').map((h) => [new URL(h.url).pathname, h.status, h.errorKey]),
      [
        ['/login', 200, ''],
        ['/never', 0, 'TEST_TIMEOUT'],
        ['/second', 200, ''],
      ],
    );
    assert.equal(sink.ofType('counter').length, 0);
    assert.equal(later.length, 3);
    for (const err of later) {
      assert.equal((err as Error).name, 'TestTimeoutError');
    }
    assert.equal(instances.length, 2);
    assert.notEqual(instances[0], instances[1]);
  });

  it('terminates the sockets of a timed-out run', async () => {
    let closedOnServer = 0;
    const ws = await startWsServer((socket) => {
      socket.on('close', () => closedOnServer++);
    });
    class Waits extends TestCase {
      async test_waits() {
        const socket = await this.createWs(ws.url);
        await socket.receive(0); // the server never sends
      }
    }
    try {
      const { user, sink } = makeUser(Waits, {
        methods: ['test_waits'],
        testTimeoutMs: 100,
      });
      await user.run();
      await sleep(100);
      assert.deepEqual(
        ends(sink).map((e) => e.errorName),
        ['TestTimeoutError'],
      );
      assert.equal(closedOnServer, 1);
      assert.equal(sink.ofType('socket-close').length, 1);
    } finally {
      await ws.close();
    }
  });
});

describe('VirtualUser closing leftover sockets', () => {
  it('closes every socket left open at the end of a run at once, each waiting at most --timeout for its peer', async () => {
    const mute = await startMuteWsServer();
    class Leaves extends TestCase {
      async test_leaves() {
        for (let i = 0; i < 3; i++) {
          await this.createWs(mute.url);
        }
      }
    }
    try {
      const { user, sink } = makeUser(Leaves, { methods: ['test_leaves'], timeoutMs: 300 });
      await user.run();
      const [end] = sink.ofType('test-end');
      assert.equal(end!.outcome, Outcome.SUCCESS);
      // One --timeout for all three (in parallel), not 3 × ws's own 30 s.
      assert.ok(end!.elapsedMs >= 300 && end!.elapsedMs < 5000, `took ${end!.elapsedMs} ms`);
      assert.equal(sink.ofType('socket-close').length, 3);
    } finally {
      await mute.close();
    }
  });
});
