// Runs a plan in this process: the steps one after the other, and in each
// step all its virtual users at once on the event loop. Duration steps end
// on the clock; runs still in flight then get a grace of one request
// timeout before they are abandoned (counted as errors) and the step's
// signal aborts their I/O. Ctrl-C (the signal) ends the run at once without
// counting runs in flight. No timer of ours outlives run().
import { now } from '../metrics/clock.ts';
import type { EventSink } from '../metrics/events.ts';
import { cycleStartEvent, type CycleStep } from './cycle.ts';
import type { LoadedTest } from './loader.ts';
import { VirtualUser } from './virtual-user.ts';

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
  /** --server-url: wins over the class's serverUrl field. */
  serverUrl: string | undefined;
  /**
   * The share of each step's users this runner runs (a worker thread's):
   * users offset+1 … offset+count, out of step.users. Default: all of them.
   */
  userShare?: { offset: number; count: number };
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
    const firstUser = (this.#options.userShare?.offset ?? 0) + 1;
    const lastUser = firstUser - 1 + (this.#options.userShare?.count ?? step.users);
    for (let u = firstUser; u <= lastUser; u++) {
      users.push(
        new VirtualUser({
          testClass: test.testClass,
          className: test.className,
          methods: test.methods,
          step,
          currentUser: u,
          sink,
          timeoutMs: this.#options.timeoutMs,
          testTimeoutMs: this.#options.testTimeoutMs,
          serverUrl: this.#options.serverUrl,
          signal: stepAbort.signal,
        }),
      );
    }
    stepAbort.signal.addEventListener(
      'abort',
      () => {
        for (const user of users) {
          user.abortIO(stepAbort.signal.reason);
        }
      },
      { once: true },
    );
    const deadline = step.durationMs > 0 ? startMs + step.durationMs : Infinity;
    const done = Promise.all(users.map((user) => user.run(deadline)));

    let outcome: unknown;
    const timers: Timer[] = [];
    try {
      if (step.durationMs > 0) {
        const stepTimer = new Timer(step.durationMs);
        timers.push(stepTimer);
        outcome = await Promise.race([done, aborted, stepTimer.promise]);
        if (outcome === TIMER) {
          for (const user of users) {
            user.stop();
          }
          const grace = new Timer(this.#options.timeoutMs);
          timers.push(grace);
          outcome = await Promise.race([done, aborted, grace.promise]);
          if (outcome === TIMER) {
            const message = `test run still running when the run ended (after the grace period of ${this.#options.timeoutMs / 1000} s)`;
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
        outcome = await Promise.race([done, aborted]);
      }
      if (outcome === ABORTED) {
        for (const user of users) {
          user.abandon(null);
        }
        stepAbort.abort(signal.reason);
        for (const user of users) {
          void user.close();
        }
      }
    } finally {
      for (const timer of timers) {
        timer.cancel();
      }
      signal.removeEventListener('abort', forwardAbort);
    }
    sink.emit({ type: 'cycle-end', cycleIndex: step.cycleIndex, elapsedMs: now() - startMs });
    return outcome === ABORTED ? ABORTED : undefined;
  }
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
