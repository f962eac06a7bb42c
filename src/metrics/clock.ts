// Monotonic time for durations, wall-clock for timestamps. performance.now()
// is monotonic; adding performance.timeOrigin turns a reading into epoch ms
// without a second clock read (STYLE.md §8.6).

/** Monotonic milliseconds, for measuring durations. */
export function now(): number {
  return performance.now();
}

/** Epoch milliseconds of a monotonic reading from now(). */
export function toEpochMs(monotonicMs: number): number {
  return performance.timeOrigin + monotonicMs;
}
