// Summaries with a timeline and histograms for the report's tests: a run of
// any length without running one (a one-hour report's size, a baseline, the
// updates of a live page).
import { LatencyHistogram } from '../../src/metrics/histogram.ts';
import type { Summary, TimelineRow } from '../../src/metrics/summary.ts';
import { makeSummary } from './summary.ts';

/** A deterministic pseudo-random sequence (mulberry32), so sizes and pictures do not vary by run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A busy row: five-digit hit counts, latencies with six significant digits (the worst case for size). */
export function timelineRow(t: number, random: () => number, scale = 1): TimelineRow {
  const hits = Math.round((20_000 + random() * 15_000) * scale);
  const p50 = 0.000_1 + random() * 0.002;
  const errors = random() < 0.1 ? Math.round(random() * 40) : 0;
  return {
    t,
    durationS: 1,
    hits,
    hitErrors: errors,
    hits5xx: errors,
    rps: hits,
    bytes: hits * 104,
    started: hits,
    successes: hits - errors,
    failures: 0,
    errors,
    dropped: 0,
    users: 40 + random() * 0.99,
    wsOpened: 0,
    wsClosed: 0,
    wsMessages: 0,
    wsBytes: 0,
    p50S: Math.round(p50 * 1e6) / 1e6,
    p90S: Math.round(p50 * 3 * 1e6) / 1e6,
    p95S: Math.round((p50 * 4 + random() * 0.01) * 1e6) / 1e6,
    p99S: Math.round((p50 * 9 + random() * 0.05) * 1e6) / 1e6,
    maxS: Math.round((p50 * 20 + random() * 0.2) * 1e6) / 1e6,
    serviceP50S: Math.round(p50 * 1e6) / 1e6,
    serviceP99S: Math.round((p50 * 9 + random() * 0.05) * 1e6) / 1e6,
  };
}

/** Encoded histograms of `count` latencies around `medianMs` with a long tail. */
export function latencyHistogram(count: number, medianMs: number, random: () => number): string {
  const histogram = new LatencyHistogram();
  for (let i = 0; i < count; i++) {
    histogram.record(medianMs * (0.5 + random()) * (random() < 0.01 ? 20 * random() : 1));
  }
  return histogram.encode();
}

/**
 * A closed-model run of `seconds` rows (one per second), three steps,
 * two URLs, an error and counters: every part of the report has something
 * to draw. `slower` multiplies its latencies (a regression).
 */
export function syntheticSummary(
  seconds: number,
  options: { seed?: number; slower?: number; overrides?: Partial<Summary> } = {},
): Summary {
  const random = seededRandom(options.seed ?? 1);
  const slower = options.slower ?? 1;
  const timeline = Array.from({ length: seconds }, (_, t) => {
    const row = timelineRow(t, random);
    for (const key of [
      'p50S',
      'p90S',
      'p95S',
      'p99S',
      'maxS',
      'serviceP50S',
      'serviceP99S',
    ] as const) {
      row[key] = Math.round(row[key] * slower * 1e6) / 1e6;
    }
    return row;
  });
  const hits = timeline.reduce((sum, row) => sum + row.hits, 0);
  const latency = latencyHistogram(20_000, 1.2 * slower, random);
  const step = seconds / 3;
  return makeSummary({
    fqn: 'example.TestWebSite.test_es',
    hits,
    startedAt: Date.UTC(2026, 0, 5, 9, 30, 0),
    endedAt: Date.UTC(2026, 0, 5, 9, 30, 0) + seconds * 1000,
    durationS: seconds,
    rps: hits / seconds,
    avgRequestTimeS: 0.0012 * slower,
    successes: hits - 12,
    errors: 12,
    latency: {
      p50: 0.00121 * slower,
      p90: 0.00175 * slower,
      p95: 0.00181 * slower,
      p99: 0.0173 * slower,
      max: 0.0238 * slower,
    },
    serviceTime: {
      p50: 0.00121 * slower,
      p90: 0.00175 * slower,
      p95: 0.00181 * slower,
      p99: 0.0173 * slower,
      max: 0.0238 * slower,
    },
    steps: [10, 20, 40].map((users, i) => ({
      step: i + 1,
      users,
      runsPerUser: 0,
      rate: null,
      durationS: step,
      runs: Math.round(hits / 3),
      successes: Math.round(hits / 3) - 4,
      failures: 0,
      errors: 4,
      dropped: 0,
      hits: Math.round(hits / 3),
      hitErrors: 4,
      hits5xx: 4,
      rps: hits / 3 / step,
      p50S: 0.001 * (i + 1) * slower,
      p95S: 0.002 * (i + 1) * slower,
      p99S: 0.004 * (i + 1) ** 2 * slower,
    })),
    hitErrors: 12,
    statusCounts: { '500': 12 },
    topErrors: [
      {
        count: 12,
        test: 'TestWebSite.test_es',
        name: 'Error',
        message: 'unexpected status 500',
        stack: 'Error: unexpected status 500\n    at TestWebSite.test_es (example.ts:12:11)',
      },
    ],
    urls: [
      {
        key: 'GET http://127.0.0.1:9200/',
        method: 'GET',
        url: 'http://127.0.0.1:9200/',
        hits: hits - 500,
        avgS: 0.0011 * slower,
        p95S: 0.0018 * slower,
        successRate: 0.9999,
      },
      {
        key: 'GET http://127.0.0.1:9200/api/items',
        method: 'GET',
        url: 'http://127.0.0.1:9200/api/items',
        hits: 500,
        avgS: 0.0031 * slower,
        p95S: 0.0052 * slower,
        successRate: 1,
      },
    ],
    counters: { pages: hits },
    exitStatus: 1,
    run: {
      users: [10, 20, 40],
      hits: null,
      durationS: step,
      rate: null,
      maxUsers: null,
      rampUpS: 0,
      workers: 2,
      origins: ['http://127.0.0.1:9200'],
    },
    timeline,
    histograms: { responseTime: latency, serviceTime: latency },
    ...options.overrides,
  });
}
