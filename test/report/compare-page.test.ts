// Report pages made from hand-built summaries, in a real browser: the
// baseline overlaid on the charts and the comparison table with its
// regression highlighted, the per-URL table sorted by a click, seconds
// without events drawn as zero or absent, and the stacks opened for print.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import type { Comparison } from '../../src/report/types.ts';
import { renderReport } from '../../src/report/render.ts';
import {
  BROWSER_SKIP,
  inPage,
  pageSeries,
  reportReady,
  seriesPixels,
  withPage,
} from '../helpers/browser.ts';
import { syntheticSummary } from '../helpers/report.ts';

let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loads-report-compare-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function show(page: Page, name: string, html: string): Promise<void> {
  const file = path.join(dir, `${name}.html`);
  await writeFile(file, html);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(pathToFileURL(file).href);
  await reportReady(page);
  assert.deepEqual(errors, []);
}

const COMPARISON: Comparison = {
  baselineLabel: 'last-week.json (2026-01-05 09:30:00)',
  currentLabel: 'today.json (2026-01-12 09:30:00)',
  maxRegression: 0.1,
  rows: [
    {
      scope: 'run',
      metric: 'rps',
      baseline: 950,
      current: 940,
      change: -0.0105,
      worse: true,
      regression: false,
    },
    {
      scope: 'run',
      metric: 'p95',
      baseline: 0.00181,
      current: 0.00272,
      change: 0.5,
      worse: true,
      regression: true,
    },
    {
      scope: 'run',
      metric: 'errorShare',
      baseline: 0.001,
      current: 0.0008,
      change: -0.2,
      worse: false,
      regression: false,
    },
    {
      scope: 'step 2',
      metric: 'p99',
      baseline: 0.016,
      current: null,
      change: null,
      worse: false,
      regression: false,
    },
  ],
  regressions: [],
};
COMPARISON.regressions = COMPARISON.rows.filter((r) => r.regression);

describe('report pages of hand-built runs', { skip: BROWSER_SKIP, timeout: 60_000 }, () => {
  it('when given a baseline and a comparison then the charts overlay it and the regression row is highlighted', async () => {
    const summary = syntheticSummary(60, { slower: 1.5 });
    const baseline = syntheticSummary(50, { seed: 7 });
    await withPage(async (page) => {
      await show(page, 'compare', renderReport({ summary, baseline, comparison: COMPARISON }));
      const rows = await page.$$eval('table[data-table=comparison] tbody tr', (trs) =>
        trs.map((tr) => ({ cls: tr.className, cells: [...tr.cells].map((td) => td.textContent) })),
      );
      assert.deepEqual(rows, [
        { cls: 'worse', cells: ['run', 'RPS', '950/s', '940/s', '-1.1%'] },
        { cls: 'regression', cells: ['run', 'p95', '0.00181s', '0.00272s', '+50.0% regression'] },
        { cls: 'better', cells: ['run', 'error share', '0.10%', '0.08%', '-20.0%'] },
        { cls: '', cells: ['step 2', 'p99', '0.0160s', '—', '—'] },
      ]);
      const heads = await page.$$eval('table[data-table=comparison] th', (ths) =>
        ths.map((th) => th.textContent),
      );
      assert.deepEqual(heads.slice(2, 4), ['Baseline', 'Current']);
      const notes = await page.locator('#comparison .note').allInnerTexts();
      assert.match(notes[0]!, /1 regression \(--max-regression 10%\): run p95/);
      assert.equal(
        notes[1],
        `Baseline: ${COMPARISON.baselineLabel}\nCurrent: ${COMPARISON.currentLabel}`,
      );
      assert.equal(
        await inPage(page, "getComputedStyle(document.querySelector('tr.regression td')).color"),
        'rgb(207, 34, 46)',
      );
      // The baseline: dashed series on every time chart and on the distribution, aligned by t.
      const latency = await pageSeries(page, 'latency');
      assert.deepEqual(
        latency.map((s) => [s.label, s.points]),
        [
          ['p50', 60],
          ['p95', 60],
          ['p99', 60],
          ['p50 (baseline)', 50],
          ['p95 (baseline)', 50],
          ['p99 (baseline)', 50],
        ],
      );
      assert.deepEqual(
        latency[4]!.values.slice(0, 3),
        baseline.timeline.slice(0, 3).map((r) => r.p95S),
      );
      assert.deepEqual(
        (await pageSeries(page, 'distribution')).map((s) => [s.label, s.points]),
        [
          ['Response time', 81],
          ['Response time (baseline)', 81],
        ],
      );
      for (const [chart, count] of Object.entries(await seriesPixels(page))) {
        assert.ok(count > 30, `chart ${chart} drew ${count} pixels`);
      }
      assert.match(
        await page.locator('[data-tile=p95] .baseline').innerText(),
        /^baseline 0\.00181s \+50\.0%$/,
      );
    });
  });

  it('when a column heading of the URL table is clicked then the rows sort by it, again the other way', async () => {
    await withPage(async (page) => {
      await show(page, 'urls', renderReport({ summary: syntheticSummary(5) }));
      const urls = (): Promise<string[]> =>
        page.$$eval('table[data-table=urls] tbody td.url', (tds) =>
          tds.map((td) => td.textContent ?? ''),
        );
      const sortOf = (key: string): Promise<string | null> =>
        page.getAttribute(`table[data-table=urls] th[data-key=${key}]`, 'aria-sort');
      const ITEMS = 'GET http://127.0.0.1:9200/api/items';
      const ROOT = 'GET http://127.0.0.1:9200/';
      assert.deepEqual(await urls(), [ITEMS, ROOT], 'slowest average first, as the text summary');
      assert.equal(await sortOf('avgS'), 'descending');
      await page.click('table[data-table=urls] th[data-key=hits] button');
      assert.deepEqual(await urls(), [ROOT, ITEMS]);
      assert.equal(await sortOf('hits'), 'descending');
      assert.equal(await sortOf('avgS'), 'none');
      await page.click('table[data-table=urls] th[data-key=hits] button');
      assert.deepEqual(await urls(), [ITEMS, ROOT]);
      assert.equal(await sortOf('hits'), 'ascending');
      await page.click('table[data-table=urls] th[data-key=key] button');
      assert.deepEqual(await urls(), [ROOT, ITEMS]);
      assert.equal(await sortOf('key'), 'ascending');
    });
  });

  it('when seconds of the run saw no event then counts draw as zero there and latencies as absent', async () => {
    const summary = syntheticSummary(10);
    summary.timeline = summary.timeline.filter((row) => row.t < 3 || row.t > 6); // 3..6 silent
    await withPage(async (page) => {
      await show(page, 'gaps', renderReport({ summary }));
      const [users, rps] = await pageSeries(page, 'load');
      const [p50] = await pageSeries(page, 'latency');
      assert.equal(rps!.values.length, 10);
      assert.deepEqual(rps!.values.slice(3, 7), [0, 0, 0, 0]);
      assert.deepEqual(users!.values.slice(3, 7), [0, 0, 0, 0]);
      assert.deepEqual(p50!.values.slice(3, 7), [null, null, null, null]);
      assert.equal(p50!.values[7], summary.timeline[3]!.p50S);
    });
  });

  it('when printed then every error shows its stack', async () => {
    await withPage(async (page) => {
      await show(page, 'stacks', renderReport({ summary: syntheticSummary(5) }));
      const details = page.locator('[data-list=errors] details');
      assert.equal(await details.count(), 1);
      assert.equal(await details.getAttribute('open'), null);
      await inPage(page, "window.dispatchEvent(new Event('beforeprint'))");
      assert.equal(await details.getAttribute('open'), '');
      assert.match(
        await details.locator('pre').innerText(),
        /at TestWebSite\.test_es \(example\.ts:12:11\)/,
      );
      await inPage(page, "window.dispatchEvent(new Event('afterprint'))");
      assert.equal(await details.getAttribute('open'), null);
    });
  });
});
