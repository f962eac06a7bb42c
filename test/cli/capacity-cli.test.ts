// --find-capacity end to end (SPEC §12): the built CLI against the example
// queue server (one request at a time, a fixed service time: a known
// capacity), a server that always answers at once and one that always fails,
// with short probes and rests so that the file stays well under a minute.
// The probes' rates follow from the search alone, so they are exact; the
// verdicts are far from the knee (a service at 80 % or 120 % of its
// capacity), so they hold on a loaded machine.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Summary } from '../../src/metrics/summary.ts';
import { spawnQueueServer, type QueueServerProcess } from '../helpers/queue-server.ts';
import { runCli, startCli, waitForOutput } from '../helpers/cli.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { REPO_ROOT } from '../helpers/tmp-project.ts';

const EXAMPLES = path.join(REPO_ROOT, 'examples');
const FQN = 'capacity.TestQueue.test_get';
/** Short probes: long enough for a p95 past the start-up, short enough for the suite. */
const QUICK = ['--duration', '2', '--capacity-rest', '0.2'];

let dir: string;
let queue: QueueServerProcess;
let fast: TestServer;
let failing: TestServer;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loads-capacity-cli-'));
  // 20 ms a request: 50/s.
  queue = await spawnQueueServer(20);
  fast = await startHttpServer((_req, res) => res.end('ok'));
  failing = await startHttpServer((_req, res) => {
    res.statusCode = 500;
    res.end('down');
  });
});

after(async () => {
  await queue.close();
  await fast.close();
  await failing.close();
  await rm(dir, { recursive: true, force: true });
});

async function readJson(file: string): Promise<Summary> {
  return JSON.parse(await readFile(file, 'utf8')) as Summary;
}

describe('loads-runner --find-capacity', () => {
  it('when the service holds 50/s then the probes, their verdicts and the capacity are exact in the json, the text and the junit', async () => {
    const json = path.join(dir, 'queue.json');
    const junit = path.join(dir, 'queue.xml');
    const result = await runCli(
      [
        FQN,
        '--find-capacity',
        '--threshold',
        'p95<200ms',
        '--threshold',
        'errors<1%',
        '--rate',
        '20',
        // After 40 held and 80 broke, one bisection (60) is within 50 %.
        '--capacity-precision',
        '50%',
        '--workers',
        '1',
        ...QUICK,
        '--server-url',
        queue.url,
        '-o',
        'stdout',
        '-o',
        'json',
        '--output-json-filename',
        json,
        '-o',
        'junit',
        '--output-junit-filename',
        junit,
      ],
      { cwd: EXAMPLES },
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = await readJson(json);
    const capacity = summary.capacity!;
    assert.equal(capacity.reason, 'found', JSON.stringify(capacity.probes));
    assert.equal(capacity.heldRate, 40);
    assert.equal(capacity.brokeRate, 60);
    assert.deepEqual(capacity.slo, ['p95<200ms', 'errors<1%']);
    assert.deepEqual(
      capacity.probes.map((p) => [p.index, p.rate, p.held, p.broken, p.saturated]),
      [
        [0, 20, true, [], false],
        [1, 40, true, [], false],
        [2, 80, false, ['p95<200ms'], false],
        [3, 60, false, ['p95<200ms'], false],
      ],
    );
    // Each probe is a step of its own, with its bounds in time.
    assert.deepEqual(
      summary.steps.map((s) => [s.step, s.rate]),
      [
        [1, 20],
        [2, 40],
        [3, 80],
        [4, 60],
      ],
    );
    for (const [i, probe] of capacity.probes.entries()) {
      assert.ok(probe.endedAt - probe.startedAt >= 2000, `probe ${i} lasted 2 s`);
      const next = capacity.probes[i + 1];
      if (next !== undefined) {
        assert.ok(next.startedAt - probe.endedAt >= 200, `a rest of 0.2 s after probe ${i}`);
      }
      assert.equal(probe.thresholds.length, 2);
      assert.equal(summary.steps[i]!.runs, probe.rate * 2);
    }
    // The run's totals are no verdict: the broken probes do not fail it.
    assert.deepEqual(summary.thresholds, []);
    assert.equal(summary.exitStatus, 0);

    assert.match(
      result.stderr,
      /^loads-runner: finding the capacity: probes of 2\.00s from 20\/s, up to 12 probes, at most 27s$/m,
    );
    assert.match(
      result.stderr,
      /^loads-runner: probe 3: 80\/s broke p95<200ms \(p95<200ms [\d.]+s, errors<1% 0%\)$/m,
    );
    assert.match(result.stdout, /^Capacity \(--find-capacity, the SLO: p95<200ms, errors<1%\)$/m);
    assert.match(
      result.stdout,
      /^ {2}Held: {2}40\/s \(achieved 40\/s\) {2}✓ p95<200ms [\d.]+s, ✓ errors<1% 0%$/m,
    );
    assert.match(result.stdout, /^ {2}Broke: 60\/s .*✗ p95<200ms [\d.]+s, ✓ errors<1% 0%$/m);
    assert.match(
      result.stdout,
      /^ {2}Capacity: 40\/s, the highest rate that met every threshold; 60\/s broke p95<200ms \(within 50%, 4 probes\)$/m,
    );
    assert.match(result.stdout, /^Steps \(one per probe\)$/m);
    assert.match(result.stdout, /^ {5}3 {2}80\/s .* broke p95<200ms$/m);
    assert.doesNotMatch(result.stdout, /^Thresholds$/m);

    const xml = await readFile(junit, 'utf8');
    assert.match(xml, /<testsuite name="capacity" tests="1" failures="0"/);
    assert.match(
      xml,
      /<testcase classname="capacity" name="capacity" time="0.000">\n {6}<system-out>Held: {2}40\/s [^<]*\nCapacity: 40\/s, the highest rate/,
    );
  });
});

// Against servers that answer at once or fail at once, each test its own
// CLI: side by side (the queue server, whose verdicts depend on the timing
// of this process's loop, is done with by now).
describe('loads-runner --find-capacity, the other outcomes', { concurrency: true }, () => {
  it('when the service always answers at once then the search reaches --max-rate, says so and exits 0', async () => {
    const json = path.join(dir, 'fast.json');
    const result = await runCli(
      [
        FQN,
        '--find-capacity',
        '--threshold',
        'p95<200ms',
        '--max-rate',
        '40',
        '--workers',
        '1',
        ...QUICK,
        '--server-url',
        fast.url,
        '-o',
        'stdout',
        '-o',
        'json',
        '--output-json-filename',
        json,
      ],
      { cwd: EXAMPLES },
    );
    assert.equal(result.code, 0, result.stderr);
    const capacity = (await readJson(json)).capacity!;
    assert.equal(capacity.reason, 'max-rate-held');
    assert.deepEqual(
      capacity.probes.map((p) => [p.rate, p.held]),
      [
        [10, true],
        [20, true],
        [40, true],
      ],
    );
    assert.equal(capacity.heldRate, 40);
    assert.equal(capacity.brokeRate, null);
    assert.match(result.stderr, /from 10\/s to at most 40\/s, up to 12 probes/);
    assert.match(
      result.stdout,
      /^ {2}Capacity: at least 40\/s: --max-rate held, so the service can take more; raise --max-rate to look further \(3 probes\)$/m,
    );
  });

  it('when the service fails from the start then one probe breaks the SLO and the exit status is 1', async () => {
    const json = path.join(dir, 'failing.json');
    const junit = path.join(dir, 'failing.xml');
    const result = await runCli(
      [
        FQN,
        '--find-capacity',
        '--threshold',
        'p95<200ms',
        '--threshold',
        'errors<1%',
        '--duration',
        '1',
        '--server-url',
        failing.url,
        '-o',
        'json',
        '--output-json-filename',
        json,
        '-o',
        'junit',
        '--output-junit-filename',
        junit,
      ],
      { cwd: EXAMPLES },
    );
    assert.equal(result.code, 1, result.stderr);
    const summary = await readJson(json);
    assert.equal(summary.capacity!.reason, 'first-rate-broke');
    assert.equal(summary.capacity!.heldRate, null);
    assert.equal(summary.capacity!.brokeRate, 10);
    assert.deepEqual(summary.capacity!.probes[0]!.broken, ['errors<1%']);
    assert.equal(summary.capacity!.probes[0]!.errorPercent, 100);
    assert.equal(summary.exitStatus, 1);
    assert.match(
      result.stdout,
      /^ {2}No capacity found: even the first rate, 10\/s, broke errors<1%; start lower with --rate, or look at the errors above$/m,
    );
    const xml = await readFile(junit, 'utf8');
    assert.match(
      xml,
      /<failure message="no capacity found: first-rate-broke" type="CapacityNotFound">/,
    );
  });

  it('when the load runs on 2 worker threads then the probes are the same and the summary counts every one', async () => {
    const json = path.join(dir, 'workers.json');
    const result = await runCli(
      [
        FQN,
        '--find-capacity',
        '--threshold',
        'p95<200ms',
        '--max-rate',
        '20',
        '--workers',
        '2',
        // Each probe starts its threads cold: 3 s, so that their start-up weighs less in the judged loop delay.
        '--duration',
        '3',
        '--capacity-rest',
        '0.2',
        '--server-url',
        fast.url,
        '-o',
        'json',
        '--output-json-filename',
        json,
      ],
      { cwd: EXAMPLES },
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = await readJson(json);
    assert.equal(summary.run.workers, 2);
    assert.equal(summary.capacity!.reason, 'max-rate-held', JSON.stringify(summary.capacity));
    assert.deepEqual(
      summary.capacity!.probes.map((p) => p.rate),
      [10, 20],
    );
    assert.deepEqual(
      summary.steps.map((s) => s.runs),
      [30, 60],
    );
    assert.equal(summary.successes, 90);
  });

  it('when SIGINT comes during a probe then the summary covers the probes so far and the exit status is 130', async () => {
    const json = path.join(dir, 'sigint.json');
    const { child, result } = startCli(
      [
        FQN,
        '--find-capacity',
        '--threshold',
        'p95<200ms',
        '--workers',
        '1',
        ...QUICK,
        '--server-url',
        fast.url,
        '-o',
        'stdout',
        '-o',
        'json',
        '--output-json-filename',
        json,
      ],
      { cwd: EXAMPLES },
    );
    await waitForOutput(child, /probe 2: 20\/s for/);
    child.kill('SIGINT');
    const done = await result;
    assert.equal(done.code, 130, done.stderr);
    const summary = await readJson(json);
    assert.equal(summary.interruptedBy, 'SIGINT');
    assert.deepEqual(
      summary.capacity!.probes.map((p) => [p.rate, p.held]),
      [[10, true]],
    );
    assert.match(
      done.stdout,
      /^ {2}Interrupted after 1 probe: at least 10\/s held; run the search to its end for the capacity$/m,
    );
    assert.match(
      done.stdout,
      /^Interrupted by SIGINT \(Ctrl-C\): the summary covers what ran before$/m,
    );
  });

  it('when the options cannot make a capacity search then each is one line and exit status 2', async () => {
    const base = [FQN, '--find-capacity', '--server-url', fast.url];
    // The config file's keys: its find_capacity asks for the search, and max_rate is checked as the option.
    const ini = path.join(dir, 'capacity.ini');
    await writeFile(
      ini,
      '[loads]\nfind_capacity = true\nrate = 30\nmax_rate = 20\ncapacity_rest = 1\n',
    );
    const slo = ['--threshold', 'p95<200ms'];
    const cases: [string, string[], RegExp][] = [
      ['no threshold', base, /--find-capacity needs the SLO as one or more --threshold/],
      [
        'a step threshold',
        [...base, '--threshold', 'step:2 p95<1s'],
        /names a step, but with --find-capacity every probe is judged by the same SLO/,
      ],
      [
        'an rps threshold',
        [...base, '--threshold', 'rps>100'],
        /judges the rate, which --find-capacity sets itself/,
      ],
      [
        '--users',
        [...base, ...slo, '-u', '10'],
        /^loads-runner: -u\/--users with --find-capacity: /m,
      ],
      ['--hits', [...base, ...slo, '--hits', '5'], /^loads-runner: --hits with --find-capacity: /m],
      ['a rate cycle', [...base, ...slo, '--rate', '10:20'], /give one start rate/],
      [
        '--max-rate below the start',
        [...base, ...slo, '--rate', '50', '--max-rate', '20'],
        /--max-rate 20 is below the start rate 50\/s/,
      ],
      [
        'precision 0',
        [...base, ...slo, '--capacity-precision', '0%'],
        /--capacity-precision '0%' is not a percent above 0% and below 100%/,
      ],
      [
        'precision 100 %',
        [...base, ...slo, '--capacity-precision', '100'],
        /--capacity-precision '100' is not a percent/,
      ],
      [
        'precision text',
        [...base, ...slo, '--capacity-precision', 'tight'],
        /--capacity-precision 'tight' is not a percent/,
      ],
      ['a negative rest', [...base, ...slo, '--capacity-rest', '-1'], /--capacity-rest/],
      [
        '--max-rate alone',
        [FQN, '--rate', '10', '-d', '1', '--max-rate', '20'],
        /^loads-runner: --max-rate applies to --find-capacity, which is not given; add it or drop --max-rate$/m,
      ],
      [
        'a config file',
        [FQN, '--config', ini, ...slo],
        /^loads-runner: --max-rate 20 is below the start rate 30\/s \(--rate\)/m,
      ],
      [
        '--abort-on-fail',
        [...base, ...slo, '--abort-on-fail'],
        /--abort-on-fail with --find-capacity: probes are meant to break the thresholds/,
      ],
      [
        '--detach',
        [...base, ...slo, '--agents', '2', '--broker', 'nats://127.0.0.1:4222', '--detach'],
        /^loads-runner: --find-capacity with --detach: this runner picks each probe’s rate/m,
      ],
    ];
    const results = await Promise.all(cases.map(([, args]) => runCli(args, { cwd: EXAMPLES })));
    for (const [i, [name, , message]] of cases.entries()) {
      const r = results[i]!;
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.match(r.stderr, message, name);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${name}: no stack`);
      assert.equal(r.stdout, '', `${name}: nothing on stdout`);
    }
  });
});
