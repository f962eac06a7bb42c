// The live page in a real browser: served by a small node:http server in
// the test (the dashboard's own server is tested with it), it opens the
// event stream, merges each LiveUpdate's rows into its timeline, redraws in
// place, and on the final update shows the final report and closes the stream.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { distributionOf } from '../../src/report/page-data.ts';
import { renderReport } from '../../src/report/render.ts';
import type { LiveUpdate, Summary } from '../../src/report/types.ts';
import {
  BROWSER_SKIP,
  inPage,
  pageSeries,
  reportReady,
  waitInPage,
  withPage,
} from '../helpers/browser.ts';
import { syntheticSummary } from '../helpers/report.ts';

let server: http.Server;
let url: string;
let page0: Summary;
/** The open event stream, once the page connects. */
let stream: Promise<{ req: http.IncomingMessage; res: http.ServerResponse }>;

before(async () => {
  page0 = syntheticSummary(3, { overrides: { exitStatus: 0 } });
  let connected: (value: { req: http.IncomingMessage; res: http.ServerResponse }) => void;
  stream = new Promise((resolve) => (connected = resolve));
  server = http.createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(renderReport({ summary: page0, live: { eventsPath: '/events' } }));
    } else if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write(': hello\n\n');
      connected({ req, res });
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

after(async () => {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

function send(res: http.ServerResponse, update: LiveUpdate): void {
  res.write(`event: update\ndata: ${JSON.stringify(update)}\n\n`);
}

describe('the live page', { skip: BROWSER_SKIP, timeout: 60_000 }, () => {
  it('when updates arrive then the rows grow and everything is redrawn in place; the final one closes the stream', async () => {
    await withPage(async (page) => {
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(url);
      await reportReady(page);
      const { req, res } = await stream;
      const rows = (): Promise<number> => inPage(page, 'window.loadsReport.rows()');
      const live = (): Promise<string> => page.locator('#live').innerText();
      assert.equal(await rows(), 3);
      assert.equal(await live(), 'live');
      assert.equal(await page.locator('[data-section=verdict] .status').innerText(), 'Running');
      await inPage(
        page,
        "document.querySelector('[data-chart=load] canvas').dataset.mark = 'first'",
      );

      const middle = syntheticSummary(6);
      send(res, { summary: middle, timelineFrom: 0, final: false });
      await waitInPage(page, 'window.loadsReport.updates() === 1');
      assert.equal(await rows(), 6);
      assert.equal(await page.locator('[data-tile=hits] .value').innerText(), String(middle.hits));
      assert.equal((await pageSeries(page, 'load'))[1]!.values.length, 6);
      assert.equal(await inPage(page, 'window.loadsReport.streamOpen()'), true);

      // The last update holds only the rows from t = 4 on: the page keeps 0–3 of its own.
      const final = syntheticSummary(10);
      // The browser closing the stream aborts the request: an 'error' on it, expected here.
      req.on('error', () => {});
      const closed = new Promise((resolve) => res.on('close', resolve));
      send(res, {
        summary: { ...final, timeline: final.timeline.filter((r) => r.t >= 4) },
        timelineFrom: 4,
        final: true,
      });
      await waitInPage(page, 'window.loadsReport.finished()');
      assert.equal(await rows(), 10);
      assert.equal(await inPage(page, 'window.loadsReport.streamOpen()'), false);
      await closed; // the browser closed its connection
      assert.equal(await live(), 'finished');
      assert.equal(await page.locator('[data-section=verdict] .status').innerText(), 'Failed');
      assert.equal(await page.locator('[data-tile=hits] .value').innerText(), String(final.hits));
      const load = await pageSeries(page, 'load');
      assert.deepEqual(
        load[1]!.values,
        final.timeline.map((r) => r.hits / r.durationS),
      );
      assert.equal(
        await inPage(page, "document.querySelector('[data-chart=load] canvas').dataset.mark"),
        'first',
        'the chart was updated in place, not made again',
      );
      // The distribution comes from the final summary's histograms, decoded in the page.
      const expected = distributionOf(final).responseUs.map((us) => us / 1e6);
      await waitInPage(
        page,
        `JSON.stringify(window.loadsReport.series('distribution')[0].values) === ${JSON.stringify(JSON.stringify(expected))}`,
      );
      assert.deepEqual(errors, []);
    });
  });
});
