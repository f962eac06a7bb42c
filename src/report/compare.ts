// Two runs side by side (`loads-runner report --baseline`): the key figures
// of the run, of each cycle step (matched by step number) and of each URL or
// request name (matched by its Summary.urls key), with their change, whether
// they went the bad way, and which of them break --max-regression. Pure:
// Summaries in, a Comparison (and its text table) out.
//
// The gate judges p95, p99 and the error share of every scope present in
// both runs. Latency: a regression is a rise of more than maxRegression
// relative to the baseline. Error share: a relative rise of more than
// maxRegression AND an absolute rise of at least ERROR_SHARE_FLOOR (0.1
// percentage point), so 0 → 2 errors in a million runs is not a regression,
// while 0 → 0.1 % is (a zero baseline has no relative change).
import { formatSeconds } from '../metrics/format-seconds.ts';
import type { StepSummary, Summary, UrlSummary } from '../metrics/summary.ts';
import type { Comparison, ComparisonRow } from './types.ts';

/** The least absolute rise of an error share (0 to 1) that can be a regression: 0.1 percentage point. */
export const ERROR_SHARE_FLOOR = 0.001;

/**
 * Float slack on the gate's comparisons: a p95 going from 0.2 s to 0.22 s
 * is exactly +10 %, not 10.000000000000009 %, and must not break a 10 % gate.
 */
const EPSILON = 1e-9;

export interface CompareOptions {
  /** --max-regression as a share (0.1 for 10%), or null: rows are never regressions. */
  maxRegression: number | null;
  currentLabel: string;
  baselineLabel: string;
}

type Metric = ComparisonRow['metric'];

/** The figures a scope has; a metric left out (a URL's p50 and p99) gets no row. */
type Figures = Partial<Record<Metric, number>>;

const RUN_METRICS: readonly Metric[] = ['rps', 'p50', 'p95', 'p99', 'errorShare'];
/** Summary.urls holds an average and a p95 per URL, no other percentile. */
const URL_METRICS: readonly Metric[] = ['rps', 'p95', 'errorShare'];

/**
 * Failed and errored test runs over finished test runs: the share the exit
 * status and `--threshold errors<1%` judge. Runs rather than hits, because a
 * run is the user's journey the test asserts on: a 404 the test expects is a
 * hit error but no failure, and one failed hit that fails its run counts once.
 */
function runErrorShare(counts: { successes: number; failures: number; errors: number }): number {
  const runs = counts.successes + counts.failures + counts.errors;
  return runs === 0 ? 0 : (counts.failures + counts.errors) / runs;
}

function runFigures(summary: Summary): Figures {
  return {
    rps: summary.rps,
    p50: summary.latency.p50,
    p95: summary.latency.p95,
    p99: summary.latency.p99,
    errorShare: runErrorShare(summary),
  };
}

function stepFigures(step: StepSummary): Figures {
  return {
    rps: step.rps,
    p50: step.p50S,
    p95: step.p95S,
    p99: step.p99S,
    errorShare: runErrorShare(step),
  };
}

/** A URL's rate is over the whole run, as the summary's own RPS; its errors are hit errors. */
function urlFigures(url: UrlSummary, runDurationS: number): Figures {
  return {
    rps: runDurationS > 0 ? url.hits / runDurationS : 0,
    p95: url.p95S,
    errorShare: 1 - url.successRate,
  };
}

function isWorse(metric: Metric, baseline: number, current: number): boolean {
  return metric === 'rps' ? current < baseline : current > baseline;
}

function isRegression(
  metric: Metric,
  baseline: number,
  current: number,
  maxRegression: number,
): boolean {
  if (metric === 'p95' || metric === 'p99') {
    return baseline > 0 && (current - baseline) / baseline > maxRegression + EPSILON;
  }
  if (metric === 'errorShare') {
    const rise = current - baseline;
    return (
      rise >= ERROR_SHARE_FLOOR - EPSILON &&
      (baseline === 0 || rise / baseline > maxRegression + EPSILON)
    );
  }
  return false;
}

function compareFigure(
  scope: string,
  metric: Metric,
  baseline: number | null,
  current: number | null,
  maxRegression: number | null,
): ComparisonRow {
  if (baseline === null || current === null) {
    return { scope, metric, baseline, current, change: null, worse: false, regression: false };
  }
  return {
    scope,
    metric,
    baseline,
    current,
    change: baseline === 0 ? null : (current - baseline) / baseline,
    worse: isWorse(metric, baseline, current),
    regression: maxRegression !== null && isRegression(metric, baseline, current, maxRegression),
  };
}

function compareScope(
  scope: string,
  metrics: readonly Metric[],
  baseline: Figures | undefined,
  current: Figures | undefined,
  maxRegression: number | null,
): ComparisonRow[] {
  return metrics.map((metric) =>
    compareFigure(
      scope,
      metric,
      baseline?.[metric] ?? null,
      current?.[metric] ?? null,
      maxRegression,
    ),
  );
}

/** The keys of both lists: the current run's in its order, then those only the baseline has. */
function unionOf<K>(current: readonly K[], baseline: readonly K[]): K[] {
  return [...new Set([...current, ...baseline])];
}

/**
 * The comparison of `current` against `baseline`: the run-wide rows, then
 * each step (by number, ascending; none when both runs had a single step),
 * then each URL/name (the current run's
 * slowest first, then those only the baseline had). A scope only one run
 * has gets rows with null on the other side, never worse or a regression.
 */
export function compareRuns(
  current: Summary,
  baseline: Summary,
  options: CompareOptions,
): Comparison {
  const { maxRegression } = options;
  const rows: ComparisonRow[] = compareScope(
    'run',
    RUN_METRICS,
    runFigures(baseline),
    runFigures(current),
    maxRegression,
  );

  const currentSteps = new Map(current.steps.map((s) => [s.step, s]));
  const baselineSteps = new Map(baseline.steps.map((s) => [s.step, s]));
  // Two runs of one step each: the step is the run, and its rows would say everything twice.
  const oneStepEach = current.steps.length <= 1 && baseline.steps.length <= 1;
  const stepNumbers = oneStepEach
    ? []
    : unionOf([...currentSteps.keys()], [...baselineSteps.keys()]).sort((a, b) => a - b);
  for (const number of stepNumbers) {
    const inBaseline = baselineSteps.get(number);
    const inCurrent = currentSteps.get(number);
    rows.push(
      ...compareScope(
        `step ${number}`,
        RUN_METRICS,
        inBaseline && stepFigures(inBaseline),
        inCurrent && stepFigures(inCurrent),
        maxRegression,
      ),
    );
  }

  const currentUrls = new Map(current.urls.map((u) => [u.key, u]));
  const baselineUrls = new Map(baseline.urls.map((u) => [u.key, u]));
  for (const key of unionOf([...currentUrls.keys()], [...baselineUrls.keys()])) {
    const inBaseline = baselineUrls.get(key);
    const inCurrent = currentUrls.get(key);
    rows.push(
      ...compareScope(
        key,
        URL_METRICS,
        inBaseline && urlFigures(inBaseline, baseline.durationS),
        inCurrent && urlFigures(inCurrent, current.durationS),
        maxRegression,
      ),
    );
  }

  return {
    baselineLabel: options.baselineLabel,
    currentLabel: options.currentLabel,
    maxRegression,
    rows,
    regressions: rows.filter((row) => row.regression),
  };
}

/** How the table and the regression lines name each metric. */
export const METRIC_LABELS: Record<Metric, string> = {
  rps: 'RPS',
  p50: 'p50',
  p95: 'p95',
  p99: 'p99',
  errorShare: 'error share',
};

/** What a missing figure (a scope one run lacks) shows. */
const NONE = '–';

/** A share 0–1 as a percent with three significant digits, the rule of every figure people read. */
function formatShare(share: number): string {
  return formatSeconds(share * 100, '%');
}

function formatValue(metric: Metric, value: number | null): string {
  if (value === null) {
    return NONE;
  }
  if (metric === 'rps') {
    return formatSeconds(value, '/s');
  }
  return metric === 'errorShare' ? formatShare(value) : formatSeconds(value);
}

function formatChange(row: ComparisonRow): string {
  if (row.change === null) {
    // A scope one run lacks; or a baseline of 0: the same 0, or a figure new in this run.
    return row.baseline === null || row.current === null
      ? NONE
      : row.current === row.baseline
        ? '0.0%'
        : 'new';
  }
  const percent = (row.change * 100).toFixed(1);
  return row.change > 0 ? `+${percent}%` : percent === '-0.0' ? '0.0%' : `${percent}%`;
}

/** --max-regression as the user typed it: 0.1 → '10%', 0.005 → '0.5%'. */
function formatLimit(maxRegression: number): string {
  // toPrecision drops the float noise of × 100 (0.07 × 100 = 7.000000000000001).
  return `${Number((maxRegression * 100).toPrecision(12))}%`;
}

/** One line naming a regression: "p95 of run 0.120s → 0.150s (+25.0%) exceeds --max-regression 10%". */
function describeRegression(row: ComparisonRow, maxRegression: number): string {
  const change = row.change === null ? 'from 0' : formatChange(row);
  return (
    `regression: ${METRIC_LABELS[row.metric]} of ${row.scope} ` +
    `${formatValue(row.metric, row.baseline)} → ${formatValue(row.metric, row.current)} ` +
    `(${change}) exceeds --max-regression ${formatLimit(maxRegression)}`
  );
}

/** The lines naming the comparison's regressions, or the one line saying there are none. */
export function describeRegressions(comparison: Comparison): string[] {
  const { maxRegression } = comparison;
  if (maxRegression === null) {
    return ['regressions: not checked (no --max-regression)'];
  }
  if (comparison.regressions.length === 0) {
    return [
      `regressions: none (p95, p99 and error share within --max-regression ${formatLimit(maxRegression)})`,
    ];
  }
  return comparison.regressions.map((row) => describeRegression(row, maxRegression));
}

/**
 * The comparison as the text table `report --baseline` prints on stdout:
 * the two runs' labels, one aligned row per figure (scope, metric,
 * baseline, current, change, and "regression" on the rows that break the
 * gate), then the lines of describeRegressions.
 */
export function formatComparison(comparison: Comparison): string {
  const header = ['scope', 'metric', 'baseline', 'current', 'change', ''];
  const cells = comparison.rows.map((row) => [
    row.scope,
    METRIC_LABELS[row.metric],
    formatValue(row.metric, row.baseline),
    formatValue(row.metric, row.current),
    formatChange(row),
    row.regression ? 'regression' : '',
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((line) => line[column]!.length)),
  );
  // Text columns align left, figures right, so digits line up.
  const alignRight = [false, false, true, true, true, false];
  const render = (line: readonly string[]): string =>
    line
      .map((cell, column) =>
        alignRight[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
      )
      .join('  ')
      .trimEnd();
  return [
    `baseline: ${comparison.baselineLabel}`,
    `current:  ${comparison.currentLabel}`,
    '',
    render(header),
    ...cells.map(render),
    '',
    ...describeRegressions(comparison),
    '',
  ].join('\n');
}
