// V8 lets its old generation grow to up to four times the live heap before a
// full collection when allocation is fast, which suits short-lived scripts.
// A load test with thousands of virtual users is the opposite: every user
// holds a connection and its state (about 10 KB live), each run's objects
// live as long as the run (think time) and are promoted, and the old
// generation fills with their garbage: at 10,000 users the process's peak
// RSS was about 50 KB per user for 10 KB of live data (npm run bench --
// memory). Growing the heap by at most HEAP_GROWING_PERCENT keeps the peak
// near the live size; full collections come more often, which is cheap for
// small heaps and costs CPU only when the heap is large (figures in the
// README). An explicit `node --heap-growing-percent=N` wins.
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 50;

/** The V8 flag to set, or null when node's own command line already sets it. */
export function heapGrowthFlag(execArgv: readonly string[]): string | null {
  const given = execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg));
  return given ? null : `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

/**
 * Sets the flag for the whole process (worker threads included). V8 reads it
 * each time it sizes the old generation, so setting it at startup, before the
 * load, takes effect.
 */
export function tuneGarbageCollector(execArgv: readonly string[]): void {
  const flag = heapGrowthFlag(execArgv);
  if (flag !== null) {
    setFlagsFromString(flag);
  }
}
