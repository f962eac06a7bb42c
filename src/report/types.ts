// The contracts between the report's parts: what the renderer takes (a run's
// Summary, the json document), what a run comparison is, and what the live
// dashboard sends the page. Pure data.
import type { Summary, TimelineRow } from '../metrics/summary.ts';

/** One figure of two runs side by side (`loads-runner report --baseline`). */
export interface ComparisonRow {
  /** 'run', 'step 2', or a URL/name key as in Summary.urls ('GET http://h/api/items', 'GET /item/:id'). */
  scope: string;
  metric: 'rps' | 'p50' | 'p95' | 'p99' | 'errorShare';
  /** Seconds for latencies, a share 0–1 for errorShare, per second for rps; null when the run has no such scope. */
  baseline: number | null;
  current: number | null;
  /** (current − baseline) / baseline; null when either is null or the baseline is 0. */
  change: number | null;
  /** The figure went the bad way: slower, fewer requests per second, more errors. */
  worse: boolean;
  /** Worse by more than --max-regression (only p95, p99 and errorShare gate a build). */
  regression: boolean;
}

export interface Comparison {
  /** How the baseline is named on the page and in the text table (its file name and start time). */
  baselineLabel: string;
  currentLabel: string;
  /** --max-regression as a share (0.1 for 10%), or null when not given. */
  maxRegression: number | null;
  /** Run-wide rows first, then per step, then per URL/name. */
  rows: ComparisonRow[];
  /** The rows with regression true, in the same order. */
  regressions: ComparisonRow[];
}

/** What the renderer makes a page from. */
export interface ReportInput {
  /** The run shown (a live page: the run so far). */
  summary: Summary;
  /** --baseline: overlaid on the charts and distributions. */
  baseline?: Summary | undefined;
  /** --baseline: the table of key figures side by side. */
  comparison?: Comparison | undefined;
  /** The dashboard: the page follows the run over Server-Sent Events at this path. */
  live?: { eventsPath: string } | undefined;
}

/**
 * One Server-Sent Event of the dashboard (`event: update`, data: this as
 * JSON), about once a second. The page keeps its timeline rows with
 * t < timelineFrom, then appends summary.timeline (the rows from there on),
 * and draws the summary. The first update to each page has timelineFrom 0
 * (the whole history), as has every update after the rows got coarser.
 */
export interface LiveUpdate {
  summary: Summary;
  timelineFrom: number;
  /** The run is over: this is the final report; the page stops listening. */
  final: boolean;
}

export type { Summary, TimelineRow };
