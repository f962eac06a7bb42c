// External test runners on distributed agents (SPEC §10, §11; issue 12),
// spawned as a user runs them: the built CLI, a real nats-server, real
// loads-agent processes, a loopback HTTP server. The test's scripts reach
// the agents as --include-file; each agent runs one process per user per
// step in its run folder. Exact counts (agents × users × hits over a
// 2-step cycle, so the step barrier is crossed), the Agents table, the
// External runner block summed over agents on the runner and on --attach,
// and a crashing process on the agents counted as errors with exit 1.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Summary } from '../../src/metrics/summary.ts';
import { startAgents, type StartedAgents } from '../helpers/agents.ts';
import { runCli, startCli, type CliResult } from '../helpers/cli.ts';
import { isGone, scriptedRunner } from '../helpers/external.ts';
import { startNatsServer, NATS_SKIP, type NatsServer } from '../helpers/nats.ts';
import { PYTHON_ZMQ, PYTHON_ZMQ_SKIP } from '../helpers/python.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { summaryNumber } from '../helpers/summary.ts';
import { createTmpProject, REPO_ROOT, type TmpProject } from '../helpers/tmp-project.ts';
import { agentRows } from './distributed-setup.ts';

const EXTERNAL_EXAMPLES = path.join(REPO_ROOT, 'examples', 'external');
const NAMES = ['ext-a', 'ext-b', 'ext-c'];

/** The CLI's environment without any LOADS_* of the test's own. */
const CLEAN_ENV = Object.fromEntries(
  Object.keys(process.env)
    .filter((key) => key.startsWith('LOADS_'))
    .map((key) => [key, undefined]),
);

/** The processes of dumpEnv runners in the agents' run folders: pid and agent, once `count` are there. */
async function dumpedProcesses(
  runFolders: string,
  count: number,
): Promise<{ pid: number; agent: string }[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found: { pid: number; agent: string }[] = [];
    for (const folder of await readdir(runFolders)) {
      for (const file of await readdir(path.join(runFolders, folder)).catch(() => [])) {
        if (/^env-\d+\.json$/.test(file)) {
          const text = await readFile(path.join(runFolders, folder, file), 'utf8').catch(() => '');
          if (text !== '') {
            const dumped = JSON.parse(text) as { pid: number; env: Record<string, string> };
            found.push({ pid: dumped.pid, agent: dumped.env['LOADS_AGENT_ID']! });
          }
        }
      }
    }
    if (found.length >= count) {
      return found;
    }
    assert.ok(Date.now() < deadline, `${found.length} of ${count} processes started`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits up to 5 s for every pid to be gone. */
async function allGone(pids: readonly number[]): Promise<number[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const left = pids.filter((pid) => !isGone(pid));
    if (left.length === 0 || Date.now() > deadline) {
      return left;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * An Agents row's runs, hits, errors and lost; not "saturated": an agent's
 * loop only counts, but a dozen processes starting at once on a small test
 * machine can delay it past the threshold.
 */
function countsOf(cells: readonly string[]): string[] {
  return [cells[1]!, cells[2]!, cells[3]!, cells[5]!];
}

/** The summary's External runner block: [processes started, failed]. */
function processesLine(stdout: string): [number, number] {
  const match =
    /^External runner\n {2}Command: .+\n {2}Processes: (\d+) started, (\d+) failed$/m.exec(stdout);
  assert.ok(match, `no External runner block in:\n${stdout}`);
  return [Number(match[1]), Number(match[2])];
}

describe('external test runners on agents', { skip: NATS_SKIP, timeout: 120_000 }, () => {
  let nats: NatsServer;
  let agents: StartedAgents;
  let server: TestServer;
  let project: TmpProject;
  let runFolders: string;

  before(async () => {
    nats = await startNatsServer();
    server = await startHttpServer((_req, res) => res.end('ok'));
    project = await createTmpProject('loads-external-agents-');
    // The Node client imports zeromq by its bare name: run folders under the
    // repository find its node_modules, as an agent's --tmp-dir would on a host
    // where the client's dependencies are installed.
    await mkdir(path.join(REPO_ROOT, '.tmp'), { recursive: true });
    runFolders = await mkdtemp(path.join(REPO_ROOT, '.tmp', 'agent-runs-'));
    agents = await startAgents({
      broker: nats.url,
      count: NAMES.length,
      names: NAMES,
      args: ['--tmp-dir', runFolders],
    });
  });
  after(async () => {
    await agents?.stop();
    await Promise.all([nats?.stop(), server?.close(), project?.remove()]);
    await rm(runFolders, { recursive: true, force: true });
  });

  /** The CLI in `cwd` on the agents, with the json summary; both returned. */
  async function runOnAgents(
    args: readonly string[],
    cwd: string,
  ): Promise<{ result: CliResult; summary: Summary }> {
    const json = path.join(project.dir, `summary-${Date.now()}.json`);
    const result = await runCli(
      [
        ...args,
        '--broker',
        nats.url,
        '--server-url',
        server.url,
        '-o',
        'stdout',
        '-o',
        'json',
        '--output-json-filename',
        json,
      ],
      { cwd, env: CLEAN_ENV, timeoutMs: 40_000 },
    );
    let summary: Summary;
    try {
      summary = JSON.parse(await readFile(json, 'utf8')) as Summary;
    } catch {
      assert.fail(`no json summary (exit ${result.code}); stderr:\n${result.stderr}`);
    }
    return { result, summary };
  }

  it('when the Node client runs -u 1:2 --hits 3 on 3 agents then every count is 3 × one box’s, the Agents table has a row each, the External runner block is summed, and --attach shows it again', async () => {
    const requestsBefore = server.requests;
    const { result, summary } = await runOnAgents(
      [
        '--test-runner',
        `${process.execPath} test-site.mjs {test}`,
        'test-site.home',
        '-u',
        '1:2',
        '--hits',
        '3',
        '--agents',
        '3',
        '--include-file',
        'test-site.mjs',
        '--include-file',
        'loads-client.mjs',
      ],
      EXTERNAL_EXAMPLES,
    );
    assert.equal(result.code, 0, result.stderr);
    // (1 + 2) users × 3 hits = 9 runs per agent, one GET / each.
    assert.equal(summaryNumber(result.stdout, 'Success'), 27);
    assert.equal(summaryNumber(result.stdout, 'Hits'), 27);
    assert.equal(summaryNumber(result.stdout, 'Errors'), 0);
    assert.equal(server.requests - requestsBefore, 27);
    // Both steps, each on every agent: the barrier between them was crossed by all three.
    assert.deepEqual(
      summary.steps.map((step) => [step.users, step.successes]),
      [
        [1, 9],
        [2, 18],
      ],
    );
    const rows = agentRows(result.stdout);
    assert.deepEqual([...rows.keys()], NAMES);
    for (const cells of rows.values()) {
      assert.deepEqual(countsOf(cells), ['9', '9', '0', 'no']);
    }
    // One process per user per step on each agent: 3 × (1 + 2).
    assert.deepEqual(processesLine(result.stdout), [9, 0]);
    assert.deepEqual(summary.external, {
      command: `${process.execPath} test-site.mjs {test}`,
      processes: 9,
      failedProcesses: 0,
      problems: [],
    });
    assert.equal(summary.exitStatus, 0);

    const runId = summary.distributed?.runId;
    assert.ok(runId !== undefined);
    const attached = await runCli(['--attach', runId, '--broker', nats.url, '-o', 'stdout'], {
      cwd: project.dir,
      env: CLEAN_ENV,
      timeoutMs: 30_000,
    });
    assert.equal(attached.code, 0, attached.stderr);
    assert.equal(summaryNumber(attached.stdout, 'Success'), 27);
    assert.deepEqual(processesLine(attached.stdout), [9, 0]);
    assert.match(attached.stdout, /^ {2}Command: .+ test-site\.mjs \{test\}$/m);
  });

  it('when a process crashes after its first run on every agent then the runs it missed are errors with its status and stderr, and the exit status is 1', async () => {
    const command = await scriptedRunner(project, {
      messages: [
        { data_type: 'startTest', test: 't' },
        { data_type: 'addSuccess', test: 't' },
      ],
      stderr: 'Traceback: the test blew up\n',
      exit: 3,
    });
    assert.match(command, /runner\.mjs \{test\}$/);
    const { result, summary } = await runOnAgents(
      [
        '--test-runner',
        `${process.execPath} runner.mjs {test}`,
        't',
        '-u',
        '2',
        '--hits',
        '2',
        '--agents',
        '2',
        '--include-file',
        'runner.mjs',
        '--include-file',
        'plan.json',
      ],
      project.dir,
    );
    assert.equal(result.code, 1, result.stderr);
    // 2 agents × 2 users: each process reported 1 of its 2 runs.
    assert.equal(summary.successes, 4);
    assert.equal(summary.errors, 4);
    assert.deepEqual(processesLine(result.stdout), [4, 4]);
    assert.equal(summary.external?.failedProcesses, 4);
    assert.match(
      result.stdout,
      /^ {2}4x ExternalProcessError: \S+ exited with status 3; 1 of 2 runs reported$/m,
    );
    assert.match(result.stdout, /Traceback: the test blew up/);
    const rows = agentRows(result.stdout);
    assert.equal(rows.size, 2);
    for (const cells of rows.values()) {
      assert.deepEqual(countsOf(cells), ['4', '0', '2', 'no'], 'runs, hits (none sent), errors');
    }
  });

  it(
    'when the Python client runs test_site.TestSite -u 2 --hits 3 on 3 agents then every run, hit and counter is counted exactly',
    { skip: PYTHON_ZMQ_SKIP },
    async () => {
      const { result, summary } = await runOnAgents(
        [
          '--test-runner',
          `${PYTHON_ZMQ} test_site.py {test}`,
          'test_site.TestSite',
          '-u',
          '2',
          '--hits',
          '3',
          '--agents',
          '3',
          '--include-file',
          'test_site.py',
          '--include-file',
          'loads_client.py',
        ],
        EXTERNAL_EXAMPLES,
      );
      assert.equal(result.code, 0, result.stderr);
      // 3 agents × 2 users × 3 hits × 2 methods.
      assert.equal(summary.successes, 36);
      assert.equal(summary.hits, 36);
      assert.deepEqual(summary.counters, { visits: 18 });
      assert.deepEqual(processesLine(result.stdout), [6, 0]);
      for (const cells of agentRows(result.stdout).values()) {
        assert.deepEqual(countsOf(cells), ['12', '12', '0', 'no']);
      }
    },
  );

  // Last: it stops one of the agents.
  it('when an agent gets SIGTERM and then the runner does then no external process outlives either, and the summary says interrupted (143)', async () => {
    await scriptedRunner(project, { messages: [], hang: true, dumpEnv: true });
    const { child, result } = startCli(
      [
        '--test-runner',
        `${process.execPath} runner.mjs {test}`,
        't',
        '-u',
        '2',
        '--hits',
        '1',
        '--agents',
        '3',
        '--include-file',
        'runner.mjs',
        '--include-file',
        'plan.json',
        '--broker',
        nats.url,
        '-o',
        'stdout',
      ],
      { cwd: project.dir, env: CLEAN_ENV, timeoutMs: 40_000 },
    );
    const processes = await dumpedProcesses(runFolders, 6);
    const leaving = agents.agents.find((agent) => agent.name === 'ext-c')!;
    const its = processes.filter((p) => p.agent === 'ext-c').map((p) => p.pid);
    assert.equal(its.length, 2);
    leaving.kill('SIGTERM');
    const exited = await leaving.exited;
    assert.equal(exited.code, 0, leaving.stderr());
    assert.deepEqual(await allGone(its), [], 'the stopped agent’s processes are gone');
    const others = processes.filter((p) => p.agent !== 'ext-c').map((p) => p.pid);
    assert.deepEqual(
      others.filter((pid) => isGone(pid)),
      [],
      'the other agents’ go on',
    );
    child.kill('SIGTERM');
    const ran = await result;
    assert.equal(ran.code, 143, ran.stderr);
    assert.deepEqual(await allGone(others), [], 'the stopped run’s processes are gone');
    assert.match(ran.stdout, /^ {2}Processes: 6 started, 0 failed$/m);
  });
});
