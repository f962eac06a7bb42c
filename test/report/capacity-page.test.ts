// The html report of a --find-capacity run (SPEC §12) in a real browser:
// the knee chart puts the probes on a rate axis, each point coloured by its
// verdict, with a line at the capacity; `loads-runner report` rebuilding
// the page from the json shows the same. The figures are read from the
// run's json, so the test holds whatever the probes found on a busy machine.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Summary } from '../../src/metrics/summary.ts';
import { spawnQueueServer, type QueueServerProcess } from '../helpers/queue-server.ts';
import {
  BROWSER_SKIP,
  inPage,
  pageSeries,
  reportReady,
  seriesPixels,
  withPage,
} from '../helpers/browser.ts';
import { runCli } from '../helpers/cli.ts';
import { REPO_ROOT } from '../helpers/tmp-project.ts';

let dir: string;
let queue: QueueServerProcess;
let summary: Summary;
let runPage: string;
let rebuiltPage: string;

before(async () => {
  if (BROWSER_SKIP !== false) {
    return;
  }
  dir = await mkdtemp(path.join(tmpdir(), 'loads-capacity-page-'));
  // 20 ms a request (50/s): 40/s holds, 80/s breaks, then one bisection within 99 %.
  queue = await spawnQueueServer(20);
  const json = path.join(dir, 'run.json');
  runPage = path.join(dir, 'run.html');
  const result = await runCli(
    [
      'capacity.TestQueue.test_get',
      '--find-capacity',
      '--threshold',
      'p95<200ms',
      '--rate',
      '40',
      '--capacity-precision',
      '99%',
      '--duration',
      '2',
      '--capacity-rest',
      '0.2',
      '--workers',
      '1',
      '--server-url',
      queue.url,
      '-o',
      'html',
      '--output-html-filename',
      runPage,
      '-o',
      'json',
      '--output-json-filename',
      json,
    ],
    { cwd: path.join(REPO_ROOT, 'examples') },
  );
  assert.ok(result.code === 0 || result.code === 1, result.stderr);
  summary = JSON.parse(await readFile(json, 'utf8')) as Summary;
  rebuiltPage = path.join(dir, 'rebuilt.html');
  const rebuilt = await runCli(['report', json, '-o', rebuiltPage]);
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
});

after(async () => {
  if (BROWSER_SKIP !== false) {
    return;
  }
  await queue.close();
  await rm(dir, { recursive: true, force: true });
});

describe(
  'the html report of a --find-capacity run',
  { skip: BROWSER_SKIP, timeout: 60_000 },
  () => {
    it('when opened, as written and as rebuilt by loads-runner report, then the knee chart marks every probe by its verdict and the capacity with a line', async () => {
      const capacity = summary.capacity!;
      assert.ok(capacity.probes.length >= 2, JSON.stringify(capacity.probes));
      const count = (verdict: (p: (typeof capacity.probes)[number]) => boolean): number =>
        capacity.probes.filter(verdict).length;
      for (const file of [runPage, rebuiltPage]) {
        await withPage(async (page) => {
          const errors: string[] = [];
          page.on('pageerror', (err) => errors.push(err.message));
          await page.goto(pathToFileURL(file).href);
          await reportReady(page);
          assert.deepEqual(errors, []);
          const series = await pageSeries(page, 'knee');
          const points = (label: string): number | undefined =>
            series.find((s) => s.label === label)?.points;
          assert.equal(
            points('Held'),
            count((p) => p.held && !p.saturated),
          );
          assert.equal(
            points('Broke'),
            count((p) => !p.held && !p.saturated),
          );
          assert.equal(
            points('Not judged'),
            count((p) => p.saturated),
          );
          // The x axis is the probes' rates, in order.
          const xs = await inPage<number[]>(
            page,
            `[...document.querySelectorAll('table[data-table="capacity"] tbody tr')].map((tr) => parseFloat(tr.children[1].textContent))`,
          );
          assert.deepEqual(
            xs,
            capacity.probes.map((p) => p.rate),
          );
          const mark = await inPage<{ rate: number; label: string; left: number } | null>(
            page,
            'window.loadsReport.capacityMark()',
          );
          if (capacity.heldRate === null) {
            assert.equal(mark, null);
          } else {
            assert.equal(mark?.rate, capacity.heldRate);
            assert.equal(mark?.label, `capacity ${capacity.heldRate}/s`);
          }
          assert.ok((await seriesPixels(page))['knee']! > 30, 'the knee chart drew its series');
          const verdict = await page.locator('[data-section="verdict"] .status').innerText();
          assert.equal(
            verdict.trim(),
            summary.exitStatus === 0 ? 'Capacity found' : 'No capacity found',
          );
        });
      }
    });
  },
);
