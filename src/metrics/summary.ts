// The numbers of SPEC §6, computed once at the end of a run from an
// aggregator snapshot. Pure: no clock, no I/O. Times are in seconds here
// (the summary is what users read); RPS is hits over the run's wall-clock
// duration, as Loads' "Approximate Average RPS".
import { ExitCode } from '../errors.ts';
import { OTHER_URLS_KEY } from './aggregator.ts';
import type { ErrorSnapshot, Snapshot, StepSnapshot, TestCounts } from './aggregator.ts';
import { LatencyHistogram } from './histogram.ts';
import type { GeneratorLoad } from './loop-monitor.ts';
import { evaluateThresholds, type Threshold, type ThresholdResult } from './thresholds.ts';
import type { TimelineSnapshot } from './timeline.ts';

/**
 * The json document's format number. `loads-runner report` reads documents
 * of this format, whatever loads-runner version wrote them, and refuses
 * others naming both versions. Bump it when a field it reads changes meaning.
 */
export const SUMMARY_SCHEMA = 1;

/** The signals that stop a run early (SPEC §7). */
export type InterruptSignal = 'SIGINT' | 'SIGTERM';

/** What the run was, known before it starts. */
export interface RunInfo {
  /** Epoch ms when the load started. */
  startedAt: number;
  fqn: string;
  projectName: string;
  /** loads-runner's version (package.json), e.g. '0.1.0': reports name the tool that made them. */
  version: string;
  /** Users per cycle step, e.g. [10, 20, 30]. */
  users: number[];
  /** Runs per user per step, or null in duration mode. */
  hits: number[] | null;
  /** Duration per step in ms, or null in hits mode. */
  durationMs: number | null;
  /** Open model (--rate): test runs started per second per step, or null in the closed model. */
  rate: number[] | null;
  /** Open model: the most virtual users the pool may grow to (--max-users), or null in the closed model. */
  maxUsers: number | null;
  /** --ramp-up in ms; 0 for none. */
  rampUpMs: number;
  /** Worker threads that ran the load (1: the main thread alone). */
  workers: number;
}

/** How the run was set up: the report's run card. */
export interface RunSetup {
  /** Users per cycle step (closed model), or --max-users per step (open model). */
  users: number[];
  /** Runs per user per step, or null in duration mode. */
  hits: number[] | null;
  /** Duration of each step, seconds, or null in hits mode. */
  durationS: number | null;
  /** Open model: test runs started per second per step, or null in the closed model. */
  rate: number[] | null;
  maxUsers: number | null;
  rampUpS: number;
  workers: number;
  /** The origins (scheme://host:port) the hits went to, first seen first; named hits are not looked into. */
  origins: string[];
}

/**
 * One row of the timeline: what happened during [t, t + durationS) seconds
 * since the run's start. Hits count in the row their response ended in,
 * runs in the row they started (started) or ended (outcomes) in.
 */
export interface TimelineRow {
  /** Start of the row, seconds since the run's start. */
  t: number;
  /** The row's length, seconds: 1 (or 2, 4, … on runs longer than an hour); the last row ends with the run. */
  durationS: number;
  hits: number;
  /** Hits with no response or a status ≥ 400. */
  hitErrors: number;
  hits5xx: number;
  /** Hits per second over the row. */
  rps: number;
  /** HTTP body bytes received. */
  bytes: number;
  /** Test runs started (the achieved arrival rate is started / durationS). */
  started: number;
  successes: number;
  failures: number;
  errors: number;
  /** Open model: runs due that never started. */
  dropped: number;
  /** Virtual users in a test run, averaged over the row. */
  users: number;
  wsOpened: number;
  wsClosed: number;
  wsMessages: number;
  wsBytes: number;
  /** Response-time percentiles of the row's hits, seconds (0 without hits). */
  p50S: number;
  p90S: number;
  p95S: number;
  p99S: number;
  maxS: number;
  /** Service-time percentiles of the row's hits, seconds. */
  serviceP50S: number;
  serviceP99S: number;
}

/**
 * One agent of a distributed run (SPEC §10), as the Agents table shows it.
 * Plain data of the metrics layer: outputs and the report read it without
 * knowing the broker.
 */
export interface AgentSummary {
  name: string;
  host: string;
  /** Test runs it finished: successes + failures + errors, from its deltas. */
  runs: number;
  hits: number;
  /** Test runs that errored or failed. */
  errors: number;
  /** Hits with no response or a status ≥ 400. */
  hitErrors: number;
  /** Worker threads it ran the load on; 0 when its final message never came. */
  threads: number;
  /** Its own event loops were saturated: its latencies include its own delay. */
  saturated: boolean;
  /** It stopped heartbeating during the run: its results count up to its last delta. */
  lost: boolean;
  /** Planned runs it did not do (lost or interrupted, in a plan whose count is known); null otherwise. */
  runsNotDone: number | null;
  /** Why its part failed (the test did not load there, a worker crashed), or null. */
  failure: string | null;
}

/** What a distributed run adds to the summary. */
export interface DistributedSummary {
  /** The run's id on the broker (--attach RUN_ID). */
  runId: string;
  /** Every agent that took part, in the order the run claimed them. */
  agents: AgentSummary[];
  /** Who asked the agents to stop early ('SIGINT', 'abort-on-fail', 'purge-broker', …), or null. */
  stoppedBy: string | null;
}

/** What a run with an external test runner (--test-runner, SPEC §11) adds to the summary. */
export interface ExternalSummary {
  /** --test-runner as given, {test} still in it. */
  command: string;
  /** Processes started: one per user per step. */
  processes: number;
  /** Those that exited non-zero, were killed or timed out, or reported fewer runs than given. */
  failedProcesses: number;
  /** Messages not counted (malformed, unknown, from another run), per kind: the count and the first example. */
  problems: { kind: string; count: number; example: string }[];
}

/**
 * Why a capacity search (--find-capacity, SPEC §12) ended: found (held and
 * broke within the precision), max-rate-held, first-rate-broke,
 * generator-saturated (a probe's generator was the limit), probe-limit (the
 * probes ran out first). The runner's CapacityReason, as data the outputs read.
 */
export type CapacitySummaryReason =
  'found' | 'max-rate-held' | 'first-rate-broke' | 'generator-saturated' | 'probe-limit';

/** One probe of a capacity search: one rate step, judged by the SLO on its own counts. */
export interface CapacityProbeSummary {
  /** 0-based, in the order run; its step row is steps[index] (step index + 1). */
  index: number;
  /** Runs per second scheduled. */
  rate: number;
  /** Runs per second that ran (finished) over the probe's duration. */
  achievedRate: number;
  /** Every threshold passed. */
  held: boolean;
  /** The thresholds it broke, as given. */
  broken: string[];
  /** The generator's own event loops were saturated: no verdict on the service. */
  saturated: boolean;
  /** Why it was saturated ('' when it was not). */
  saturationReason: string;
  /** Response-time p95 of the probe, ms; null without hits. */
  p95Ms: number | null;
  /** Runs that failed or errored, percent. */
  errorPercent: number;
  /** Each threshold over the probe, measured. */
  thresholds: ThresholdResult[];
  /** Epoch ms. */
  startedAt: number;
  endedAt: number;
}

/** What a capacity search adds to the summary: its answer, and each probe. */
export interface CapacitySummary {
  /** The highest rate that held, runs per second; null when none did. */
  heldRate: number | null;
  /** The lowest rate that broke; null when none did. */
  brokeRate: number | null;
  reason: CapacitySummaryReason;
  /** The SLO: the --threshold expressions each probe was judged by, as given. */
  slo: string[];
  /** --capacity-precision as a share (0.05 for 5 %). */
  precision: number;
  /** --max-rate, or null for none. */
  maxRate: number | null;
  probes: CapacityProbeSummary[];
}

/** Latency percentiles of all hits, in seconds. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

export interface ErrorSummary {
  count: number;
  /** 'Class.method' of the test run. */
  test: string;
  name: string;
  message: string;
  stack: string;
}

export interface UrlSummary {
  /** `${method} ${url}`, or OTHER_URLS_KEY. */
  key: string;
  method: string;
  /** The URL without its query string, or the request's `name` option for named hits. */
  url: string;
  hits: number;
  avgS: number;
  p95S: number;
  /** Share of hits with a status 1–399, 0 to 1. */
  successRate: number;
}

/** One cycle step's row of the step table: where the service's capacity runs out. */
export interface StepSummary {
  /** 1-based step number. */
  step: number;
  /** Users of the step (closed model), or --max-users (open model). */
  users: number;
  /** Runs per user (closed model, hits mode); 0 otherwise. */
  runsPerUser: number;
  /** Open model: test runs started per second; null in the closed model (as Summary.rate). */
  rate: number | null;
  /** How long the step lasted, seconds; 0 if unknown. */
  durationS: number;
  /** Test runs finished: successes + failures + errors. */
  runs: number;
  successes: number;
  failures: number;
  errors: number;
  /** Open model: test runs that were due but never started. */
  dropped: number;
  hits: number;
  /** Hits with no response or a status ≥ 400. */
  hitErrors: number;
  /** Hits with a status ≥ 500. */
  hits5xx: number;
  /** Hits over the step's duration; 0 if the duration is unknown. */
  rps: number;
  /** Response-time percentiles of the step's hits, seconds. */
  p50S: number;
  p95S: number;
  p99S: number;
}

export interface Summary {
  /** 'loads-runner': what wrote the document. */
  tool: 'loads-runner';
  /** SUMMARY_SCHEMA of the writer. */
  schema: number;
  /** loads-runner's version that ran the load. */
  version: string;
  projectName: string;
  fqn: string;
  /** HTTP requests sent. */
  hits: number;
  /** Epoch ms. */
  startedAt: number;
  /** Epoch ms. */
  endedAt: number;
  durationS: number;
  rps: number;
  avgRequestTimeS: number;
  socketsOpened: number;
  wsMessages: number;
  wsBytesReceived: number;
  /** Test runs that succeeded. */
  successes: number;
  /** Test runs that threw something other than an assertion error. */
  errors: number;
  /** Test runs whose assertion failed. */
  failures: number;
  /**
   * Response time of all hits: from the run's intended start (open model:
   * coordinated omission corrected). The same as serviceTime in the closed model.
   */
  latency: LatencySummary;
  /** Service time of all hits: from the request's actual start. */
  serviceTime: LatencySummary;
  /** Open model: test runs that were due but never started. */
  dropped: number;
  /** Open model: test runs started per second per step (--rate), or null in the closed model. */
  rate: number[] | null;
  /** Open model: --max-users, or null in the closed model. */
  maxUsers: number | null;
  /** One row per cycle step, in order. */
  steps: StepSummary[];
  /** Hits with no response or a status ≥ 400. */
  hitErrors: number;
  /** Hits with no response, per error key (ECONNREFUSED, …). */
  hitErrorKeys: Record<string, number>;
  /** Hits per status outside 200–399. */
  statusCounts: Record<string, number>;
  /** Hits with a response per HTTP version ('h1', 'h2'); versions not used are left out. */
  protocols: Record<string, number>;
  /** The three most frequent errors. */
  topErrors: ErrorSummary[];
  /** The three most frequent failures. */
  topFailures: ErrorSummary[];
  /** Every distinct error (test + name + message, up to MAX_ERROR_KEYS), most frequent first: per-test reports. */
  allErrors: ErrorSummary[];
  /** Every distinct failure, most frequent first. */
  allFailures: ErrorSummary[];
  /** The URL with the highest average latency (not the "other URLs" bucket), or null. */
  slowestUrl: UrlSummary | null;
  /** Every URL (and request name), slowest average first. */
  urls: UrlSummary[];
  /**
   * Hits counted under the OTHER_URLS_KEY row: their URL (or name) came after
   * MAX_URLS distinct ones were held. 0 while under the cap.
   */
  otherUrlHits: number;
  /** Test-run outcomes per test name ('Class.method'). */
  perTest: Record<string, TestCounts>;
  counters: Record<string, number>;
  /** True when Ctrl-C stopped the run: the numbers cover what ran before. */
  interrupted: boolean;
  /** The signal that stopped the run (the first one received), or null. */
  interruptedBy: InterruptSignal | null;
  /** How busy the generator's own event loops were, or null when not measured. */
  generator: GeneratorLoad | null;
  /** Each --threshold, in the order given, with its measured value; empty without thresholds. */
  thresholds: ThresholdResult[];
  /** The threshold expression that stopped the run early (--abort-on-fail), or null. */
  abortedBy: string | null;
  /** The run's exit status (SPEC §7) as the summary decides it: see exitStatusOf. */
  exitStatus: number;
  /** How the run was set up. */
  run: RunSetup;
  /** HTTP body bytes received by all hits. */
  bytesReceived: number;
  /** One row per second of the run, coarser past an hour (see TimelineRow). */
  timeline: TimelineRow[];
  /**
   * The whole run's latencies as HdrHistogram compressed base64 (values in
   * µs, readable by any HdrHistogram port): the distribution plots and run
   * comparisons read them.
   */
  histograms: { responseTime: string; serviceTime: string };
  /**
   * A distributed run (--agents): its id and one row per agent; null for a
   * run on this machine. Documents written before distributed runs lack it:
   * readers take a missing one as null.
   */
  distributed: DistributedSummary | null;
  /** A run with --test-runner: its processes and the messages not counted; absent for a TypeScript test. */
  external?: ExternalSummary;
  /**
   * --find-capacity: the search's answer and its probes (the steps); absent
   * for any other run. Its reason, not the thresholds over the whole run,
   * decides the exit status.
   */
  capacity?: CapacitySummary;
}

/** How many errors and failures the summary lists. */
export const TOP_ERRORS = 3;

const MS_PER_S = 1000;

function topOf(list: readonly ErrorSnapshot[], limit = TOP_ERRORS): ErrorSummary[] {
  // The snapshot is sorted already; sort again so a merged or hand-made one works too.
  return [...list]
    .sort((a, b) => b.count - a.count)
    .slice(0, limit)
    .map((e) => ({
      count: e.count,
      test: e.test,
      name: e.name,
      message: e.message,
      stack: e.stack,
    }));
}

function percentiles(histogram: LatencyHistogram): LatencySummary {
  return {
    p50: histogram.percentile(50) / MS_PER_S,
    p90: histogram.percentile(90) / MS_PER_S,
    p95: histogram.percentile(95) / MS_PER_S,
    p99: histogram.percentile(99) / MS_PER_S,
    max: histogram.max / MS_PER_S,
  };
}

/**
 * A step's row. Its duration is the step's own (cycle-end); a step that never
 * ended (Ctrl-C) lasted until the run ended, and a lone step with no start
 * seen lasted the run.
 */
function stepSummary(
  step: StepSnapshot,
  endedAt: number,
  runDurationMs: number,
  single: boolean,
  open: boolean,
): StepSummary {
  let durationMs = step.elapsedMs;
  if (durationMs <= 0) {
    if (step.startedAt > 0) {
      durationMs = Math.max(0, endedAt - step.startedAt);
    } else if (single) {
      durationMs = runDurationMs;
    }
  }
  const durationS = durationMs / MS_PER_S;
  const latency = LatencyHistogram.decode(step.latency);
  return {
    step: step.cycleIndex + 1,
    users: step.users,
    runsPerUser: step.runsPerUser,
    rate: open ? step.rate : null,
    durationS,
    runs: step.successes + step.failures + step.errors,
    successes: step.successes,
    failures: step.failures,
    errors: step.errors,
    dropped: step.dropped,
    hits: step.hits,
    hitErrors: step.hitErrors,
    hits5xx: step.hits5xx,
    rps: durationS > 0 ? step.hits / durationS : 0,
    p50S: latency.percentile(50) / MS_PER_S,
    p95S: latency.percentile(95) / MS_PER_S,
    p99S: latency.percentile(99) / MS_PER_S,
  };
}

/** Origins (scheme://host:port) of the URLs hit, first seen first; names and relative URLs are skipped. */
function originsOf(urls: readonly { url: string }[]): string[] {
  const origins = new Set<string>();
  for (const { url } of urls) {
    if (url.startsWith('http://') || url.startsWith('https://')) {
      const end = url.indexOf('/', url.indexOf('//') + 2);
      origins.add(end === -1 ? url : url.slice(0, end));
    }
  }
  return [...origins];
}

/** ms → seconds, rounded to the µs the histograms hold (no 0.000329000000003). */
function msToS(ms: number): number {
  return Math.round(ms * 1000) / 1e6;
}

function timelineRows(timeline: TimelineSnapshot, durationMs: number): TimelineRow[] {
  const widthS = timeline.widthS;
  const runS = durationMs / MS_PER_S;
  return timeline.rows.map((row) => {
    const t = row.index * widthS;
    // The last row ends with the run, not a full width later; at least 1 ms, so rates stay finite.
    const durationS = Math.max(0.001, Math.round(Math.min(widthS, runS - t) * 1000) / 1000);
    return {
      t,
      durationS,
      hits: row.hits,
      hitErrors: row.hitErrors,
      hits5xx: row.hits5xx,
      rps: row.hits / durationS,
      bytes: row.bytes,
      started: row.started,
      successes: row.successes,
      failures: row.failures,
      errors: row.errors,
      dropped: row.dropped,
      users: row.busyMs / MS_PER_S / durationS,
      wsOpened: row.wsOpened,
      wsClosed: row.wsClosed,
      wsMessages: row.wsMessages,
      wsBytes: row.wsBytes,
      p50S: msToS(row.p50),
      p90S: msToS(row.p90),
      p95S: msToS(row.p95),
      p99S: msToS(row.p99),
      maxS: msToS(row.max),
      serviceP50S: msToS(row.serviceP50),
      serviceP99S: msToS(row.serviceP99),
    };
  });
}

/**
 * The exit status a summary stands for (SPEC §7): 1 when --abort-on-fail
 * stopped it, 130/143 when a signal did, 1 for a failed or errored run or a
 * crossed threshold, and (distributed) for an agent lost or failed, as for
 * a crashed worker, or a run stopped early from elsewhere; else 0. (Errors
 * outside the load — an output that could not be written — are the CLI's
 * to add.)
 */
export function exitStatusOf(
  summary: Pick<
    Summary,
    'abortedBy' | 'interruptedBy' | 'errors' | 'failures' | 'thresholds' | 'interrupted'
  > & {
    distributed?: DistributedSummary | null | undefined;
    capacity?: CapacitySummary | undefined;
  },
): number {
  if (summary.abortedBy !== null) {
    return ExitCode.RUN_FAILED;
  }
  if (summary.interruptedBy !== null) {
    return ExitCode[summary.interruptedBy];
  }
  if (summary.capacity !== undefined) {
    // The probes that broke were meant to: a rate that held is the answer.
    return capacityFound(summary.capacity) ? ExitCode.OK : ExitCode.RUN_FAILED;
  }
  const thresholdCrossed = summary.thresholds.some((t) => !t.passed);
  const distributed = summary.distributed ?? null;
  // Another runner's Ctrl-C or --purge-broker stopped it: the plan was not run, never a pass.
  const agentTrouble =
    distributed !== null &&
    (summary.interrupted || distributed.agents.some((a) => a.lost || a.failure !== null));
  return summary.errors + summary.failures > 0 || thresholdCrossed || agentTrouble
    ? ExitCode.RUN_FAILED
    : ExitCode.OK;
}

/** What a run of a special kind adds to its summary; each absent for an ordinary run. */
export interface SummaryExtras {
  distributed?: DistributedSummary | null;
  external?: ExternalSummary | null;
  capacity?: CapacitySummary | null;
}

/**
 * A capacity search gave an answer a user can act on: a rate held and the
 * search was not cut short by its own generator (found, --max-rate held, or
 * the probes ran out with a rate that held).
 */
export function capacityFound(capacity: CapacitySummary): boolean {
  return (
    capacity.heldRate !== null &&
    capacity.reason !== 'first-rate-broke' &&
    capacity.reason !== 'generator-saturated'
  );
}

export function buildSummary(
  snapshot: Snapshot,
  info: RunInfo,
  endedAt: number,
  interrupted: boolean,
  generator: GeneratorLoad | null = null,
  thresholds: readonly Threshold[] = [],
  abortedBy: string | null = null,
  interruptedBy: InterruptSignal | null = null,
  extras: SummaryExtras = {},
): Summary {
  const { distributed = null, external = null, capacity = null } = extras;
  const durationMs = Math.max(0, endedAt - info.startedAt);
  const durationS = durationMs / MS_PER_S;
  const latency = LatencyHistogram.decode(snapshot.latency);
  const serviceLatency = LatencyHistogram.decode(snapshot.serviceLatency);

  const urls: UrlSummary[] = snapshot.urls.map((u) => {
    const histogram = LatencyHistogram.decode(u.latency);
    return {
      key: u.key,
      method: u.method,
      url: u.url,
      hits: u.hits,
      avgS: histogram.mean / MS_PER_S,
      p95S: histogram.percentile(95) / MS_PER_S,
      successRate: u.hits === 0 ? 0 : (u.hits - u.errors) / u.hits,
    };
  });
  urls.sort((a, b) => b.avgS - a.avgS);

  const results = evaluateThresholds(thresholds, snapshot, durationS);
  const summary: Summary = {
    tool: 'loads-runner',
    schema: SUMMARY_SCHEMA,
    version: info.version,
    projectName: info.projectName,
    fqn: info.fqn,
    hits: snapshot.hits,
    startedAt: info.startedAt,
    endedAt,
    durationS,
    rps: durationS > 0 ? snapshot.hits / durationS : 0,
    // SPEC §6 "Average request time": the request's own time, from its actual start.
    avgRequestTimeS: serviceLatency.mean / MS_PER_S,
    socketsOpened: snapshot.socketsOpened,
    wsMessages: snapshot.wsMessages,
    wsBytesReceived: snapshot.wsBytesReceived,
    successes: snapshot.tests.successes,
    errors: snapshot.tests.errors,
    failures: snapshot.tests.failures,
    latency: percentiles(latency),
    serviceTime: percentiles(serviceLatency),
    dropped: snapshot.dropped,
    rate: info.rate === null ? null : [...info.rate],
    maxUsers: info.maxUsers,
    steps: snapshot.steps.map((step) =>
      stepSummary(step, endedAt, durationMs, snapshot.steps.length === 1, info.rate !== null),
    ),
    hitErrors: snapshot.hitErrors,
    hitErrorKeys: { ...snapshot.hitErrorKeys },
    statusCounts: { ...snapshot.statusCounts },
    protocols: { ...snapshot.protocols },
    topErrors: topOf(snapshot.topErrors),
    topFailures: topOf(snapshot.topFailures),
    allErrors: topOf(snapshot.topErrors, Infinity),
    allFailures: topOf(snapshot.topFailures, Infinity),
    slowestUrl: urls.find((u) => u.key !== OTHER_URLS_KEY) ?? null,
    urls,
    otherUrlHits: urls.find((u) => u.key === OTHER_URLS_KEY)?.hits ?? 0,
    perTest: Object.fromEntries(
      Object.entries(snapshot.perTest).map(([name, c]) => [
        name,
        { successes: c.successes, failures: c.failures, errors: c.errors },
      ]),
    ),
    counters: { ...snapshot.counters },
    interrupted: interrupted || interruptedBy !== null,
    interruptedBy,
    generator,
    thresholds: results,
    abortedBy,
    exitStatus: 0,
    run: {
      users: [...info.users],
      hits: info.hits === null ? null : [...info.hits],
      durationS: info.durationMs === null ? null : info.durationMs / MS_PER_S,
      rate: info.rate === null ? null : [...info.rate],
      maxUsers: info.maxUsers,
      rampUpS: info.rampUpMs / MS_PER_S,
      workers: info.workers,
      origins: originsOf(snapshot.urls),
    },
    bytesReceived: snapshot.bytesReceived,
    timeline: timelineRows(snapshot.timeline, durationMs),
    histograms: { responseTime: snapshot.latency, serviceTime: snapshot.serviceLatency },
    distributed:
      distributed === null
        ? null
        : {
            runId: distributed.runId,
            agents: distributed.agents.map((agent) => ({ ...agent })),
            stoppedBy: distributed.stoppedBy,
          },
  };
  if (external !== null) {
    summary.external = {
      command: external.command,
      processes: external.processes,
      failedProcesses: external.failedProcesses,
      problems: external.problems.map((problem) => ({ ...problem })),
    };
  }
  if (capacity !== null) {
    summary.capacity = {
      ...capacity,
      slo: [...capacity.slo],
      probes: capacity.probes.map((probe) => ({
        ...probe,
        broken: [...probe.broken],
        thresholds: probe.thresholds.map((t) => ({ ...t })),
      })),
    };
  }
  summary.exitStatus = exitStatusOf(summary);
  return summary;
}
