// The renderer without a browser: one self-contained file (uPlot inlined
// with its licence, no URL to load anything from), data that cannot break
// out of its <script> element, a one-hour run under 500 KB, and the page
// data (columns, gaps, distributions) right.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyHistogram } from '../../src/metrics/histogram.ts';
import {
  DISTRIBUTION_PERCENTILES,
  distributionOf,
  pageData,
  timelineColumns,
  type PageData,
} from '../../src/report/page-data.ts';
import { renderReport } from '../../src/report/render.ts';
import { makeSummary } from '../helpers/summary.ts';
import { seededRandom, syntheticSummary, timelineRow } from '../helpers/report.ts';

/** The JSON of <script id="loads-data">, parsed. */
function embeddedData(html: string): PageData {
  const match = /<script type="application\/json" id="loads-data">(.*?)<\/script>/s.exec(html);
  assert.ok(match, 'the page has its data element');
  return JSON.parse(match[1]!) as PageData;
}

const HOSTILE = '</script><script>alert(1)</script><!-- \u2028';

describe('renderReport', () => {
  it('when strings in the run hold </script> then they stay data: one data element, three scripts, the text intact', () => {
    const summary = makeSummary({
      fqn: 'm.C.t',
      topErrors: [{ count: 1, test: 'C.t', name: 'Error', message: HOSTILE, stack: HOSTILE }],
      urls: [
        {
          key: `GET http://h/${HOSTILE}`,
          method: 'GET',
          url: `http://h/${HOSTILE}`,
          hits: 1,
          avgS: 0.001,
          p95S: 0.001,
          successRate: 1,
        },
      ],
    });
    const html = renderReport({ summary });
    assert.equal(html.match(/<script/g)?.length, 3);
    assert.equal(html.match(/<\/script>/g)?.length, 3);
    assert.doesNotMatch(html, /<script>alert/);
    const data = embeddedData(html);
    assert.equal(data.run.summary.topErrors[0]!.message, HOSTILE);
    assert.equal(data.run.summary.urls[0]!.key, `GET http://h/${HOSTILE}`);
  });

  it('when rendered then uPlot and its MIT licence notice are in the file', () => {
    const html = renderReport({ summary: makeSummary() });
    assert.match(html, /Permission is hereby granted, free of charge/);
    assert.match(html, /Copyright \(c\) 2022 Leon Sorokin/);
    assert.match(html, /var uPlot=function\(\)/);
    assert.match(html, /window\.loadsReport = \{/);
  });

  it('when rendered then nothing is loaded from anywhere: no src or href URL, no link element, a CSP forbidding requests', () => {
    const html = renderReport({ summary: syntheticSummary(30) });
    const attributes = [...html.matchAll(/\b(?:src|href)\s*=\s*["']?([^"'\s>]*)/gi)].map(
      (m) => m[1],
    );
    assert.deepEqual(
      attributes.filter((value) => /^(?:https?:)?\/\//i.test(value ?? '')),
      [],
    );
    assert.doesNotMatch(html, /<link\b/i);
    assert.doesNotMatch(html, /@import|url\(\s*["']?https?:/i);
    assert.match(html, /default-src 'none'/);
    assert.match(html, /connect-src 'none'/);
    const live = renderReport({ summary: syntheticSummary(3), live: { eventsPath: '/events' } });
    assert.match(live, /connect-src 'self'/);
    assert.deepEqual(embeddedData(live).live, { eventsPath: '/events' });
  });

  it('when the run lasted an hour (3600 busy rows) then the file stays under 500 KB', () => {
    const html = renderReport({ summary: syntheticSummary(3600) });
    const bytes = Buffer.byteLength(html);
    assert.ok(bytes < 500_000, `the report is ${bytes} bytes`);
    assert.equal(embeddedData(html).run.timeline.rows, 3600);
  });

  it('when the title holds markup then it is escaped', () => {
    const html = renderReport({ summary: makeSummary({ fqn: 'm.<b>C</b>.t' }) });
    assert.match(html, /<title>loads-runner report: m\.&lt;b&gt;C&lt;\/b&gt;\.t<\/title>/);
  });
});

describe('pageData', () => {
  it('when the timeline has gaps then the columns keep each row at its t, latencies in whole µs, all-zero columns left out', () => {
    const random = seededRandom(3);
    const rows = [timelineRow(0, random), timelineRow(1, random), timelineRow(5, random)];
    const { rows: count, columns } = timelineColumns(rows);
    assert.equal(count, 3);
    assert.deepEqual(columns.t, [0, 1, 5]);
    assert.deepEqual(
      columns.p99S,
      rows.map((r) => Math.round(r.p99S * 1e6)),
    );
    assert.deepEqual(
      columns.hits,
      rows.map((r) => r.hits),
    );
    assert.equal(columns.wsMessages, undefined);
    assert.equal(columns.dropped, undefined);
    assert.ok(columns.users!.every((u) => Math.round(u * 100) === u * 100));
  });

  it('when the run had hits then the distribution is the histogram at each percentile, out to p99.99', () => {
    const histogram = new LatencyHistogram();
    for (let ms = 1; ms <= 1000; ms++) {
      histogram.record(ms);
    }
    const summary = makeSummary({
      histograms: { responseTime: histogram.encode(), serviceTime: histogram.encode() },
    });
    const distribution = distributionOf(summary);
    assert.equal(DISTRIBUTION_PERCENTILES[0], 0);
    assert.equal(DISTRIBUTION_PERCENTILES.at(-1), 99.99);
    assert.equal(DISTRIBUTION_PERCENTILES[20], 90);
    assert.equal(DISTRIBUTION_PERCENTILES[40], 99);
    assert.deepEqual(
      distribution.responseUs,
      DISTRIBUTION_PERCENTILES.map((p) => Math.round(histogram.percentile(p) * 1000)),
    );
    assert.equal(distribution.responseUs[20], Math.round(histogram.percentile(90) * 1000));
    assert.deepEqual(distributionOf(makeSummary()).responseUs, []);
  });

  it('when given a baseline and a comparison then both are embedded, and the bulky parts of the summary are not', () => {
    const summary = syntheticSummary(10);
    const comparison = {
      baselineLabel: 'base.json',
      currentLabel: 'run.json',
      maxRegression: 0.1,
      rows: [],
      regressions: [],
    };
    const data = pageData({ summary, baseline: syntheticSummary(8, { seed: 2 }), comparison });
    assert.equal(data.baseline?.timeline.rows, 8);
    assert.deepEqual(data.comparison, comparison);
    assert.deepEqual(data.run.summary.timeline, []);
    assert.equal(data.run.summary.histograms.responseTime, '');
    assert.equal(data.run.summary.hits, summary.hits);
  });
});
