// Real loads-agent processes for the distributed tests, spawned from the
// built package (`node bin/loads-agent.js`: run `npm run build` first) in the
// repository root, each waited for until it says it is waiting for runs.
// Every agent started here is SIGKILLed when the test process exits or is
// ended by a signal, and stop() (or the test's t.after) ends them all.
// distributedRequest builds a startRun request as the CLI would.
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import path from 'node:path';
import { readVersion } from '../../src/cli/version.ts';
import type { DistributedRunRequest } from '../../src/distributed/run-client.ts';
import { buildPlan } from '../../src/runner/cycle.ts';
import { REPO_ROOT } from './tmp-project.ts';

export const AGENT_PATH = path.join(REPO_ROOT, 'bin', 'loads-agent.js');

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

export interface AgentProcess {
  /** Its --name (the agent id, for the names given here). */
  name: string;
  child: ChildProcess;
  pid: number;
  /** Everything it wrote on stderr so far. */
  stderr(): string;
  /** Resolves when `pattern` appears on its stderr (from the start). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends a signal (default SIGTERM). */
  kill(signal?: NodeJS.Signals): void;
  /** Its exit code and signal, once it exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartAgentsOptions {
  /** The broker URL (NatsServer.url). */
  broker: string;
  count: number;
  /** --name of each; default `agent-<n>` with a suffix unique to this process. */
  names?: string[];
  /** More arguments for every agent (--workers 1, --broker-creds …). */
  args?: string[];
  /** Environment added for each agent (by index). */
  env?: (index: number) => Record<string, string>;
  /** Stops them when this test ends (a node:test TestContext). */
  t?: { after(fn: () => unknown): void };
  /** Wait for each to announce itself (default true). */
  waitReady?: boolean;
}

export interface StartedAgents {
  agents: AgentProcess[];
  /** SIGTERM to each still running, then SIGKILL after STOP_TIMEOUT_MS; waits for the exits. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let cleanupInstalled = false;
let started = 0;

function installCleanup(): void {
  if (cleanupInstalled) {
    return;
  }
  cleanupInstalled = true;
  const killAll = (): void => {
    for (const child of running) {
      child.kill('SIGKILL');
    }
    running.clear();
  };
  process.on('exit', killAll);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

function spawnAgent(options: StartAgentsOptions, name: string, index: number): AgentProcess {
  const child = spawn(
    process.execPath,
    [AGENT_PATH, '--broker', options.broker, '--name', name, ...(options.args ?? [])],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1', ...options.env?.(index) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  running.add(child);
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    for (const waiter of waiters) {
      waiter();
    }
  });
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    name,
    child,
    pid: child.pid!,
    stderr: () => stderr,
    waitFor(pattern, timeoutMs = READY_TIMEOUT_MS) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(stderr)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `loads-agent ${name} printed nothing matching ${pattern} within ${timeoutMs} ms; its stderr:\n${stderr}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        void exited.then(() => setImmediate(check));
        check();
      });
    },
    kill(signal = 'SIGTERM') {
      child.kill(signal);
    },
    exited,
  };
}

/** Starts `count` agents on the broker and waits until each announced itself. */
export async function startAgents(options: StartAgentsOptions): Promise<StartedAgents> {
  installCleanup();
  const batch = ++started;
  const names =
    options.names ??
    Array.from({ length: options.count }, (_, i) => `agent-${process.pid}-${batch}-${i + 1}`);
  const agents = names
    .slice(0, options.count)
    .map((name, index) => spawnAgent(options, name, index));
  const stop = async (): Promise<void> => {
    await Promise.all(
      agents.map(async (agent) => {
        if (agent.child.exitCode !== null || agent.child.signalCode !== null) {
          return;
        }
        agent.kill('SIGTERM');
        const timer = setTimeout(() => agent.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await agent.exited;
        clearTimeout(timer);
      }),
    );
  };
  options.t?.after(stop);
  if (options.waitReady !== false) {
    try {
      await Promise.all(agents.map((agent) => agent.waitFor(/waiting for runs/)));
    } catch (err) {
      await stop();
      throw err;
    }
  }
  return { agents, stop };
}

export interface RequestOptions {
  /** The test name, resolved from `cwd`. */
  fqn: string;
  cwd: string;
  serverUrl: string;
  agents: number;
  users?: number[];
  /** Runs per user per step (default [1]); ignored with durationMs. */
  hits?: number[];
  durationMs?: number;
  /** Default 5000, as the CLI's. */
  heartbeatTimeoutMs?: number;
  /** Default 1: small loads on a shared machine. */
  workersPerAgent?: number | null;
  forwardEvents?: boolean;
  methodsPerRun?: number;
  version?: string;
}

/** A startRun request as the CLI would build it, for a plain closed-model run. */
export function distributedRequest(options: RequestOptions): DistributedRunRequest {
  const users = options.users ?? [1];
  const hits = options.durationMs === undefined ? (options.hits ?? [1]) : null;
  const durationMs = options.durationMs ?? null;
  const version = options.version ?? readVersion();
  return {
    fqn: options.fqn,
    cwd: options.cwd,
    version,
    agents: options.agents,
    includeFiles: [],
    runnerHost: hostname(),
    record: {
      plan: buildPlan(users, hits, durationMs),
      methodsPerRun: options.methodsPerRun ?? 1,
      info: {
        fqn: options.fqn,
        projectName: 'N/A',
        version,
        users,
        hits,
        durationMs,
        rate: null,
        maxUsers: null,
        rampUpMs: 0,
        workers: options.workersPerAgent ?? 1,
      },
      workersPerAgent: options.workersPerAgent === undefined ? 1 : options.workersPerAgent,
      timeoutMs: 5_000,
      testTimeoutMs: 0,
      maxBodyBytes: null,
      discardBodies: false,
      transport: null,
      serverUrl: options.serverUrl,
      forwardEvents: options.forwardEvents ?? false,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 5_000,
      external: null,
    },
  };
}
