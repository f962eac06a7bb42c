// Runs a plan in this process: the steps one after the other, and in each
// step all its virtual users at once on the event loop (staggered over
// --ramp-up), or, in the open model (--rate), runs on a schedule taken by a
// pool of users (arrival.ts). Duration steps end
// on the clock; runs still in flight then get a grace of one request
// timeout before they are abandoned (counted as errors) and the step's
// signal aborts their I/O. Ctrl-C (the signal) ends the run at once without
// counting runs in flight. --test-timeout is one RunWatchdog per step for
// all its users. No timer of ours outlives run().
import type { TransportOptions } from '../client/transport.ts';
import { now } from '../metrics/clock.ts';
import type { EventSink } from '../metrics/events.ts';
import { cycleStartEvent, type CycleStep } from './cycle.ts';
import type { LoadedTest } from './loader.ts';
import { VirtualUser } from './virtual-user.ts';
import { ALL_RUNS, ArrivalDispatcher, type RunShare } from './arrival.ts';
import { StaggeredStart } from './staggered-start.ts';
import { RunWatchdog } from './run-watchdog.ts';

export interface LocalRunnerOptions {
  test: LoadedTest;
  plan: readonly CycleStep[];
  /** Receives every event, synchronously (see EventSink). */
  sink: EventSink;
  /** Ctrl-C: stop at once; runs in flight are not counted. */
  signal: AbortSignal;
  /** Default per-request timeout, ms (0 = none); also the grace period at the end of a duration step. */
  timeoutMs: number;
  /** Bound on each test run, ms; 0 = none. */
  testTimeoutMs: number;
  /** --max-body-size, bytes; default the Session's (64 MiB). */
  maxBodyBytes?: number | undefined;
  /** --discard-bodies: bodies are counted and timed, not kept. */
  discardBodies?: boolean | undefined;
  /** --insecure, --ca, --cert/--key, --http2; default none (verify, HTTP/1.1). */
  transport?: TransportOptions | undefined;
  /** --server-url: wins over the class's serverUrl field. */
  serverUrl: string | undefined;
  /**
   * The share of each step's users this runner runs (a worker thread's):
   * users offset+1 … offset+count, out of step.users. Default: all of them.
   */
  userShare?: { offset: number; count: number };
  /**
   * Open model: the share of each rate step's runs this runner starts (a
   * worker thread's, see RunShare). Default: all of them.
   */
  runShare?: RunShare;
}

export interface RunResult {
  /** True when the signal stopped the run before the plan was done. */
  interrupted: boolean;
}

const ABORTED = Symbol('aborted');
const TIMER = Symbol('timer');
type Aborted = typeof ABORTED;

export class LocalRunner {
  readonly #options: LocalRunnerOptions;

  constructor(options: LocalRunnerOptions) {
    this.#options = options;
  }

  /** Runs the whole plan. Resolves (never rejects for what a test does) when it is done or interrupted. */
  async run(): Promise<RunResult> {
    const { signal } = this.#options;
    if (signal.aborted) {
      return { interrupted: true };
    }
    let onAbort: () => void = ignore;
    const aborted = new Promise<Aborted>((resolve) => {
      onAbort = () => resolve(ABORTED);
    });
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (const step of this.#options.plan) {
        if ((await this.#runStep(step, aborted)) === ABORTED) {
          return { interrupted: true };
        }
      }
      return { interrupted: signal.aborted };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async #runStep(step: CycleStep, aborted: Promise<Aborted>): Promise<Aborted | undefined> {
    const { test, sink, signal } = this.#options;
    const startMs = now();
    sink.emit(cycleStartEvent(step, startMs));

    // One signal per step, so that abandoning the step's hung runs ends
    // only their requests and sockets; it reaches the users through one
    // listener here rather than one per user (see VirtualUserOptions.signal).
    const stepAbort = new AbortController();
    const forwardAbort = (): void => stepAbort.abort(signal.reason);
    signal.addEventListener('abort', forwardAbort, { once: true });

    const users: VirtualUser[] = [];
    const { testTimeoutMs } = this.#options;
    const watchdog = testTimeoutMs > 0 ? new RunWatchdog(testTimeoutMs, users) : undefined;
    const share = this.#options.userShare ?? { offset: 0, count: step.users };
    const createUser = (currentUser: number): VirtualUser =>
      new VirtualUser({
        testClass: test.testClass,
        className: test.className,
        methods: test.methods,
        step,
        currentUser,
        sink,
        timeoutMs: this.#options.timeoutMs,
        testTimeoutMs,
        maxBodyBytes: this.#options.maxBodyBytes,
        discardBodies: this.#options.discardBodies,
        transport: this.#options.transport,
        serverUrl: this.#options.serverUrl,
        signal: stepAbort.signal,
        watchdog,
      });
    stepAbort.signal.addEventListener(
      'abort',
      () => {
        for (const user of users) {
          user.abortIO(stepAbort.signal.reason);
        }
      },
      { once: true },
    );
    const load =
      step.rate > 0
        ? this.#startOpen(step, startMs, share, users, createUser)
        : this.#startClosed(step, startMs, share, users, createUser);

    let outcome: unknown;
    const timers: Timer[] = [];
    watchdog?.start();
    try {
      if (step.durationMs > 0) {
        const stepTimer = new Timer(step.durationMs);
        timers.push(stepTimer);
        outcome = await Promise.race([load.done, aborted, stepTimer.promise]);
        if (outcome === TIMER) {
          const done = load.end();
          const grace = new Timer(this.#options.timeoutMs);
          timers.push(grace);
          outcome = await Promise.race([done, aborted, grace.promise]);
          if (outcome === TIMER) {
            const message = `test run still running when the run ended (after the grace period of ${this.#options.timeoutMs / 1000} s)`;
            load.cancel();
            for (const user of users) {
              user.abandon(message);
            }
            stepAbort.abort(new Error('cycle step ended'));
            for (const user of users) {
              void user.close();
            }
          }
        }
      } else {
        outcome = await Promise.race([load.done, aborted]);
      }
      if (outcome === ABORTED) {
        load.cancel();
        for (const user of users) {
          user.abandon(null);
        }
        stepAbort.abort(signal.reason);
        for (const user of users) {
          void user.close();
        }
      }
    } finally {
      watchdog?.stop();
      for (const timer of timers) {
        timer.cancel();
      }
      signal.removeEventListener('abort', forwardAbort);
    }
    sink.emit({ type: 'cycle-end', cycleIndex: step.cycleIndex, elapsedMs: now() - startMs });
    return outcome === ABORTED ? ABORTED : undefined;
  }

  /** Closed model: this share's users, all at once or staggered by --ramp-up. */
  #startClosed(
    step: CycleStep,
    startMs: number,
    share: { offset: number; count: number },
    users: VirtualUser[],
    createUser: (currentUser: number) => VirtualUser,
  ): StepLoad {
    for (let u = share.offset + 1; u <= share.offset + share.count; u++) {
      users.push(createUser(u));
    }
    const deadline = step.durationMs > 0 ? startMs + step.durationMs : Infinity;
    const stopUsers = (): void => {
      for (const user of users) {
        user.stop();
      }
    };
    if (step.rampUpMs <= 0) {
      const done = Promise.all(users.map((user) => user.run(deadline)));
      return {
        done,
        end: () => {
          stopUsers();
          return done;
        },
        cancel: ignore,
      };
    }
    const staggered = new StaggeredStart(users, step, startMs, deadline);
    return {
      done: staggered.done,
      end: () => {
        staggered.cancel();
        stopUsers();
        return staggered.done;
      },
      cancel: () => staggered.cancel(),
    };
  }

  /** Open model: runs on the step's schedule, taken by a pool of users grown on demand. */
  #startOpen(
    step: CycleStep,
    startMs: number,
    share: { offset: number; count: number },
    users: VirtualUser[],
    createUser: (currentUser: number) => VirtualUser,
  ): StepLoad {
    const dispatcher = new ArrivalDispatcher({
      step,
      startMs,
      runShare: this.#options.runShare ?? ALL_RUNS,
      userOffset: share.offset,
      maxUsers: share.count,
      timeoutMs: this.#options.timeoutMs,
      methodsPerRun: this.#options.test.methods.length,
      sink: this.#options.sink,
      createUser,
      users,
    });
    dispatcher.start();
    return {
      // An open step only ends on the clock.
      done: new Promise(ignore),
      end: () => dispatcher.finish(),
      cancel: () => dispatcher.cancel(),
    };
  }
}

/** A step's load once started, whichever the model. */
interface StepLoad {
  /** Resolves when every run of the step has ended by itself (never, in the open model). */
  done: Promise<unknown>;
  /** The step's duration is over: no new run starts; resolves when the runs in flight have ended. */
  end(): Promise<unknown>;
  /** Ctrl-C or the grace period is over: no run starts any more, and no timer is left. */
  cancel(): void;
}

/** A cancellable one-shot timer whose promise resolves with TIMER. */
class Timer {
  readonly promise: Promise<typeof TIMER>;
  #handle: NodeJS.Timeout | undefined;

  constructor(ms: number) {
    this.promise = new Promise((resolve) => {
      this.#handle = setTimeout(resolve, ms, TIMER);
    });
  }

  cancel(): void {
    clearTimeout(this.#handle);
  }
}

function ignore(): void {}
