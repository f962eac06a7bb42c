// --test-runner end to end (SPEC §11): the built CLI spawned with the
// reference clients (Python with pyzmq, Node) and a scripted runner against
// loopback servers: exact counts, the same summary shape as a TypeScript
// test's, tracebacks, latencies, sockets and counters, malformed messages,
// crashing and hanging processes, Ctrl-C leaving no child, the LOADS_*
// environment, and the usage errors.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { runCli, startCli, type CliResult } from '../helpers/cli.ts';
import { parseConfig } from '../../src/cli/config.ts';
import { createProgram, type RawOptions } from '../../src/cli/options.ts';
import { validateOptions } from '../../src/cli/validate.ts';
import { UsageErrors } from '../../src/errors.ts';
import { OUTPUT_NAMES } from '../../src/outputs/registry.ts';
import { isGone, readDumpedEnv, scriptedRunner } from '../helpers/external.ts';
import { PYTHON_ZMQ, PYTHON_ZMQ_SKIP } from '../helpers/python.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { createTmpProject, REPO_ROOT, type TmpProject } from '../helpers/tmp-project.ts';
import type { Summary } from '../../src/metrics/summary.ts';

const EXTERNAL_EXAMPLES = path.join(REPO_ROOT, 'examples', 'external');
const PYTHON = PYTHON_ZMQ ?? 'python3';

let server: TestServer;
let slow: TestServer;
const SLOW_MS = 80;

before(async () => {
  server = await startHttpServer((req, res) => {
    res.statusCode = req.url === '/fail' ? 500 : 200;
    res.end('ok');
  });
  slow = await startHttpServer((_req, res) => {
    setTimeout(() => res.end('ok'), SLOW_MS);
  });
});

after(async () => {
  await server.close();
  await slow.close();
});

/** The CLI's environment without any LOADS_* of the test's own, so the children's is exactly ours. */
const CLEAN_ENV = Object.fromEntries(
  Object.keys(process.env)
    .filter((key) => key.startsWith('LOADS_'))
    .map((key) => [key, undefined]),
);

/** Runs the CLI with --test-runner, the json summary written to a file; returns both. */
async function runExternal(
  project: TmpProject,
  args: readonly string[],
  cwd = EXTERNAL_EXAMPLES,
): Promise<{ result: CliResult; summary: Summary }> {
  const jsonFile = path.join(project.dir, 'summary.json');
  const result = await runCli(
    [...args, '-o', 'stdout', '-o', 'json', '--output-json-filename', jsonFile],
    { cwd, env: CLEAN_ENV, timeoutMs: 30_000 },
  );
  assert.ok(existsSync(jsonFile), `no json summary; stderr:\n${result.stderr}`);
  return { result, summary: JSON.parse(readFileSync(jsonFile, 'utf8')) as Summary };
}

function withProject(fn: (project: TmpProject) => Promise<void>): () => Promise<void> {
  return async () => {
    const project = await createTmpProject('loads-external-cli-');
    try {
      await fn(project);
    } finally {
      await project.remove();
    }
  };
}

/** The summary's lines with every figure, date and URL blanked: its shape. */
function shapeOf(text: string): string[] {
  // A saturation warning depends on how busy the machine was, not on the runner.
  const unwarned = text.replace(/\n\nWarning: the load generator was saturated[^\n]*/, '');
  return unwarned.split('\n').map((line) =>
    line
      .replace(/https?:\/\/\S+/g, 'URL')
      .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/, 'DATE')
      .replace(/\d+(\.\d+)?%?s?/g, 'N')
      .replace(/ +/g, ' '),
  );
}

describe('--test-runner with the reference clients', () => {
  it(
    'when the Python client runs -u 2:3 --hits 4 then every run, hit, step and counter is counted exactly',
    { skip: PYTHON_ZMQ_SKIP },
    withProject(async (project) => {
      const { result, summary } = await runExternal(project, [
        '--test-runner',
        `${PYTHON} test_site.py {test}`,
        'test_site.TestSite',
        '-u',
        '2:3',
        '--hits',
        '4',
        '--server-url',
        server.url,
      ]);
      assert.equal(result.code, 0, result.stderr);
      // (2 + 3) users × 4 hits × 2 methods, each one GET.
      assert.match(result.stdout, /^Hits: 40$/m);
      assert.match(result.stdout, /^Success: 40$/m);
      assert.match(result.stdout, /^Errors: 0$/m);
      assert.match(result.stdout, /^Failures: 0$/m);
      assert.match(result.stdout, /^ {2}visits: 20$/m);
      assert.match(
        result.stdout,
        /^External runner\n {2}Command: \S+ test_site\.py \{test\}\n {2}Processes: 5 started, 0 failed$/m,
      );
      assert.equal(summary.hits, 40);
      assert.deepEqual(
        summary.steps.map((s) => [s.users, s.runsPerUser, s.runs]),
        [
          [2, 4, 16],
          [3, 4, 24],
        ],
      );
      assert.deepEqual(summary.perTest, {
        'TestSite.test_counted': { successes: 20, failures: 0, errors: 0 },
        'TestSite.test_home': { successes: 20, failures: 0, errors: 0 },
      });
      assert.deepEqual(summary.external, {
        command: `${PYTHON} test_site.py {test}`,
        processes: 5,
        failedProcesses: 0,
        problems: [],
      });
      assert.equal(summary.exitStatus, 0);
      // The progress line learnt the two methods: 40 runs in all, not 20.
      assert.match(result.stderr, /100% runs 40\/40 hits 40/);
    }),
  );

  it(
    'when the Node client runs -u 2 --hits 2:3 then the counts are exact',
    withProject(async (project) => {
      const { result, summary } = await runExternal(project, [
        '--test-runner',
        'node test-site.mjs {test}',
        'test-site.home',
        '-u',
        '2',
        '--hits',
        '2:3',
        '--server-url',
        server.url,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^Hits: 10$/m);
      assert.match(result.stdout, /^Success: 10$/m);
      assert.deepEqual(
        summary.steps.map((s) => [s.users, s.runsPerUser, s.successes]),
        [
          [2, 2, 4],
          [2, 3, 6],
        ],
      );
      assert.equal(summary.external?.processes, 4);
    }),
  );

  it(
    'when the same test is written in TypeScript then its summary has the same shape and counts',
    { skip: PYTHON_ZMQ_SKIP },
    withProject(async (project) => {
      await project.write(
        'site.ts',
        `import { TestCase } from 'loads-runner';
export class TestSite extends TestCase {
  async test_home() {
    const res = await this.session.get('${server.url}/');
    this.assertEqual(res.status, 200);
  }
  async test_counted() {
    this.incrCounter('visits');
    const res = await this.session.get('${server.url}/');
    this.assertEqual(res.status, 200);
  }
}
`,
      );
      const load = ['-u', '2', '--hits', '3'];
      const ts = await runCli(['site.TestSite', ...load, '--workers', '1'], {
        cwd: project.dir,
      });
      const py = await runCli(
        [
          '--test-runner',
          `${PYTHON} test_site.py {test}`,
          'test_site.TestSite',
          ...load,
          '--server-url',
          server.url,
        ],
        { cwd: EXTERNAL_EXAMPLES, env: CLEAN_ENV },
      );
      assert.equal(ts.code, 0, ts.stderr);
      assert.equal(py.code, 0, py.stderr);
      // The external runner's own block aside, line for line the same.
      const external = /\nExternal runner\n(?: {2}.*\n)+/;
      assert.match(py.stdout, external);
      assert.deepEqual(shapeOf(py.stdout.replace(external, '')), shapeOf(ts.stdout));
      for (const line of ['Hits: 12', 'Success: 12', 'Errors: 0', 'Failures: 0', '  visits: 6']) {
        assert.ok(ts.stdout.includes(`${line}\n`), `TypeScript: ${line}`);
        assert.ok(py.stdout.includes(`${line}\n`), `Python: ${line}`);
      }
    }),
  );

  it(
    'when the Python tests fail and error then the summary lists both with their tracebacks, exit 1',
    { skip: PYTHON_ZMQ_SKIP },
    withProject(async (project) => {
      await project.write(
        'broken_site.py',
        `import sys
sys.path.insert(0, ${JSON.stringify(EXTERNAL_EXAMPLES)})
from loads_client import TestCase, main

class TestBroken(TestCase):
    def test_status(self):
        response = self.get(self.server_url + '/fail')
        self.assertEqual(response.status, 200)

    def test_lookup(self):
        {}['missing']

if __name__ == '__main__':
    main()
`,
      );
      const { result, summary } = await runExternal(
        project,
        [
          '--test-runner',
          `${PYTHON} broken_site.py {test}`,
          'broken_site.TestBroken',
          '-u',
          '2',
          '--hits',
          '2',
          '--server-url',
          server.url,
        ],
        project.dir,
      );
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /^Success: 0$/m);
      assert.match(result.stdout, /^Errors: 4$/m);
      assert.match(result.stdout, /^Failures: 4$/m);
      assert.match(
        result.stdout,
        /^Most frequent errors\n {2}4x KeyError: 'missing'\n {6}Traceback \(most recent call last\):$/m,
      );
      assert.match(result.stdout, /broken_site\.py", line 11, in test_lookup/);
      assert.match(
        result.stdout,
        /^Most frequent failures\n {2}4x AssertionError: 500 != 200\n {6}Traceback/m,
      );
      assert.match(result.stdout, /^ {2}500: 4$/m);
      assert.equal(summary.external?.failedProcesses, 0);
      assert.equal(summary.exitStatus, 1);
    }),
  );

  it(
    `when the server answers in ${SLOW_MS} ms then the add_hit latencies say so`,
    { skip: PYTHON_ZMQ_SKIP },
    withProject(async (project) => {
      const { result, summary } = await runExternal(project, [
        '--test-runner',
        `${PYTHON} test_site.py {test}`,
        'test_site.TestSite.test_home',
        '-u',
        '2',
        '--hits',
        '3',
        '--server-url',
        slow.url,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(summary.hits, 6);
      const p50Ms = summary.latency.p50 * 1000;
      // HDR's 3 digits, plus a little for urllib and a loopback round trip (on a busy machine).
      assert.ok(p50Ms >= SLOW_MS * 0.999 && p50Ms < SLOW_MS * 1.5, `p50 ${p50Ms} ms`);
      assert.ok(summary.latency.max * 1000 < 1000, `max ${summary.latency.max} s`);
    }),
  );
});

describe('--test-runner with a misbehaving runner', () => {
  it(
    'when the runner reports sockets and counters then they are in the summary as for a TypeScript test',
    withProject(async (project) => {
      const command = await scriptedRunner(project, {
        messages: [
          { data_type: 'startTest', test: 'T.ws' },
          { data_type: 'socket_open' },
          { data_type: 'socket_message', size: 42 },
          { data_type: 'socket_message', size: 8 },
          { data_type: 'socket_close' },
          { data_type: 'incr_counter', test: 'T.ws', name: 'logins' },
          { data_type: 'incr_counter', test: 'T.ws', name: 'logins' },
          { data_type: 'addSuccess', test: 'T.ws' },
          { data_type: 'stopTest', test: 'T.ws' },
        ],
      });
      const { result, summary } = await runExternal(project, [
        '--test-runner',
        command,
        'T.ws',
        '-u',
        '2',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^Opened web sockets: 2$/m);
      assert.match(result.stdout, /^Bytes received via web sockets : 100$/m);
      assert.match(result.stdout, /^Success: 2$/m);
      assert.match(result.stdout, /^Counters\n {2}logins: 4$/m);
      assert.equal(summary.wsMessages, 4);
    }),
  );

  it(
    'when messages are malformed then each kind is reported once with its count and first example',
    withProject(async (project) => {
      const command = await scriptedRunner(project, {
        messages: [
          '{oops',
          '{oops again',
          { data_type: 'warp' },
          { data_type: 'addSuccess', test: 't', run_id: 'someone-else' },
          { data_type: 'addSuccess', test: 't' },
        ],
      });
      const { result, summary } = await runExternal(project, [
        '--test-runner',
        command,
        't',
        '-u',
        '2',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^Success: 2$/m);
      assert.match(
        result.stdout,
        /^ {2}Messages not counted:\n {4}4x not JSON, e\.g\. "\{oops"\n {4}2x unknown data_type 'warp', e\.g\. .*warp.*\n {4}2x from another run \(run_id\), e\.g\. "someone-else"$/m,
      );
      assert.deepEqual(
        summary.external?.problems.map((p) => [p.kind, p.count]),
        [
          ['not JSON', 4],
          ["unknown data_type 'warp'", 2],
          ['from another run (run_id)', 2],
        ],
      );
    }),
  );

  it(
    'when a process crashes then its exit status and the end of its stderr are an error, an errors threshold fails, exit 1',
    withProject(async (project) => {
      const command = await scriptedRunner(project, {
        messages: [{ data_type: 'addSuccess', test: 't' }],
        stderr:
          'starting\nTraceback (most recent call last):\n  File "t.py", line 3\nZeroDivisionError: division by zero\n',
        exit: 3,
      });
      const { result, summary } = await runExternal(project, [
        '--test-runner',
        command,
        't',
        '--hits',
        '3',
        '--threshold',
        'errors<1',
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /^ {2}✗ FAIL {2}errors<1 {2}\(measured 2\)$/m);
      assert.match(result.stdout, /^Success: 1$/m);
      assert.match(result.stdout, /^Errors: 2$/m);
      assert.match(
        result.stdout,
        /^ {2}2x ExternalProcessError: node exited with status 3; 1 of 3 runs reported\n {6}starting\n {6}Traceback \(most recent call last\):\n {6}File "t\.py", line 3\n {6}ZeroDivisionError: division by zero$/m,
      );
      assert.match(result.stdout, /^ {2}Processes: 1 started, 1 failed$/m);
      assert.equal(summary.external?.failedProcesses, 1);
    }),
  );

  it(
    'when a process hangs then --external-process-timeout terminates it in bounded time, exit 1',
    withProject(async (project) => {
      const command = await scriptedRunner(project, { messages: [], hang: true });
      const started = performance.now();
      const { result } = await runExternal(project, [
        '--test-runner',
        command,
        't',
        '-u',
        '2',
        '--external-process-timeout',
        '0.3',
      ]);
      const ms = performance.now() - started;
      assert.equal(result.code, 1, result.stderr);
      assert.ok(ms < 10_000, `took ${ms} ms`);
      assert.match(result.stdout, /^Errors: 2$/m);
      // The two processes failed the same way: one line, counted twice.
      assert.match(
        result.stdout,
        /^ {2}2x ExternalProcessError: node was still running past --external-process-timeout 0\.3s and was terminated; 0 of 1 runs reported$/m,
      );
    }),
  );

  const stops = [
    {
      name: 'when Ctrl-C stops the run then every process is gone, the summary follows and the exit is 130',
      signal: 'SIGINT',
      twice: false,
      code: 130,
      last: /^Interrupted by SIGINT \(Ctrl-C\): the summary covers what ran before$/m,
    },
    {
      name: 'when SIGTERM stops the run then every process is gone, the summary follows and the exit is 143',
      signal: 'SIGTERM',
      twice: false,
      code: 143,
      last: /^Interrupted by SIGTERM: the summary covers what ran before$/m,
    },
    {
      name: 'when processes ignore SIGTERM then a second Ctrl-C kills them and exits 130 at once',
      signal: 'SIGINT',
      twice: true,
      code: 130,
      last: null,
    },
  ] as const;
  for (const stop of stops) {
    it(
      stop.name,
      withProject(async (project) => {
        const command = await scriptedRunner(project, {
          messages: [],
          hang: true,
          dumpEnv: true,
          ignoreTerm: stop.twice,
        });
        // --ramp-up: the three start over 0.3 s, and all are running before the signal.
        const { child, result } = startCli(
          ['--test-runner', command, 't', '-u', '3', '--ramp-up', '0.3'],
          { cwd: project.dir, env: CLEAN_ENV, timeoutMs: 20_000 },
        );
        const users = [1, 2, 3];
        const deadline = Date.now() + 10_000;
        while (!users.every((u) => existsSync(path.join(project.dir, `env-${u}.json`)))) {
          assert.ok(Date.now() < deadline, 'the processes did not start');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const pids = users.map((u) => readDumpedEnv(project, u).pid);
        assert.ok(
          pids.every((pid) => !isGone(pid)),
          'the processes run',
        );
        child.kill(stop.signal);
        if (stop.twice) {
          await new Promise((resolve) => setTimeout(resolve, 300));
          child.kill(stop.signal);
        }
        const { code, stdout, stderr } = await result;
        assert.equal(code, stop.code, stderr);
        if (stop.last === null) {
          assert.match(stderr, /a second signal \(SIGINT\); exiting now/);
        } else {
          assert.match(stdout, stop.last);
          assert.match(stdout, /^ {2}Processes: 3 started, 0 failed$/m);
        }
        // Reaped by the CLI, or by init a moment after it exited.
        const reapedBy = Date.now() + 2000;
        while (!pids.every(isGone) && Date.now() < reapedBy) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        for (const pid of pids) {
          assert.ok(isGone(pid), `process ${pid} outlived the runner`);
        }
        const receiver = readDumpedEnv(project, 1).env['LOADS_ZMQ_RECEIVER']!;
        const folder = path.dirname(receiver.slice('ipc://'.length));
        assert.ok(!existsSync(folder), `${folder} left behind`);
      }),
    );
  }

  it(
    'when an error crosses a threshold with --abort-on-fail then the hanging processes are stopped, exit 1',
    withProject(async (project) => {
      const command = await scriptedRunner(project, {
        messages: [
          { data_type: 'addError', test: 't', exc_info: ['RuntimeError', 'boom', 'Traceback: x'] },
        ],
        hang: true,
      });
      const started = performance.now();
      const { result, summary } = await runExternal(project, [
        '--test-runner',
        command,
        't',
        '-u',
        '2',
        '--hits',
        '5',
        '--threshold',
        'errors<1',
        '--abort-on-fail',
      ]);
      const ms = performance.now() - started;
      assert.equal(result.code, 1, result.stderr);
      assert.ok(ms < 10_000, `took ${ms} ms`);
      assert.match(result.stderr, /threshold 'errors<1' crossed; stopping \(--abort-on-fail\)/);
      assert.match(
        result.stdout,
        /^Aborted: threshold 'errors<1' crossed \(--abort-on-fail\); the summary covers what ran before$/m,
      );
      assert.equal(summary.abortedBy, 'errors<1');
      assert.ok(summary.errors >= 1);
    }),
  );

  it(
    'when --ramp-up is given then the processes of a step start over it',
    withProject(async (project) => {
      const command = await scriptedRunner(project, {
        messages: [{ data_type: 'addSuccess', test: 't' }],
        dumpEnv: true,
      });
      const { result, summary } = await runExternal(
        project,
        ['--test-runner', command, 't', '-u', '3', '--ramp-up', '1.5'],
        project.dir,
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(summary.successes, 3);
      // Users start at 0, 0.5 and 1 s: the run cannot end before the last one started.
      assert.ok(summary.durationS >= 1, `the run lasted ${summary.durationS} s`);
      // The file's time is when each process began: 1 s apart, less a slow start of the first.
      const began = [1, 2, 3].map((u) => statSync(path.join(project.dir, `env-${u}.json`)).mtimeMs);
      const spreadMs = began[2]! - began[0]!;
      assert.ok(spreadMs >= 500, `the users started within ${spreadMs} ms`);
    }),
  );

  it(
    'when processes start then their environment is exactly Loads’ LOADS_* variables',
    withProject(async (project) => {
      const command = await scriptedRunner(project, {
        messages: [{ data_type: 'addSuccess', test: 't' }],
        dumpEnv: true,
      });
      const hits = await runExternal(
        project,
        ['--test-runner', command, 'pkg.Test.t', '-u', '2'],
        project.dir,
      );
      assert.equal(hits.result.code, 0, hits.result.stderr);
      const [first, second] = [readDumpedEnv(project, 1), readDumpedEnv(project, 2)];
      assert.deepEqual(second.argv, ['pkg.Test.t']);
      assert.deepEqual(Object.keys(second.env).sort(), [
        'LOADS_AGENT_ID',
        'LOADS_CURRENT_USER',
        'LOADS_RUN_ID',
        'LOADS_TOTAL_HITS',
        'LOADS_TOTAL_USERS',
        'LOADS_ZMQ_RECEIVER',
      ]);
      assert.deepEqual(
        [first.env['LOADS_CURRENT_USER'], second.env['LOADS_CURRENT_USER']],
        ['1', '2'],
      );
      assert.equal(second.env['LOADS_TOTAL_USERS'], '2');
      assert.equal(second.env['LOADS_TOTAL_HITS'], '1');
      assert.equal(second.env['LOADS_AGENT_ID'], hostname());
      assert.match(
        second.env['LOADS_RUN_ID']!,
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
      assert.equal(first.env['LOADS_RUN_ID'], second.env['LOADS_RUN_ID']);
      assert.match(second.env['LOADS_ZMQ_RECEIVER']!, /^ipc:\/\/\/.+\/receiver$/);

      // Duration mode, a receiver given, a config file, --server-url.
      const port = await freePort();
      await project.write(
        'loads.ini',
        `[loads]\ntest_runner = ${command}\nzmq_receiver = tcp://127.0.0.1:${port}\n`,
      );
      const duration = await runExternal(
        project,
        ['--config', 'loads.ini', 'x', '-d', '0.3', '--server-url', server.url],
        project.dir,
      );
      assert.equal(duration.result.code, 0, duration.result.stderr);
      assert.equal(duration.summary.successes, 1);
      const only = readDumpedEnv(project, 1);
      assert.deepEqual(Object.keys(only.env).sort(), [
        'LOADS_AGENT_ID',
        'LOADS_CURRENT_USER',
        'LOADS_DURATION',
        'LOADS_RUN_ID',
        'LOADS_SERVER_URL',
        'LOADS_TOTAL_USERS',
        'LOADS_ZMQ_RECEIVER',
      ]);
      assert.equal(only.env['LOADS_DURATION'], '0.3');
      assert.equal(only.env['LOADS_ZMQ_RECEIVER'], `tcp://127.0.0.1:${port}`);
      assert.equal(only.env['LOADS_SERVER_URL'], server.url);
      assert.notEqual(only.env['LOADS_RUN_ID'], first.env['LOADS_RUN_ID']);
    }),
  );
});

async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  probe.close();
  await once(probe, 'close');
  return port;
}

/** The usage problems of a command line, found in process as the CLI finds them (one line each). */
function usageProblems(args: readonly string[], configText?: string): string[] {
  const program = createProgram('0.0.0-test');
  let fqn: string | undefined;
  program.exitOverride().action((name: string | undefined) => {
    fqn = name;
  });
  program.parse(args as string[], { from: 'user' });
  const config = configText === undefined ? {} : parseConfig(configText, 'loads.ini');
  try {
    validateOptions(fqn, program.opts<RawOptions>(), config, OUTPUT_NAMES);
  } catch (err) {
    assert.ok(err instanceof UsageErrors, String(err));
    return err.errors.map((e) => e.message);
  }
  assert.fail(`no usage error for ${args.join(' ')}`);
}

describe('--test-runner usage errors', () => {
  const RUNNER = ['--test-runner', 'node t.mjs {test}', 't.T'];
  const cases: { args: string[]; config?: string; error: RegExp }[] = [
    {
      args: [...RUNNER, '--rate', '5', '-d', '1'],
      error:
        /^--rate with --test-runner: the open model hands runs one at a time to a pool of users, but an external process runs its user’s whole share itself; use -u and --hits or --duration$/,
    },
    {
      args: ['--test-runner', 'node t.mjs', 't.T'],
      error: /^--test-runner 'node t\.mjs' has no \{test\}, where the test name goes/,
    },
    {
      args: ['t.T'],
      config: '[loads]\ntest_runner = node t.mjs\n',
      error: /^--test-runner 'node t\.mjs' has no \{test\}/,
    },
    {
      args: ['--test-runner', 'node t.mjs {test} > log', 't.T'],
      error: /uses the shell operator '>', but the command runs without a shell/,
    },
    { args: ['--test-runner', '', 't.T'], error: /^--test-runner is empty/ },
    {
      args: [...RUNNER, '--workers', '2'],
      error: /^--workers 2 with --test-runner: each user is a process of its own already/,
    },
    {
      args: ['t.T', '--zmq-receiver', 'tcp://127.0.0.1:5557'],
      error: /^--zmq-receiver without --test-runner/,
    },
    {
      args: ['t.T', '--external-process-timeout', '5'],
      error: /^--external-process-timeout without --test-runner/,
    },
    {
      args: [...RUNNER, '--zmq-receiver', 'http://127.0.0.1:5557'],
      error:
        /^--zmq-receiver 'http:\/\/127\.0\.0\.1:5557' is not tcp:\/\/HOST:PORT or ipc:\/\/PATH/,
    },
    {
      args: [...RUNNER, '--zmq-receiver', 'tcp://*:5557'],
      error: /^--zmq-receiver 'tcp:\/\/\*:5557' is not tcp:\/\/HOST:PORT/,
    },
    {
      args: [...RUNNER, '--zmq-receiver', 'tcp://127.0.0.1:70000'],
      error: /^--zmq-receiver 'tcp:\/\/127\.0\.0\.1:70000' is not tcp:\/\/HOST:PORT/,
    },
    {
      args: [...RUNNER, '--external-process-timeout', 'soon'],
      error: /^--external-process-timeout 'soon' is not a number of seconds ≥ 0/,
    },
    {
      args: [
        ...RUNNER,
        '--zmq-receiver',
        'tcp://127.0.0.1:5557',
        '--agents',
        '2',
        '--broker',
        'nats://127.0.0.1:4222',
      ],
      error: /^--zmq-receiver with --agents: each agent binds a private receiver of its own/,
    },
    {
      args: [...RUNNER, '--check-cluster', '--broker', 'nats://127.0.0.1:4222'],
      error: /^--test-runner with --check-cluster: it applies to a run; drop it$/,
    },
    {
      args: [...RUNNER, '--http2', '--timeout', '5'],
      error:
        /^--timeout, --http2 with --test-runner: they set loads-runner's own HTTP client, but the external process makes its requests itself; drop them$/,
    },
    {
      args: [
        '--test-runner',
        'node t.mjs {test}',
        '--ping-broker',
        '--broker',
        'nats://127.0.0.1:4222',
      ],
      error: /^--test-runner with --ping-broker: it applies to a run; drop it$/,
    },
  ];
  for (const { args, config, error } of cases) {
    it(`when ${error.source.slice(1, 60)} then it is the one problem`, () => {
      const found = usageProblems(args, config);
      assert.equal(found.length, 1, found.join('\n'));
      assert.match(found[0]!, error);
      assert.doesNotMatch(found[0]!, /\n/);
    });
  }

  it('when the options are right then the external options are what was given, with the defaults', () => {
    const program = createProgram('0.0.0-test');
    program.exitOverride().action(() => {});
    program.parse([...RUNNER, '--zmq-receiver', 'ipc:///tmp/r', '-u', '2:3'], { from: 'user' });
    const options = validateOptions('t.T', program.opts<RawOptions>(), {}, OUTPUT_NAMES);
    assert.deepEqual(options.external, {
      command: 'node t.mjs {test}',
      argv: ['node', 't.mjs', '{test}'],
      receiver: 'ipc:///tmp/r',
      processTimeoutS: 30,
    });
    assert.deepEqual(options.users, [2, 3]);
    assert.equal(validateOptions('t.T', {}, {}, OUTPUT_NAMES).external, null);
  });

  it('when the CLI is given a usage error then it exits 2 with one line and sends nothing', async () => {
    const result = await runCli([...RUNNER, '--rate', '5', '-d', '1']);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^loads-runner: --rate with --test-runner: [^\n]+\n$/);
  });

  it('when --zmq-receiver is in use then the run stops before any process with exit 2', async (t) => {
    const project = await createTmpProject('loads-external-usage-');
    const busy = net.createServer().listen(0, '127.0.0.1');
    t.after(async () => {
      busy.close();
      await project.remove();
    });
    await once(busy, 'listening');
    const port = (busy.address() as net.AddressInfo).port;
    const command = await scriptedRunner(project, { messages: [], dumpEnv: true });
    const result = await runCli(
      ['--test-runner', command, 't', '--zmq-receiver', `tcp://127.0.0.1:${port}`],
      {
        cwd: project.dir,
      },
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /^loads-runner: --zmq-receiver 'tcp:\/\/127\.0\.0\.1:\d+': cannot bind it \(.+\); pick a free port or another path\n$/,
    );
    assert.ok(!existsSync(path.join(project.dir, 'env-1.json')), 'a process started');
  });

  it('when --help is asked then it explains the three options', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /--test-runner <command>/);
    assert.match(result.stdout, /--zmq-receiver <address>/);
    const flat = result.stdout.replace(/\s+/g, ' ');
    assert.match(
      flat,
      /--external-process-timeout <seconds> with --test-runner: .* 0 for none \(default: 30\)/,
    );
  });
});
