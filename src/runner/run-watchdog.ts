// --test-timeout for many virtual users with one timer: an interval scans
// the users and times out each run older than the limit. A user only
// records when its run started, so a test run costs no timer, promise or
// closure of its own. The bound is coarse: a run times out between `limit`
// and `limit + period` after it started, period = min(limit / 4, 100 ms).
import { now } from '../metrics/clock.ts';

/** What the watchdog scans: one virtual user. */
export interface Watched {
  /**
   * Called on every tick with the monotonic time of the tick. Ends the run in
   * flight as a TestTimeoutError if it started `limitMs` or more before
   * `nowMs`. Synchronous, must not allocate when nothing times out.
   */
  checkTestTimeout(nowMs: number): void;
}

/** The longest time between two scans, ms. */
const MAX_PERIOD_MS = 100;

/**
 * Bounds the test runs of a list of users by `limitMs`. The list is read
 * on every tick, so users appended later (the open model's pool) are
 * watched too. start() and stop() may be called any number of times; no
 * timer is left after stop(), and the timer never keeps the process alive.
 */
export class RunWatchdog {
  readonly limitMs: number;
  readonly periodMs: number;
  readonly #users: readonly Watched[];
  #timer: NodeJS.Timeout | undefined = undefined;
  readonly #tick = (): void => {
    const nowMs = now();
    const users = this.#users;
    for (let i = 0; i < users.length; i++) {
      users[i]!.checkTestTimeout(nowMs);
    }
  };

  constructor(limitMs: number, users: readonly Watched[]) {
    this.limitMs = limitMs;
    this.periodMs = Math.max(1, Math.min(limitMs / 4, MAX_PERIOD_MS));
    this.#users = users;
  }

  start(): void {
    if (this.#timer === undefined) {
      this.#timer = setInterval(this.#tick, this.periodMs).unref();
    }
  }

  stop(): void {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
