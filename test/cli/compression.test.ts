// End to end: a test that reads a gzip response with res.json(), run by the
// spawned CLI on the main thread and on worker threads. The hits count the
// compressed bytes, and undici's ExperimentalWarning for its decompress
// interceptor never reaches stderr.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import zlib from 'node:zlib';
import { runCli } from '../helpers/cli.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { summaryNumber } from '../helpers/summary.ts';

const ITEMS = Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}` }));
const GZIPPED = zlib.gzipSync(JSON.stringify(ITEMS));

let server: TestServer;
let project: TmpProject;

before(async () => {
  server = await startHttpServer((req, res) => {
    // Gzip only for a client that asks for it, as real servers do.
    if (!/\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
      res.writeHead(406).end('ask for gzip');
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'content-length': GZIPPED.length,
    });
    res.end(GZIPPED);
  });
  project = await createTmpProject();
  await project.write(
    'gzipped.ts',
    `import { TestCase } from 'loads-runner';
export class TestGzip extends TestCase {
  async test_json() {
    const res = await this.app.get('/items');
    const items = res.json() as { id: number }[];
    this.assertEqual(items.length, ${ITEMS.length});
    this.assertEqual(items[${ITEMS.length - 1}].id, ${ITEMS.length - 1});
    this.assertEqual(res.headers['content-encoding'], 'gzip');
  }
}
`,
  );
});

after(async () => {
  await server.close();
  await project.remove();
});

for (const workers of ['1', '2']) {
  test(`res.json() on a gzip response passes, with --workers ${workers}, and stderr has no ExperimentalWarning`, async () => {
    const events = path.join(project.dir, `events-${workers}.jsonl`);
    const result = await runCli(
      [
        'gzipped.TestGzip.test_json',
        '-u',
        '2',
        '--hits',
        '3',
        '--workers',
        workers,
        '--server-url',
        server.url,
        '-o',
        'stdout',
        '-o',
        'file',
        '--output-file-filename',
        events,
      ],
      { cwd: project.dir, timeoutMs: 30_000 },
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(summaryNumber(result.stdout, 'Hits'), 6);
    assert.equal(summaryNumber(result.stdout, 'Success'), 6);
    assert.doesNotMatch(result.stderr, /ExperimentalWarning|DecompressInterceptor/);
    const hits = (await readFile(events, 'utf8'))
      .split('\n')
      .filter((line) => line.includes('"type":"hit"'))
      .map((line) => JSON.parse(line) as { bytes: number; status: number });
    assert.deepEqual(
      hits.map((h) => [h.status, h.bytes]),
      Array.from({ length: 6 }, () => [200, GZIPPED.length]),
    );
  });
}
