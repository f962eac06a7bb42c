// End to end: the built CLI spawned as a user runs it, against the example
// server and real loopback servers (SPEC §2–§8).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { runCli } from '../helpers/cli.ts';
import { createTmpProject, REPO_ROOT, type TmpProject } from '../helpers/tmp-project.ts';
import { startHttpServer, closedPort, type TestServer } from '../helpers/servers.ts';
import { summaryNumber, CONTROL_CHARS, FIGURE } from '../helpers/summary.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';

const EXAMPLES = path.join(REPO_ROOT, 'examples');
let example: ExampleServer;
let project: TmpProject;

before(async () => {
  example = await startExampleServer();
  project = await createTmpProject();
});

after(async () => {
  await example.close();
  await project.remove();
});

test('users × hits: exact counts, SPEC §6 labels, exit 0, no control characters', async () => {
  const result = await runCli(
    ['example.TestWebSite.test_es', '-u', '4', '--hits', '5', '--server-url', example.url],
    {
      cwd: EXAMPLES,
    },
  );
  assert.equal(result.code, 0, result.stderr);
  const out = result.stdout;
  assert.match(out, /^Hits: 20$/m);
  assert.match(out, /^Started: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/m);
  assert.match(out, new RegExp(`^Duration: ${FIGURE} seconds$`, 'm'));
  assert.match(out, /^Approximate Average RPS: \d+$/m);
  assert.match(out, new RegExp(`^Average request time: ${FIGURE}s$`, 'm'));
  for (const stat of ['p50', 'p90', 'p95', 'p99', 'max']) {
    assert.match(out, new RegExp(`^  ${stat}: ${FIGURE}s$`, 'm'));
  }
  assert.match(out, new RegExp(`^Slowest URL: GET \\S+ \\(average ${FIGURE}s\\)$`, 'm'));
  assert.match(out, /^Opened web sockets: 0$/m);
  assert.match(out, /^Bytes received via web sockets : 0$/m);
  assert.match(out, /^Success: 20$/m);
  assert.match(out, /^Errors: 0$/m);
  assert.match(out, /^Failures: 0$/m);
  assert.match(out, /pages\D+20/, 'custom counter in the summary');
  assert.doesNotMatch(out + result.stderr, CONTROL_CHARS);
});

test('cycles: users 1:2:3 × hits 2:1 runs (1+2+3)×(2+1) times', async () => {
  const result = await runCli(
    ['example.TestWebSite.test_es', '-u', '1:2:3', '--hits', '2:1', '--server-url', example.url],
    { cwd: EXAMPLES },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Hits'), 18);
  assert.equal(summaryNumber(result.stdout, 'Success'), 18);
});

test('a class FQN runs every test method, WebSockets counted', async () => {
  const result = await runCli(
    ['example.TestWebSite', '-u', '2', '--hits', '3', '--server-url', example.url],
    {
      cwd: EXAMPLES,
    },
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  // 4 methods × 2 users × 3 hits; HTTP hits per round: es 1, api 2, login 2, ws 0.
  assert.equal(summaryNumber(result.stdout, 'Success'), 24);
  assert.equal(summaryNumber(result.stdout, 'Hits'), 30);
  assert.equal(summaryNumber(result.stdout, 'Opened web sockets'), 6);
  assert.equal(summaryNumber(result.stdout, 'Bytes received via web sockets '), 6 * 'ping'.length);
});

test('duration mode ends on time', async () => {
  const started = Date.now();
  const result = await runCli(
    ['example.TestWebSite.test_es', '-u', '2', '-d', '2', '--server-url', example.url],
    {
      cwd: EXAMPLES,
    },
  );
  const elapsedS = (Date.now() - started) / 1000;
  assert.equal(result.code, 0, result.stderr);
  const duration = summaryNumber(result.stdout, 'Duration');
  assert.ok(duration >= 2 && duration < 4, `Duration ${duration}`);
  assert.ok(elapsedS < 15, `took ${elapsedS} s`);
  assert.ok(summaryNumber(result.stdout, 'Hits') > 10);
  assert.equal(summaryNumber(result.stdout, 'Hits'), summaryNumber(result.stdout, 'Success'));
});

test('failures and errors are told apart; exit 1', async () => {
  await project.write(
    'outcomes.ts',
    `import { TestCase } from 'loads-runner';
import assert from 'node:assert';
export class TestOutcomes extends TestCase {
  async test_fail() { this.assertEqual(1, 2, 'one is not two'); }
  async test_node_assert() { assert.strictEqual('a', 'b'); }
  async test_error() { throw new TypeError('bad type here'); }
  async test_string() { throw 'a plain string'; }
  async test_ok() {}
}
`,
  );
  const result = await runCli(['outcomes.TestOutcomes', '-u', '2', '--hits', '3'], {
    cwd: project.dir,
  });
  assert.equal(result.code, 1, result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Success'), 6);
  assert.equal(summaryNumber(result.stdout, 'Failures'), 12);
  assert.equal(summaryNumber(result.stdout, 'Errors'), 12);
  assert.match(result.stdout, /bad type here/);
  assert.match(result.stdout, /a plain string/);
  assert.match(result.stdout, /one is not two/);
});

test('average request time against a server that delays 50 ms', async () => {
  await project.write(
    'slow.ts',
    `import { TestCase } from 'loads-runner';
export class TestSlow extends TestCase {
  async test_slow() {
    const res = await this.session.get('${example.url}/slow?ms=50');
    this.assertEqual(res.status, 200);
  }
}
`,
  );
  // One thread: this checks what is measured, not how threads share the CPU.
  const slow = await runCli(
    ['slow.TestSlow.test_slow', '-u', '5', '--hits', '4', '--workers', '1'],
    {
      cwd: project.dir,
    },
  );
  assert.equal(slow.code, 0, slow.stderr);
  const average = summaryNumber(slow.stdout, 'Average request time');
  assert.ok(average >= 0.04 && average <= 0.08, `Average request time ${average}`);
});

test('a failing target: refused, 500, hanging — counted, never a crash', async () => {
  const refusedPort = await closedPort();
  const silent: TestServer = await startHttpServer(() => {});
  await project.write(
    'targets.ts',
    `import { TestCase } from 'loads-runner';
export class TestTargets extends TestCase {
  async test_refused() { await this.session.get('http://127.0.0.1:${refusedPort}/'); }
  async test_500() { await this.app.get('/status/500'); }
  async test_hang() { await this.session.get('${silent.url}/'); }
}
`,
  );
  const started = Date.now();
  const result = await runCli(
    [
      'targets.TestTargets',
      '-u',
      '2',
      '--hits',
      '2',
      '--timeout',
      '1',
      '--server-url',
      example.url,
    ],
    { cwd: project.dir },
  );
  await silent.close();
  assert.equal(result.code, 1, result.stderr);
  assert.ok(Date.now() - started < 20_000, 'ends soon after the timeout');
  assert.equal(summaryNumber(result.stdout, 'Hits'), 12);
  assert.equal(summaryNumber(result.stdout, 'Errors'), 8, result.stdout);
  assert.equal(summaryNumber(result.stdout, 'Failures'), 4, result.stdout);
  assert.match(result.stdout, /ECONNREFUSED/);
  assert.match(result.stdout, /REQUEST_TIMEOUT/);
  assert.match(result.stdout, /500/);
});

test('a test that never resolves: an error at --test-timeout, or at the end of a duration run', async () => {
  await project.write(
    'hang.ts',
    `import { TestCase } from 'loads-runner';
export class TestHang extends TestCase {
  async test_hang() { await new Promise(() => {}); }
}
`,
  );
  const hits = await runCli(['hang.TestHang.test_hang', '--hits', '2', '--test-timeout', '0.5'], {
    cwd: project.dir,
  });
  assert.equal(hits.code, 1, hits.stderr);
  assert.equal(summaryNumber(hits.stdout, 'Errors'), 2);
  assert.match(hits.stdout, /test-timeout/);

  const duration = await runCli(
    ['hang.TestHang.test_hang', '-u', '3', '-d', '1', '--timeout', '1'],
    {
      cwd: project.dir,
    },
  );
  assert.equal(duration.code, 1, duration.stderr);
  assert.equal(summaryNumber(duration.stdout, 'Errors'), 3);
});

test('every FQN form resolves', async () => {
  const body = (name: string): string => `import { TestCase } from 'loads-runner';
export class ${name} extends TestCase {
  async test_one() { this.incrCounter('ran'); }
}
`;
  await project.write('project/tests/test_server.ts', body('TestSite'));
  await project.write('pkg/index.mts', body('TestPkg'));
  await project.write(
    'plain.mjs',
    body('TestMjs').replace(/async test_one\(\)/, 'async test_one()'),
  );
  await project.write('deep/file.mts', body('TestFile'));
  for (const fqn of [
    'project.tests.test_server.TestSite.test_one',
    'pkg.TestPkg.test_one',
    'plain.TestMjs',
    'deep/file.mts:TestFile.test_one',
    'deep/file.mts:TestFile',
  ]) {
    const result = await runCli([fqn, '-u', '2', '--hits', '2'], { cwd: project.dir });
    assert.equal(result.code, 0, `${fqn}: ${result.stderr}`);
    assert.equal(summaryNumber(result.stdout, 'Success'), 4, fqn);
  }
});

test('INI config, with the command line winning', async () => {
  await project.write(
    'load.ini',
    `[loads]
fqn = example.TestWebSite.test_es
users = 3
hits = 2
server_url = ${example.url}
`,
  );
  const configPath = path.join(project.dir, 'load.ini');
  const fromFile = await runCli(['--config', configPath], { cwd: EXAMPLES });
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.equal(summaryNumber(fromFile.stdout, 'Hits'), 6);
  const overridden = await runCli(['--config', configPath, '-u', '1'], { cwd: EXAMPLES });
  assert.equal(summaryNumber(overridden.stdout, 'Hits'), 2);
  const duration = await runCli(['--config', configPath, '-d', '1'], { cwd: EXAMPLES });
  assert.equal(duration.code, 0, duration.stderr);
  assert.ok(summaryNumber(duration.stdout, 'Hits') > 2);
});

test('outputs: file, json, funkload, null, quiet', async () => {
  const events = path.join(project.dir, 'events.jsonl');
  const summaryJson = path.join(project.dir, 'summary.json');
  const funkload = path.join(project.dir, 'funkload.xml');
  const args = [
    'example.TestWebSite.test_api',
    '-u',
    '3',
    '--hits',
    '4',
    '--server-url',
    example.url,
  ];
  const result = await runCli(
    [
      ...args,
      '-o',
      'stdout',
      '-o',
      'file',
      '-o',
      'json',
      '-o',
      'funkload',
      '--output-file-filename',
      events,
      '--output-json-filename',
      summaryJson,
      '--output-funkload-filename',
      funkload,
    ],
    { cwd: EXAMPLES },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Hits'), 24);

  const lines = (await readFile(events, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string });
  assert.equal(lines.filter((e) => e.type === 'hit').length, 24);
  assert.equal(lines.filter((e) => e.type === 'test-end').length, 12);

  const json = JSON.parse(await readFile(summaryJson, 'utf8')) as {
    hits: number;
    successes: number;
  };
  assert.equal(json.hits, 24);
  assert.equal(json.successes, 12);

  const xml = await readFile(funkload, 'utf8');
  assert.match(xml, /^<funkload version=/);
  assert.match(xml.trimEnd(), /<\/funkload>$/);
  const { version } = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  assert.ok(
    xml.includes(
      `<config key="class_description" value="Loads Funkload export loads-runner-${version}"/>`,
    ),
    'the funkload export names the package version',
  );
  assert.equal(xml.match(/<response /g)?.length, 24);

  const toStdout = await runCli([...args, '-o', 'json'], { cwd: EXAMPLES });
  assert.equal(toStdout.code, 0);
  assert.equal((JSON.parse(toStdout.stdout) as { hits: number }).hits, 24);

  const none = await runCli([...args, '-o', 'null'], { cwd: EXAMPLES });
  assert.equal(none.code, 0);
  assert.equal(none.stdout, '');
  const quiet = await runCli([...args, '--quiet'], { cwd: EXAMPLES });
  assert.equal(quiet.code, 0);
  assert.equal(quiet.stdout, '');
  assert.equal(quiet.stderr, '');
});

test('no colour when piped, even with FORCE_COLOR; a status line on stderr for CI logs', async () => {
  const result = await runCli(
    ['example.TestWebSite.test_es', '-u', '2', '-d', '6', '--server-url', example.url],
    {
      cwd: EXAMPLES,
      env: { FORCE_COLOR: '3' },
    },
  );
  assert.equal(result.code, 0);
  assert.doesNotMatch(result.stdout + result.stderr, CONTROL_CHARS);
  assert.match(result.stderr, /hits \d+/i, 'a plain status line');
});
