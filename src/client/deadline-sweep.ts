// Request deadlines without a timer per request: one interval per thread
// scans the clients that have something in flight and fails what is past its
// deadline (and WebSockets' handshake, receive() and close() deadlines). A
// request only records its deadline (a number), so the hot path
// allocates nothing for it; a client joins the scan when it starts a
// request and leaves it at the first tick that finds it idle, so idle
// virtual users cost nothing. A deadline fires between 0 and SWEEP_PERIOD_MS
// late (plus any event-loop delay), within the 100 ms SPEC §3.1 allows.
// undici's own headersTimeout/bodyTimeout are per phase (a drip-fed body
// never trips them) and tick every 500 ms, hence this.

import { now } from '../metrics/clock.ts';

/** What the sweep scans: a client with requests (or closes) in flight. */
export interface Swept {
  /**
   * Fails everything of this client that is past its deadline at `nowMs`
   * (monotonic). Returns whether anything is still in flight: false takes
   * the client out of the scan until it joins again. Synchronous; must not
   * allocate when nothing is late, and must not throw.
   */
  checkDeadlines(nowMs: number): boolean;
}

/** The longest a deadline can go unnoticed, ms (besides event-loop delay). */
export const SWEEP_PERIOD_MS = 50;

export class DeadlineSweep {
  readonly periodMs: number;
  readonly #members = new Set<Swept>();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined = undefined;
  readonly #tick = (): void => {
    this.sweep();
  };

  constructor(now: () => number, periodMs = SWEEP_PERIOD_MS) {
    this.#now = now;
    this.periodMs = periodMs;
  }

  /** Number of clients in the scan. */
  get size(): number {
    return this.#members.size;
  }

  /** One scan, as each tick does: fails what is late, drops idle members, stops the timer once none is left. */
  sweep(): void {
    const nowMs = this.#now();
    for (const member of this.#members) {
      if (!member.checkDeadlines(nowMs)) {
        this.#members.delete(member);
      }
    }
    if (this.#members.size === 0) {
      this.#stop();
    }
  }

  /** Puts `member` in the scan (a no-op if it is in already). The timer never keeps the process alive. */
  add(member: Swept): void {
    this.#members.add(member);
    if (this.#timer === undefined) {
      this.#timer = setInterval(this.#tick, this.periodMs).unref();
    }
  }

  /** Takes `member` out of the scan at once (a closed client). */
  delete(member: Swept): void {
    this.#members.delete(member);
    if (this.#members.size === 0) {
      this.#stop();
    }
  }

  #stop(): void {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/** The deadlines of every Session and WebSocket of this thread that has no sweep of its own. */
export const THREAD_DEADLINES = new DeadlineSweep(now);
