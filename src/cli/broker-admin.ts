// The broker commands (SPEC §10): --ping-broker lists the broker's agents
// and its runs in progress, --check-cluster runs a one-hit health test on
// every free agent and reports each, --purge-broker stops every run. Each
// prints its report on stdout and exits 0 when all is well; an unreachable
// broker is a BrokerError (exit 2) before anything is printed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { ExitCode, UsageError } from '../errors.ts';
import { Aggregator } from '../metrics/aggregator.ts';
import { buildPlan } from '../runner/cycle.ts';
import { loadTest } from '../runner/loader.ts';
import {
  listAgents,
  PROTOCOL_VERSION,
  type AgentListing,
  type BrokerState,
} from '../distributed/protocol.ts';
import {
  listRuns,
  purgeRuns,
  RunFollower,
  startRun,
  type AgentResult,
} from '../distributed/run-client.ts';
import type { Terminal } from './console.ts';
import { openBroker, recordSettings, runTable } from './distributed-run.ts';
import type { RunOptions } from './validate.ts';
import { readVersion } from './version.ts';

const PROGRAM = 'loads-runner';

/** Rows of cells in aligned columns, two spaces apart, indented by two; `right` columns are right-aligned. */
function alignedTable(head: string[], rows: string[][], right: ReadonlySet<number>): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    '  ' +
    cells
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

/**
 * The agents' records, each once: a heartbeat put while the bucket's keys
 * are listed can list a key twice.
 */
async function agentsOf(state: BrokerState): Promise<AgentListing[]> {
  const seen = new Set<string>();
  return (await listAgents(state)).filter((listing) => {
    const fresh = !seen.has(listing.record.id);
    seen.add(listing.record.id);
    return fresh;
  });
}

/** Free to take a run of this runner: free, unclaimed, heard from within the timeout, of this protocol and version. */
function isFreeFor(listing: AgentListing, version: string, heartbeatTimeoutMs: number): boolean {
  return (
    listing.record.state === 'free' &&
    listing.claimedBy === null &&
    listing.silentMs < heartbeatTimeoutMs &&
    listing.record.protocol === PROTOCOL_VERSION &&
    listing.record.version === version
  );
}

function agentState(listing: AgentListing, heartbeatTimeoutMs: number): string {
  if (listing.silentMs >= heartbeatTimeoutMs) {
    return 'silent';
  }
  const run = listing.record.runId ?? listing.claimedBy;
  if (listing.record.state === 'busy' || listing.claimedBy !== null) {
    return run === null ? 'busy' : `busy (run ${run})`;
  }
  return 'free';
}

/** `0.4 s ago`, `12 s ago`. */
function ago(ms: number): string {
  const seconds = ms / 1000;
  return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s ago`;
}

/** --ping-broker: the broker, its agents (free or busy, version, last heartbeat) and its runs in progress. */
export async function pingBroker(options: RunOptions, terminal: Terminal): Promise<number> {
  const distributed = options.distributed!;
  const { conn, state } = await openBroker(distributed, terminal);
  try {
    // One after the other: listing a bucket while another listing puts and purges its scratch key can stall.
    const agents = await agentsOf(state);
    const runs = await listRuns(state);
    const version = readVersion();
    const timeoutMs = distributed.heartbeatTimeoutMs;
    const lines = [`Broker: ${conn.description} (JetStream on)`];
    const free = agents.filter((a) => isFreeFor(a, version, timeoutMs)).length;
    lines.push(
      '',
      `Agents: ${agents.length}${agents.length === 0 ? '' : ` (${free} free for loads-runner ${version})`}`,
    );
    if (agents.length > 0) {
      lines.push(
        ...alignedTable(
          ['Agent', 'Host', 'PID', 'Cores', 'Version', 'State', 'Last heartbeat'],
          agents.map((a) => [
            a.record.name,
            a.record.host,
            String(a.record.pid),
            String(a.record.cores),
            a.record.protocol === PROTOCOL_VERSION
              ? a.record.version
              : `${a.record.version} (protocol ${a.record.protocol})`,
            agentState(a, timeoutMs),
            ago(a.silentMs),
          ]),
          new Set([2, 3]),
        ),
      );
      const others = agents.filter(
        (a) => a.record.version !== version || a.record.protocol !== PROTOCOL_VERSION,
      );
      if (others.length > 0) {
        lines.push(
          `  Not of this runner's loads-runner ${version}, so they cannot take its runs: ${others.map((a) => a.record.name).join(', ')}`,
        );
      }
    }
    const inProgress = runs.filter((run) => !run.over && run.record.state !== 'cancelled');
    lines.push('', `Runs in progress: ${inProgress.length}`);
    if (inProgress.length > 0) {
      lines.push(...runTable(inProgress));
    }
    terminal.writeOut(lines.join('\n') + '\n');
    return ExitCode.OK;
  } finally {
    await conn.close();
  }
}

/** The built-in health test: no network, no file, one assertion; it imports loads-runner as any test does. */
const HEALTH_MODULE = `import { TestCase } from 'loads-runner';

export class LoadsHealthCheck extends TestCase {
  async test_health() {
    this.assertEqual(1 + 1, 2);
    this.incrCounter('health');
  }
}
`;
const HEALTH_FILE = 'loads-health-check.mjs';
const HEALTH_FQN = `${HEALTH_FILE}:LoadsHealthCheck.test_health`;

/**
 * --check-cluster: one run of one user on every free agent (the test
 * given, or the built-in health test), then one line per agent: ok, failed
 * (why) or lost. Exit 0 when every agent is ok, 1 otherwise, 2 when no
 * agent is free.
 */
export async function checkCluster(options: RunOptions, terminal: Terminal): Promise<number> {
  const distributed = options.distributed!;
  const version = readVersion();
  const ownTest = options.fqn !== '';
  // The test given is checked here first, as a run does; the built-in one needs no check.
  const methodsPerRun = ownTest ? (await loadTest(options.fqn, process.cwd())).methods.length : 1;
  const { conn, state } = await openBroker(distributed, terminal);
  let healthDir: string | undefined;
  try {
    const agents = await agentsOf(state);
    const free = agents.filter((a) => isFreeFor(a, version, distributed.heartbeatTimeoutMs));
    if (free.length === 0) {
      const busy = agents.filter((a) => a.record.state === 'busy' || a.claimedBy !== null).length;
      const other = agents.filter((a) => a.record.version !== version).length;
      throw new UsageError(
        `--check-cluster found no free agent on the broker at ${conn.description} (${agents.length} connected: ${busy} busy, ${other} of another version than ${version}); start one with loads-agent --broker …`,
      );
    }
    let cwd = process.cwd();
    let fqn = options.fqn;
    if (!ownTest) {
      healthDir = await mkdtemp(path.join(tmpdir(), 'loads-runner-check-'));
      await writeFile(path.join(healthDir, HEALTH_FILE), HEALTH_MODULE);
      cwd = healthDir;
      fqn = HEALTH_FQN;
    }
    const plan = buildPlan([1], [1], null);
    const { runId, record } = await startRun(conn, state, {
      fqn,
      cwd,
      version,
      agents: free.length,
      includeFiles: [],
      runnerHost: hostname(),
      record: {
        plan,
        methodsPerRun,
        info: {
          fqn: ownTest ? fqn : 'the built-in health test',
          projectName: options.projectName,
          version,
          users: [1],
          hits: [1],
          durationMs: null,
          rate: null,
          maxUsers: null,
          rampUpMs: 0,
          workers: free.length,
        },
        workersPerAgent: 1,
        ...recordSettings(options),
        forwardEvents: false,
        external: null,
      },
    });
    terminal.writeErr(
      `${PROGRAM}: checking ${record.agents.length} free ${record.agents.length === 1 ? 'agent' : 'agents'} with ${ownTest ? `one run of ${options.fqn}` : 'a one-run health test'} (run ${runId})\n`,
    );
    const aggregator = new Aggregator();
    const result = await new RunFollower({
      conn,
      state,
      runId,
      aggregator,
      watchLiveness: true,
    }).follow();
    const snapshot = aggregator.snapshot();
    const firstProblem = snapshot.topErrors[0] ?? snapshot.topFailures[0];
    const why = firstProblem === undefined ? '' : `: ${firstProblem.name}: ${firstProblem.message}`;
    const lines = result.agents.map(
      (agent) => `  ${agent.name} (${agent.host}): ${verdictOf(agent, why)}`,
    );
    const ok = result.agents.filter((agent) => verdictOf(agent, why) === 'ok').length;
    lines.push(`${ok} of ${result.agents.length} agents ok`);
    terminal.writeOut(lines.join('\n') + '\n');
    return ok === result.agents.length ? ExitCode.OK : ExitCode.RUN_FAILED;
  } finally {
    await conn.close();
    if (healthDir !== undefined) {
      await rm(healthDir, { recursive: true, force: true });
    }
  }
}

/** ok, lost, or failed with the reason (its part failed, or its run failed: the run's first message). */
function verdictOf(agent: AgentResult, runProblem: string): string {
  if (agent.lost) {
    return 'lost (it stopped heartbeating)';
  }
  if (agent.failure !== null) {
    return `failed (${agent.failure})`;
  }
  if (agent.errors > 0) {
    return `failed (its test run failed${runProblem})`;
  }
  if (agent.runs === 0) {
    return 'failed (it did no test run)';
  }
  return 'ok';
}

/** --purge-broker: stops every run in progress and releases the agents of runs that are over. */
export async function purgeBroker(options: RunOptions, terminal: Terminal): Promise<number> {
  const { conn, state } = await openBroker(options.distributed!, terminal);
  try {
    const stopped = await purgeRuns(state);
    terminal.writeOut(
      stopped.length === 0
        ? `No run in progress on ${conn.description}; stale claims released\n`
        : `Stopped ${stopped.length} ${stopped.length === 1 ? 'run' : 'runs'} on ${conn.description}: ${stopped.join(', ')}\n`,
    );
    return ExitCode.OK;
  } finally {
    await conn.close();
  }
}
