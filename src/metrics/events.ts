// The events that flow from the runner and the clients to the aggregator and
// the outputs: the contract between the layers. Events are flat and
// cloneable (numbers, short strings) so that they can later cross threads and
// agents. Each kind is built with the same literal shape every time so V8
// keeps one hidden class per kind (STYLE.md §8.5).

/** How a test run ended (SPEC §3.4). */
export const Outcome = {
  SUCCESS: 0,
  /** A failed assertion (ours, or node:assert's AssertionError). */
  FAILURE: 1,
  /** Any other exception or rejection. */
  ERROR: 2,
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/**
 * Where an event happened: which cycle step, which virtual user, which run of
 * that user. Mirrors Loads' loads_status. All 1-based except cycleIndex.
 */
export interface RunContext {
  /** 0-based index of the cycle step (`-u 10:20` × `--hits 5:10` gives 4 steps). */
  cycleIndex: number;
  /** Number of users in this step. */
  users: number;
  /** Runs per user in this step; 0 in duration mode. */
  hits: number;
  /** 1-based index of the virtual user within the step. */
  currentUser: number;
  /** 1-based index of this user's current test run. */
  currentHit: number;
  /**
   * How late the current run started against its intended start, ms: 0 in
   * the closed model (-u), the wait for a free user or the timer's lateness
   * in the open model (--rate). A hit's response time is elapsedMs + lagMs.
   */
  lagMs: number;
}

/** One HTTP request, whatever its outcome (SPEC §3.1). */
export interface HitEvent {
  type: 'hit';
  /** Upper-case method, e.g. 'GET'. */
  method: string;
  /** The URL as requested, query string included. */
  url: string;
  /**
   * The request's `name` option (e.g. '/item/:id'), '' when it has none. A
   * named hit is grouped under its name instead of its URL in every table,
   * threshold and output; every hop of a redirected call carries the name.
   */
  name: string;
  /** HTTP status, or 0 when no response came (see errorKey). */
  status: number;
  /** '' when a response came; else a short key from metrics/error-key.ts. */
  errorKey: string;
  /** Wall-clock start, epoch ms. */
  startedAt: number;
  /** Request start to the end of the body, ms (monotonic). */
  elapsedMs: number;
  /** Body bytes received. */
  bytes: number;
  /** 'Class.method' of the test that sent it, '' outside a test. */
  test: string;
  cycleIndex: number;
  currentUser: number;
  currentHit: number;
  /** The run's start lag (RunContext.lagMs): response time = elapsedMs + lagMs (coordinated omission corrected). */
  lagMs: number;
  /** The HTTP version the response came over: 'h1' or 'h2' (--http2); '' when none came. */
  protocol: 'h1' | 'h2' | '';
}

/** A hit event with every field at its empty value: producers keep one and refill it for every hit. */
export function newHitEvent(): HitEvent {
  return {
    type: 'hit',
    method: '',
    url: '',
    name: '',
    status: 0,
    errorKey: '',
    startedAt: 0,
    elapsedMs: 0,
    bytes: 0,
    test: '',
    cycleIndex: 0,
    currentUser: 0,
    currentHit: 0,
    lagMs: 0,
    protocol: '',
  };
}

/** A test method starts one run. */
export interface TestStartEvent {
  type: 'test-start';
  /** 'Class.method'. */
  test: string;
  startedAt: number;
  cycleIndex: number;
  users: number;
  currentUser: number;
  currentHit: number;
}

/** A test method's run ended: success, failure or error. */
export interface TestEndEvent {
  type: 'test-end';
  test: string;
  startedAt: number;
  elapsedMs: number;
  outcome: Outcome;
  /** '' on success; else the error's name ('AssertionError', 'TypeError', …). */
  errorName: string;
  /** '' on success; else the error's message. */
  errorMessage: string;
  /** '' on success; else the stack (or String(value) for a non-Error throw). */
  errorStack: string;
  cycleIndex: number;
  users: number;
  currentUser: number;
  currentHit: number;
  /** How late the run started against its intended start, ms (RunContext.lagMs). */
  lagMs: number;
}

/** A test-start event with every field at its empty value: a virtual user keeps one and refills it for every run. */
export function newTestStartEvent(): TestStartEvent {
  return {
    type: 'test-start',
    test: '',
    startedAt: 0,
    cycleIndex: 0,
    users: 0,
    currentUser: 0,
    currentHit: 0,
  };
}

/** A test-end event with every field at its empty value: a virtual user keeps one and refills it for every run. */
export function newTestEndEvent(): TestEndEvent {
  return {
    type: 'test-end',
    test: '',
    startedAt: 0,
    elapsedMs: 0,
    outcome: Outcome.SUCCESS,
    errorName: '',
    errorMessage: '',
    errorStack: '',
    cycleIndex: 0,
    users: 0,
    currentUser: 0,
    currentHit: 0,
    lagMs: 0,
  };
}

/** A WebSocket opened by `this.createWs`. */
export interface SocketOpenEvent {
  type: 'socket-open';
  url: string;
  startedAt: number;
}

/** A message received on a WebSocket. */
export interface SocketMessageEvent {
  type: 'socket-message';
  url: string;
  bytes: number;
}

/** A WebSocket closed (by either side or by an error). */
export interface SocketCloseEvent {
  type: 'socket-close';
  url: string;
  code: number;
}

/** `this.incrCounter(name, by)`. */
export interface CounterEvent {
  type: 'counter';
  name: string;
  value: number;
}

/** A cycle step starts: its users and hits (hits 0 in duration mode). */
export interface CycleStartEvent {
  type: 'cycle-start';
  cycleIndex: number;
  users: number;
  hits: number;
  /** Step duration in duration mode, else 0. */
  durationMs: number;
  /** Open model (--rate): test runs started per second at full rate; 0 in the closed model. */
  rate: number;
  /** --ramp-up: users (or the rate) rise linearly from 0 over this long, ms; 0 for none. */
  rampUpMs: number;
  startedAt: number;
}

/**
 * Open model: runs that were due but never started, because every one of
 * --max-users was busy until the run was too late or the step ended.
 */
export interface DroppedEvent {
  type: 'dropped';
  cycleIndex: number;
  /** Test runs dropped (one per method of the test for each dropped iteration). */
  count: number;
}

/** A cycle step ended (all its runs done or abandoned). */
export interface CycleEndEvent {
  type: 'cycle-end';
  cycleIndex: number;
  elapsedMs: number;
}

export type LoadsEvent =
  | HitEvent
  | TestStartEvent
  | TestEndEvent
  | SocketOpenEvent
  | SocketMessageEvent
  | SocketCloseEvent
  | CounterEvent
  | CycleStartEvent
  | CycleEndEvent
  | DroppedEvent;

export type LoadsEventType = LoadsEvent['type'];

/**
 * Receives events. `emit` is called synchronously on the hot path, once per
 * hit or message: it must not block, await, do I/O or throw. Buffer, do not
 * write. The event object belongs to the caller after emit returns: keep the
 * fields you need, not the object. Producers share one object per kind in a
 * thread (the Sessions' hit, the users' test-start and test-end), so `emit`
 * must not lead to another emit before it returns.
 */
export interface EventSink {
  emit(event: LoadsEvent): void;
}

/** Fan an event out to several sinks; with one sink, use that sink itself. */
export function createFanoutSink(sinks: readonly EventSink[]): EventSink {
  if (sinks.length === 1 && sinks[0] !== undefined) {
    return sinks[0];
  }
  const all = sinks.slice();
  return {
    emit(event) {
      for (let i = 0; i < all.length; i++) {
        all[i]!.emit(event);
      }
    },
  };
}
