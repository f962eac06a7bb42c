// Is the load generator itself the bottleneck? Each thread (main, every
// worker) watches its own event loop while the load runs: the delay of a
// sampling timer (perf_hooks.monitorEventLoopDelay) and the share of time the
// loop was busy (performance.eventLoopUtilization). A loop that lags or never
// idles queues hits before they are sent and their responses before they are
// timed, so the latencies it reports include its own delay.
// Only load that lasted is judged: each thread's first STARTUP_MS are its
// start-up (first connections, JIT, lazily loaded code), and a thread whose
// time after that is shorter than MIN_JUDGED_MS is not judged at all.
// Limit: Node records the delay as the time between two ticks of its sampling
// timer, so a block that starts within the first RESOLUTION_MS after the
// judged time begins has no previous tick and is missed by the delay
// figures; utilization still counts it.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { EventLoopUtilization, IntervalHistogram } from 'node:perf_hooks';

/** What one thread's loop did over the monitored time. Plain data: it crosses threads and goes into the json output. */
export interface LoopSample {
  /** 'main', 'worker 2', … */
  thread: string;
  /** How long the loop was watched, in ms. */
  monitoredMs: number;
  /**
   * How much of it was judged, in ms: the time after the thread's start-up
   * window, or 0 when that was shorter than MIN_JUDGED_MS (not judged).
   */
  judgedMs: number;
  /** How late the sampling timer fired, 99th percentile, in ms: over the judged time, or the whole monitored time when not judged. */
  delayP99Ms: number;
  /** How late the sampling timer fired at worst, in ms: over the judged time, or the whole monitored time when not judged. */
  delayMaxMs: number;
  /** Event-loop utilization, 0 to 1: over the judged time, or the whole monitored time when not judged. */
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

/**
 * Each thread's start-up, left out of the judged figures. Measured on this
 * project's shared 2-core machine against the example server: the seed
 * example's one hit keeps the main loop 96–100 % busy for its whole 40–60 ms
 * run; `-u 20 --hits 1` (0.24–0.39 s) shows worker delays of 57–131 ms; the
 * example class at `-u 20 --hits 20` keeps each worker ~100 % busy for its
 * first 300–550 ms, then 55–90 % (first connections, JIT, code loaded on
 * first use). Half a second covers the one-thread start-up many times over
 * and most of a worker's.
 */
export const STARTUP_MS = 500;

/**
 * The least judged time that means something: 50 ticks of the delay timer
 * (under 100 ticks a p99 is the single worst one) and a utilization that is
 * not one burst. With STARTUP_MS, a thread is judged only once it has run
 * 1.5 s: a 2 s synchronous block still is.
 */
export const MIN_JUDGED_MS = 1000;

const NS_PER_MS = 1e6;

export interface LoopMonitorOptions {
  /** Default STARTUP_MS. */
  startupMs?: number;
  /** Default MIN_JUDGED_MS. */
  minJudgedMs?: number;
}

/** The loop's figures once the start-up window is over (see #endStartup). */
interface JudgedStart {
  utilization: EventLoopUtilization;
  /** How late the start-up timer fired, ms: one more delay sample of the judged time. */
  lateMs: number;
  /** Of that lateness, the time the loop was busy (it is busy when a timer is late, unless the OS held the thread). */
  lateActiveMs: number;
}

export class LoopMonitor {
  readonly #thread: string;
  readonly #startupMs: number;
  readonly #minJudgedMs: number;
  // The histograms' timers are unref'd by Node and only run while enabled,
  // and so is the start-up timer: the monitor never keeps a process or a
  // worker alive.
  /** Ticks since start(): the figures of a thread too short to judge. */
  readonly #whole: IntervalHistogram;
  /** Ticks since the start-up window ended. */
  readonly #judged: IntervalHistogram;
  #startedAtMs = 0;
  #startUtilization: EventLoopUtilization | null = null;
  #startupTimer: ReturnType<typeof setTimeout> | undefined;
  #judgedStart: JudgedStart | null = null;

  constructor(thread: string, options: LoopMonitorOptions = {}) {
    this.#thread = thread;
    this.#startupMs = options.startupMs ?? STARTUP_MS;
    this.#minJudgedMs = options.minJudgedMs ?? MIN_JUDGED_MS;
    this.#whole = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.#judged = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  }

  /** Starts (or restarts) watching this thread's loop; its start-up window begins now. */
  start(): void {
    this.#reset();
    this.#whole.enable();
    this.#startedAtMs = performance.now();
    this.#startUtilization = performance.eventLoopUtilization();
    this.#startupTimer = setTimeout(() => this.#endStartup(), this.#startupMs);
    this.#startupTimer.unref();
  }

  /** Stops watching and returns what the loop did since start(); zeros if it never started. */
  stop(): LoopSample {
    const start = this.#startUtilization;
    if (start === null) {
      this.#reset();
      return {
        thread: this.#thread,
        monitoredMs: 0,
        judgedMs: 0,
        delayP99Ms: 0,
        delayMaxMs: 0,
        utilization: 0,
      };
    }
    const nowMs = performance.now();
    const startupEndMs = this.#startedAtMs + this.#startupMs;
    // A loop blocked across the end of the window has not run the start-up
    // timer yet: that block is judged time all the same.
    if (this.#judgedStart === null && nowMs >= startupEndMs) {
      this.#endStartup();
    }
    const monitoredMs = nowMs - this.#startedAtMs;
    const judgedMs = nowMs - startupEndMs;
    let sample: LoopSample;
    const judged = this.#judgedStart;
    if (judged !== null && judgedMs >= this.#minJudgedMs) {
      const h = this.#judged;
      const after = performance.eventLoopUtilization(judged.utilization);
      // The start-up timer was one more tick, late by lateMs. Under 100
      // ticks the p99 is the worst one (nearest rank), so it counts there too.
      const maxMs = Math.max(delayOf(h, h.max), judged.lateMs);
      const p99Ms = h.count + 1 < 100 ? maxMs : delayOf(h, h.percentile(99));
      sample = {
        thread: this.#thread,
        monitoredMs,
        judgedMs,
        delayP99Ms: p99Ms,
        delayMaxMs: maxMs,
        utilization: clampShare((judged.lateActiveMs + after.active) / judgedMs),
      };
    } else {
      const h = this.#whole;
      sample = {
        thread: this.#thread,
        monitoredMs,
        judgedMs: 0,
        delayP99Ms: delayOf(h, h.percentile(99)),
        delayMaxMs: delayOf(h, h.max),
        utilization: clampShare(performance.eventLoopUtilization(start).utilization),
      };
    }
    this.#reset();
    return sample;
  }

  /** The start-up window is over (on time, or late when the loop was busy): judged figures begin. */
  #endStartup(): void {
    if (this.#startUtilization === null || this.#judgedStart !== null) {
      return;
    }
    clearTimeout(this.#startupTimer);
    const utilization = performance.eventLoopUtilization();
    const sinceStart = performance.eventLoopUtilization(utilization, this.#startUtilization);
    const lateMs = Math.max(0, performance.now() - this.#startedAtMs - this.#startupMs);
    this.#judgedStart = {
      utilization,
      lateMs,
      lateActiveMs: Math.min(lateMs, sinceStart.active),
    };
    this.#judged.enable();
  }

  #reset(): void {
    clearTimeout(this.#startupTimer);
    this.#startupTimer = undefined;
    for (const h of [this.#whole, this.#judged]) {
      h.disable();
      h.reset();
    }
    this.#startUtilization = null;
    this.#judgedStart = null;
  }
}

/**
 * Node records the time between ticks, interval included: an idle loop
 * reads ~RESOLUTION_MS. The delay is what exceeds it. An empty histogram
 * reports a small non-zero percentile, hence the count check.
 */
function delayOf(h: IntervalHistogram, ns: number): number {
  return h.count === 0 ? 0 : Math.max(0, ns / NS_PER_MS - RESOLUTION_MS);
}

/** 0/0 when stopped at once: no time, no verdict. */
function clampShare(share: number): number {
  return Number.isFinite(share) ? Math.min(1, Math.max(0, share)) : 0;
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

/**
 * Saturated when any judged thread lagged or sat busy past the thresholds
 * above; the reason names the worst of each. A thread with judgedMs 0 (too
 * short a run) is reported, never judged.
 */
export function assessGeneratorLoad(samples: readonly LoopSample[]): GeneratorLoad {
  const reasons: string[] = [];
  const judged = samples.filter((s) => s.judgedMs > 0);
  const lagging = highest(judged, (s) => s.delayP99Ms);
  if (lagging !== undefined && lagging.delayP99Ms > SATURATION_DELAY_P99_MS) {
    reasons.push(`event-loop delay p99 ${Math.round(lagging.delayP99Ms)} ms on ${lagging.thread}`);
  }
  const busiest = highest(judged, (s) => s.utilization);
  if (busiest !== undefined && busiest.utilization >= SATURATION_UTILIZATION) {
    reasons.push(`${busiest.thread} busy ${Math.round(busiest.utilization * 100)}% of the time`);
  }
  return {
    threads: samples.map((s) => ({ ...s })),
    saturated: reasons.length > 0,
    reason: reasons.join('; '),
  };
}
