// --abort-on-fail's watch over a run's thresholds, for a run on this
// machine (main.ts) and on agents (distributed-run.ts) alike: it reads the
// aggregator the run fills, whoever fills it.
import type { Aggregator } from '../metrics/aggregator.ts';
import {
  canCrossEarly,
  certainlyCrossed,
  needsOnlyCounts,
  type Threshold,
} from '../metrics/thresholds.ts';

/** The warning when --abort-on-fail has nothing it can judge before the end. */
export const NOTHING_TO_ABORT_ON =
  'warning: --abort-on-fail has no threshold it can judge before the end ' +
  '(counts such as errors<5, max<…, or errors<1% with a known number of runs); the run will not stop early';

/** Whether some threshold can be crossed for good before the run ends. */
export function canAnyCrossEarly(
  thresholds: readonly Threshold[],
  plannedRuns: number | null,
): boolean {
  return thresholds.some((t) => canCrossEarly(t, plannedRuns));
}

/** How often --abort-on-fail reads the aggregator's cheap counts. */
const COUNTS_CHECK_MS = 100;
/** How often it takes a full snapshot (histograms) when a threshold needs one. */
const SNAPSHOT_CHECK_MS = 1000;

/**
 * --abort-on-fail: calls `onCrossed` with the first threshold crossed for
 * good. Error and dropped thresholds are checked on the cheap progress
 * counts every 100 ms; the others (http_5xx, http_4xx, max) need a snapshot,
 * taken at most once a second. Returns the function that stops watching.
 */
export function watchThresholds(
  thresholds: readonly Threshold[],
  aggregator: Aggregator,
  plannedRuns: number | null,
  onCrossed: (threshold: Threshold) => void,
): () => void {
  const watched = thresholds.filter((t) => canCrossEarly(t, plannedRuns));
  const fromCounts = watched.filter(needsOnlyCounts);
  const fromSnapshot = watched.filter((t) => !needsOnlyCounts(t));
  let lastSnapshotAt = Date.now();
  const timer = setInterval(() => {
    let crossed = certainlyCrossed(fromCounts, aggregator.progress(), plannedRuns);
    const now = Date.now();
    if (crossed === null && fromSnapshot.length > 0 && now - lastSnapshotAt >= SNAPSHOT_CHECK_MS) {
      lastSnapshotAt = now;
      crossed = certainlyCrossed(fromSnapshot, aggregator.snapshot(), plannedRuns);
    }
    if (crossed !== null) {
      clearInterval(timer);
      onCrossed(crossed);
    }
  }, COUNTS_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
