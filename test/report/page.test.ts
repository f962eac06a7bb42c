// The report of real runs in a real browser (SPEC §9): `-o html -o json`
// against the example server, the file opened from disk with the network
// off. Every chart draws its lines, the figures on the page are the json
// output's, and the page follows the colour scheme and prints.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { formatSeconds } from '../../src/metrics/format-seconds.ts';
import type { Summary } from '../../src/metrics/summary.ts';
import { formatLocalTime } from '../../src/outputs/stdout/summary-text.ts';
import { distributionOf } from '../../src/report/page-data.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';
import {
  BROWSER_SKIP,
  inPage,
  pageSeries,
  reportReady,
  seriesPixels,
  waitInPage,
  withPage,
} from '../helpers/browser.ts';
import { runCli } from '../helpers/cli.ts';
import { createTmpProject, REPO_ROOT, type TmpProject } from '../helpers/tmp-project.ts';

interface RunFiles {
  html: string;
  url: string;
  summary: Summary;
}

let dir: string;
let project: TmpProject;
let example: ExampleServer;
/** Closed model, two steps, a duration each. */
let stepped: RunFiles;
/** Open model, HTTP and WebSockets, too few users: service time, dropped runs and the WebSocket chart. */
let open: RunFiles;

async function run(name: string, args: string[], cwd: string): Promise<RunFiles> {
  const html = path.join(dir, `${name}.html`);
  const json = path.join(dir, `${name}.json`);
  const result = await runCli(
    [
      ...args,
      '--server-url',
      example.url,
      '-o',
      'html',
      '--output-html-filename',
      html,
      '-o',
      'json',
      '--output-json-filename',
      json,
    ],
    { cwd },
  );
  assert.equal(result.code, 0, result.stderr);
  return {
    html,
    url: pathToFileURL(html).href,
    summary: JSON.parse(await readFile(json, 'utf8')) as Summary,
  };
}

before(async () => {
  if (BROWSER_SKIP !== false) {
    return;
  }
  dir = await mkdtemp(path.join(tmpdir(), 'loads-report-page-'));
  example = await startExampleServer();
  project = await createTmpProject();
  await project.write(
    'mixed.ts',
    `import { TestCase } from 'loads-runner';

export class TestMixed extends TestCase {
  async test_mixed(): Promise<void> {
    await this.app.get('/slow', { params: { ms: 60 } });
    const ws = await this.createWs(\`\${this.app.serverUrl!.replace(/^http/, 'ws')}/ws\`);
    await ws.send('ping');
    this.assertEqual(await ws.receive(5), 'ping');
    await ws.close();
  }
}
`,
  );
  [stepped, open] = await Promise.all([
    run(
      'stepped',
      ['example.TestWebSite.test_es', '-u', '1:2', '-d', '1'],
      path.join(REPO_ROOT, 'examples'),
    ),
    run(
      'open',
      ['mixed.TestMixed.test_mixed', '--rate', '40', '-d', '1', '--max-users', '2'],
      project.dir,
    ),
  ]);
});

after(async () => {
  if (BROWSER_SKIP !== false) {
    return;
  }
  await example.close();
  await project.remove();
  await rm(dir, { recursive: true, force: true });
});

async function open_(page: Page, url: string): Promise<void> {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(url);
  await reportReady(page);
  assert.deepEqual(errors, [], 'the page ran without errors');
}

const text = (page: Page, selector: string): Promise<string> =>
  page
    .locator(selector)
    .innerText()
    .then((t) => t.trim());

describe('the html report of a run', { skip: BROWSER_SKIP, timeout: 60_000 }, () => {
  it('when opened from disk with the network off then it requests nothing but its file and every chart draws its lines', async () => {
    for (const files of [stepped, open]) {
      const requests: string[] = [];
      await withPage(
        async (page) => {
          await open_(page, files.url);
          const pixels = await seriesPixels(page);
          const expected =
            files === stepped
              ? ['load', 'errors', 'latency', 'distribution', 'knee']
              : ['load', 'errors', 'latency', 'ws', 'distribution'];
          assert.deepEqual(Object.keys(pixels), expected);
          for (const [chart, count] of Object.entries(pixels)) {
            assert.ok(count > 30, `chart ${chart} drew ${count} pixels of its series' colours`);
          }
          // Each chart stays inside its own card (none drawn a full row wide over its neighbour).
          const widths = await inPage<[string, number, number][]>(
            page,
            `[...document.querySelectorAll('figure.chart')].map((f) => [f.dataset.chart, f.clientWidth, f.querySelector('canvas').getBoundingClientRect().width])`,
          );
          for (const [chart, card, canvas] of widths) {
            assert.ok(
              canvas <= card,
              `chart ${chart}: canvas ${canvas} px in a card of ${card} px`,
            );
          }
        },
        { offline: true, requests },
      );
      assert.deepEqual(requests, [files.url]);
    }
  });

  it('when drawn then the tiles, the run card, the verdict and the step table say what the json output says', async () => {
    await withPage(async (page) => {
      await open_(page, stepped.url);
      const s = stepped.summary;
      assert.equal(await text(page, '[data-tile=hits] .value'), String(s.hits));
      assert.equal(await text(page, '[data-tile=rps] .value'), String(Math.round(s.rps)));
      assert.equal(await text(page, '[data-tile=p95] .value'), formatSeconds(s.latency.p95));
      assert.equal(await text(page, '[data-tile=p99] .value'), formatSeconds(s.latency.p99));
      assert.equal(await text(page, '[data-tile=errors] .value'), String(s.errors));
      assert.equal(await text(page, '[data-tile=dropped] .value'), '0');
      assert.equal(await text(page, '[data-field=test]'), 'example.TestWebSite.test_es');
      assert.equal(await text(page, '[data-field=target]'), example.url);
      assert.equal(await text(page, '[data-field=started]'), formatLocalTime(s.startedAt));
      assert.equal(await text(page, '[data-field=duration]'), formatSeconds(s.durationS));
      assert.equal(await text(page, '[data-field=workers]'), `${s.run.workers} worker threads`);
      assert.equal(await text(page, '[data-field=loads-runner]'), s.version);
      assert.equal(await page.getAttribute('[data-section=verdict]', 'data-exit-status'), '0');
      assert.equal(await text(page, '[data-section=verdict] .status'), 'Passed');
      const steps = await page.$$eval('table[data-table=steps] tbody tr', (rows) =>
        rows.map((row) => [...row.querySelectorAll('td')].map((td) => td.textContent)),
      );
      assert.deepEqual(
        steps,
        s.steps.map((step) => [
          String(step.step),
          String(step.users),
          String(step.runs),
          String(Math.round(step.rps)),
          formatSeconds(step.p50S),
          formatSeconds(step.p95S),
          formatSeconds(step.p99S),
          `${step.errors + step.failures} (0.0%)`,
        ]),
      );
      const urls = await page.$$eval('table[data-table=urls] tbody td', (cells) =>
        cells.map((td) => td.textContent),
      );
      const url = s.urls[0]!;
      assert.deepEqual(urls, [
        String(url.hits),
        formatSeconds(url.avgS),
        formatSeconds(url.p95S),
        '100.0%',
        url.key,
      ]);
      // The timeline: one row per second of the run, as the json's.
      assert.equal(await inPage<number>(page, 'window.loadsReport.rows()'), s.timeline.length);
    });
  });

  it('when the run is in the open model then the service time and the dropped runs are drawn beside the response time', async () => {
    await withPage(async (page) => {
      await open_(page, open.url);
      const series = (name: string) => pageSeries(page, name);
      assert.deepEqual(
        (await series('latency')).map((s) => s.label),
        ['p50', 'p95', 'p99', 'service p50', 'service p99'],
      );
      assert.deepEqual(
        (await series('errors')).map((s) => s.label),
        ['Hit errors/s', 'Failed runs/s', 'Dropped/s'],
      );
      assert.deepEqual(
        (await series('distribution')).map((s) => s.label),
        ['Response time', 'Service time'],
      );
      assert.equal((await series('load'))[0]!.label, 'Runs started/s');
      assert.ok((await series('ws')).every((s) => s.points > 0));
      const s = open.summary;
      assert.ok(s.dropped > 0, 'two users cannot start 40 runs a second of 60 ms each');
      assert.equal(await text(page, '[data-tile=dropped] .value'), String(s.dropped));
      assert.match(
        await text(page, '[data-section=verdict]'),
        new RegExp(`${s.dropped} of \\d+ scheduled test runs dropped`),
      );
      assert.deepEqual(
        await page.$$eval('table[data-table=latency] tbody tr', (rows) =>
          rows.map((row) => [...row.querySelectorAll('td')].slice(1).map((td) => td.textContent)),
        ),
        [s.latency, s.serviceTime].map((l) =>
          [l.p50, l.p90, l.p95, l.p99, l.max].map((v) => formatSeconds(v)),
        ),
      );
    });
  });

  it("when its percentiles are decoded in the page then they equal the renderer's, and its formatSeconds is the summary's", async () => {
    await withPage(async (page) => {
      await open_(page, stepped.url);
      const report = 'window.loadsReport';
      const decoded = (await page.evaluate(
        `${report}.decodeDistribution(${JSON.stringify(stepped.summary.histograms)})`,
      )) as { responseUs: number[]; serviceUs: number[] };
      const expected = distributionOf(stepped.summary);
      assert.equal(decoded.responseUs.length, 81);
      assert.deepEqual(decoded.responseUs, expected.responseUs);
      assert.deepEqual(decoded.serviceUs, expected.serviceUs);
      const values = [
        0, 1e-7, 0.000512, 0.00099996, 0.0412, 0.09996, 1, 1.25, 9.996, 12.3, 99.95, 125, 3725.4,
        -0.5,
      ];
      assert.deepEqual(
        await page.evaluate(`${JSON.stringify(values)}.map((v) => ${report}.formatSeconds(v))`),
        values.map((v) => formatSeconds(v)),
      );
    });
  });

  it('when the colour scheme is dark then the page is dark and the charts are drawn again in its colours', async () => {
    await withPage(async (page) => {
      await open_(page, stepped.url);
      const background = (): Promise<string> =>
        inPage(page, 'getComputedStyle(document.body).backgroundColor');
      const p95Stroke = async (): Promise<string> => (await pageSeries(page, 'latency'))[1]!.stroke;
      assert.equal(await background(), 'rgb(255, 255, 255)');
      assert.equal(await p95Stroke(), '#0969da');
      await page.emulateMedia({ colorScheme: 'dark' });
      assert.equal(await background(), 'rgb(13, 17, 23)');
      await waitInPage(page, "window.loadsReport.series('latency')[1].stroke === '#4493f8'");
      for (const [chart, count] of Object.entries(await seriesPixels(page))) {
        assert.ok(count > 30, `chart ${chart} drew ${count} pixels in the dark`);
      }
    });
  });

  it('when printed then the page is light, the charts fit the paper and a PDF comes out', async () => {
    await withPage(
      async (page) => {
        await open_(page, stepped.url);
        await page.emulateMedia({ media: 'print' });
        assert.equal(
          await inPage(page, 'getComputedStyle(document.body).backgroundColor'),
          'rgb(255, 255, 255)',
        );
        await inPage(page, "window.dispatchEvent(new Event('beforeprint'))");
        const widths = await page.$$eval('.uplot canvas', (canvases) =>
          canvases.map((c) => c.getBoundingClientRect().width),
        );
        assert.equal(widths.length, 5);
        assert.ok(
          widths.every((w) => w > 300 && w <= 690),
          `chart widths ${widths.join(', ')}`,
        );
        const pdf = await page.pdf({ format: 'A4', printBackground: true });
        assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
        assert.ok(pdf.length > 50_000, `the PDF has ${pdf.length} bytes`);
      },
      { colorScheme: 'dark' },
    );
  });
});
