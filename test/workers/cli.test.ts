// --workers end to end: the built CLI spawned as a user runs it. One thread
// and two give the same summary counts and outputs; a crashing worker and
// Ctrl-C end the run with the summary printed and the outputs complete.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';
import { runCli, startCli, waitForOutput } from '../helpers/cli.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { summaryNumber } from '../helpers/summary.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';
import type { Summary } from '../../src/metrics/summary.ts';
import type { LoadsEvent } from '../../src/metrics/events.ts';

const MODULE = `import { TestCase } from 'loads-runner';

export class TestMix extends TestCase {
  async test_page() {
    const res = await this.app.get('/api/items?n=' + this.loadsStatus.currentUser);
    this.assertEqual(res.status, 200);
    this.incrCounter('pages');
  }

  async test_ws() {
    const ws = await this.createWs(this.app.serverUrl.replace('http', 'ws') + '/ws');
    ws.send('ping');
    await ws.receive(5);
  }

  async test_outcomes() {
    const { currentUser, currentHit } = this.loadsStatus;
    if (currentHit === 2) {
      this.fail('second run fails');
    }
    if (currentUser === 3) {
      throw new Error('user 3 errors');
    }
  }
}

export class TestDelay extends TestCase {
  async test_delay() {
    const res = await this.app.get('/');
    this.assertEqual(res.status, 200);
  }
}

export class TestExit extends TestCase {
  async test_exit() {
    await this.app.get('/api/items');
    // Late enough that worker 1 has sent deltas (every 200 ms) before this one dies.
    if (this.loadsStatus.currentUser === 2 && this.loadsStatus.currentHit === 3) {
      await new Promise((resolve) => setTimeout(resolve, 700));
      process.exit(3);
    }
  }
}

export class TestStray extends TestCase {
  async test_stray() {
    Promise.reject(new Error('nobody awaits me'));
    await this.app.get('/');
  }
}
`;

let example: ExampleServer;
let delayed: TestServer;
let project: TmpProject;

before(async () => {
  example = await startExampleServer();
  delayed = await startHttpServer((_req, res) => {
    setTimeout(() => res.end('ok'), 20);
  });
  project = await createTmpProject();
  await project.write('load.ts', MODULE);
});

after(async () => {
  await example.close();
  await delayed.close();
  await project.remove();
});

/** Runs the CLI with the json output to a file and returns the result and the parsed summary. */
async function runJson(args: string[], name: string) {
  const json = path.join(project.dir, `${name}.json`);
  const result = await runCli(
    [...args, '-o', 'stdout', '-o', 'json', '--output-json-filename', json],
    { cwd: project.dir },
  );
  const summary = JSON.parse(await readFile(json, 'utf8')) as Summary;
  return { result, summary };
}

function counts(summary: Summary) {
  return {
    hits: summary.hits,
    successes: summary.successes,
    errors: summary.errors,
    failures: summary.failures,
    perTest: summary.perTest,
    counters: summary.counters,
    socketsOpened: summary.socketsOpened,
    wsMessages: summary.wsMessages,
    wsBytesReceived: summary.wsBytesReceived,
    hitErrors: summary.hitErrors,
    urls: summary.urls.map((u) => `${u.key} ${u.hits} ${u.successRate}`).sort(),
    topErrors: summary.topErrors.map((e) => `${e.count} ${e.message}`),
    topFailures: summary.topFailures.map((e) => `${e.count} ${e.message}`),
  };
}

function summaryLines(stdout: string) {
  return ['Hits', 'Success', 'Errors', 'Failures', 'Opened web sockets'].map((label) =>
    summaryNumber(stdout, label),
  );
}

test('--workers 2 gives the counts of --workers 1: users × hits cycles, outcomes, counters, sockets; exit 1 for both', async () => {
  const args = ['load.TestMix', '-u', '2:3', '--hits', '2:1', '--server-url', example.url];
  const one = await runJson([...args, '--workers', '1'], 'one');
  const two = await runJson([...args, '--workers', '2'], 'two');
  assert.equal(one.result.code, 1, one.result.stderr);
  assert.equal(two.result.code, 1, two.result.stderr);
  assert.deepEqual(counts(two.summary), counts(one.summary));
  assert.deepEqual(summaryLines(two.result.stdout), summaryLines(one.result.stdout));
  // (2 + 3) users × (2 + 1) runs × 3 methods
  assert.equal(two.summary.successes + two.summary.errors + two.summary.failures, 45);
  assert.equal(two.summary.counters['pages'], 15);
  assert.deepEqual(
    one.summary.generator?.threads.map((t) => t.thread),
    ['main'],
    'one thread: only the main loop is watched',
  );
  assert.deepEqual(two.summary.generator?.threads.map((t) => t.thread).sort(), [
    'main',
    'worker 1',
    'worker 2',
  ]);
});

/** The nearest-rank percentile of raw values. */
function exactPercentile(sorted: readonly number[], p: number): number {
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

test('merged percentiles are those of every hit, and match one thread against a server that answers in 20 ms', async () => {
  const events = path.join(project.dir, 'delay.jsonl');
  const args = ['load.TestDelay', '-u', '4', '--hits', '25', '--server-url', delayed.url];
  const one = await runJson([...args, '--workers', '1'], 'delay-one');
  const two = await runJson(
    [...args, '--workers', '2', '-o', 'file', '--output-file-filename', events],
    'delay-two',
  );
  assert.equal(one.result.code, 0, one.result.stderr);
  assert.equal(two.result.code, 0, two.result.stderr);
  assert.equal(two.summary.hits, 100);

  // Exact: the percentiles merged from the workers' histograms are those of
  // the 100 hits' own latencies (from the file output), within the
  // histogram's precision (3 significant digits) and one rank either side.
  const latencies = (await readFile(events, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as LoadsEvent)
    .flatMap((e) => (e.type === 'hit' ? [e.elapsedMs / 1000] : []))
    .sort((a, b) => a - b);
  assert.equal(latencies.length, 100);
  for (const p of [50, 90, 95, 99] as const) {
    const merged = two.summary.latency[`p${p}`];
    const low = exactPercentile(latencies, p - 1) * 0.998;
    const high = exactPercentile(latencies, p + 1) * 1.002 + 1e-6;
    assert.ok(low <= merged && merged <= high, `p${p}: ${merged} s not in [${low}, ${high}]`);
  }
  const max = latencies.at(-1)!;
  assert.ok(Math.abs(two.summary.latency.max - max) <= max * 0.002 + 1e-6, 'max');

  // Across runs: both medians sit on the server's 20 ms. Two runs are two
  // samples of a loaded machine, so only a gross gap (a lost or doubled
  // histogram, a unit slip) fails this.
  for (const summary of [one.summary, two.summary]) {
    assert.ok(summary.latency.p50 >= 0.02, `p50 ${summary.latency.p50} s ≥ the server's 20 ms`);
  }
  const gap = Math.abs(two.summary.latency.p50 - one.summary.latency.p50) / one.summary.latency.p50;
  assert.ok(gap < 0.5, `p50 ${one.summary.latency.p50} s vs ${two.summary.latency.p50} s`);
});

test('currentUser is unique and 1…users across workers; the file output has every hit', async () => {
  const events = path.join(project.dir, 'users.jsonl');
  const result = await runCli(
    [
      'load.TestMix.test_page',
      '-u',
      '5',
      '--hits',
      '3',
      '--workers',
      '2',
      '--server-url',
      example.url,
      '-o',
      'stdout',
      '-o',
      'file',
      '--output-file-filename',
      events,
    ],
    { cwd: project.dir },
  );
  assert.equal(result.code, 0, result.stderr);
  const lines = (await readFile(events, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as LoadsEvent);
  const runs = new Map<number, number>();
  for (const e of lines) {
    if (e.type === 'test-end') {
      assert.equal(e.users, 5);
      runs.set(e.currentUser, (runs.get(e.currentUser) ?? 0) + 1);
    }
  }
  assert.deepEqual(
    [...runs.entries()].sort((a, b) => a[0] - b[0]),
    [1, 2, 3, 4, 5].map((user) => [user, 3]),
  );
  assert.equal(lines.filter((e) => e.type === 'hit').length, summaryNumber(result.stdout, 'Hits'));
  assert.equal(lines.filter((e) => e.type === 'cycle-start').length, 1);
  assert.equal(lines[0]?.type, 'cycle-start');
  assert.equal(lines.at(-1)?.type, 'cycle-end');
});

test('a crashing worker ends the run: exit 1, one line naming the worker, the summary still printed', async () => {
  const result = await runCli(
    ['load.TestExit', '-u', '2', '--hits', '200', '--workers', '2', '--server-url', example.url],
    { cwd: project.dir },
  );
  assert.equal(result.code, 1, result.stderr);
  const ours = result.stderr.split('\n').filter((line) => line.startsWith('loads-runner:'));
  assert.equal(ours.length, 1, result.stderr);
  assert.match(ours[0]!, /^loads-runner: worker 2 of 2 exited with code 3 before the run ended/);
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
  assert.ok(summaryNumber(result.stdout, 'Hits') >= 1, 'the summary of what ran');
});

test('Ctrl-C with workers prints the summary, and the file output has every hit it counts', async () => {
  const events = path.join(project.dir, 'interrupted.jsonl');
  const { child, result } = startCli(
    [
      'load.TestMix.test_page',
      '-u',
      '4',
      '-d',
      '60',
      '--workers',
      '2',
      '--server-url',
      example.url,
      '--status-interval',
      '0.5',
      '-o',
      'file',
      '--output-file-filename',
      events,
    ],
    { cwd: project.dir, env: { CI: '1' } },
  );
  await waitForOutput(child, /hits [1-9]/i);
  child.kill('SIGINT');
  const { code, stdout, stderr } = await result;
  assert.equal(code, 130, stderr);
  assert.match(stdout, /Interrupted by SIGINT/);
  const hits = summaryNumber(stdout, 'Hits');
  assert.ok(hits > 0);
  const lines = (await readFile(events, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as LoadsEvent);
  assert.equal(lines.filter((e) => e.type === 'hit').length, hits);
  assert.equal(lines.filter((e) => e.type === 'test-end').length, summaryNumber(stdout, 'Success'));
});

test('stray errors in a worker are reported on stderr and do not stop the run', async () => {
  const result = await runCli(
    ['load.TestStray', '-u', '2', '--hits', '2', '--workers', '2', '--server-url', example.url],
    { cwd: project.dir },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Success'), 4);
  assert.match(
    result.stderr,
    /^loads-runner: warning: an error escaped a test run \(a promise not awaited\?\): Error: nobody awaits me \(worker [12]\)$/m,
  );
});

test('by default, one worker per core, at most the largest users step', async () => {
  const { result, summary } = await runJson(
    ['load.TestMix.test_page', '-u', '1:3', '--server-url', example.url],
    'default',
  );
  assert.equal(result.code, 0, result.stderr);
  const expected = Math.min(availableParallelism(), 3);
  assert.equal(summary.generator?.threads.length, expected === 1 ? 1 : expected + 1);
  const single = await runJson(
    ['load.TestMix.test_page', '-u', '1', '--server-url', example.url],
    'default-one',
  );
  assert.deepEqual(
    single.summary.generator?.threads.map((t) => t.thread),
    ['main'],
  );
});

test('bad --workers values are usage errors: exit 2, one line each', async () => {
  for (const value of ['0', '-1', '1.5', 'many', '']) {
    const result = await runCli(['load.TestDelay', `--workers=${value}`], { cwd: project.dir });
    assert.equal(result.code, 2, `--workers ${value}: ${result.stderr}`);
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^loads-runner: --workers '.*' is not a whole number ≥ 1/);
  }
  const config = await project.write('bad.ini', '[loads]\nworkers = none\n');
  const result = await runCli(['load.TestDelay', '--config', config], { cwd: project.dir });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /^loads-runner: --workers 'none' is not a whole number ≥ 1/);
});
