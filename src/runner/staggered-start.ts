// --ramp-up in the closed model: user k of U (1-based, numbered across
// worker threads) starts rampUpMs × (k − 1) / U after the step start, so the
// users rise linearly from 0. One timer wakes at the next start and starts
// every user due by then; cancel() clears it, so no timer outlives the step.
import { now } from '../metrics/clock.ts';
import type { CycleStep } from './cycle.ts';
import type { VirtualUser } from './virtual-user.ts';

/** When user `currentUser` (1-based, of step.users) starts, ms after the step start. */
export function userStartMs(
  currentUser: number,
  step: Pick<CycleStep, 'users' | 'rampUpMs'>,
): number {
  return (step.rampUpMs * (currentUser - 1)) / step.users;
}

export class StaggeredStart {
  /** Resolves when every user has run to its end, or was never started because of cancel(). */
  readonly done: Promise<void>;
  readonly #users: readonly VirtualUser[];
  readonly #step: CycleStep;
  readonly #startMs: number;
  readonly #deadline: number;
  #next = 0;
  #pending: number;
  #timer: NodeJS.Timeout | undefined;
  #resolve: () => void = ignore;
  readonly #wake = (): void => this.#startDue();
  readonly #onUserEnd = (): void => {
    this.#pending--;
    if (this.#pending === 0) {
      this.#resolve();
    }
  };

  /** `users` in ascending currentUser order; each runs until `deadline` (monotonic ms) or its hits. */
  constructor(users: readonly VirtualUser[], step: CycleStep, startMs: number, deadline: number) {
    this.#users = users;
    this.#step = step;
    this.#startMs = startMs;
    this.#deadline = deadline;
    this.#pending = users.length;
    this.done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    if (users.length === 0) {
      this.#resolve();
    }
    this.#startDue();
  }

  /** Users not started yet never start (they are closed); those running go on. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const users = this.#users;
    for (; this.#next < users.length; this.#next++) {
      void users[this.#next]!.close().then(this.#onUserEnd);
    }
  }

  #startDue(): void {
    this.#timer = undefined;
    const users = this.#users;
    const elapsedMs = now() - this.#startMs;
    while (this.#next < users.length) {
      const user = users[this.#next]!;
      const startMs = userStartMs(user.runContext.currentUser, this.#step);
      if (startMs > elapsedMs) {
        this.#timer = setTimeout(this.#wake, Math.max(1, startMs - (now() - this.#startMs)));
        return;
      }
      this.#next++;
      void user.run(this.#deadline).then(this.#onUserEnd);
    }
  }
}

function ignore(): void {}
