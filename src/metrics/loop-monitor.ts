// Is the load generator itself the bottleneck? Each thread (main, every
// worker) watches its own event loop while the load runs: the delay of a
// sampling timer (perf_hooks.monitorEventLoopDelay) and the share of time the
// loop was busy (performance.eventLoopUtilization). A loop that lags or never
// idles queues hits before they are sent and their responses before they are
// timed, so the latencies it reports include its own delay.
// Limit: Node records the delay as the time between two ticks of its sampling
// timer, so a block that starts within the first RESOLUTION_MS after start()
// has no previous tick and is missed by the delay figures; utilization still
// counts it.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { EventLoopUtilization, IntervalHistogram } from 'node:perf_hooks';

/** What one thread's loop did over the monitored time. Plain data: it crosses threads and goes into the json output. */
export interface LoopSample {
  /** 'main', 'worker 2', … */
  thread: string;
  /** How late the sampling timer fired, 99th percentile, in ms. */
  delayP99Ms: number;
  /** How late the sampling timer fired at worst, in ms. */
  delayMaxMs: number;
  /** Event-loop utilization over the monitored time, 0 to 1. */
  utilization: number;
}

export interface GeneratorLoad {
  threads: LoopSample[];
  saturated: boolean;
  /** Why it is saturated, naming the thread and the figure; '' when it is not. */
  reason: string;
}

/**
 * Sampling interval of the delay timer. 20 ms is 50 wake-ups a second per
 * thread, nothing next to the hits, and fine enough for a 50 ms threshold.
 */
export const RESOLUTION_MS = 20;

/**
 * A loop whose timers fire more than 50 ms late adds that much to the
 * latencies it measures: worth a warning, while GC pauses and a few ms of
 * JSON parsing stay under it.
 */
export const SATURATION_DELAY_P99_MS = 50;

/**
 * A loop busy 90 % of the time or more has no slack: work waits behind other
 * work, so hits are sent late and responses read late. A closed-loop run at
 * full speed gets here even with short delays; that is intended, since its
 * latencies then include queueing in the generator (more users or more
 * workers would not send more, they would wait longer).
 */
export const SATURATION_UTILIZATION = 0.9;

const NS_PER_MS = 1e6;

export class LoopMonitor {
  readonly #thread: string;
  // The histogram's timer is unref'd by Node and only runs while enabled, so
  // the monitor never keeps a process or a worker alive.
  readonly #histogram: IntervalHistogram;
  #startUtilization: EventLoopUtilization | null = null;

  constructor(thread: string) {
    this.#thread = thread;
    this.#histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  }

  /** Starts (or restarts) watching this thread's loop. */
  start(): void {
    this.#histogram.disable();
    this.#histogram.reset();
    this.#histogram.enable();
    this.#startUtilization = performance.eventLoopUtilization();
  }

  /** Stops watching and returns what the loop did since start(); zeros if it never started. */
  stop(): LoopSample {
    this.#histogram.disable();
    const h = this.#histogram;
    // Node records the time between ticks, interval included: an idle loop
    // reads ~RESOLUTION_MS. The delay is what exceeds it. An empty histogram
    // reports a small non-zero percentile, hence the count check.
    const delayOf = (ns: number): number =>
      h.count === 0 ? 0 : Math.max(0, ns / NS_PER_MS - RESOLUTION_MS);
    let utilization = 0;
    if (this.#startUtilization !== null) {
      utilization = performance.eventLoopUtilization(this.#startUtilization).utilization;
      this.#startUtilization = null;
    }
    return {
      thread: this.#thread,
      delayP99Ms: delayOf(h.percentile(99)),
      delayMaxMs: delayOf(h.max),
      // 0/0 when stopped at once: no time, no verdict.
      utilization: Number.isFinite(utilization) ? utilization : 0,
    };
  }
}

function highest(
  samples: readonly LoopSample[],
  figure: (s: LoopSample) => number,
): LoopSample | undefined {
  let best: LoopSample | undefined;
  for (const s of samples) {
    if (best === undefined || figure(s) > figure(best)) {
      best = s;
    }
  }
  return best;
}

/** Saturated when any thread lagged or sat busy past the thresholds above; the reason names the worst of each. */
export function assessGeneratorLoad(samples: readonly LoopSample[]): GeneratorLoad {
  const reasons: string[] = [];
  const lagging = highest(samples, (s) => s.delayP99Ms);
  if (lagging !== undefined && lagging.delayP99Ms > SATURATION_DELAY_P99_MS) {
    reasons.push(`event-loop delay p99 ${Math.round(lagging.delayP99Ms)} ms on ${lagging.thread}`);
  }
  const busiest = highest(samples, (s) => s.utilization);
  if (busiest !== undefined && busiest.utilization >= SATURATION_UTILIZATION) {
    reasons.push(`${busiest.thread} busy ${Math.round(busiest.utilization * 100)}% of the time`);
  }
  return {
    threads: samples.map((s) => ({ ...s })),
    saturated: reasons.length > 0,
    reason: reasons.join('; '),
  };
}
