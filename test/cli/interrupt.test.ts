// SIGINT and SIGTERM (SPEC §7): the first signal stops the load, still
// prints the summary and completes every output, and exits 130 (SIGINT) or
// 143 (SIGTERM), even when every run that finished succeeded; a second
// signal exits at once with 128 + its number, after writing what the file
// outputs had buffered. Every signal is sent once the run shows load (a
// status line with hits), never after a bare sleep.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { startCli, waitForOutput } from '../helpers/cli.ts';
import { createTmpProject, REPO_ROOT, type TmpProject } from '../helpers/tmp-project.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { summaryNumber } from '../helpers/summary.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';

let example: ExampleServer;
let server: TestServer;
let project: TmpProject;

const EXAMPLES = path.join(REPO_ROOT, 'examples');
/** Status lines twice a second, plain (CI), so a test can wait for load before it signals. */
const STATUS = { env: { CI: '1' } };
const STATUS_ARGS = ['--status-interval', '0.5'];
const LOADED = /\[loads\] .* hits [1-9]/;

before(async () => {
  example = await startExampleServer();
  server = await startHttpServer((_req, res) => res.end('ok'));
  project = await createTmpProject();
  await project.write(
    'fast.ts',
    `import { TestCase } from 'loads-runner';
export class TestFast extends TestCase {
  async test_get() {
    const res = await this.session.get('${server.url}/');
    this.assertEqual(res.status, 200);
  }
}
`,
  );
});

after(async () => {
  await example.close();
  await server.close();
  await project.remove();
});

interface JsonSummary {
  hits: number;
  successes: number;
  errors: number;
  failures: number;
  interrupted: boolean;
  interruptedBy: string | null;
}

function parseEvents(text: string): { type: string }[] {
  assert.ok(text.endsWith('\n'), 'the last line is complete');
  return text
    .trimEnd()
    .split('\n')
    .map((line, i) => {
      try {
        return JSON.parse(line) as { type: string };
      } catch {
        assert.fail(`line ${i + 1} of the events file is not JSON: ${line.slice(0, 200)}`);
      }
    });
}

test('SIGINT: exit 130, the summary says so, and every output is complete', async () => {
  const file = (name: string): string => path.join(project.dir, `sigint-${name}`);
  const { child, result } = startCli(
    [
      'example.TestWebSite.test_es',
      '-u',
      '3',
      '-d',
      '60',
      '--server-url',
      example.url,
      ...STATUS_ARGS,
      '-o',
      'stdout',
      '-o',
      'file',
      '-o',
      'funkload',
      '-o',
      'json',
      '-o',
      'junit',
      '--output-file-filename',
      file('events.jsonl'),
      '--output-funkload-filename',
      file('funkload.xml'),
      '--output-json-filename',
      file('summary.json'),
      '--output-junit-filename',
      file('junit.xml'),
    ],
    { cwd: EXAMPLES, ...STATUS },
  );
  await waitForOutput(child, LOADED);
  child.kill('SIGINT');
  const { code, stdout, stderr } = await result;
  assert.equal(code, 130, stderr);
  assert.match(
    stderr,
    /^loads-runner: stopped by SIGINT; the summary follows \(Ctrl-C again to exit now\)$/m,
  );

  // Every run that finished succeeded, and still it is not a pass.
  const hits = summaryNumber(stdout, 'Hits');
  assert.ok(hits > 0);
  assert.equal(summaryNumber(stdout, 'Errors'), 0);
  assert.equal(summaryNumber(stdout, 'Failures'), 0);
  assert.ok(
    stdout.endsWith('\nInterrupted by SIGINT (Ctrl-C): the summary covers what ran before\n'),
    stdout.slice(-200),
  );

  const json = JSON.parse(await readFile(file('summary.json'), 'utf8')) as JsonSummary;
  assert.equal(json.hits, hits);
  assert.equal(json.interrupted, true);
  assert.equal(json.interruptedBy, 'SIGINT');

  const xml = await readFile(file('junit.xml'), 'utf8');
  assert.equal(XMLValidator.validate(xml), true);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml) as {
    testsuites: {
      errors: string;
      testsuite: {
        errors: string;
        tests: string;
        testcase: { name: string; error?: { type: string; message: string } }[];
        'system-out': string;
      };
    };
  };
  const suite = doc.testsuites.testsuite;
  assert.equal(doc.testsuites.errors, '1');
  assert.equal(suite.errors, '1');
  assert.equal(suite.tests, '2');
  const stopped = suite.testcase.find((c) => c.error !== undefined);
  assert.equal(stopped?.name, 'interrupted by SIGINT');
  assert.equal(stopped.error?.type, 'Interrupted');
  assert.match(stopped.error?.message ?? '', /stopped by SIGINT/);
  assert.match(suite['system-out'], /\nInterrupted by SIGINT \(Ctrl-C\): /);

  const events = parseEvents(await readFile(file('events.jsonl'), 'utf8'));
  assert.equal(events.filter((e) => e.type === 'hit').length, hits, 'every hit is in the file');
  const funkload = await readFile(file('funkload.xml'), 'utf8');
  assert.equal(XMLValidator.validate(funkload), true);
  assert.equal(funkload.match(/<response /g)?.length, hits);
});

test('SIGTERM: exit 143 with the summary', async () => {
  const json = path.join(project.dir, 'sigterm.json');
  const { child, result } = startCli(
    [
      'example.TestWebSite.test_es',
      '-u',
      '2',
      '-d',
      '60',
      '--server-url',
      example.url,
      ...STATUS_ARGS,
      '-o',
      'stdout',
      '-o',
      'json',
      '--output-json-filename',
      json,
    ],
    { cwd: EXAMPLES, ...STATUS },
  );
  await waitForOutput(child, LOADED);
  child.kill('SIGTERM');
  const { code, stdout, stderr } = await result;
  assert.equal(code, 143, stderr);
  assert.match(stderr, /^loads-runner: stopped by SIGTERM; the summary follows/m);
  assert.ok(summaryNumber(stdout, 'Hits') > 0);
  assert.match(stdout, /\nInterrupted by SIGTERM: the summary covers what ran before\n$/);
  const summary = JSON.parse(await readFile(json, 'utf8')) as JsonSummary;
  assert.equal(summary.interruptedBy, 'SIGTERM');
});

test('SIGTERM with --workers 2: exit 143 with the summary of both threads', async () => {
  const { child, result } = startCli(
    [
      'example.TestWebSite.test_es',
      '-u',
      '4',
      '-d',
      '60',
      '--workers',
      '2',
      '--server-url',
      example.url,
      ...STATUS_ARGS,
    ],
    { cwd: EXAMPLES, ...STATUS },
  );
  await waitForOutput(child, LOADED);
  child.kill('SIGTERM');
  const { code, stdout, stderr } = await result;
  assert.equal(code, 143, stderr);
  assert.ok(summaryNumber(stdout, 'Hits') > 0);
  assert.ok(summaryNumber(stdout, 'Success') > 0);
  assert.equal(summaryNumber(stdout, 'Errors') + summaryNumber(stdout, 'Failures'), 0);
  assert.match(stdout, /\nInterrupted by SIGTERM: /);
});

test('a second signal exits at once with 128 + its number, the buffered events written whole', async () => {
  // Stopped, the process gets SIGINT and SIGTERM and, continued, handles
  // both in one turn of its event loop: the first starts the graceful end
  // (the file output's last flush may be in flight) and the second exits at
  // once. Most of the events are then only in memory: the flush interval is 1 s.
  const events = path.join(project.dir, 'second-events.jsonl');
  const funkload = path.join(project.dir, 'second-funkload.xml');
  const users = 4;
  const { child, result } = startCli(
    [
      'fast.TestFast.test_get',
      '-u',
      String(users),
      '-d',
      '60',
      '--workers',
      '1',
      ...STATUS_ARGS,
      '-o',
      'file',
      '-o',
      'funkload',
      '--output-file-filename',
      events,
      '--output-funkload-filename',
      funkload,
    ],
    { cwd: project.dir, ...STATUS },
  );
  await waitForOutput(child, LOADED);
  child.kill('SIGSTOP');
  // Read at once, without yielding: each of these requests was sent before the
  // stop, and a user sends its next request only after the hit of the last.
  const requestsBeforeStop = server.requests;
  child.kill('SIGINT');
  child.kill('SIGTERM');
  child.kill('SIGCONT');
  const { code, stderr } = await result;
  // Node may handle the two pending signals in either order: the first
  // starts the graceful end, the second exits with 128 + its own number.
  const first = /^loads-runner: stopped by (SIGINT|SIGTERM);/m.exec(stderr)?.[1];
  const second = /^loads-runner: a second signal \((SIGINT|SIGTERM)\); exiting now$/m.exec(
    stderr,
  )?.[1];
  assert.ok(first !== undefined && second !== undefined, stderr);
  assert.notEqual(first, second);
  assert.equal(code, second === 'SIGINT' ? 128 + 2 : 128 + 15, stderr);

  const lines = parseEvents(await readFile(events, 'utf8'));
  const hits = lines.filter((e) => e.type === 'hit').length;
  assert.ok(
    hits >= requestsBeforeStop - users,
    `${hits} hit lines for ${requestsBeforeStop} requests before the stop`,
  );
  const xml = await readFile(funkload, 'utf8');
  assert.equal(XMLValidator.validate(xml), true, 'the funkload report is closed');
  assert.equal(xml.match(/<response /g)?.length, hits);
});

test('Ctrl-C twice: the events file holds only whole JSON lines', async () => {
  const events = path.join(project.dir, 'twice-events.jsonl');
  const { child, result } = startCli(
    [
      'fast.TestFast.test_get',
      '-u',
      '4',
      '-d',
      '60',
      '--workers',
      '1',
      ...STATUS_ARGS,
      '-o',
      'file',
      '--output-file-filename',
      events,
    ],
    { cwd: project.dir, ...STATUS },
  );
  await waitForOutput(child, LOADED);
  child.kill('SIGINT');
  await waitForOutput(child, /stopped by SIGINT/);
  child.kill('SIGINT');
  const { code, stderr } = await result;
  // Whichever came first, the graceful end or the exit at once: 130.
  assert.equal(code, 130, stderr);
  const lines = parseEvents(await readFile(events, 'utf8'));
  assert.ok(lines.filter((e) => e.type === 'hit').length > 0);
});
