// The external-runner protocol (SPEC §11) in process: Loads' messages read
// and checked, commands split without a shell, and ExternalRunner driving
// real processes — the reference clients in Python (pyzmq) and Node, and a
// scripted sender for what a broken runner does — against loopback servers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Aggregator, type Snapshot } from '../../src/metrics/aggregator.ts';
import { LatencyHistogram } from '../../src/metrics/histogram.ts';
import { Outcome } from '../../src/metrics/events.ts';
import { buildPlan, type CycleStep } from '../../src/runner/cycle.ts';
import { commandFor, parseTestRunnerCommand } from '../../src/runner/external/command.ts';
import {
  ExternalRunner,
  type ExternalRunReport,
} from '../../src/runner/external/external-runner.ts';
import { parseMessage } from '../../src/runner/external/messages.ts';
import { mergeExternalReports } from '../../src/runner/external/report.ts';
import { UsageError } from '../../src/errors.ts';
import { scriptedRunner } from '../helpers/external.ts';
import { PYTHON_ZMQ, PYTHON_ZMQ_SKIP } from '../helpers/python.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { createTmpProject, REPO_ROOT } from '../helpers/tmp-project.ts';

const encode = (value: unknown): Uint8Array =>
  new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

describe('parseMessage', () => {
  const base = { agent_id: 'a1', run_id: 'r1', loads_status: [10, 5, 2, 3] };

  it('when a Python runner reports a failure then the class repr becomes the error name', () => {
    const parsed = parseMessage(
      encode({
        ...base,
        data_type: 'addFailure',
        test: 'TestSite.test_home',
        exc_info: [
          "<class 'AssertionError'>",
          '500 != 200',
          'Traceback (most recent call last): …',
        ],
      }),
    );
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.message, {
      type: 'result',
      test: 'TestSite.test_home',
      status: { hits: 10, users: 5, currentHit: 2, currentUser: 3 },
      outcome: Outcome.FAILURE,
      errorName: 'AssertionError',
      errorMessage: '500 != 200',
      errorStack: 'Traceback (most recent call last): …',
    });
    assert.equal(parsed.runId, 'r1');
  });

  it('when add_hit has a zoneless ISO date with microseconds then it is read as UTC milliseconds', () => {
    const parsed = parseMessage(
      encode({
        ...base,
        data_type: 'add_hit',
        url: 'http://x/',
        method: 'get',
        status: 200,
        started: '2026-12-03T08:15:00.123456',
        elapsed: 0.25,
      }),
    );
    assert.ok(parsed.ok && parsed.message.type === 'hit');
    assert.equal(parsed.message.startedAt, Date.UTC(2026, 11, 3, 8, 15, 0, 123));
    assert.equal(parsed.message.elapsedMs, 250);
    assert.equal(parsed.message.method, 'GET');
  });

  it('when loads_status holds numbers as strings then they are read', () => {
    const parsed = parseMessage(
      encode({ ...base, loads_status: ['10', '5', '1', '1'], data_type: 'startTest', test: 't' }),
    );
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.message, {
      type: 'startTest',
      test: 't',
      status: { hits: 10, users: 5, currentHit: 1, currentUser: 1 },
    });
  });

  it('when a message is broken then it is a problem of one kind, never a throw', () => {
    const kinds = [
      encode('{not json'),
      encode('[1,2]'),
      encode({ ...base }),
      encode({ ...base, data_type: 'addError', test: 't', exc_info: ['only one'] }),
      encode({
        ...base,
        data_type: 'add_hit',
        url: 'u',
        method: 'GET',
        status: 200,
        started: 'yesterday',
        elapsed: 1,
      }),
      encode({
        ...base,
        data_type: 'add_hit',
        url: 'u',
        method: 'GET',
        status: 200,
        started: '2026-01-01T00:00:00',
        elapsed: -1,
      }),
      encode({ ...base, data_type: 'teleport' }),
      encode({ ...base, loads_status: [1, 2], data_type: 'startTest', test: 't' }),
      new Uint8Array([0xff, 0xfe, 0x00]),
    ].map((frame) => {
      const parsed = parseMessage(frame);
      assert.equal(parsed.ok, false);
      return parsed.ok ? '' : parsed.problem.kind;
    });
    assert.deepEqual(kinds, [
      'not JSON',
      'not a JSON object',
      'no data_type',
      'addError without a 3-element exc_info',
      'add_hit with a bad started date',
      'add_hit with a bad elapsed',
      "unknown data_type 'teleport'",
      'startTest with a bad loads_status',
      'not JSON',
    ]);
  });
});

describe('parseTestRunnerCommand', () => {
  it('when the command has quotes and {test} then it splits as a shell would and replaces the name', () => {
    const argv = parseTestRunnerCommand(`python3 "my tests/site.py" --name={test} '$HOME'`);
    assert.deepEqual(argv, ['python3', 'my tests/site.py', '--name={test}', '$HOME']);
    assert.deepEqual(commandFor(argv, 'site.Test.test_a'), [
      'python3',
      'my tests/site.py',
      '--name=site.Test.test_a',
      '$HOME',
    ]);
  });

  it('when the command uses a pipe or is empty then a usage error says why', () => {
    assert.throws(
      () => parseTestRunnerCommand('python3 t.py {test} | tee log'),
      (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.match(err.message, /shell operator '\|'.*without a shell/);
        return true;
      },
    );
    assert.throws(() => parseTestRunnerCommand('   '), /--test-runner is empty/);
  });
});

interface Ran {
  snapshot: Snapshot;
  report: ExternalRunReport;
  ms: number;
  interrupted: boolean;
}

async function runExternal(options: {
  command: string;
  fqn: string;
  plan: CycleStep[];
  cwd?: string;
  env?: Record<string, string>;
  processTimeoutS?: number;
  signal?: AbortSignal;
  aggregator?: Aggregator;
  betweenSteps?: (step: CycleStep) => Promise<'go' | 'stop'>;
}): Promise<Ran> {
  const aggregator = options.aggregator ?? new Aggregator();
  const runner = new ExternalRunner({
    argv: parseTestRunnerCommand(options.command),
    fqn: options.fqn,
    plan: options.plan,
    sink: aggregator,
    signal: options.signal ?? new AbortController().signal,
    cwd: options.cwd ?? REPO_ROOT,
    env: { PATH: process.env['PATH'], ...options.env },
    runId: 'run-1',
    agentId: 'agent-1',
    receiver: null,
    processTimeoutS: options.processTimeoutS ?? 30,
    ...(options.betweenSteps === undefined ? {} : { betweenSteps: options.betweenSteps }),
  });
  const started = performance.now();
  const { interrupted } = await runner.run();
  return {
    snapshot: aggregator.snapshot(),
    report: runner.report(),
    ms: performance.now() - started,
    interrupted,
  };
}

function p50(snapshot: Snapshot): number {
  return LatencyHistogram.decode(snapshot.latency).percentile(50);
}

async function withServer(
  delayMs: number,
  fn: (server: TestServer) => Promise<void>,
): Promise<void> {
  const server = await startHttpServer((req, res) => {
    if (req.url === '/fail') {
      res.statusCode = 500;
    }
    setTimeout(() => res.end('ok'), delayMs);
  });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

describe('ExternalRunner with the reference clients', () => {
  it(
    'when the Python client runs -u 2:3 --hits 4 then every run, hit and counter is counted exactly',
    { skip: PYTHON_ZMQ_SKIP },
    async () => {
      await withServer(0, async (server) => {
        const ran = await runExternal({
          command: `${PYTHON_ZMQ} examples/external/test_site.py {test}`,
          fqn: 'test_site.TestSite',
          plan: buildPlan([2, 3], [4], null),
          env: { LOADS_SERVER_URL: server.url },
        });
        // (2 + 3) users × 4 hits × 2 methods.
        assert.deepEqual(ran.snapshot.tests, { successes: 40, failures: 0, errors: 0 });
        assert.equal(ran.snapshot.hits, 40);
        assert.equal(server.requests, 40);
        assert.deepEqual(ran.snapshot.counters, { visits: 20 });
        assert.deepEqual(Object.keys(ran.snapshot.perTest).sort(), [
          'TestSite.test_counted',
          'TestSite.test_home',
        ]);
        assert.deepEqual(
          ran.snapshot.steps.map((s) => [s.users, s.runsPerUser, s.successes]),
          [
            [2, 4, 16],
            [3, 4, 24],
          ],
        );
        assert.deepEqual(ran.report, { problems: [], processes: 5, failedProcesses: 0 });
      });
    },
  );

  it('when the Node client runs -u 3 --hits 5 then the counts are exact', async () => {
    await withServer(0, async (server) => {
      const ran = await runExternal({
        command: 'node examples/external/test-site.mjs {test}',
        fqn: 'test-site.home',
        plan: buildPlan([3], [5], null),
        env: { LOADS_SERVER_URL: server.url },
      });
      assert.deepEqual(ran.snapshot.tests, { successes: 15, failures: 0, errors: 0 });
      assert.equal(ran.snapshot.hits, 15);
      assert.equal(server.requests, 15);
    });
  });

  it(
    'when the server takes 60 ms then the add_hit latencies say so',
    { skip: PYTHON_ZMQ_SKIP },
    async () => {
      await withServer(60, async (server) => {
        const ran = await runExternal({
          command: `${PYTHON_ZMQ} examples/external/test_site.py {test}`,
          fqn: 'test_site.TestSite.test_home',
          plan: buildPlan([2], [5], null),
          env: { LOADS_SERVER_URL: server.url },
        });
        assert.equal(ran.snapshot.hits, 10);
        const median = p50(ran.snapshot);
        assert.ok(median >= 59 && median < 200, `p50 ${median} ms`);
      });
    },
  );

  it(
    'when a duration is given then each process loops until it and reports what it did',
    { skip: PYTHON_ZMQ_SKIP },
    async () => {
      await withServer(5, async (server) => {
        const ran = await runExternal({
          command: `${PYTHON_ZMQ} examples/external/test_site.py {test}`,
          fqn: 'test_site.TestSite.test_home',
          plan: buildPlan([2], null, 1000),
          env: { LOADS_SERVER_URL: server.url },
        });
        assert.ok(ran.snapshot.tests.successes >= 10, `${ran.snapshot.tests.successes} runs`);
        assert.equal(ran.snapshot.tests.successes, ran.snapshot.hits);
        assert.equal(ran.snapshot.tests.errors, 0);
      });
    },
  );
});

describe('mergeExternalReports', () => {
  it('when agents report processes and problems then they are summed by kind with the first example kept', () => {
    const merged = mergeExternalReports([
      {
        processes: 4,
        failedProcesses: 1,
        problems: [{ kind: 'not JSON', count: 2, example: 'x{' }],
      },
      { processes: 4, failedProcesses: 0, problems: [] },
      {
        processes: 4,
        failedProcesses: 2,
        problems: [
          { kind: 'unknown data_type', count: 1, example: 'nope' },
          { kind: 'not JSON', count: 3, example: 'y{' },
        ],
      },
    ]);
    assert.deepEqual(merged, {
      processes: 12,
      failedProcesses: 3,
      problems: [
        { kind: 'not JSON', count: 5, example: 'x{' },
        { kind: 'unknown data_type', count: 1, example: 'nope' },
      ],
    });
  });
});

describe('ExternalRunner between steps (the agents’ step barrier)', () => {
  it('when betweenSteps is given then it is called after each step but the last, once that step’s runs are all in', async () => {
    await withServer(0, async (server) => {
      const aggregator = new Aggregator();
      const calls: { cycleIndex: number; successes: number; requests: number }[] = [];
      const ran = await runExternal({
        command: 'node examples/external/test-site.mjs {test}',
        fqn: 'test-site.home',
        plan: buildPlan([1, 2, 1], [2], null),
        env: { LOADS_SERVER_URL: server.url },
        aggregator,
        betweenSteps: async (step) => {
          calls.push({
            cycleIndex: step.cycleIndex,
            successes: aggregator.snapshot().tests.successes,
            requests: server.requests,
          });
          await new Promise((resolve) => setTimeout(resolve, 50));
          return 'go';
        },
      });
      // After step 0: 1 user × 2 hits; after step 1: + 2 users × 2 hits; nothing of the next step yet.
      assert.deepEqual(calls, [
        { cycleIndex: 0, successes: 2, requests: 2 },
        { cycleIndex: 1, successes: 6, requests: 6 },
      ]);
      assert.deepEqual(ran.snapshot.tests, { successes: 8, failures: 0, errors: 0 });
      assert.equal(ran.interrupted, false);
      assert.equal(ran.report.processes, 4);
    });
  });

  it('when betweenSteps says stop then no later step starts and the run is interrupted', async () => {
    await withServer(0, async (server) => {
      const ran = await runExternal({
        command: 'node examples/external/test-site.mjs {test}',
        fqn: 'test-site.home',
        plan: buildPlan([2, 3], [1], null),
        env: { LOADS_SERVER_URL: server.url },
        betweenSteps: () => Promise.resolve('stop'),
      });
      assert.equal(ran.interrupted, true);
      assert.deepEqual(ran.snapshot.tests, { successes: 2, failures: 0, errors: 0 });
      assert.equal(ran.report.processes, 2);
      assert.equal(server.requests, 2);
    });
  });
});

describe('ExternalRunner with misbehaving processes', () => {
  it('when the process sends the environment it got then it is exactly Loads’ LOADS_* variables', async (t) => {
    const project = await createTmpProject();
    t.after(() => project.remove());
    const command = await scriptedRunner(project, {
      dumpEnv: true,
      messages: [{ data_type: 'addSuccess', test: 't' }],
    });
    const ran = await runExternal({ command, fqn: 'pkg.Test.t', plan: buildPlan([2], [1], null) });
    assert.equal(ran.snapshot.tests.successes, 2);
    const second = JSON.parse(await readFile(path.join(project.dir, 'env-2.json'), 'utf8'));
    assert.deepEqual(second.argv, ['pkg.Test.t']);
    assert.deepEqual(Object.keys(second.env).sort(), [
      'LOADS_AGENT_ID',
      'LOADS_CURRENT_USER',
      'LOADS_RUN_ID',
      'LOADS_TOTAL_HITS',
      'LOADS_TOTAL_USERS',
      'LOADS_ZMQ_RECEIVER',
    ]);
    assert.equal(second.env.LOADS_CURRENT_USER, '2');
    assert.equal(second.env.LOADS_TOTAL_USERS, '2');
    assert.equal(second.env.LOADS_TOTAL_HITS, '1');
    assert.equal(second.env.LOADS_RUN_ID, 'run-1');
    assert.equal(second.env.LOADS_AGENT_ID, 'agent-1');
    assert.match(second.env.LOADS_ZMQ_RECEIVER, /^ipc:\/\/\/.+loads-zmq-.+\/receiver$/);

    const duration = await runExternal({ command, fqn: 'x', plan: buildPlan([1], null, 200) });
    assert.equal(duration.snapshot.tests.successes, 1);
    const only = JSON.parse(await readFile(path.join(project.dir, 'env-1.json'), 'utf8'));
    assert.equal(only.env.LOADS_DURATION, '0.2');
    assert.equal(only.env.LOADS_TOTAL_HITS, undefined);
  });

  it('when a process reports failures, errors, sockets and counters then each is counted as in process', async (t) => {
    const project = await createTmpProject();
    t.after(() => project.remove());
    const command = await scriptedRunner(project, {
      messages: [
        { data_type: 'startTest', test: 'T.a' },
        {
          data_type: 'addFailure',
          test: 'T.a',
          exc_info: ['AssertionError', '1 != 2', 'Traceback: line 3'],
        },
        { data_type: 'startTest', test: 'T.b' },
        {
          data_type: 'addError',
          test: 'T.b',
          exc_info: ["<class 'KeyError'>", "'x'", 'Traceback: line 9'],
        },
        { data_type: 'socket_open' },
        { data_type: 'socket_message', size: 42 },
        { data_type: 'socket_message', size: 8 },
        { data_type: 'socket_close' },
        { data_type: 'incr_counter', test: 'T.a', name: 'logins' },
      ],
    });
    const ran = await runExternal({ command, fqn: 'T', plan: buildPlan([1], [1], null) });
    const s = ran.snapshot;
    // 2 runs reported out of 2 expected (1 hit × the 2 tests T.a and T.b): nothing missing.
    assert.deepEqual(s.tests, { successes: 0, failures: 1, errors: 1 });
    assert.equal(s.topFailures[0]!.message, '1 != 2');
    assert.equal(s.topFailures[0]!.stack, 'Traceback: line 3');
    assert.equal(s.topErrors[0]!.name, 'KeyError');
    assert.equal(s.topErrors[0]!.stack, 'Traceback: line 9');
    assert.equal(s.socketsOpened, 1);
    assert.equal(s.socketsClosed, 1);
    assert.equal(s.wsMessages, 2);
    assert.equal(s.wsBytesReceived, 50);
    assert.deepEqual(s.counters, { logins: 1 });
  });

  it('when messages are malformed then each kind is counted once with a count and the run goes on', async (t) => {
    const project = await createTmpProject();
    t.after(() => project.remove());
    const command = await scriptedRunner(project, {
      messages: [
        '{oops',
        '{oops again',
        { data_type: 'warp' },
        { data_type: 'addSuccess', test: 't', run_id: 'someone-else' },
        { data_type: 'addSuccess', test: 't' },
      ],
    });
    const ran = await runExternal({ command, fqn: 't', plan: buildPlan([1], [1], null) });
    assert.equal(ran.snapshot.tests.successes, 1);
    assert.deepEqual(
      ran.report.problems.map((p) => [p.kind, p.count]),
      [
        ['not JSON', 2],
        ["unknown data_type 'warp'", 1],
        ['from another run (run_id)', 1],
      ],
    );
    assert.equal(ran.report.problems[0]!.example, '{oops');
  });

  it('when a process crashes after one of three runs then the other two are errors with its status and stderr', async (t) => {
    const project = await createTmpProject();
    t.after(() => project.remove());
    const command = await scriptedRunner(project, {
      messages: [{ data_type: 'addSuccess', test: 't' }],
      stderr: 'starting\nTraceback (most recent call last):\nZeroDivisionError: division by zero\n',
      exit: 3,
    });
    const ran = await runExternal({ command, fqn: 't', plan: buildPlan([1], [3], null) });
    assert.deepEqual(ran.snapshot.tests, { successes: 1, failures: 0, errors: 2 });
    const error = ran.snapshot.topErrors[0]!;
    assert.equal(error.count, 2);
    assert.equal(error.name, 'ExternalProcessError');
    assert.match(error.message, /^node exited with status 3; 1 of 3 runs reported$/);
    assert.match(error.stack, /ZeroDivisionError: division by zero$/);
    assert.equal(ran.report.failedProcesses, 1);
  });

  it('when a class runs two tests per hit and its process stops after the first hit then the runs missing count both tests', async (t) => {
    const project = await createTmpProject();
    t.after(() => project.remove());
    const command = await scriptedRunner(project, {
      messages: [
        { data_type: 'addSuccess', test: 'T.a' },
        { data_type: 'addSuccess', test: 'T.b' },
      ],
    });
    // --hits 3 × 2 tests: 6 runs expected, 2 reported, exit 0.
    const ran = await runExternal({ command, fqn: 'T', plan: buildPlan([1], [3], null) });
    assert.deepEqual(ran.snapshot.tests, { successes: 2, failures: 0, errors: 4 });
    assert.match(ran.snapshot.topErrors[0]!.message, /exited with status 0; 2 of 6 runs reported$/);
  });

  it('when a process hangs then --external-process-timeout terminates it and reports it', async (t) => {
    const project = await createTmpProject();
    t.after(() => project.remove());
    const command = await scriptedRunner(project, { messages: [], hang: true });
    // 0.2 s × 1 hit: SIGTERM at 0.2 s.
    const ran = await runExternal({
      command,
      fqn: 't',
      plan: buildPlan([2], [1], null),
      processTimeoutS: 0.2,
    });
    assert.ok(ran.ms < 3000, `took ${ran.ms} ms`);
    assert.deepEqual(ran.snapshot.tests, { successes: 0, failures: 0, errors: 2 });
    assert.match(
      ran.snapshot.topErrors[0]!.message,
      /was still running past --external-process-timeout 0\.2s and was terminated; 0 of 1 runs reported/,
    );
  });

  it('when the run is aborted then every process is terminated and nothing in flight is counted', async (t) => {
    const project = await createTmpProject();
    t.after(() => project.remove());
    const command = await scriptedRunner(project, { messages: [], hang: true, dumpEnv: true });
    const controller = new AbortController();
    const aborting = setTimeout(() => controller.abort(), 700);
    t.after(() => clearTimeout(aborting));
    const ran = await runExternal({
      command,
      fqn: 't',
      plan: buildPlan([3], [1], null),
      signal: controller.signal,
    });
    assert.ok(ran.ms < 4000, `took ${ran.ms} ms`);
    assert.deepEqual(ran.snapshot.tests, { successes: 0, failures: 0, errors: 0 });
    assert.equal(ran.report.processes, 3);
    for (const user of [1, 2, 3]) {
      const { pid } = JSON.parse(
        await readFile(path.join(project.dir, `env-${user}.json`), 'utf8'),
      );
      assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `process ${pid} still runs`);
    }
  });

  it('when the command does not exist then each process is an error naming it', async () => {
    const ran = await runExternal({
      command: 'no-such-runner-here {test}',
      fqn: 't',
      plan: buildPlan([2], [1], null),
    });
    assert.equal(ran.snapshot.tests.errors, 2);
    assert.match(
      ran.snapshot.topErrors[0]!.message,
      /no-such-runner-here could not start: spawn no-such-runner-here ENOENT/,
    );
  });
});
