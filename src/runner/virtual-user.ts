// One virtual user: its own TestCase instance, Session and App (its
// UserClients), and a loop of runs (each run calls every method of the test
// once). This loop is the hot path of the runner, once per test run: the
// RunContext (one per user) and the test-start/test-end events (one per
// thread) are objects refilled in place, and a run makes no timer, no
// closure, no promise and no async frame of ours: the loop is a small state
// machine in fields, driven by callbacks made once per user (a RunBody's
// .then callbacks on what setUp, the method and tearDown return), so that
// while a test method is pending we hold no suspended frame that would be
// promoted to the old generation.
// --test-timeout is a RunWatchdog shared by the step's users. A run that
// hangs cannot be cancelled, only left behind: at the limit its requests and
// sockets are aborted at once (each request in flight counts as a
// TEST_TIMEOUT hit), its late outcome is dropped, and the user goes on with
// a new instance and new clients, so that nothing the old body does later
// is counted or shares a connection with the next run.
import { newTestEndEvent, newTestStartEvent, Outcome } from '../metrics/events.ts';
import type {
  EventSink,
  RunContext,
  TestEndEvent,
  TestStartEvent,
  CounterEvent,
} from '../metrics/events.ts';
import { now, toEpochMs } from '../metrics/clock.ts';
import { TestTimeoutError } from '../errors.ts';
import type { Session } from '../client/http/session.ts';
import type { App } from '../client/http/app.ts';
import type { TransportOptions } from '../client/transport.ts';
import type { TestCase, TestCaseClass } from './test-case.ts';
import { UserClients, type UserClientsOptions } from './user-clients.ts';
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
  /** Default per-request deadline, ms (0 = none). */
  timeoutMs: number;
  /** Bound on each test run, ms; 0 = none. */
  testTimeoutMs: number;
  /** --max-body-size in bytes; default the Session's (64 MiB). */
  maxBodyBytes?: number | undefined;
  /** --discard-bodies: every request's body is counted, not kept. */
  discardBodies?: boolean | undefined;
  /** TLS and HTTP/2 settings of the run; default none (verify, HTTP/1.1). */
  transport?: TransportOptions | undefined;
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

/** What the loop is doing: nothing, run() (hits or duration) or runIteration() (one iteration). */
const MODE_NONE = 0;
const MODE_LOOP = 1;
const MODE_ITERATION = 2;

/** #index when the loop is to begin its next hit (run() only). */
const NEXT_HIT = -1;

/** Where a RunBody is. */
const BODY_IDLE = 0;
const BODY_SET_UP = 1;
const BODY_METHOD = 2;
const BODY_TEAR_DOWN = 3;

/** A tearDown that threw: the run is an error even if the error is an AssertionError. */
class TearDownFailure {
  constructor(readonly error: unknown) {}
}

/** Yield to the event loop every this many runs, so that timers and Ctrl-C get a turn even when tests never await I/O. */
const YIELD_EVERY_RUNS = 64;

const promiseThen = Promise.prototype.then;

/**
 * The test-start, test-end and counter objects of every user of this
 * thread, refilled right before each emit: a sink copies what it keeps
 * before emit returns (EventSink). One set per user was 256 bytes per idle
 * user.
 */
const THREAD_START: TestStartEvent = newTestStartEvent();
const THREAD_END: TestEndEvent = newTestEndEvent();
const THREAD_COUNTER: CounterEvent = { type: 'counter', name: '', value: 0 };

/**
 * setUp, one method, tearDown (always), then `settle(run, NO_ERROR | error |
 * TearDownFailure)`. Made once per user and reused by every run; its two
 * callbacks are attached with .then to whatever setUp, the method or tearDown
 * returns, so a pending run holds no async frame. A run that timed out or was
 * abandoned keeps its RunBody (the user makes a new one), which finishes the
 * body and settles with a run number that is no longer current.
 */
class RunBody {
  readonly #instance: TestCase;
  readonly #methods: readonly ((this: TestCase) => unknown)[];
  readonly #settle: (run: number, settled: Settled) => void;
  #phase = BODY_IDLE;
  #index = 0;
  #run = 0;
  #error: unknown = NO_ERROR;
  readonly #onFulfilled: () => void;
  readonly #onRejected: (err: unknown) => void;

  constructor(
    instance: TestCase,
    methods: readonly ((this: TestCase) => unknown)[],
    settle: (run: number, settled: Settled) => void,
  ) {
    // Assigned here, not as field initializers: a function defined by a
    // class field gets its name as an own property at run time (a property
    // array of its own, per user); these are made once per user and kept.
    this.#onFulfilled = (): void => {
      this.#next();
    };
    this.#onRejected = (err: unknown): void => {
      if (this.#phase === BODY_TEAR_DOWN) {
        if (this.#error === NO_ERROR) {
          this.#error = new TearDownFailure(err);
        }
        this.#done();
      } else {
        this.#error = err;
        this.#tearDown();
      }
    };
    this.#instance = instance;
    this.#methods = methods;
    this.#settle = settle;
  }

  /** Runs method `index` as run `run`; settles synchronously if nothing returns a promise. */
  start(index: number, run: number): void {
    this.#index = index;
    this.#run = run;
    this.#error = NO_ERROR;
    this.#phase = BODY_SET_UP;
    let result: unknown;
    try {
      result = this.#instance.setUp();
    } catch (err) {
      this.#error = err;
      this.#tearDown();
      return;
    }
    if (result === undefined || !this.#wait(result)) {
      this.#method();
    }
  }

  /** The promise of the phase fulfilled. */
  #next(): void {
    const phase = this.#phase;
    if (phase === BODY_SET_UP) {
      this.#method();
    } else if (phase === BODY_METHOD) {
      this.#tearDown();
    } else if (phase === BODY_TEAR_DOWN) {
      this.#done();
    }
  }

  #method(): void {
    this.#phase = BODY_METHOD;
    let result: unknown;
    try {
      result = this.#methods[this.#index]!.call(this.#instance);
    } catch (err) {
      this.#error = err;
      this.#tearDown();
      return;
    }
    if (!this.#wait(result)) {
      this.#tearDown();
    }
  }

  #tearDown(): void {
    this.#phase = BODY_TEAR_DOWN;
    let result: unknown;
    try {
      result = this.#instance.tearDown();
    } catch (err) {
      if (this.#error === NO_ERROR) {
        this.#error = new TearDownFailure(err);
      }
      this.#done();
      return;
    }
    if (result === undefined || !this.#wait(result)) {
      this.#done();
    }
  }

  #done(): void {
    const error = this.#error;
    this.#error = NO_ERROR;
    this.#phase = BODY_IDLE;
    this.#settle(this.#run, error);
  }

  /**
   * When `value` is a thenable, attaches the callbacks (as `await` would:
   * a native promise as is, any other thenable through Promise.resolve) and
   * returns true; otherwise false, and the phase ended synchronously.
   */
  #wait(value: unknown): boolean {
    if (!isThenable(value)) {
      return false;
    }
    let promise: Promise<unknown>;
    try {
      promise = Promise.resolve(value);
    } catch (err) {
      promise = Promise.reject(err);
    }
    promiseThen.call(promise, this.#onFulfilled, this.#onRejected);
    return true;
  }
}

export class VirtualUser implements Watched {
  readonly runContext: RunContext;

  readonly #testClass: TestCaseClass;
  readonly #methodNames: readonly string[];
  /** The instance runs call; replaced, with its clients, after a run timed out. */
  #instance: TestCase | undefined;
  /** What `new TestClass()` threw; every run of this user is then an error. */
  #constructError: unknown;
  /** What the instance talks through; replaced with it. */
  #clients: UserClients;
  readonly #clientsOptions: UserClientsOptions;
  readonly #testNames: string[];
  readonly #sink: EventSink;
  readonly #signal: AbortSignal;
  readonly #testTimeoutMs: number;
  /** 'Class.method' of the run in flight, '' between runs: the hits' and the test-end's `test`. */
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
  /** Runs setUp, the method and tearDown; replaced when a run's body is left behind (timeout, abandon). */
  #body: RunBody | undefined;
  /** MODE_NONE, MODE_LOOP (run()) or MODE_ITERATION (runIteration()). */
  #mode = MODE_NONE;
  /** The next method of the iteration, or NEXT_HIT. */
  #index = 0;
  /** run(): the hit under way, and the deadline (monotonic ms). */
  #hit = 0;
  #deadline = Infinity;
  /** run(): this hit already yielded to the event loop. */
  #yielded = false;
  /** #advance is on the stack; #pending: a run ended meanwhile, so it loops once more. */
  #driving = false;
  #pending = false;
  /** Settle the promise of run() or runIteration() under way (set by #armDone, once per call). */
  #resolveDone: (value?: Promise<void>) => void = ignore;
  #rejectDone: (err: unknown) => void = ignore;
  readonly #armDone: (
    resolve: (value?: Promise<void>) => void,
    reject: (err: unknown) => void,
  ) => void;
  /** The run's end waiting for its sockets to close. */
  #endingStart = 0;
  #endingSettled: Settled = undefined;
  /** Made on the first run that opened a WebSocket: a closure is 56 bytes per user. */
  #onSocketsClosed: ((socketError: Error | undefined) => void) | undefined = undefined;
  readonly #onBodySettled: (run: number, settled: Settled) => void;
  /** Only when no watchdog was given and testTimeoutMs > 0. */
  readonly #ownWatchdog: RunWatchdog | undefined;
  #closed: Promise<void> | undefined;
  /** Set by abortIO: the clients, and any made later, fail with #ioAbortReason. */
  #ioAborted = false;
  #ioAbortReason: unknown = undefined;

  constructor(options: VirtualUserOptions) {
    // Assigned here, not as field initializers (see RunBody's constructor).
    this.#armDone = (
      resolve: (value?: Promise<void>) => void,
      reject: (err: unknown) => void,
    ): void => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    };
    this.#onBodySettled = (run: number, settled: Settled): void => {
      this.#settleBody(run, settled);
    };
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
    // Not a closure over `options`: every closure made in this constructor
    // shares one context, which would keep the options object per user.
    const className = options.className;
    this.#testNames = options.methods.map((method) => `${className}.${method}`);
    const serverUrl = options.serverUrl;
    this.#clientsOptions = {
      sink,
      runContext: this.runContext,
      testName: () => this.#testName,
      timeoutMs: options.timeoutMs,
      maxBodyBytes: options.maxBodyBytes,
      discardBodies: options.discardBodies ?? false,
      transport: options.transport,
      serverUrl: () => serverUrl ?? this.#instance?.serverUrl,
      cookies: undefined,
      incrCounter: (name, by) => this.#countIncrement(name, by),
    };
    this.#testClass = options.testClass;
    this.#methodNames = options.methods;
    this.#clients = new UserClients(this.#clientsOptions);
    this.#instance = undefined;
    this.#constructError = undefined;
    this.#body = undefined;
    this.#newInstance();
  }

  /** This user's current Session (a new one after a run timed out). */
  get session(): Session {
    return this.#clients.session;
  }

  /** This user's current App. */
  get app(): App {
    return this.#clients.app;
  }

  /** A new TestCase instance on the current clients, and its RunBody; a constructor that throws makes every run an error. */
  #newInstance(): void {
    let instance: TestCase | undefined;
    try {
      instance = new this.#testClass();
      instance.attachContext(this.#clients);
    } catch (err) {
      this.#instance = undefined;
      this.#constructError = err;
      this.#body = undefined;
      return;
    }
    // map(), not push(): an array grown by push() keeps room for 17 (120 bytes more per user).
    const methods = this.#methodNames.map((method) => {
      const fn = (instance as unknown as Record<string, unknown>)[method];
      return typeof fn === 'function' ? (fn as (this: TestCase) => unknown) : missingMethod(method);
    });
    this.#instance = instance;
    this.#constructError = undefined;
    this.#body = new RunBody(instance, methods, this.#onBodySettled);
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
  run(deadline = Infinity): Promise<void> {
    this.#ownWatchdog?.start();
    const done = new Promise<void>(this.#armDone);
    this.#mode = MODE_LOOP;
    this.#deadline = deadline;
    this.#hit = 0;
    this.#yielded = false;
    this.#index = NEXT_HIT;
    this.#advance();
    return done;
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
    const done = new Promise<void>(this.#armDone);
    this.#mode = MODE_ITERATION;
    this.#deadline = Infinity;
    this.#index = 0;
    this.#advance();
    return done;
  }

  /** After a yield (setImmediate's argument, not a closure per user). */
  static #afterYield(this: void, user: VirtualUser): void {
    user.#advance();
  }

  /**
   * Drives the loop from where it is: called when run() or runIteration()
   * starts, when a run ended, and after a yield. A run that ends while this
   * is on the stack (a synchronous test) only sets #pending, and the loop
   * here goes on: synchronous runs never nest.
   */
  #advance(): void {
    if (this.#driving) {
      this.#pending = true;
      return;
    }
    this.#driving = true;
    try {
      do {
        this.#pending = false;
        this.#step();
      } while (this.#pending);
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#driving = false;
    }
  }

  /**
   * Starts the next run, or begins the next hit (#pending), yields, or
   * ends the iteration or the loop. Every method once per hit, unless
   * stopped or past the deadline before one starts.
   */
  #step(): void {
    const mode = this.#mode;
    if (mode === MODE_NONE) {
      return;
    }
    let index = this.#index;
    if (index === NEXT_HIT) {
      const hit = this.#hit + 1;
      const hits = this.runContext.hits;
      if (hits !== 0 && hit > hits) {
        this.#endLoop();
        return;
      }
      if (hit % YIELD_EVERY_RUNS === 0 && !this.#yielded) {
        this.#yielded = true;
        setImmediate(VirtualUser.#afterYield, this);
        return;
      }
      this.#yielded = false;
      this.#hit = hit;
      this.runContext.currentHit = hit;
      index = 0;
      this.#index = 0;
    }
    if (index < this.#testNames.length) {
      const deadline = this.#deadline;
      if (!this.#stopped && (deadline === Infinity || now() < deadline)) {
        this.#index = index + 1;
        this.#runTest(index);
        return;
      }
      this.#stopped = true;
    }
    // The iteration is over.
    if (mode === MODE_ITERATION) {
      this.#mode = MODE_NONE;
      const resolve = this.#resolveDone;
      this.#resolveDone = ignore;
      this.#rejectDone = ignore;
      resolve();
    } else if (this.#stopped) {
      this.#endLoop();
    } else {
      this.#index = NEXT_HIT;
      this.#pending = true;
    }
  }

  /** run() is over: closes the user unless abandoned. */
  #endLoop(): void {
    this.#mode = MODE_NONE;
    this.#ownWatchdog?.stop();
    const resolve = this.#resolveDone;
    this.#resolveDone = ignore;
    this.#rejectDone = ignore;
    resolve(this.#abandoned ? undefined : this.close());
  }

  /** The sink threw: run() or runIteration() rejects with it. */
  #fail(err: unknown): void {
    if (this.#mode === MODE_LOOP) {
      this.#ownWatchdog?.stop();
    }
    this.#mode = MODE_NONE;
    const reject = this.#rejectDone;
    this.#resolveDone = ignore;
    this.#rejectDone = ignore;
    reject(err);
  }

  /**
   * Ends this user's requests in flight and its sockets, with `reason`;
   * later ones fail with it at once. Requests in flight count as status-0
   * hits with `hitErrorKey` ('' for none: Ctrl-C). Only the first call counts.
   */
  abortIO(reason: unknown, hitErrorKey = ''): void {
    if (this.#ioAborted) {
      return;
    }
    this.#ioAborted = true;
    this.#ioAbortReason = reason;
    this.#clients.abort(reason, hitErrorKey);
  }

  /**
   * Watched: at --test-timeout, the run in flight ends as an error now: its
   * requests (each counted once, as a TEST_TIMEOUT hit) and sockets are
   * aborted, and the next run gets a new instance and new clients.
   */
  checkTestTimeout(nowMs: number): void {
    if (
      this.#state === RUNNING &&
      this.#testTimeoutMs > 0 &&
      nowMs - this.#inFlightStart >= this.#testTimeoutMs
    ) {
      this.#bodyRun = 0; // its late outcome is dropped
      const left = this.#clients;
      left.abort(new TestTimeoutError(this.#testTimeoutMs), 'TEST_TIMEOUT');
      this.#clients = new UserClients({ ...this.#clientsOptions, cookies: left.session.cookies });
      if (this.#ioAborted) {
        this.#clients.abort(this.#ioAbortReason);
      }
      this.#newInstance();
      void left.close();
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
    if (this.#inFlight) {
      this.#inFlight = false;
      if (message !== null && !this.#signal.aborted) {
        // Its requests in flight count too, as the run does (ABORTED hits).
        this.abortIO(new Error(message), 'ABORTED');
        this.#emitEnd(this.#inFlightStart, Outcome.ERROR, 'TestRunAbandonedError', message, '');
      }
    }
    this.#abandoned = true;
    this.#ownWatchdog?.stop();
    if (this.#state !== IDLE) {
      // The loop waiting for this run goes on, sees #stopped and ends. The
      // body left behind settles a run number that is no longer current.
      this.#state = IDLE;
      this.#bodyRun = 0;
      this.#endingSettled = undefined;
      this.#advance();
    }
  }

  /** Closes the sockets still open and the session. Idempotent; never rejects. */
  close(): Promise<void> {
    this.#ownWatchdog?.stop();
    this.#closed ??= this.#closeAll();
    return this.#closed;
  }

  #closeAll(): Promise<void> {
    return this.#clients.close();
  }

  /** The clients' `this.incrCounter()`. Dropped once the user is abandoned or aborted. */
  #countIncrement(name: string, by: number): void {
    if (this.#abandoned || this.#signal.aborted) {
      return;
    }
    const event = THREAD_COUNTER;
    event.name = name;
    event.value = by;
    this.#sink.emit(event);
  }

  /**
   * One test run. It ends by its body (#settleBody), by the watchdog
   * (checkTestTimeout) or by abandon(), whichever comes first; then the loop
   * goes on (#advance).
   */
  #runTest(index: number): void {
    const test = this.#testNames[index]!;
    this.#testName = test;
    const startMs = now();
    const start = THREAD_START;
    start.test = test;
    start.startedAt = toEpochMs(startMs);
    const context = this.runContext;
    start.cycleIndex = context.cycleIndex;
    start.users = context.users;
    start.currentUser = context.currentUser;
    start.currentHit = context.currentHit;
    this.#sink.emit(start);
    this.#inFlight = true;
    this.#inFlightStart = startMs;
    const run = ++this.#runs;
    this.#bodyRun = run;
    this.#state = RUNNING;
    const body = this.#body;
    if (body === undefined) {
      this.#settleBody(run, this.#constructError);
    } else {
      body.start(index, run);
    }
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
    if (!this.#clients.hasSockets) {
      this.#finishRun(startMs, settled, undefined);
    } else {
      this.#endingStart = startMs;
      this.#endingSettled = settled;
      void this.#clients
        .closeSockets()
        .then((this.#onSocketsClosed ??= this.#newOnSocketsClosed()));
    }
  }

  /** Made in a method of its own: a closure made in #endRun would give every call of it a context. */
  #newOnSocketsClosed(): (socketError: Error | undefined) => void {
    return (socketError: Error | undefined): void => {
      if (this.#state === ENDING) {
        const settled = this.#endingSettled;
        this.#endingSettled = undefined;
        this.#finishRun(this.#endingStart, settled, socketError);
      }
    };
  }

  #finishRun(startMs: number, settled: Settled, socketError: Error | undefined): void {
    this.#state = IDLE;
    this.#inFlight = false;
    try {
      if (!this.#signal.aborted) {
        // Ctrl-C: runs in flight are not counted
        this.#emitOutcome(startMs, settled, socketError);
      }
    } catch (err) {
      this.#fail(err);
      return;
    } finally {
      this.#testName = '';
    }
    this.#advance();
  }

  #emitOutcome(startMs: number, settled: Settled, socketError: Error | undefined): void {
    if (settled === NO_ERROR) {
      if (socketError === undefined) {
        this.#emitEnd(startMs, Outcome.SUCCESS, '', '', '');
      } else {
        this.#emitError(startMs, Outcome.ERROR, socketError);
      }
    } else if (settled === TIMED_OUT) {
      // No stack: the user's code did not throw it, and ours says nothing.
      this.#emitEnd(
        startMs,
        Outcome.ERROR,
        'TestTimeoutError',
        new TestTimeoutError(this.#testTimeoutMs).message,
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
    const end = THREAD_END;
    end.test = this.#testName;
    end.startedAt = toEpochMs(startMs);
    end.elapsedMs = now() - startMs;
    end.outcome = outcome;
    end.errorName = errorName;
    end.errorMessage = errorMessage;
    end.errorStack = errorStack;
    const context = this.runContext;
    end.cycleIndex = context.cycleIndex;
    end.users = context.users;
    end.currentUser = context.currentUser;
    end.currentHit = context.currentHit;
    end.lagMs = context.lagMs;
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

function ignore(): void {}
