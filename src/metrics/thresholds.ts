// Pass/fail criteria on a run (`--threshold EXPR`, k6 thresholds in a
// one-line form): parsed once before the run, evaluated on the final
// snapshot, and (for --abort-on-fail) checked while running for the ones
// already crossed for good. Pure: no clock, no I/O.
//
// Forms (case-insensitive, spaces allowed around the operator):
//   p95<300ms  p99<1s  p99.9<2s  avg<100ms  med<…  max<…  min<…   latency (bare number = ms)
//   errors<1%  errors<5        (errors + failures) / runs, or a count
//   rps>500                    hits / duration
//   http_5xx<0.1%  http_4xx<5  share of hits with a status 5xx / 4xx, or a count
//   dropped<1%                 dropped / (runs + dropped), or a count
// with an optional scope before the metric: `url:/api/login p95<200ms` (the
// URLs whose path or full URL equals the scope, or the hits whose request
// name equals it, e.g. `url:/item/:id`, every method merged; errors there are
// hit errors / hits) or `step:2 p95<200ms` (the 1-based cycle step).
import { UsageError } from '../errors.ts';
import type { ProgressCounts, Snapshot, StepSnapshot, UrlSnapshot } from './aggregator.ts';
import { formatSeconds } from './format-seconds.ts';
import { LatencyHistogram } from './histogram.ts';

export type ThresholdOperator = '<' | '<=' | '>' | '>=';
export type ThresholdMetric = 'latency' | 'errors' | 'rps' | 'http_5xx' | 'http_4xx' | 'dropped';
/** A percentile (0 < p ≤ 100), or the mean / minimum / maximum. */
export type LatencyStat = number | 'avg' | 'min' | 'max';
export type ThresholdScope =
  | { kind: 'run' }
  | { kind: 'url'; url: string }
  /** 1-based, as the user writes it. */
  | { kind: 'step'; step: number };

export interface Threshold {
  /** The expression as written (trimmed): the threshold's name in reports. */
  expression: string;
  scope: ThresholdScope;
  metric: ThresholdMetric;
  /** For metric 'latency' only; null otherwise. */
  stat: LatencyStat | null;
  operator: ThresholdOperator;
  /** In ms for latencies, percent (0–100) when `percent`, a count or per second otherwise. */
  bound: number;
  /** The bound is a share (errors<1%) rather than a count (errors<5). */
  percent: boolean;
}

export interface ThresholdResult {
  expression: string;
  passed: boolean;
  /**
   * The measured value in the threshold's unit: ms for latencies, percent
   * (0–100) for shares, a count, or per second for rps; null when there was
   * no data (a URL or step that never appeared, or a latency without hits).
   */
  measured: number | null;
  /** For people: '0.231s' (formatSeconds), '0.42%', '512/s', '3' or 'no data'. */
  display: string;
}

const FORMS =
  'p95<300ms, p99.9<2s, avg|med|min|max<100ms, errors<1% or errors<5, rps>500, http_5xx<0.1%, http_4xx<5, dropped<1%, with an optional url:/path or step:N prefix';

const SCOPE = /^(url|step):(\S*)(?:\s+(.*))?$/is;
const CONDITION = /^([a-z0-9_.]+)\s*(<=|>=|<|>)\s*(.*)$/is;
const LATENCY_VALUE = /^(\d+(?:\.\d+)?)\s*(ms|s)?$/i;
const SHARE_VALUE = /^(\d+(?:\.\d+)?)\s*(%)?$/;
const RATE_VALUE = /^(\d+(?:\.\d+)?)\s*(\/s)?$/i;
const PERCENTILE = /^p(\d+(?:\.\d+)?)$/;

/** Parses one expression; throws a UsageError that names it and lists the forms. */
export function parseThreshold(text: string): Threshold {
  const expression = text.trim();
  const bad = (reason: string): UsageError =>
    new UsageError(`threshold '${expression}' is not valid: ${reason}; use forms like ${FORMS}`);

  let scope: ThresholdScope = { kind: 'run' };
  let condition = expression;
  const scoped = SCOPE.exec(expression);
  if (scoped !== null) {
    const kind = scoped[1]!.toLowerCase();
    const target = scoped[2]!;
    if (target === '' || scoped[3] === undefined) {
      throw bad(
        kind === 'url'
          ? 'url: needs a path or URL right after the colon, then a space and the condition'
          : 'step: needs a step number right after the colon, then a space and the condition',
      );
    }
    if (kind === 'url') {
      scope = { kind: 'url', url: target };
    } else {
      const step = /^\d+$/.test(target) ? Number(target) : Number.NaN;
      if (!Number.isSafeInteger(step) || step < 1) {
        throw bad(`step '${target}' is not a whole number ≥ 1 (steps count from 1)`);
      }
      scope = { kind: 'step', step };
    }
    condition = scoped[3].trim();
  }

  const parts = CONDITION.exec(condition);
  if (parts === null) {
    throw bad('expected a metric, an operator (<, <=, >, >=) and a value');
  }
  const name = parts[1]!.toLowerCase();
  const operator = parts[2] as ThresholdOperator;
  const valueText = parts[3]!.trim();
  if (valueText === '') {
    throw bad(`missing the value after '${operator}'`);
  }

  const percentile = PERCENTILE.exec(name);
  if (percentile !== null || ['avg', 'med', 'min', 'max'].includes(name)) {
    let stat: LatencyStat;
    if (percentile !== null) {
      stat = Number(percentile[1]);
      if (!(stat > 0 && stat <= 100)) {
        throw bad(`percentile '${name}' must be above p0 and at most p100`);
      }
    } else {
      stat = name === 'med' ? 50 : (name as 'avg' | 'min' | 'max');
    }
    const value = LATENCY_VALUE.exec(valueText);
    if (value === null) {
      throw bad(`'${valueText}' is not a time; use e.g. 300ms or 1.5s`);
    }
    const unit = (value[2] ?? 'ms').toLowerCase();
    const bound = Number(value[1]) * (unit === 's' ? 1000 : 1);
    return { expression, scope, metric: 'latency', stat, operator, bound, percent: false };
  }

  if (name === 'rps') {
    const value = RATE_VALUE.exec(valueText);
    if (value === null) {
      throw bad(`'${valueText}' is not a rate; use e.g. rps>500`);
    }
    const bound = Number(value[1]);
    return { expression, scope, metric: 'rps', stat: null, operator, bound, percent: false };
  }

  if (name === 'errors' || name === 'http_5xx' || name === 'http_4xx' || name === 'dropped') {
    const value = SHARE_VALUE.exec(valueText);
    if (value === null) {
      throw bad(`'${valueText}' is not a count or a percentage; use e.g. ${name}<5 or ${name}<1%`);
    }
    const percent = value[2] !== undefined;
    const bound = Number(value[1]);
    if (percent && bound > 100) {
      throw bad(`${bound}% is more than 100%`);
    }
    if (scope.kind === 'url' && name !== 'errors') {
      throw bad(`a url: scope takes latencies, errors and rps, not ${name}`);
    }
    if (scope.kind === 'step' && name === 'http_4xx') {
      throw bad('a step: scope takes latencies, errors, rps, http_5xx and dropped, not http_4xx');
    }
    return { expression, scope, metric: name, stat: null, operator, bound, percent };
  }

  throw bad(`unknown metric '${parts[1]!}'`);
}

/** True when `measured` meets the threshold's condition. */
export function meets(measured: number, operator: ThresholdOperator, bound: number): boolean {
  switch (operator) {
    case '<':
      return measured < bound;
    case '<=':
      return measured <= bound;
    case '>':
      return measured > bound;
    case '>=':
      return measured >= bound;
  }
}

/** The numbers a threshold reads, for one scope. */
interface ScopeData {
  latency: string[];
  hits: number;
  /** Test runs that finished (for a URL scope: its hits). */
  runs: number;
  /** Errors + failures (for a URL scope: its hit errors). */
  errors: number;
  hits5xx: number;
  hits4xx: number;
  dropped: number;
  durationS: number;
}

function runData(snapshot: Snapshot, durationS: number): ScopeData {
  const t = snapshot.tests;
  return {
    latency: [snapshot.latency],
    hits: snapshot.hits,
    runs: t.successes + t.failures + t.errors,
    errors: t.failures + t.errors,
    hits5xx: snapshot.statusClasses[5] ?? 0,
    hits4xx: snapshot.statusClasses[4] ?? 0,
    dropped: snapshot.dropped,
    durationS,
  };
}

/**
 * The path of a stored URL ('GET http://h/a' entries keep the full URL without
 * query); a request name that is not a URL ('/item/:id') is its own path.
 */
function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

function urlData(urls: readonly UrlSnapshot[], scope: string, durationS: number): ScopeData | null {
  const matching = urls.filter((u) => u.url === scope || pathOf(u.url) === scope);
  if (matching.length === 0) {
    return null;
  }
  let hits = 0;
  let errors = 0;
  for (const u of matching) {
    hits += u.hits;
    errors += u.errors;
  }
  return {
    latency: matching.map((u) => u.latency),
    hits,
    runs: hits,
    errors,
    hits5xx: 0,
    hits4xx: 0,
    dropped: 0,
    durationS,
  };
}

function stepData(step: StepSnapshot): ScopeData {
  return {
    latency: [step.latency],
    hits: step.hits,
    runs: step.successes + step.failures + step.errors,
    errors: step.failures + step.errors,
    hits5xx: step.hits5xx,
    hits4xx: 0,
    dropped: step.dropped,
    durationS: step.elapsedMs / 1000,
  };
}

function formatNumber(n: number, digits: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

const NO_DATA = 'no data';

function measure(
  threshold: Threshold,
  data: ScopeData,
): { measured: number | null; display: string } {
  switch (threshold.metric) {
    case 'latency': {
      if (data.hits === 0) {
        return { measured: null, display: NO_DATA };
      }
      const histogram = new LatencyHistogram();
      for (const encoded of data.latency) {
        histogram.merge(LatencyHistogram.decode(encoded));
      }
      const stat = threshold.stat;
      const ms =
        stat === 'avg'
          ? histogram.mean
          : stat === 'max'
            ? histogram.max
            : stat === 'min'
              ? histogram.percentile(0)
              : histogram.percentile(stat ?? 50);
      // The summary's rule, so this reads exactly as the p99 line it is measured on.
      return { measured: ms, display: formatSeconds(ms / 1000) };
    }
    case 'rps': {
      if (data.durationS <= 0) {
        return data.hits === 0
          ? { measured: 0, display: '0/s' }
          : { measured: null, display: NO_DATA };
      }
      const rps = data.hits / data.durationS;
      return { measured: rps, display: `${formatNumber(Math.round(rps * 10) / 10, 1)}/s` };
    }
    default: {
      const [count, total] =
        threshold.metric === 'errors'
          ? [data.errors, data.runs]
          : threshold.metric === 'http_5xx'
            ? [data.hits5xx, data.hits]
            : threshold.metric === 'http_4xx'
              ? [data.hits4xx, data.hits]
              : [data.dropped, data.runs + data.dropped];
      if (!threshold.percent) {
        return { measured: count, display: String(count) };
      }
      const share = total === 0 ? 0 : (count / total) * 100;
      return { measured: share, display: `${formatNumber(Math.round(share * 100) / 100, 2)}%` };
    }
  }
}

/**
 * Every threshold against the run's final snapshot, in the given order.
 * `durationS` is the run's duration (for rps; a step scope uses its own).
 */
export function evaluateThresholds(
  thresholds: readonly Threshold[],
  snapshot: Snapshot,
  durationS: number,
): ThresholdResult[] {
  return thresholds.map((threshold) => {
    let data: ScopeData | null;
    const scope = threshold.scope;
    if (scope.kind === 'url') {
      data = urlData(snapshot.urls, scope.url, durationS);
    } else if (scope.kind === 'step') {
      const step = snapshot.steps.find((s) => s.cycleIndex === scope.step - 1);
      data = step === undefined ? null : stepData(step);
    } else {
      data = runData(snapshot, durationS);
    }
    if (data === null) {
      return { expression: threshold.expression, passed: false, measured: null, display: NO_DATA };
    }
    const { measured, display } = measure(threshold, data);
    return {
      expression: threshold.expression,
      passed: measured !== null && meets(measured, threshold.operator, threshold.bound),
      measured,
      display,
    };
  });
}

/**
 * Checks the thresholds against the plan before any load is sent: a
 * `step:N` scope beyond the plan's steps could only ever fail with no data.
 * Throws a UsageError naming the first such expression.
 */
export function checkThresholdSteps(thresholds: readonly Threshold[], stepCount: number): void {
  for (const threshold of thresholds) {
    if (threshold.scope.kind === 'step' && threshold.scope.step > stepCount) {
      throw new UsageError(
        `threshold '${threshold.expression}' names step ${threshold.scope.step}, but the plan has ${stepCount} step${stepCount === 1 ? '' : 's'}; use step:1${stepCount > 1 ? ` to step:${stepCount}` : ''}`,
      );
    }
  }
}

/**
 * True when certainlyCrossed can ever report this threshold: whole-run upper
 * bounds on counts, on max (or p100), and on the errors share when the
 * number of planned runs is known.
 */
export function canCrossEarly(threshold: Threshold, plannedRuns: number | null): boolean {
  if (
    threshold.scope.kind !== 'run' ||
    (threshold.operator !== '<' && threshold.operator !== '<=')
  ) {
    return false;
  }
  if (threshold.metric === 'latency') {
    return threshold.stat === 'max' || threshold.stat === 100;
  }
  if (threshold.metric === 'rps') {
    return false;
  }
  return (
    !threshold.percent || (threshold.metric === 'errors' && plannedRuns !== null && plannedRuns > 0)
  );
}

/** True for thresholds certainlyCrossed can check from ProgressCounts alone. */
export function needsOnlyCounts(threshold: Threshold): boolean {
  return threshold.metric === 'errors' || threshold.metric === 'dropped';
}

/**
 * The first threshold that is crossed already and cannot recover however
 * the run goes on (for --abort-on-fail), or null. Only whole-run upper
 * bounds qualify: counts (`errors<5` once 5 runs failed or errored,
 * `http_5xx<3`, `dropped<10`), `max<…` (and p100) once a hit took that long,
 * and `errors<1%` when the total number of runs is known in advance
 * (`plannedRuns`, hits mode) and the errors so far reach that share of it.
 * With ProgressCounts (the aggregator's cheap counts) only `errors` and `dropped`
 * thresholds are checked; a Snapshot checks them all.
 */
export function certainlyCrossed(
  thresholds: readonly Threshold[],
  current: Snapshot | ProgressCounts,
  plannedRuns: number | null,
): Threshold | null {
  const snapshot = 'statusClasses' in current ? current : null;
  const failed =
    'statusClasses' in current
      ? current.tests.failures + current.tests.errors
      : current.failures + current.errors;
  let maxMs: number | null = null;
  for (const threshold of thresholds) {
    if (!canCrossEarly(threshold, plannedRuns)) {
      continue;
    }
    let count: number;
    if (threshold.metric === 'errors') {
      count = failed;
    } else if (threshold.metric === 'dropped') {
      count = current.dropped;
    } else if (snapshot === null || threshold.metric === 'rps') {
      continue;
    } else if (threshold.metric === 'http_5xx' || threshold.metric === 'http_4xx') {
      count = snapshot.statusClasses[threshold.metric === 'http_5xx' ? 5 : 4] ?? 0;
    } else if (threshold.metric === 'latency') {
      if (snapshot.hits === 0) {
        continue;
      }
      maxMs ??= LatencyHistogram.decode(snapshot.latency).max;
      count = maxMs;
    } else {
      continue;
    }
    // The final errors share is errors / runs with runs ≤ plannedRuns: at least this.
    const measured =
      threshold.percent && plannedRuns !== null ? (count / plannedRuns) * 100 : count;
    if (!meets(measured, threshold.operator, threshold.bound)) {
      return threshold;
    }
  }
  return null;
}
