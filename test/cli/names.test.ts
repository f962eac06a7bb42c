// End to end: the request option `name` (SPEC §3.1). A test that requests
// /item/1 … /item/500 with { name: '/item/:id' } gets one per-URL row of 500
// hits in the summary, the json and the file outputs, and `url:/item/:id`
// thresholds are judged on that row. Two users on two worker threads, so the
// named row is also merged across threads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import type { HitEvent } from '../../src/metrics/events.ts';
import type { Summary } from '../../src/metrics/summary.ts';
import { runCli } from '../helpers/cli.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { summaryNumber } from '../helpers/summary.ts';

const ITEMS_PER_USER = 250;
/** Every /item/ answer waits this long, so a p95 under 1 ms fails for certain. */
const DELAY_MS = 2;

const MODULE = `
import { TestCase } from 'loads-runner';

export class TestItems extends TestCase {
  async test_items() {
    const first = (this.loadsStatus.currentUser - 1) * ${ITEMS_PER_USER};
    for (let i = 1; i <= ${ITEMS_PER_USER}; i++) {
      const res = await this.session.get(\`\${this.app.serverUrl}/item/\${first + i}\`, {
        name: '/item/:id',
      });
      this.assertEqual(res.status, 200);
    }
  }
}
`;

let server: TestServer;
let project: TmpProject;
const paths = new Set<string>();

before(async () => {
  server = await startHttpServer((req, res) => {
    paths.add(req.url ?? '');
    setTimeout(() => res.end('item'), DELAY_MS);
  });
  project = await createTmpProject();
  await project.write('items.ts', MODULE);
});

after(async () => {
  await server.close();
  await project.remove();
});

function run(args: readonly string[]): ReturnType<typeof runCli> {
  return runCli(
    ['items.TestItems.test_items', '-u', '2', '--hits', '1', '--workers', '2', ...args],
    { cwd: project.dir, env: { CI: '1' } },
  );
}

/** The summary line of a threshold: `  ✓ PASS  p95<2s  (measured 0.151s)`. */
function thresholdLine(stdout: string, expression: string): RegExpExecArray {
  const match = new RegExp(
    `^ {2}(✓ PASS|✗ FAIL) {2}${expression.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} {2}\\(measured (.+)\\)$`,
    'm',
  ).exec(stdout);
  assert.ok(match, `no threshold line for ${expression} in:\n${stdout}`);
  return match;
}

test('500 ids under one name: one /item/:id row of 500 hits, a passing url: threshold, json and file outputs', async () => {
  paths.clear();
  const json = path.join(project.dir, 'named.json');
  const events = path.join(project.dir, 'named.jsonl');
  const result = await run([
    '--server-url',
    server.url,
    '--threshold',
    'url:/item/:id p95<10s',
    '-o',
    'json',
    '--output-json-filename',
    json,
    '-o',
    'file',
    '--output-file-filename',
    events,
  ]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(paths.size, 2 * ITEMS_PER_USER, 'the server saw 500 distinct paths');
  assert.equal(summaryNumber(result.stdout, 'Hits'), 500);
  assert.equal(summaryNumber(result.stdout, 'Success'), 2);
  assert.match(result.stdout, /^Slowest URL: GET \/item\/:id \(average [0-9.]+s\)$/m);
  // One row, so the plain heading, and no row per id.
  assert.match(
    result.stdout,
    /^URLs\n {2}Hits .* URL\n {3}500 {2}.* {2}100\.0% {2,}GET \/item\/:id\n\n/m,
  );
  assert.doesNotMatch(result.stdout, /GET http:\/\/127\.0\.0\.1:\d+\/item\//);
  assert.doesNotMatch(result.stdout, /Per-URL stats keep/);
  assert.equal(thresholdLine(result.stdout, 'url:/item/:id p95<10s')[1], '✓ PASS');

  const summary = JSON.parse(await readFile(json, 'utf8')) as Summary;
  assert.deepEqual(
    summary.urls.map((u) => [u.key, u.method, u.url, u.hits, u.successRate]),
    [['GET /item/:id', 'GET', '/item/:id', 500, 1]],
  );
  assert.equal(summary.otherUrlHits, 0);
  assert.deepEqual(
    summary.thresholds.map((t) => [t.expression, t.passed]),
    [['url:/item/:id p95<10s', true]],
  );

  const hits = (await readFile(events, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string })
    .filter((e): e is HitEvent => e.type === 'hit');
  assert.equal(hits.length, 500);
  assert.deepEqual([...new Set(hits.map((h) => h.name))], ['/item/:id']);
  assert.equal(new Set(hits.map((h) => h.url)).size, 500);
  assert.ok(hits.every((h) => h.url.startsWith(`${server.url}/item/`)));
});

test('a url: threshold the named row cannot meet fails with exit 1; its ids have no rows of their own', async () => {
  const result = await run([
    '--server-url',
    server.url,
    '--threshold',
    'url:/item/:id p95<1ms',
    '--threshold',
    'url:/item/1 p95<10s',
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Success'), 2);
  assert.equal(summaryNumber(result.stdout, 'Failures'), 0);
  const named = thresholdLine(result.stdout, 'url:/item/:id p95<1ms');
  assert.equal(named[1], '✗ FAIL');
  assert.ok(Number(named[2]!.replace(/s$/, '')) >= DELAY_MS / 1000, named[2]);
  assert.deepEqual(thresholdLine(result.stdout, 'url:/item/1 p95<10s').slice(1), [
    '✗ FAIL',
    'no data',
  ]);
});
