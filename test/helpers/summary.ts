// Reads SPEC §6 summary lines the way a user's script would.
import assert from 'node:assert/strict';
import { LatencyHistogram } from '../../src/metrics/histogram.ts';
import { SUMMARY_SCHEMA, type LatencySummary, type Summary } from '../../src/metrics/summary.ts';

const EMPTY_HISTOGRAM = new LatencyHistogram().encode();

/** The number after `label:` on its own line, e.g. summaryNumber(out, 'Hits'). */
export function summaryNumber(stdout: string, label: string): number {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^${escaped}: ?([0-9.]+)(?:s| seconds)?$`, 'm').exec(stdout);
  assert.ok(match, `no '${label}:' line in:\n${stdout}`);
  return Number(match[1]);
}

/**
 * A duration figure as the summary writes it (SPEC §6): three significant
 * digits, plain decimals, whole seconds from 100 s, 0 alone; a RegExp source.
 */
export const FIGURE = String.raw`(?:0|0\.0*[1-9]\d\d|[1-9]\.\d\d|[1-9]\d\.\d|[1-9]\d{2,})`;

/** Control characters other than newline and tab (ANSI escapes, \r). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const CONTROL_CHARS = /[\x00-\x08\x0b-\x1f\x7f]/;

const NO_LATENCY: LatencySummary = { p50: 0, p90: 0, p95: 0, p99: 0, max: 0 };

/**
 * A Summary of a run where nothing happened, with `overrides` on top: tests
 * of outputs give only the fields they are about, so a new Summary field is
 * added here once.
 */
export function makeSummary(overrides: Partial<Summary> = {}): Summary {
  return {
    tool: 'loads-runner',
    schema: SUMMARY_SCHEMA,
    version: '0.0.0-test',
    projectName: 'N/A',
    fqn: 'm.C.t',
    hits: 0,
    startedAt: 0,
    endedAt: 0,
    durationS: 0,
    rps: 0,
    avgRequestTimeS: 0,
    socketsOpened: 0,
    wsMessages: 0,
    wsBytesReceived: 0,
    successes: 0,
    errors: 0,
    failures: 0,
    latency: NO_LATENCY,
    serviceTime: NO_LATENCY,
    dropped: 0,
    rate: null,
    maxUsers: null,
    steps: [],
    hitErrors: 0,
    hitErrorKeys: {},
    statusCounts: {},
    protocols: { h1: 100 },
    topErrors: [],
    topFailures: [],
    allErrors: [],
    allFailures: [],
    slowestUrl: null,
    urls: [],
    otherUrlHits: 0,
    perTest: {},
    counters: {},
    interrupted: false,
    interruptedBy: null,
    generator: null,
    thresholds: [],
    abortedBy: null,
    exitStatus: 0,
    run: {
      users: [1],
      hits: [1],
      durationS: null,
      rate: null,
      maxUsers: null,
      rampUpS: 0,
      workers: 1,
      origins: [],
    },
    bytesReceived: 0,
    timeline: [],
    histograms: { responseTime: EMPTY_HISTOGRAM, serviceTime: EMPTY_HISTOGRAM },
    distributed: null,
    ...overrides,
  };
}
