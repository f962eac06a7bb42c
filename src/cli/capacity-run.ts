// --find-capacity (SPEC §12): the probes, run one after the other as rate
// steps of their own (cycleIndex = probe index, so the step table has one
// row per probe), each judged by the thresholds on its own counts. The
// search (runner/capacity-search.ts) picks each next rate; between probes
// the service rests, so that one probe's backlog does not poison the next.
// Each probe fills an aggregator of its own, merged into the run's after it
// (exact: counts add, histograms merge), so the summary covers every probe
// and the verdict covers only its own.
import type { TransportOptions } from '../client/transport.ts';
import { Aggregator, type ProgressCounts } from '../metrics/aggregator.ts';
import { createFanoutSink, type EventSink } from '../metrics/events.ts';
import { assessGeneratorLoad, LoopMonitor, type LoopSample } from '../metrics/loop-monitor.ts';
import { LatencyHistogram } from '../metrics/histogram.ts';
import {
  evaluateThresholds,
  meets,
  type Threshold,
  type ThresholdResult,
} from '../metrics/thresholds.ts';
import { UsageError } from '../errors.ts';
import {
  CapacitySearch,
  DEFAULT_CAPACITY_SEARCH,
  type CapacityReason,
  type ProbeRecord,
  type ProbeVerdict,
} from '../runner/capacity-search.ts';
import type { CycleStep } from '../runner/cycle.ts';
import type { LoadedTest } from '../runner/loader.ts';
import { LocalRunner } from '../runner/local-runner.ts';
import { ThreadedRunner } from '../workers/threaded-runner.ts';

export const DEFAULT_CAPACITY_DURATION_MS = 10_000;
export const DEFAULT_CAPACITY_START_RATE = 10;
export const DEFAULT_CAPACITY_REST_MS = 3_000;
/** A saturated probe that held is trusted when it ran at least this share of its scheduled runs. */
const DELIVERED_SHARE = 0.95;

export interface CapacityRunOptions {
  test: LoadedTest;
  fqn: string;
  cwd: string;
  thresholds: readonly Threshold[];
  startRate: number;
  maxRate: number | null;
  /** 0.05 for 5 %. */
  precision: number;
  maxProbes?: number;
  durationMs: number;
  rampUpMs: number;
  restMs: number;
  maxUsers: number;
  /** Worker threads (1: this thread). */
  workers: number;
  timeoutMs: number;
  testTimeoutMs: number;
  maxBodyBytes: number | undefined;
  discardBodies: boolean;
  transport: TransportOptions | undefined;
  serverUrl: string | undefined;
  /** The run's aggregator: every probe is merged into it. */
  aggregator: Aggregator;
  /** Outputs that need every event, or undefined. */
  eventSink: EventSink | undefined;
  signal: AbortSignal;
  /** Epoch ms: the run's start, row 0 of the timeline. */
  timelineOriginMs: number;
  /** A probe is about to start (after the rest); `progress` reads the probe's own counts while it runs. */
  onProbeStart?: (index: number, rate: number, progress: () => ProgressCounts) => void;
  /**
   * Runs each probe instead of this machine (a distributed run on agents):
   * the probe's step into `probeAggregator`. Undefined: local threads.
   */
  probeRunner?: ProbeRunner;
  /** How many generators run each probe's rate (agents; 1 here): rates are per generator. */
  generators?: number;
  onProbeEnd?: (probe: CapacityProbe) => void;
}

/** One probe with the figures it was judged by. */
export interface CapacityProbe extends ProbeRecord {
  /** Epoch ms. */
  startedAt: number;
  endedAt: number;
  /** Runs per second actually started. */
  achievedRate: number;
  /** Response-time p95 of the probe, ms (null without hits). */
  p95Ms: number | null;
  /** Share of runs that failed or errored, percent. */
  errorPercent: number;
  thresholds: ThresholdResult[];
  /** Why the generator was saturated ('' when it was not). */
  saturationReason: string;
}

export interface CapacityOutcome {
  heldRate: number | null;
  brokeRate: number | null;
  reason: CapacityReason;
  probes: CapacityProbe[];
  interrupted: boolean;
  /** Every probe's threads, for the run's generator assessment. */
  loops: LoopSample[];
}

/** The longest the search can take, ms: every probe and rest (printed at the start). */
export function capacityRunBoundMs(options: {
  durationMs: number;
  restMs: number;
  maxProbes?: number;
}): number {
  const probes = options.maxProbes ?? DEFAULT_CAPACITY_SEARCH.maxProbes;
  return probes * options.durationMs + (probes - 1) * options.restMs;
}

/**
 * Refuses thresholds a probe cannot judge: a step scope (the steps are the
 * probes, chosen by the search) and rps (the rate is what the search sets).
 */
export function checkCapacityThresholds(thresholds: readonly Threshold[]): void {
  if (thresholds.length === 0) {
    throw new UsageError(
      "--find-capacity needs the SLO as one or more --threshold, such as --threshold 'p95<200ms' --threshold 'errors<1%'",
    );
  }
  for (const threshold of thresholds) {
    if (threshold.scope.kind === 'step') {
      throw new UsageError(
        `threshold '${threshold.expression}' names a step, but with --find-capacity every probe is judged by the same SLO; drop the step: prefix`,
      );
    }
    if (threshold.metric === 'rps') {
      throw new UsageError(
        `threshold '${threshold.expression}' judges the rate, which --find-capacity sets itself; use latency, errors, http_5xx, http_4xx or dropped thresholds`,
      );
    }
  }
}

/**
 * A probe's verdict from its thresholds, and whether it can be trusted when
 * the generator was saturated (`generatorDelayMs`: its worst event-loop
 * delay p99, null when it was not saturated). A probe that held still held:
 * each run's latency counts from its scheduled start, so the generator's own
 * delay only made the SLO harder, as long as the rate was delivered
 * (`deliveredShare`: runs done ÷ runs scheduled). A probe that broke is the
 * service's doing only when every threshold it broke is an upper bound on
 * latency that the latency minus that delay still breaks; otherwise it says
 * nothing about the service.
 */
export function probeVerdict(
  thresholds: readonly Threshold[],
  results: readonly ThresholdResult[],
  generatorDelayMs: number | null,
  deliveredShare: number,
): ProbeVerdict {
  const held = results.every((r) => r.passed);
  const broken = results.filter((r) => !r.passed);
  let saturated = false;
  if (generatorDelayMs !== null) {
    saturated = held
      ? deliveredShare < DELIVERED_SHARE
      : !broken.every((result) => {
          const threshold = thresholds.find((t) => t.expression === result.expression);
          return (
            threshold !== undefined &&
            threshold.metric === 'latency' &&
            (threshold.operator === '<' || threshold.operator === '<=') &&
            result.measured !== null &&
            !meets(result.measured - generatorDelayMs, threshold.operator, threshold.bound)
          );
        });
  }
  return { held, broken: broken.map((r) => r.expression), saturated };
}

export async function runCapacitySearch(options: CapacityRunOptions): Promise<CapacityOutcome> {
  const search = new CapacitySearch({
    ...DEFAULT_CAPACITY_SEARCH,
    startRate: options.startRate,
    maxRate: options.maxRate,
    precision: options.precision,
    maxProbes: options.maxProbes ?? DEFAULT_CAPACITY_SEARCH.maxProbes,
  });
  const probes: CapacityProbe[] = [];
  const loops: LoopSample[] = [];
  let interrupted = false;
  for (let rate = search.next(); rate !== null; rate = search.next()) {
    const index = probes.length;
    if (index > 0 && (await rest(options.restMs, options.signal))) {
      interrupted = true;
      break;
    }
    const probeAggregator = new Aggregator();
    probeAggregator.startTimeline(options.timelineOriginMs);
    options.onProbeStart?.(index, rate, () => probeAggregator.progress());
    const step: CycleStep = {
      cycleIndex: index,
      users: options.maxUsers,
      hits: 0,
      durationMs: options.durationMs,
      rate,
      rampUpMs: options.rampUpMs,
    };
    const startedAt = Date.now();
    const probe = await runProbe(options, step, probeAggregator);
    const endedAt = Date.now();
    loops.push(...probe.loops);
    if (!probe.merged) {
      options.aggregator.merge(probe.snapshot);
    }
    if (probe.interrupted) {
      interrupted = true;
      break;
    }
    const snapshot = probe.snapshot;
    const durationS = options.durationMs / 1000;
    const generators = options.generators ?? 1;
    const results = evaluateThresholds(options.thresholds, snapshot, durationS);
    const generator = assessGeneratorLoad(probe.loops);
    const runs = snapshot.tests.successes + snapshot.tests.failures + snapshot.tests.errors;
    const worstDelayMs = Math.max(0, ...generator.threads.map((t) => t.delayP99Ms));
    const verdict = probeVerdict(
      options.thresholds,
      results,
      generator.saturated ? worstDelayMs : null,
      runs / (rate * durationS * generators),
    );
    if (probe.untrusted !== undefined) {
      verdict.saturated = true;
    }
    search.record(verdict);
    const record: CapacityProbe = {
      index,
      rate,
      ...verdict,
      startedAt,
      endedAt,
      achievedRate: runs / durationS / generators,
      p95Ms: snapshot.hits === 0 ? null : LatencyHistogram.decode(snapshot.latency).percentile(95),
      errorPercent:
        runs === 0 ? 0 : ((snapshot.tests.failures + snapshot.tests.errors) * 100) / runs,
      thresholds: results,
      saturationReason: probe.untrusted ?? generator.reason,
    };
    probes.push(record);
    options.onProbeEnd?.(record);
  }
  const result = search.result();
  return {
    heldRate: result.heldRate,
    brokeRate: result.brokeRate,
    reason: interrupted ? 'probe-limit' : result.reason,
    probes,
    interrupted,
    loops,
  };
}

/** What one probe's load gave. */
export interface ProbeOutcome {
  snapshot: ReturnType<Aggregator['snapshot']>;
  interrupted: boolean;
  /** The generator threads' samples, for the saturation verdict. */
  loops: LoopSample[];
  /** The run's aggregator got the probe's events already. */
  merged: boolean;
  /** Why the probe's load cannot be trusted besides saturation (an agent lost); absent when it can. */
  untrusted?: string;
}

/** Runs one probe's step, counting into `probeAggregator`. */
export type ProbeRunner = (step: CycleStep, probeAggregator: Aggregator) => Promise<ProbeOutcome>;

async function runProbe(
  options: CapacityRunOptions,
  step: CycleStep,
  probeAggregator: Aggregator,
): Promise<ProbeOutcome> {
  if (options.probeRunner !== undefined) {
    return options.probeRunner(step, probeAggregator);
  }
  if (options.workers <= 1) {
    const monitor = new LoopMonitor('main');
    monitor.start();
    // The run's aggregator is fed live here (the progress line reads it); with threads it gets the probe at its end.
    const sinks: EventSink[] = [probeAggregator, options.aggregator];
    if (options.eventSink !== undefined) {
      sinks.push(options.eventSink);
    }
    const sink = createFanoutSink(sinks);
    const result = await new LocalRunner({
      test: options.test,
      plan: [step],
      sink,
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      testTimeoutMs: options.testTimeoutMs,
      maxBodyBytes: options.maxBodyBytes,
      discardBodies: options.discardBodies,
      transport: options.transport,
      serverUrl: options.serverUrl,
    }).run();
    return {
      snapshot: probeAggregator.snapshot(),
      interrupted: result.interrupted,
      loops: [monitor.stop()],
      merged: true,
    };
  }
  const threaded = new ThreadedRunner({
    fqn: options.fqn,
    cwd: options.cwd,
    plan: [step],
    workers: options.workers,
    aggregator: probeAggregator,
    eventSink: options.eventSink,
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    testTimeoutMs: options.testTimeoutMs,
    maxBodyBytes: options.maxBodyBytes,
    discardBodies: options.discardBodies,
    transport: options.transport,
    serverUrl: options.serverUrl,
  });
  await threaded.start();
  const result = await threaded.run(options.timelineOriginMs);
  return {
    snapshot: probeAggregator.snapshot(),
    interrupted: result.interrupted,
    loops: threaded.loopSamples,
    merged: false,
  };
}

/** Waits `ms`, or less when the signal aborts; resolves true when aborted. */
async function rest(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) {
    return true;
  }
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
