// The report of a distributed run (SPEC §10): the page shows the Agents
// table (lost and failed agents highlighted, with the notes of the text
// summary), the run card says how many agents, and the verdict names the
// lost ones; a document written before distributed runs still reads.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AgentSummary, DistributedSummary, Summary } from '../../src/metrics/summary.ts';
import { pageData } from '../../src/report/page-data.ts';
import { renderReport } from '../../src/report/render.ts';
import { parseSummaryDocument } from '../../src/report/summary-document.ts';
import { BROWSER_SKIP, reportReady, withPage } from '../helpers/browser.ts';
import { makeSummary } from '../helpers/summary.ts';

const RUN_ID = '20261203-081500-3fa2c1';

function agent(name: string, overrides: Partial<AgentSummary> = {}): AgentSummary {
  return {
    name,
    host: `host-${name}`,
    runs: 24,
    hits: 48,
    errors: 0,
    hitErrors: 0,
    threads: 2,
    saturated: false,
    lost: false,
    runsNotDone: null,
    failure: null,
    ...overrides,
  };
}

const DISTRIBUTED: DistributedSummary = {
  runId: RUN_ID,
  agents: [
    agent('a'),
    agent('b', { lost: true, runs: 10, hits: 20, runsNotDone: 14 }),
    agent('c', { failure: 'worker 1 crashed', runs: 0, hits: 0, threads: 0 }),
  ],
  stoppedBy: null,
};

function distributedSummary(): Summary {
  return makeSummary({ distributed: DISTRIBUTED, exitStatus: 1, successes: 34, hits: 68 });
}

describe('report data of a distributed run', () => {
  it('when the summary is distributed then the page data carries the agents as they are', () => {
    assert.deepEqual(
      pageData({ summary: distributedSummary() }).run.summary.distributed,
      DISTRIBUTED,
    );
  });

  it('when a saved document has no distributed field (written before) then it reads as null', () => {
    const document = JSON.parse(JSON.stringify(makeSummary())) as Record<string, unknown>;
    delete document['distributed'];
    assert.equal(
      parseSummaryDocument(JSON.stringify(document), 'OLD.json', '0.1.0').distributed,
      null,
    );
  });

  it('when a saved document has a damaged distributed field then it is refused in one line', () => {
    const document = JSON.parse(JSON.stringify(makeSummary())) as Record<string, unknown>;
    document['distributed'] = { runId: 3 };
    assert.throws(
      () => parseSummaryDocument(JSON.stringify(document), 'BAD.json', '0.1.0'),
      /^LoadsError: BAD\.json is a loads-runner summary of schema \d+ but its distributed is not what it should be/,
    );
  });
});

describe('report page of a distributed run', { skip: BROWSER_SKIP, timeout: 60_000 }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loads-report-agents-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function open(name: string, summary: Summary): Promise<string> {
    const file = path.join(dir, `${name}.html`);
    await writeFile(file, renderReport({ summary }));
    return pathToFileURL(file).href;
  }

  it('when an agent was lost and one failed then the Agents table shows every agent, highlights both and the notes name them', async () => {
    const url = await open('distributed', distributedSummary());
    await withPage(async (page) => {
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(url);
      await reportReady(page);
      assert.deepEqual(errors, []);
      const rows = await page.$$eval('table[data-table=agents] tbody tr', (trs) =>
        trs.map((tr) => ({ cls: tr.className, cells: [...tr.cells].map((td) => td.textContent) })),
      );
      assert.deepEqual(rows, [
        { cls: '', cells: ['a', 'host-a', '24', '48', '0', '2', 'no', 'no'] },
        { cls: 'bad', cells: ['b', 'host-b', '10', '20', '0', '2', 'no', 'yes'] },
        { cls: 'bad', cells: ['c', 'host-c', '0', '0', '0', '0', 'no', 'no'] },
      ]);
      const headings = await page.locator('h2').allInnerTexts();
      assert.ok(headings.includes(`Agents (run ${RUN_ID})`), headings.join(' | '));
      assert.equal(
        await page.locator('[data-note=lost]').innerText(),
        'Lost: b (14 planned runs not done); their results count up to their last delta.',
      );
      assert.equal(
        await page.locator('[data-note=failed]').innerText(),
        'Failed: c: worker 1 crashed',
      );
      assert.match(
        await page.locator('[data-field=agents]').innerText(),
        /^3 \(run 20261203-081500-3fa2c1\)/,
      );
      const verdict = await page.locator('[data-section=verdict]').innerText();
      assert.match(verdict, /agents lost: b/);
      assert.match(verdict, /agents failed: c/);
    });
  });

  it('when the run is not distributed then the page has no Agents table nor Agents row', async () => {
    const url = await open('local', makeSummary());
    await withPage(async (page) => {
      await page.goto(url);
      await reportReady(page);
      assert.equal(await page.locator('table[data-table=agents]').count(), 0);
      assert.equal(await page.locator('[data-field=agents]').count(), 0);
    });
  });
});
