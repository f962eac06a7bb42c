// The open model (--rate): test runs start on a computed schedule whatever
// the server does, and a pool of virtual users, grown on demand up to
// --max-users, takes them. The schedule is exact, not accumulated: run i of
// a step is due intendedStartMs(i) after the step start, and one timer wakes
// at the next due run and starts every run due by then (never a timer per
// run). A due run that finds no free user waits in a FIFO backlog (just its
// intended time) and carries its start lag, so that response times can be
// corrected for coordinated omission (wrk2); it is dropped when it would
// start more than one request timeout late, or when the step ends first.
import { now } from '../metrics/clock.ts';
import type { DroppedEvent, EventSink } from '../metrics/events.ts';
import type { CycleStep } from './cycle.ts';
import type { VirtualUser } from './virtual-user.ts';

/** The schedule's inputs: runs per second, and the ramp-up (ms) to reach it from 0. */
export type Schedule = Pick<CycleStep, 'rate' | 'rampUpMs'>;

/**
 * When run `i` (0-based) of a step is due, ms after the step start. Without
 * ramp-up: i / rate. With ramp-up S the rate rises linearly from 0, so the
 * cumulative runs are N(t) = R·t²/(2S) up to S, then R·S/2 + R·(t − S);
 * this is the inverse, N(t_i) = i.
 */
export function intendedStartMs(i: number, schedule: Schedule): number {
  const { rate, rampUpMs } = schedule;
  if (rampUpMs <= 0) {
    return (i * 1000) / rate;
  }
  const rampRuns = (rate * rampUpMs) / 2000;
  if (i <= rampRuns) {
    return Math.sqrt((2000 * rampUpMs * i) / rate);
  }
  return rampUpMs + ((i - rampRuns) * 1000) / rate;
}

/** How many runs the step starts: every i with intendedStartMs(i) < durationMs. */
export function runsInStep(step: Schedule & Pick<CycleStep, 'durationMs'>): number {
  const { rate, rampUpMs, durationMs } = step;
  if (!(rate > 0) || !(durationMs > 0)) {
    return 0;
  }
  let runs: number;
  if (rampUpMs <= 0) {
    runs = (rate * durationMs) / 1000;
  } else if (durationMs <= rampUpMs) {
    runs = (rate * durationMs * durationMs) / (2000 * rampUpMs);
  } else {
    runs = (rate * rampUpMs) / 2000 + (rate * (durationMs - rampUpMs)) / 1000;
  }
  // The closed form can be off by one in floating point: settle on the definition.
  let count = Math.ceil(runs);
  while (count > 0 && intendedStartMs(count - 1, step) >= durationMs) {
    count--;
  }
  while (intendedStartMs(count, step) < durationMs) {
    count++;
  }
  return count;
}

/**
 * A share of a step's runs (a worker thread's): the global runs i with
 * offset ≤ i % period < offset + count. Worker threads use their share of
 * the users (offset, count, out of period = the step's max users), so each
 * gets runs in proportion to its pool and the shares union to the schedule.
 */
export interface RunShare {
  offset: number;
  count: number;
  period: number;
}

/** The whole schedule, in one share. */
export const ALL_RUNS: RunShare = { offset: 0, count: 1, period: 1 };

/** The first run of `share` at or after run `i`. */
export function firstRunInShare(i: number, share: RunShare): number {
  const { offset, count, period } = share;
  const position = i % period;
  if (position < offset) {
    return i - position + offset;
  }
  if (position >= offset + count) {
    return i - position + period + offset;
  }
  return i;
}

export interface ArrivalDispatcherOptions {
  step: CycleStep;
  /** Monotonic time the step started at: run i is due at startMs + intendedStartMs(i). */
  startMs: number;
  /** Which of the step's runs this dispatcher starts. */
  runShare: RunShare;
  /** Pool users are numbered userOffset+1 … userOffset+maxUsers (global across workers). */
  userOffset: number;
  /** This dispatcher's share of --max-users. */
  maxUsers: number;
  /** A run waiting for a free user longer than this is dropped, ms; 0 = never. */
  timeoutMs: number;
  /** Methods per run: a dropped run counts this many dropped test runs. */
  methodsPerRun: number;
  sink: EventSink;
  /** Makes pool user number `currentUser`; called at most maxUsers times. */
  createUser: (currentUser: number) => VirtualUser;
  /** Every pool user made so far is appended here (the runner aborts, abandons and closes them). */
  users: VirtualUser[];
}

/** A pool user, and its one callback for the end of each run (made once, not per run). */
interface PoolMember {
  readonly user: VirtualUser;
  onRunEnd: () => void;
}

/**
 * Starts one step's runs on schedule with a pool of users. start() once;
 * then finish() at the step's end, or cancel() on Ctrl-C. No timer of its
 * own outlives finish() or cancel().
 */
export class ArrivalDispatcher {
  readonly #options: ArrivalDispatcherOptions;
  readonly #totalRuns: number;
  readonly #idle: PoolMember[] = [];
  readonly #backlog = new TimeQueue();
  readonly #dropped: DroppedEvent;
  #poolSize = 0;
  #nextRun: number;
  #busy = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #onDrained: (() => void) | undefined;
  readonly #wake = (): void => this.#startDueRuns();

  constructor(options: ArrivalDispatcherOptions) {
    this.#options = options;
    this.#totalRuns = runsInStep(options.step);
    this.#nextRun = firstRunInShare(0, options.runShare);
    this.#dropped = { type: 'dropped', cycleIndex: options.step.cycleIndex, count: 0 };
  }

  /** Starts the runs due now (run 0 is due at the step start) and the timer for the next. */
  start(): void {
    this.#startDueRuns();
  }

  /**
   * The step's duration is over: starts the runs of the schedule the timer
   * has not reached yet (all were due before the end) and drops the
   * backlog. Resolves when every run in flight has ended and every user is
   * closed.
   */
  async finish(): Promise<void> {
    this.#startRuns(Infinity);
    this.#stop();
    this.#emitDropped(this.#backlog.length);
    this.#backlog.clear();
    // A run in flight is one iteration: it goes on to its last method (the
    // runner's grace period bounds it), so that runs and drops add up.
    if (this.#busy > 0) {
      await new Promise<void>((resolve) => {
        this.#onDrained = resolve;
      });
    }
    await Promise.all(this.#options.users.map((user) => user.close()));
  }

  /** Ctrl-C or abandon: no run starts any more; the backlog is forgotten, not counted. */
  cancel(): void {
    this.#stop();
    this.#backlog.clear();
  }

  #stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The timer: starts every run due by now, drops what waited too long, sets the next wake. */
  #startDueRuns(): void {
    this.#timer = undefined;
    if (this.#stopped) {
      return;
    }
    const { step, startMs, timeoutMs } = this.#options;
    let dropped = 0;
    if (timeoutMs > 0) {
      const oldest = now() - timeoutMs;
      while (this.#backlog.length > 0 && this.#backlog.peek() < oldest) {
        this.#backlog.shift();
        dropped++;
      }
    }
    this.#emitDropped(dropped);
    this.#startRuns(now() - startMs);
    if (this.#nextRun < this.#totalRuns) {
      const delayMs = intendedStartMs(this.#nextRun, step) - (now() - startMs);
      this.#timer = setTimeout(this.#wake, Math.max(1, delayMs));
    }
  }

  /** Starts (or queues) this share's runs due by `elapsedMs` after the step start. */
  #startRuns(elapsedMs: number): void {
    const { step, startMs, runShare } = this.#options;
    while (this.#nextRun < this.#totalRuns) {
      const dueMs = intendedStartMs(this.#nextRun, step);
      if (dueMs > elapsedMs) {
        break;
      }
      this.#nextRun = firstRunInShare(this.#nextRun + 1, runShare);
      const member = this.#idle.pop() ?? this.#grow();
      if (member === undefined) {
        this.#backlog.push(startMs + dueMs);
      } else {
        this.#run(member, startMs + dueMs);
      }
    }
  }

  /** A new pool user, or undefined when the pool is at --max-users. */
  #grow(): PoolMember | undefined {
    const { maxUsers, userOffset, createUser, users } = this.#options;
    if (this.#poolSize >= maxUsers) {
      return undefined;
    }
    this.#poolSize++;
    const user = createUser(userOffset + this.#poolSize);
    users.push(user);
    const member: PoolMember = { user, onRunEnd: ignore };
    member.onRunEnd = () => this.#onRunEnd(member);
    return member;
  }

  #run(member: PoolMember, intendedMs: number): void {
    this.#busy++;
    // The step-end catch-up (finish) may start a run a hair before it is due.
    const lagMs = Math.max(0, now() - intendedMs);
    member.user.runIteration(lagMs).then(member.onRunEnd, member.onRunEnd);
  }

  /** A user is free: it takes the oldest backlog run still in time, or goes idle (LIFO, so connections stay warm). */
  #onRunEnd(member: PoolMember): void {
    this.#busy--;
    if (this.#stopped) {
      if (this.#busy === 0) {
        this.#onDrained?.();
      }
      return;
    }
    const { timeoutMs } = this.#options;
    let dropped = 0;
    while (this.#backlog.length > 0) {
      const intendedMs = this.#backlog.shift();
      if (timeoutMs > 0 && now() - intendedMs > timeoutMs) {
        dropped++;
        continue;
      }
      this.#emitDropped(dropped);
      this.#run(member, intendedMs);
      return;
    }
    this.#emitDropped(dropped);
    this.#idle.push(member);
  }

  /** One dropped event for `runs` dropped runs, in test-run units. */
  #emitDropped(runs: number): void {
    if (runs === 0) {
      return;
    }
    this.#dropped.count = runs * this.#options.methodsPerRun;
    this.#options.sink.emit(this.#dropped);
  }
}

/** A FIFO of numbers in a ring that doubles when full: no object per entry. */
export class TimeQueue {
  #items = new Float64Array(64);
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(value: number): void {
    if (this.#length === this.#items.length) {
      const bigger = new Float64Array(this.#items.length * 2);
      for (let i = 0; i < this.#length; i++) {
        bigger[i] = this.#items[(this.#head + i) % this.#items.length]!;
      }
      this.#items = bigger;
      this.#head = 0;
    }
    this.#items[(this.#head + this.#length) % this.#items.length] = value;
    this.#length++;
  }

  /** The oldest value; only when length > 0. */
  peek(): number {
    return this.#items[this.#head]!;
  }

  /** Removes and returns the oldest value; only when length > 0. */
  shift(): number {
    const value = this.#items[this.#head]!;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#length--;
    return value;
  }

  clear(): void {
    this.#head = 0;
    this.#length = 0;
  }
}

function ignore(): void {}
