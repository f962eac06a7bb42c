// What the report page embeds (as JSON) and draws itself from: the summary
// without its bulky parts, the timeline as columns of rounded numbers (an
// hour of rows costs a few hundred KB as row objects, well under half as
// columns), and the latency distributions as percentile series computed here
// from the run's HDR histograms. Pure.
import { MAX_URLS, OTHER_URLS_KEY } from '../metrics/aggregator.ts';
import { LatencyHistogram } from '../metrics/histogram.ts';
import type { Comparison, ReportInput, Summary, TimelineRow } from './types.ts';

/** Timeline fields the page draws, in this order. */
export const TIMELINE_FIELDS = [
  't',
  'durationS',
  'users',
  'started',
  'hits',
  'hitErrors',
  'errors',
  'failures',
  'dropped',
  'wsOpened',
  'wsMessages',
  'p50S',
  'p95S',
  'p99S',
  'serviceP50S',
  'serviceP99S',
] as const satisfies readonly (keyof TimelineRow)[];

type TimelineField = (typeof TIMELINE_FIELDS)[number];

/** Latency fields: embedded as whole µs (the histograms' own precision), not seconds. */
export const LATENCY_FIELDS: ReadonlySet<TimelineField> = new Set([
  'p50S',
  'p95S',
  'p99S',
  'serviceP50S',
  'serviceP99S',
]);

/**
 * The timeline as one array per field. A field whose values are all 0 is
 * left out (the page reads a missing column as zeros): a run without
 * WebSockets, drops or errors pays nothing for them.
 */
export interface TimelineColumns {
  rows: number;
  columns: Partial<Record<TimelineField, number[]>>;
}

/**
 * Percentiles of the distribution plot: 20 a decade of 1/(1 − p), from p0
 * (1) out to p99.99 (10⁴), the x axis of an HDR percentile plot.
 */
export const DISTRIBUTION_PERCENTILES: readonly number[] = Array.from({ length: 81 }, (_, i) => {
  const p = 100 * (1 - 10 ** (-i / 20));
  return Math.round(p * 1e6) / 1e6;
});

export interface Distribution {
  /** The percentiles, 0–100 (DISTRIBUTION_PERCENTILES). */
  percentiles: readonly number[];
  /** Latency at each percentile, whole µs; empty when the run had no hits. */
  responseUs: number[];
  serviceUs: number[];
}

/** One run as the page gets it. */
export interface PageRun {
  /** The summary without timeline rows, histograms and the every-error lists (they are in `timeline`, `distribution`, topErrors). */
  summary: Summary;
  timeline: TimelineColumns;
  distribution: Distribution;
}

export interface PageData {
  run: PageRun;
  baseline: PageRun | null;
  comparison: Comparison | null;
  live: { eventsPath: string } | null;
  /** The per-URL cap and the key of the row past it (the URL table's note). */
  maxUrls: number;
  otherUrlsKey: string;
}

function roundTo(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

export function timelineColumns(rows: readonly TimelineRow[]): TimelineColumns {
  const columns: Partial<Record<TimelineField, number[]>> = {};
  for (const field of TIMELINE_FIELDS) {
    const latency = LATENCY_FIELDS.has(field);
    const values = rows.map((row) =>
      latency
        ? Math.round(row[field] * 1e6)
        : field === 'users'
          ? roundTo(row[field], 2)
          : roundTo(row[field], 3),
    );
    if (field === 't' || values.some((v) => v !== 0)) {
      columns[field] = values;
    }
  }
  return { rows: rows.length, columns };
}

function percentileSeries(encoded: string): number[] {
  if (encoded === '') {
    return [];
  }
  const histogram = LatencyHistogram.decode(encoded);
  if (histogram.count === 0) {
    return [];
  }
  return DISTRIBUTION_PERCENTILES.map((p) => Math.round(histogram.percentile(p) * 1000));
}

export function distributionOf(summary: Summary): Distribution {
  return {
    percentiles: DISTRIBUTION_PERCENTILES,
    responseUs: percentileSeries(summary.histograms.responseTime),
    serviceUs: percentileSeries(summary.histograms.serviceTime),
  };
}

/** The summary the page embeds: what it draws as text, without what is embedded otherwise. */
function pageSummary(summary: Summary): Summary {
  return {
    ...summary,
    timeline: [],
    histograms: { responseTime: '', serviceTime: '' },
    allErrors: [],
    allFailures: [],
  };
}

function pageRun(summary: Summary): PageRun {
  return {
    summary: pageSummary(summary),
    timeline: timelineColumns(summary.timeline),
    distribution: distributionOf(summary),
  };
}

export function pageData(input: ReportInput): PageData {
  return {
    run: pageRun(input.summary),
    baseline: input.baseline === undefined ? null : pageRun(input.baseline),
    comparison: input.comparison ?? null,
    live: input.live ?? null,
    maxUrls: MAX_URLS,
    otherUrlsKey: OTHER_URLS_KEY,
  };
}
