// The live dashboard in a real browser (chromium): the page opened during a
// run follows it (its timeline rows grow), gets the final report, and the
// CLI exits with the page still open: the run never waits for a tab.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { startCli } from '../helpers/cli.ts';
import { waitForDashboardUrl } from '../helpers/dashboard.ts';
import { BROWSER_SKIP, waitInPage, withPage } from '../helpers/browser.ts';
import { REPO_ROOT } from '../helpers/tmp-project.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';
import type { Summary } from '../../src/metrics/summary.ts';

const EXAMPLES = path.join(REPO_ROOT, 'examples');
const DURATION_S = 4;
/** After the load's planned end, the CLI prints its summary and exits within this. */
const EXIT_WITHIN_MS = 2500;

/** What the report page exposes for tests. */
interface LoadsReport {
  rows(): number;
  finished(): boolean;
}
/** The page's global object, as the functions run in it see it (no DOM types here). */
type PageGlobal = { loadsReport: LoadsReport };

let example: ExampleServer;
let dir: string;

before(async () => {
  example = await startExampleServer();
  dir = await mkdtemp(path.join(tmpdir(), 'loads-dashboard-'));
});

after(async () => {
  await example.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the dashboard in a browser', { skip: BROWSER_SKIP }, () => {
  it('when a page is open during a run then its rows grow, it gets the final report, and the CLI exits with the page still open', async () => {
    const jsonFile = path.join(dir, 'run.json');
    // The browser is up before the run starts, so the page sees it live.
    await withPage(async (page) => {
      const { child, result } = startCli(
        [
          'example.TestWebSite.test_es',
          '-u',
          '2',
          '-d',
          String(DURATION_S),
          '--workers',
          '1',
          '--server-url',
          example.url,
          '--dashboard',
          '-o',
          'json',
          '--output-json-filename',
          jsonFile,
        ],
        { cwd: EXAMPLES },
      );
      let exitedAt = 0;
      void result.then(() => (exitedAt = Date.now()));
      const url = await waitForDashboardUrl(child);
      // The URL is printed as the load starts.
      const loadEndsAt = Date.now() + DURATION_S * 1000;

      const requests: string[] = [];
      page.on('request', (req) => requests.push(req.url()));
      await page.goto(url.href);
      await waitInPage(page, 'window.loadsReport.rows() > 0');
      const first = await page.evaluate(() =>
        (globalThis as unknown as PageGlobal).loadsReport.rows(),
      );
      // More rows while the run is still live (not only with the final report).
      await waitInPage(
        page,
        `window.loadsReport.rows() > ${first} && !window.loadsReport.finished()`,
        5000,
      );

      const { code, stdout } = await result;
      assert.equal(code, 0);
      assert.equal(page.isClosed(), false, 'the page is still open as the CLI exits');
      assert.ok(
        exitedAt - loadEndsAt < EXIT_WITHIN_MS,
        `the CLI exited ${exitedAt - loadEndsAt} ms after the load's end`,
      );
      const hits = Number(/^Hits: (\d+)$/m.exec(stdout)![1]);
      assert.ok(hits > 0);
      // The final update came before the server closed.
      assert.equal(
        await page.evaluate(() => (globalThis as unknown as PageGlobal).loadsReport.finished()),
        true,
      );
      const json = JSON.parse(await readFile(jsonFile, 'utf8')) as Summary;
      assert.equal(json.hits, hits);
      assert.equal(
        await page.evaluate(() => (globalThis as unknown as PageGlobal).loadsReport.rows()),
        json.timeline.length,
      );
      assert.deepEqual(
        [...new Set(requests)],
        [url.href, new URL('/events', url).href],
        'the page asked for nothing but itself and its events',
      );
    });
  });
});
