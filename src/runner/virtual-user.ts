// One virtual user: its own TestCase instance, Session and App, and a loop
// of runs (each run calls every method of the test once). This loop is the
// hot path of the runner, once per test run: the RunContext and the
// test-start/test-end events are single objects refilled in place, and a run
// makes no timer and no closure: --test-timeout is a RunWatchdog shared by the
// step's users, and the run's end is one promise that either the body or the
// watchdog settles. A run that hangs cannot be cancelled, only abandoned: its
// late outcome is dropped, and the runner calls abortIO() so its I/O ends.
import { Outcome } from '../metrics/events.ts';
import type {
  EventSink,
  RunContext,
  TestEndEvent,
  TestStartEvent,
  CounterEvent,
} from '../metrics/events.ts';
import { now, toEpochMs } from '../metrics/clock.ts';
import { Session } from '../client/http/session.ts';
import { App } from '../client/http/app.ts';
import {
  createWebSocket,
  type WsContext,
  type WsOptions,
  type WsSocket,
} from '../client/ws/socket.ts';
import type { TestCase, TestCaseClass, TestCaseContext } from './test-case.ts';
import type { CycleStep } from './cycle.ts';
import { trimStackTrace } from './stack-trace.ts';
import { RunWatchdog, type Watched } from './run-watchdog.ts';

export interface VirtualUserOptions {
  testClass: TestCaseClass;
  className: string;
  /** Methods each run calls, in order. */
  methods: readonly string[];
  step: CycleStep;
  /** 1-based index of this user in the step. */
  currentUser: number;
  sink: EventSink;
  /** Default per-request timeout, ms (0 = none). */
  timeoutMs: number;
  /** Bound on each test run, ms; 0 = none. */
  testTimeoutMs: number;
  /** --server-url: wins over the class's serverUrl field. */
  serverUrl: string | undefined;
  /**
   * The step's signal, read to know whether the step was aborted. It is not
   * listened to here: the runner calls abortIO() on each user, because
   * thousands of listeners on one AbortSignal make adding and removing one
   * O(n) each (Node's EventTarget scans for duplicates).
   */
  signal: AbortSignal;
  /**
   * The runner's watchdog, which scans this user for --test-timeout. Without
   * one, a user with testTimeoutMs > 0 runs its own while run() runs.
   */
  watchdog?: RunWatchdog | undefined;
}

/** What a test run's body settled with, besides the error it threw. */
const NO_ERROR = Symbol('no error');
const TIMED_OUT = Symbol('timed out');
type Settled = unknown;

/** Where the run in flight is: the watchdog only times out RUNNING. */
const IDLE = 0;
const RUNNING = 1;
const ENDING = 2;

/** A tearDown that threw: the run is an error even if the error is an AssertionError. */
class TearDownFailure {
  constructor(readonly error: unknown) {}
}

/** Yield to the event loop every this many runs, so that timers and Ctrl-C get a turn even when tests never await I/O. */
const YIELD_EVERY_RUNS = 64;

export class VirtualUser implements TestCaseContext, Watched {
  readonly session: Session;
  readonly app: App;
  readonly runContext: RunContext;

  readonly #instance: TestCase | undefined;
  /** What `new TestClass()` threw; every run of this user is then an error. */
  readonly #constructError: unknown;
  readonly #methods: ((this: TestCase) => unknown)[] = [];
  readonly #testNames: string[];
  readonly #sink: EventSink;
  readonly #signal: AbortSignal;
  readonly #testTimeoutMs: number;
  readonly #wsContext: WsContext;
  readonly #sockets: WsSocket[] = [];
  readonly #startEvent: TestStartEvent;
  readonly #endEvent: TestEndEvent;
  readonly #counterEvent: CounterEvent = { type: 'counter', name: '', value: 0 };
  #testName = '';
  #runs = 0;
  #stopped = false;
  #abandoned = false;
  #inFlight = false;
  #inFlightStart = 0;
  /** IDLE, RUNNING (the body may still settle the run) or ENDING (closing its sockets). */
  #state = IDLE;
  /** The run whose body may settle it; 0 once it timed out or was abandoned. */
  #bodyRun = 0;
  /** Settle the promise of the run in flight (set by #armRun, once per run). */
  #resolveRun: (value?: undefined) => void = ignore;
  #rejectRun: (err: unknown) => void = ignore;
  /** The executor of each run's promise, made once per user. */
  readonly #armRun = (resolve: () => void, reject: (err: unknown) => void): void => {
    this.#resolveRun = resolve;
    this.#rejectRun = reject;
  };
  /** Only when no watchdog was given and testTimeoutMs > 0. */
  readonly #ownWatchdog: RunWatchdog | undefined;
  #closed: Promise<void> | undefined;
  /** Set by abortIO: later requests and sockets fail with #ioAbortReason. */
  #ioAborted = false;
  #ioAbortReason: unknown = undefined;

  constructor(options: VirtualUserOptions) {
    const { step, sink, signal } = options;
    this.#sink = sink;
    this.#signal = signal;
    this.#testTimeoutMs = options.testTimeoutMs;
    this.#ownWatchdog =
      options.testTimeoutMs > 0 && options.watchdog === undefined
        ? new RunWatchdog(options.testTimeoutMs, [this])
        : undefined;
    this.runContext = {
      cycleIndex: step.cycleIndex,
      users: step.users,
      hits: step.hits,
      currentUser: options.currentUser,
      currentHit: 0,
      lagMs: 0,
    };
    this.#testNames = options.methods.map((method) => `${options.className}.${method}`);
    this.#startEvent = {
      type: 'test-start',
      test: '',
      startedAt: 0,
      cycleIndex: step.cycleIndex,
      users: step.users,
      currentUser: options.currentUser,
      currentHit: 0,
    };
    this.#endEvent = {
      type: 'test-end',
      test: '',
      startedAt: 0,
      elapsedMs: 0,
      outcome: Outcome.SUCCESS,
      errorName: '',
      errorMessage: '',
      errorStack: '',
      cycleIndex: step.cycleIndex,
      users: step.users,
      currentUser: options.currentUser,
      currentHit: 0,
      lagMs: 0,
    };
    this.session = new Session({
      sink,
      context: this.runContext,
      testName: () => this.#testName,
      timeoutMs: options.timeoutMs,
    });
    this.#wsContext = { sink, timeoutMs: options.timeoutMs };

    let instance: TestCase | undefined;
    let constructError: unknown;
    try {
      instance = new options.testClass();
      instance.attachContext(this);
    } catch (err) {
      instance = undefined;
      constructError = err;
    }
    this.#instance = instance;
    this.#constructError = constructError;
    const serverUrl = options.serverUrl;
    this.app = new App(this.session, () => serverUrl ?? instance?.serverUrl);
    if (instance !== undefined) {
      for (const method of options.methods) {
        const fn = (instance as unknown as Record<string, unknown>)[method];
        this.#methods.push(
          typeof fn === 'function' ? (fn as (this: TestCase) => unknown) : missingMethod(method),
        );
      }
    }
  }

  /** Whether a test run has started and not ended (nor been abandoned). */
  get inFlight(): boolean {
    return this.#inFlight;
  }

  /**
   * Runs until the step's hits are done (hits > 0), or until `deadline`
   * (monotonic ms, duration mode), stop() or abandon(). Closes the session
   * when it ends by itself. Never rejects for what a test does.
   */
  async run(deadline = Infinity): Promise<void> {
    const hits = this.runContext.hits;
    this.#ownWatchdog?.start();
    try {
      for (let hit = 1; hits === 0 || hit <= hits; hit++) {
        if (hit % YIELD_EVERY_RUNS === 0) {
          await yieldToEventLoop();
        }
        this.runContext.currentHit = hit;
        await this.#iterate(deadline);
        if (this.#stopped) {
          break;
        }
      }
    } finally {
      this.#ownWatchdog?.stop();
    }
    if (!this.#abandoned) {
      await this.close();
    }
  }

  /**
   * Open model (--rate): one run on demand (every method once), started
   * `lagMs` after it was due; the lag goes into its hits and test-ends. The
   * pool closes the user. Never rejects for what a test does.
   */
  runIteration(lagMs: number): Promise<void> {
    this.#ownWatchdog?.start();
    this.runContext.lagMs = lagMs;
    this.runContext.currentHit++;
    return this.#iterate(Infinity);
  }

  /** Every method once, unless stopped or past `deadline` (monotonic ms) before one starts. */
  async #iterate(deadline: number): Promise<void> {
    const count = this.#testNames.length;
    for (let i = 0; i < count; i++) {
      if (this.#stopped || (deadline !== Infinity && now() >= deadline)) {
        this.#stopped = true;
        return;
      }
      await this.#runTest(i);
    }
  }

  /**
   * Ends this user's requests in flight and its sockets, with `reason`;
   * later ones fail with it at once. Only the first call counts.
   */
  abortIO(reason: unknown): void {
    if (this.#ioAborted) {
      return;
    }
    this.#ioAborted = true;
    this.#ioAbortReason = reason;
    this.session.abortAll(reason);
    const sockets = this.#sockets;
    for (let i = 0; i < sockets.length; i++) {
      sockets[i]!.abort(reason);
    }
  }

  /** Watched: ends the run in flight as a TestTimeoutError once it is older than testTimeoutMs. */
  checkTestTimeout(nowMs: number): void {
    if (
      this.#state === RUNNING &&
      this.#testTimeoutMs > 0 &&
      nowMs - this.#inFlightStart >= this.#testTimeoutMs
    ) {
      this.#bodyRun = 0; // its late outcome is dropped
      this.#endRun(this.#inFlightStart, TIMED_OUT);
    }
  }

  /** No new test run starts; the one in flight may finish and is counted. */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * Ends this user now. The run in flight, if any, is counted as an error
   * with `message`, or not counted at all when `message` is null (Ctrl-C).
   * Its late outcome, if it ever settles, is dropped.
   */
  abandon(message: string | null): void {
    this.#stopped = true;
    this.#abandoned = true;
    if (this.#inFlight) {
      this.#inFlight = false;
      if (message !== null && !this.#signal.aborted) {
        this.#emitEnd(this.#inFlightStart, Outcome.ERROR, 'TestRunAbandonedError', message, '');
      }
    }
    this.#ownWatchdog?.stop();
    if (this.#state !== IDLE) {
      // The loop waiting for this run goes on, sees #stopped and ends.
      this.#state = IDLE;
      this.#bodyRun = 0;
      const resolve = this.#resolveRun;
      this.#resolveRun = ignore;
      this.#rejectRun = ignore;
      resolve();
    }
  }

  /** Closes the sockets still open and the session. Idempotent; never rejects. */
  close(): Promise<void> {
    this.#ownWatchdog?.stop();
    this.#closed ??= this.#closeAll();
    return this.#closed;
  }

  async #closeAll(): Promise<void> {
    await this.#closeSockets();
    await this.session.close().catch(ignore);
  }

  /** TestCaseContext: `this.createWs()`; the socket is tracked for the end of the run. */
  async openWs(url: string, options: WsOptions): Promise<WsSocket> {
    if (this.#ioAborted) {
      throw this.#ioAbortReason;
    }
    const socket = createWebSocket(url, options, this.#wsContext);
    // Tracked while it connects too, so that abortIO() ends the handshake.
    this.#sockets.push(socket);
    await socket.opened;
    return socket;
  }

  /** TestCaseContext: `this.incrCounter()`. Dropped once the user is abandoned or aborted. */
  incrCounter(name: string, by: number): void {
    if (this.#abandoned || this.#signal.aborted) {
      return;
    }
    const event = this.#counterEvent;
    event.name = name;
    event.value = by;
    this.#sink.emit(event);
  }

  /**
   * One test run. Its promise is settled by the body (#settleBody), by the
   * watchdog (checkTestTimeout) or by abandon(), whichever comes first.
   */
  #runTest(index: number): Promise<void> {
    const test = this.#testNames[index]!;
    this.#testName = test;
    const startMs = now();
    const start = this.#startEvent;
    start.test = test;
    start.startedAt = toEpochMs(startMs);
    start.currentHit = this.runContext.currentHit;
    this.#sink.emit(start);
    this.#inFlight = true;
    this.#inFlightStart = startMs;
    const run = ++this.#runs;
    this.#bodyRun = run;
    this.#state = RUNNING;
    const ended = new Promise<void>(this.#armRun);
    void this.#execute(index, run);
    return ended;
  }

  /** setUp, the method, tearDown (always); then settles run `run` with NO_ERROR, the error thrown, or a TearDownFailure. */
  async #execute(index: number, run: number): Promise<void> {
    const instance = this.#instance;
    if (instance === undefined) {
      this.#settleBody(run, this.#constructError);
      return;
    }
    let error: unknown = NO_ERROR;
    try {
      const setUp = instance.setUp();
      if (setUp !== undefined) {
        await setUp;
      }
      const result = this.#methods[index]!.call(instance);
      if (isThenable(result)) {
        await result;
      }
    } catch (err) {
      error = err;
    }
    try {
      const tearDown = instance.tearDown();
      if (tearDown !== undefined) {
        await tearDown;
      }
    } catch (err) {
      if (error === NO_ERROR) {
        error = new TearDownFailure(err);
      }
    }
    this.#settleBody(run, error);
  }

  /** The body of run `run` settled: ends the run, unless it already timed out or was abandoned. */
  #settleBody(run: number, settled: Settled): void {
    if (run !== this.#bodyRun || this.#state !== RUNNING) {
      return; // timed out or abandoned meanwhile: its end was already emitted, or is not counted
    }
    this.#bodyRun = 0;
    this.#endRun(this.#inFlightStart, settled);
  }

  /** Closes the run's sockets, emits its test-end and settles its promise. */
  #endRun(startMs: number, settled: Settled): void {
    this.#state = ENDING;
    if (this.#sockets.length === 0) {
      this.#finishRun(startMs, settled, undefined);
    } else {
      void this.#closeSockets().then((socketError) => {
        if (this.#state === ENDING) {
          this.#finishRun(startMs, settled, socketError);
        }
      });
    }
  }

  #finishRun(startMs: number, settled: Settled, socketError: Error | undefined): void {
    this.#state = IDLE;
    this.#inFlight = false;
    this.#testName = '';
    const resolve = this.#resolveRun;
    const reject = this.#rejectRun;
    this.#resolveRun = ignore;
    this.#rejectRun = ignore;
    try {
      if (!this.#signal.aborted) {
        // Ctrl-C: runs in flight are not counted
        this.#emitOutcome(startMs, settled, socketError);
      }
    } catch (err) {
      reject(err);
      return;
    }
    resolve();
  }

  #emitOutcome(startMs: number, settled: Settled, socketError: Error | undefined): void {
    if (settled === NO_ERROR) {
      if (socketError === undefined) {
        this.#emitEnd(startMs, Outcome.SUCCESS, '', '', '');
      } else {
        this.#emitError(startMs, Outcome.ERROR, socketError);
      }
    } else if (settled === TIMED_OUT) {
      this.#emitEnd(
        startMs,
        Outcome.ERROR,
        'TestTimeoutError',
        `test run exceeded --test-timeout of ${this.#testTimeoutMs / 1000} s`,
        '',
      );
    } else if (settled instanceof TearDownFailure) {
      this.#emitError(startMs, Outcome.ERROR, settled.error);
    } else {
      const outcome = isAssertionError(settled) ? Outcome.FAILURE : Outcome.ERROR;
      // A socket error explains a failed assertion better than the assertion does.
      this.#emitError(
        startMs,
        socketError === undefined ? outcome : Outcome.ERROR,
        socketError === undefined || outcome === Outcome.ERROR ? settled : socketError,
      );
    }
  }

  /** Closes the sockets opened since the last call; returns the first error any of them saw. */
  async #closeSockets(): Promise<Error | undefined> {
    const sockets = this.#sockets;
    if (sockets.length === 0) {
      return undefined;
    }
    let error: Error | undefined;
    for (let i = 0; i < sockets.length; i++) {
      const socket = sockets[i]!;
      error ??= socket.error;
      if (socket.isOpen) {
        await socket.close().catch(ignore);
      }
    }
    sockets.length = 0;
    return error;
  }

  #emitError(startMs: number, outcome: Outcome, error: unknown): void {
    if (isErrorLike(error)) {
      this.#emitEnd(
        startMs,
        outcome,
        typeof error.name === 'string' && error.name !== '' ? error.name : 'Error',
        error.message,
        typeof error.stack === 'string' ? trimStackTrace(error.stack) : '',
      );
    } else {
      // A thrown string or number has no stack to show.
      this.#emitEnd(startMs, outcome, 'Error', safeString(error), '');
    }
  }

  #emitEnd(
    startMs: number,
    outcome: Outcome,
    errorName: string,
    errorMessage: string,
    errorStack: string,
  ): void {
    const end = this.#endEvent;
    end.test = this.#startEvent.test;
    end.startedAt = toEpochMs(startMs);
    end.elapsedMs = now() - startMs;
    end.outcome = outcome;
    end.errorName = errorName;
    end.errorMessage = errorMessage;
    end.errorStack = errorStack;
    end.currentHit = this.runContext.currentHit;
    end.lagMs = this.runContext.lagMs;
    this.#sink.emit(end);
  }
}

/** A failed assertion: ours or node:assert's (matched by name or code, so any copy or realm counts). */
export function isAssertionError(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const { name, code } = value as { name?: unknown; code?: unknown };
  return name === 'AssertionError' || code === 'ERR_ASSERTION';
}

function isErrorLike(value: unknown): value is Error {
  return (
    value instanceof Error ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as { message?: unknown }).message === 'string')
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function missingMethod(method: string): (this: TestCase) => unknown {
  return () => {
    throw new TypeError(`the test class has no method '${method}'`);
  };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function ignore(): void {}
