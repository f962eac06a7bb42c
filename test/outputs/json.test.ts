import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LoadsError } from '../../src/errors.ts';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { Outcome } from '../../src/metrics/events.ts';
import { buildSummary } from '../../src/metrics/summary.ts';
import { assessGeneratorLoad } from '../../src/metrics/loop-monitor.ts';
import type { Summary } from '../../src/metrics/summary.ts';
import { JsonOutput } from '../../src/outputs/json.ts';
import type { OutputContext } from '../../src/outputs/output.ts';
import { runCli } from '../helpers/cli.ts';
import { startHttpServer } from '../helpers/servers.ts';
import { createTmpProject } from '../helpers/tmp-project.ts';

const T0 = 1_800_000_000_000;

const GENERATOR = assessGeneratorLoad([
  {
    thread: 'main',
    monitoredMs: 3000,
    judgedMs: 2500,
    delayP99Ms: 61.5,
    delayMaxMs: 140,
    utilization: 0.62,
  },
]);

function runSummary(): Summary {
  const a = new Aggregator();
  for (let i = 0; i < 4; i++) {
    a.emit({
      type: 'hit',
      method: 'GET',
      url: 'http://h/x?q=1',
      name: '',
      status: i === 0 ? 503 : 200,
      errorKey: '',
      startedAt: T0,
      elapsedMs: 20,
      bytes: 1,
      test: 'C.t',
      cycleIndex: 0,
      currentUser: 1,
      currentHit: 1,
      lagMs: 0,
      protocol: 'h1',
    });
  }
  a.emit({
    type: 'test-end',
    test: 'C.t',
    startedAt: T0,
    elapsedMs: 80,
    outcome: Outcome.FAILURE,
    errorName: 'AssertionError',
    errorMessage: 'bad',
    errorStack: 'AssertionError: bad\n    at x',
    cycleIndex: 0,
    users: 1,
    currentUser: 1,
    currentHit: 1,
    lagMs: 0,
  });
  const info = {
    startedAt: T0,
    fqn: 'm.C.t',
    projectName: 'p',
    version: '0.1.0',
    users: [1],
    hits: [1],
    durationMs: null,
    rate: null,
    maxUsers: null,
    rampUpMs: 0,
    workers: 1,
  };
  return buildSummary(a.snapshot(), info, T0 + 500, false, GENERATOR);
}

function context(
  filename: string | undefined,
  write: (text: string) => void = () => {},
): OutputContext {
  return {
    projectName: 'p',
    fqn: 'm.C.t',
    write,
    options: { output_json_filename: filename },
    color: false,
    quiet: false,
  };
}

describe('JsonOutput', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loads-json-output-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('when the filename is a path then the file holds the summary as one JSON document', async () => {
    const file = path.join(dir, 'summary.json');
    const output = new JsonOutput(context(file));
    await output.onRunEnd(runSummary());
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Summary;
    assert.equal(parsed.hits, 4);
    assert.equal(parsed.durationS, 0.5);
    assert.equal(parsed.rps, 8);
    assert.equal(parsed.failures, 1);
    assert.equal(parsed.successes, 0);
    assert.equal(parsed.hitErrors, 1);
    assert.deepEqual(parsed.statusCounts, { '503': 1 });
    assert.equal(parsed.urls[0]?.key, 'GET http://h/x');
    assert.equal(parsed.urls[0]?.successRate, 0.75);
    assert.equal(parsed.otherUrlHits, 0);
    assert.deepEqual(parsed.topFailures, [
      {
        count: 1,
        test: 'C.t',
        name: 'AssertionError',
        message: 'bad',
        stack: 'AssertionError: bad\n    at x',
      },
    ]);
    assert.deepEqual(parsed.generator, {
      threads: [
        {
          thread: 'main',
          monitoredMs: 3000,
          judgedMs: 2500,
          delayP99Ms: 61.5,
          delayMaxMs: 140,
          utilization: 0.62,
        },
      ],
      saturated: true,
      reason: 'event-loop delay p99 62 ms on main',
    });
    assert.deepEqual(parsed, runSummary());
  });

  it('when the filename is - or not given then the summary goes to the stdout writer', async () => {
    for (const filename of ['-', undefined]) {
      const written: string[] = [];
      const output = new JsonOutput(context(filename, (t) => written.push(t)));
      await output.onRunEnd(runSummary());
      assert.equal(written.length, 1);
      assert.ok(written[0]!.endsWith('}\n'));
      assert.equal((JSON.parse(written[0]!) as Summary).hits, 4);
    }
  });

  it('when the file cannot be written then onRunEnd rejects with a LoadsError', async () => {
    const file = path.join(dir, 'missing', 'summary.json');
    await assert.rejects(
      new JsonOutput(context(file)).onRunEnd(runSummary()),
      (err: unknown) =>
        err instanceof LoadsError &&
        err.code === 'LOADS_ERR_OUTPUT' &&
        err.message.startsWith(`the json output could not write '${file}': ENOENT`),
    );
  });
});

const STEP_MODULE = `import { TestCase } from 'loads-runner';

export class TestStep extends TestCase {
  async test_get() {
    const res = await this.app.get('/');
    this.assertEqual(res.status, 200);
  }
}
`;

describe('json output end to end', () => {
  it('when a two-step cycle runs with -o json then the summary has one step row per step, summing to the totals', async (t) => {
    const server = await startHttpServer((_req, res) => res.end('ok'));
    const project = await createTmpProject();
    t.after(async () => {
      await server.close();
      await project.remove();
    });
    await project.write('steps.ts', STEP_MODULE);
    const result = await runCli(
      [
        'steps.TestStep.test_get',
        '-u',
        '1:2',
        '--hits',
        '3',
        '-o',
        'json',
        '--server-url',
        server.url,
      ],
      { cwd: project.dir },
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Summary;
    assert.equal(summary.hits, 9);
    assert.equal(summary.dropped, 0);
    assert.equal(summary.rate, null);
    assert.deepEqual(
      summary.steps.map((s) => s.rate),
      [null, null],
      'closed model: each step rate is null, like the top-level rate',
    );
    assert.equal(typeof summary.serviceTime.p99, 'number');
    assert.deepEqual(
      summary.steps.map((s) => [s.step, s.users, s.runsPerUser, s.runs, s.hits, s.errors]),
      [
        [1, 1, 3, 3, 3, 0],
        [2, 2, 3, 6, 6, 0],
      ],
    );
    assert.equal(
      summary.steps.reduce((sum, s) => sum + s.hits, 0),
      summary.hits,
    );
    for (const s of summary.steps) {
      assert.ok(s.durationS > 0, `step ${s.step} lasted ${s.durationS} s`);
      assert.ok(s.rps > 0, `step ${s.step} rps ${s.rps}`);
      assert.ok(s.p50S > 0 && s.p50S <= s.p95S && s.p95S <= s.p99S, JSON.stringify(s));
    }
  });
});
