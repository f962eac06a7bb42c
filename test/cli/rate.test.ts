// End to end (issue "CI-grade load", parts 1 and 2): the open model
// (--rate, --max-users) and --ramp-up, spawning the built CLI against real
// servers on 127.0.0.1 and reading the file output. Counts come from the
// computed schedule, so they hold on a loaded machine; the latency check
// compares a 1 s stall with normal answers, far apart on any machine.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';

interface FileEvent {
  type: string;
  startedAt: number;
  elapsedMs: number;
  lagMs: number;
  count: number;
  rate: number;
  currentUser: number;
}

let project: TmpProject;
let fast: TestServer;
let slow: TestServer;
let paced: TestServer;
let stalling: TestServer;
let untouched: TestServer;

/** Answers at once, except every request arriving 1.5–2.5 s after the first, held until 2.5 s. */
function stallOnce(): Parameters<typeof startHttpServer>[0] {
  let firstAt = 0;
  return (_req, res) => {
    const t = performance.now();
    if (firstAt === 0) {
      firstAt = t;
    }
    const since = t - firstAt;
    if (since >= 1500 && since < 2500) {
      setTimeout(() => res.end('ok'), 2500 - since);
    } else {
      res.end('ok');
    }
  };
}

before(async () => {
  fast = await startHttpServer((_req, res) => res.end('ok'));
  slow = await startHttpServer((_req, res) => setTimeout(() => res.end('ok'), 300));
  // Latency-bound throughput, so that the number of users shows in the hit rate.
  paced = await startHttpServer((_req, res) => setTimeout(() => res.end('ok'), 20));
  stalling = await startHttpServer(stallOnce());
  untouched = await startHttpServer((_req, res) => res.end('ok'));
  project = await createTmpProject();
  const cls = (name: string, server: TestServer): string =>
    `export class ${name} extends TestCase {
  async test_get() { await this.session.get('${server.url}/'); }
}
`;
  await project.write(
    'load.ts',
    `import { TestCase } from 'loads-runner';
${cls('TestFast', fast)}${cls('TestSlow', slow)}${cls('TestPaced', paced)}${cls('TestStall', stalling)}${cls('TestUntouched', untouched)}`,
  );
});

after(async () => {
  await project.remove();
  await Promise.all([fast, slow, paced, stalling, untouched].map((server) => server.close()));
});

let files = 0;

/** Runs the CLI with the file output and returns its result and events. */
async function runWithEvents(args: string[]): Promise<{ result: CliResult; events: FileEvent[] }> {
  const file = path.join(project.dir, `events-${++files}.jsonl`);
  const result = await runCli([...args, '-o', 'file', '--output-file-filename', file, '--quiet'], {
    cwd: project.dir,
    timeoutMs: 90_000,
  });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const text = await readFile(file, 'utf8');
  const events = text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as FileEvent);
  return { result, events };
}

function ofType(events: FileEvent[], type: string): FileEvent[] {
  return events.filter((event) => event.type === type);
}

/** Hits per whole second since the cycle start. */
function hitsPerSecond(events: FileEvent[]): number[] {
  const t0 = ofType(events, 'cycle-start')[0]!.startedAt;
  const counts: number[] = [];
  for (const hit of ofType(events, 'hit')) {
    const second = Math.floor((hit.startedAt - t0) / 1000);
    counts[second] = (counts[second] ?? 0) + 1;
  }
  return Array.from(counts, (count) => count ?? 0);
}

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function assertUsageError(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 2, `exit status; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^loads-runner: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

// The runs are bounded by the clock, not the CPU: run a few side by side.
describe('open model and ramp-up', { concurrency: 3 }, () => {
  for (const workers of ['1', '2']) {
    test(`--rate 200 -d 5 --workers ${workers} starts 1000 ± 1 % runs`, async () => {
      const { events } = await runWithEvents([
        'load.TestFast.test_get',
        '--rate',
        '200',
        '-d',
        '5',
        '--workers',
        workers,
      ]);
      const runs = ofType(events, 'test-end').length;
      assert.ok(Math.abs(runs - 1000) <= 10, `${runs} runs`);
      assert.equal(ofType(events, 'cycle-start')[0]!.rate, 200);
      assert.equal(ofType(events, 'dropped').length, 0);
    });
  }

  test('an exhausted pool drops runs: runs + dropped = the schedule', async () => {
    const summaryFile = path.join(project.dir, 'dropped-summary.json');
    const { events } = await runWithEvents([
      'load.TestSlow.test_get',
      '--rate',
      '50',
      '-d',
      '2',
      '--max-users',
      '2',
      '--workers',
      '1',
      '-o',
      'json',
      '--output-json-filename',
      summaryFile,
    ]);
    const ends = ofType(events, 'test-end');
    const dropped = ofType(events, 'dropped');
    const droppedRuns = dropped.reduce((sum, event) => sum + event.count, 0);
    assert.ok(ends.length < 40, `${ends.length} runs, far fewer than 100`);
    assert.ok(dropped.length >= 1);
    assert.equal(ends.length + droppedRuns, 100);
    assert.ok(ends.every((end) => end.currentUser === 1 || end.currentUser === 2));
    const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as {
      successes: number;
      dropped: number;
      steps: { runs: number; dropped: number; rate: number }[];
    };
    assert.equal(summary.dropped, droppedRuns);
    assert.equal(summary.successes, ends.length);
    assert.deepEqual(
      summary.steps.map((step) => [step.rate, step.runs, step.dropped]),
      [[50, ends.length, droppedRuns]],
    );
  });

  test('an exhausted pool: the summary warns with the real counts and names --max-users', async () => {
    const summaryFile = path.join(project.dir, 'dropped-warning.json');
    const result = await runCli(
      [
        'load.TestSlow.test_get',
        '--rate',
        '50',
        '-d',
        '2',
        '--max-users',
        '2',
        '--workers',
        '1',
        '-o',
        'stdout',
        '-o',
        'json',
        '--output-json-filename',
        summaryFile,
      ],
      { cwd: project.dir, timeoutMs: 90_000 },
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as {
      successes: number;
      failures: number;
      errors: number;
      dropped: number;
      maxUsers: number;
    };
    const runs = summary.successes + summary.failures + summary.errors;
    assert.ok(summary.dropped > 0, `${summary.dropped} dropped`);
    assert.equal(runs + summary.dropped, 100, 'the schedule: 50/s for 2 s');
    assert.equal(summary.maxUsers, 2);
    const lines = result.stdout.split('\n');
    const dropped = lines.indexOf(`Dropped: ${summary.dropped}`);
    assert.ok(dropped > 0, result.stdout);
    assert.equal(lines[dropped + 1], '');
    // The warnings block after the counts (a loaded machine may add the saturation warning first).
    const end = lines.indexOf('', dropped + 2);
    const warnings = lines.slice(dropped + 2, end);
    assert.ok(
      warnings.includes(
        `Warning: ${summary.dropped} of 100 scheduled test runs were dropped because every virtual user was busy (--max-users 2); raise --max-users or lower --rate`,
      ),
      result.stdout,
    );
    assert.equal(warnings.filter((line) => /runs were dropped/.test(line)).length, 1);
  });

  test('with workers, each takes runs in proportion to its share of --max-users', async () => {
    // 3 users split 2 + 1 over two workers, 300 ms a run: capacity 6.7 and 3.3 runs/s. Runs
    // split evenly (4/s each) would overload the one-user worker and drop runs after 1 s.
    const { events } = await runWithEvents([
      'load.TestSlow.test_get',
      '--rate',
      '8',
      '-d',
      '4',
      '--max-users',
      '3',
      '--workers',
      '2',
      '--timeout',
      '1',
    ]);
    assert.equal(ofType(events, 'dropped').length, 0);
    assert.equal(ofType(events, 'test-end').length, 32);
  });

  test('closed model --ramp-up: the first second has clearly fewer hits than the last', async () => {
    const { events } = await runWithEvents([
      'load.TestPaced.test_get',
      '-u',
      '20',
      '-d',
      '4',
      '--ramp-up',
      '3',
      '--workers',
      '1',
    ]);
    const perSecond = hitsPerSecond(events);
    assert.ok(perSecond.length >= 4, JSON.stringify(perSecond));
    assert.ok(perSecond[0]! * 2 < perSecond[3]!, `hits per second ${JSON.stringify(perSecond)}`);
  });

  test('open model --ramp-up: the first second has clearly fewer hits than the last', async () => {
    const { events } = await runWithEvents([
      'load.TestFast.test_get',
      '--rate',
      '100',
      '-d',
      '4',
      '--ramp-up',
      '2',
      '--workers',
      '2',
    ]);
    const perSecond = hitsPerSecond(events);
    // Scheduled: 25, 75, 100, 100.
    assert.ok(perSecond[0]! * 2 < perSecond[3]!, `hits per second ${JSON.stringify(perSecond)}`);
    assert.ok(Math.abs(ofType(events, 'test-end').length - 300) <= 3);
  });
});

describe('bad --rate, --max-users and --ramp-up values', () => {
  for (const [args, pattern] of [
    [['--rate', '10', '-u', '2', '-d', '1'], /--rate and --users .*--max-users/],
    [['--rate', '10', '--hits', '2'], /--rate and --hits cannot be used together/],
    [['--rate', '10'], /--rate needs --duration/],
    [['--rate', '0', '-d', '1'], /--rate '0' is not a cycle of runs per second > 0/],
    [['--rate', 'lots', '-d', '1'], /--rate 'lots' is not/],
    [['--max-users', '3', '-d', '1'], /--max-users only applies with --rate/],
    [['--rate', '5', '-d', '1', '--max-users', '0'], /--max-users '0' is not a whole number/],
    [['-d', '1', '--ramp-up=-1'], /--ramp-up '-1' is not a number of seconds ≥ 0/],
    [['-d', '2', '--ramp-up', '2'], /--ramp-up 2 is not shorter than --duration 2/],
  ] as const) {
    test(`usage error, nothing sent: ${args.join(' ')}`, async () => {
      const result = await runCli(['load.TestUntouched.test_get', ...args], {
        cwd: project.dir,
      });
      assertUsageError(result, pattern);
      assert.equal(untouched.requests, 0);
    });
  }
});

test('a 1 s stall shows in elapsedMs + lagMs (coordinated omission corrected), not in elapsedMs', async () => {
  const summaryFile = path.join(project.dir, 'stall-summary.json');
  const { events } = await runWithEvents([
    'load.TestStall.test_get',
    '--rate',
    '100',
    '-d',
    '5',
    '--max-users',
    '4',
    '--workers',
    '1',
    '-o',
    'json',
    '--output-json-filename',
    summaryFile,
  ]);
  const hits = ofType(events, 'hit');
  assert.ok(hits.length > 400, `${hits.length} hits`);
  const raw = percentile(
    hits.map((hit) => hit.elapsedMs),
    99,
  );
  const corrected = percentile(
    hits.map((hit) => hit.elapsedMs + hit.lagMs),
    99,
  );
  assert.ok(raw < 300, `p99 elapsedMs ${raw}`);
  assert.ok(corrected > 500, `p99 elapsedMs + lagMs ${corrected}`);
  // The summary says the same from its two histograms: response time from the intended start, and service time.
  const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as {
    hits: number;
    latency: { p99: number };
    serviceTime: { p99: number };
    rate: number[] | null;
  };
  assert.equal(summary.hits, hits.length);
  assert.deepEqual(summary.rate, [100]);
  assert.ok(summary.serviceTime.p99 < 0.3, `summary service p99 ${summary.serviceTime.p99}`);
  assert.ok(summary.latency.p99 > 0.5, `summary response p99 ${summary.latency.p99}`);
});
