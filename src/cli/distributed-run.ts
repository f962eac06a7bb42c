// The distributed path of a load run (SPEC §10): `--agents N --broker …`
// starts the run on N agents of the broker, and `--attach [RUN_ID]` follows
// one that is there already. Everything that can fail on bad input (the
// test name, the plan, thresholds, included files, the broker options, the
// outputs, the dashboard's port) is resolved before the run is started;
// too few free agents is an error (exit 2) before any load. The run's state
// lives in the broker, so following it is the same for the runner that
// started it and for any --attach later: the follower replays the run's
// results into the CLI's Aggregator, and the progress bar, outputs,
// dashboard, thresholds and summary are those of a run on this machine,
// plus the Agents table. Ctrl-C on a terminal asks to stop the run or detach
// from it; elsewhere (and SIGTERM) it stops it. With --test-runner the
// record carries the command, each agent runs the external processes, and
// the summary's External runner block sums the agents' reports.
import { hostname } from 'node:os';
import { ExitCode, UsageError } from '../errors.ts';
import { Aggregator } from '../metrics/aggregator.ts';
import { createFanoutSink } from '../metrics/events.ts';
import { LoopMonitor, type GeneratorLoad } from '../metrics/loop-monitor.ts';
import {
  buildSummary,
  type AgentSummary,
  type ExternalSummary,
  type InterruptSignal,
  type RunInfo,
  type Summary,
} from '../metrics/summary.ts';
import { checkThresholdSteps } from '../metrics/thresholds.ts';
import type { Output } from '../outputs/output.ts';
import { formatLocalTime } from '../outputs/stdout/summary-text.ts';
import { Progress } from '../outputs/stdout/progress.ts';
import { buildPlan, buildRatePlan, countRuns } from '../runner/cycle.ts';
import { mergeExternalReports } from '../runner/external/report.ts';
import { loadTest } from '../runner/loader.ts';
import {
  connectBroker,
  parseBrokerOptions,
  type BrokerConnection,
  type BrokerStatus,
} from '../distributed/broker.ts';
import { resolveIncludeFiles } from '../distributed/include-files.ts';
import {
  openBrokerState,
  readRunRecord,
  type BrokerState,
  type RunRecord,
} from '../distributed/protocol.ts';
import {
  listRuns,
  RunFollower,
  startRun,
  type AgentResult,
  type RunListing,
} from '../distributed/run-client.ts';
import type { Terminal } from './console.ts';
import { startDashboard, type Dashboard } from './dashboard.ts';
import {
  createRunOutputs,
  endRunOutputs,
  eventListenersOf,
  flushOutputsNow,
} from './run-outputs.ts';
import { askStopOrDetach, signalExitCode } from './signals.ts';
import { canAnyCrossEarly, NOTHING_TO_ABORT_ON, watchThresholds } from './threshold-watch.ts';
import type { DistributedOptions, RunOptions } from './validate.ts';
import { readVersion } from './version.ts';

const PROGRAM = 'loads-runner';

/** After a stop request, how long the agents get to send their finals beyond the heartbeat timeout. */
const STOP_GRACE_MS = 10_000;

/** Ends the process at once with `code` (main.ts owns process.exit). */
export type ExitNow = (code: number) => never;

/** A broker connection and its resources, opened for one command. */
export interface OpenBroker {
  conn: BrokerConnection;
  state: BrokerState;
}

/**
 * What every run record takes from the run's options as they are: the
 * clients' settings and the heartbeat timeout the agents are judged by.
 */
export function recordSettings(
  options: RunOptions,
): Pick<
  RunRecord,
  | 'timeoutMs'
  | 'testTimeoutMs'
  | 'maxBodyBytes'
  | 'discardBodies'
  | 'transport'
  | 'serverUrl'
  | 'heartbeatTimeoutMs'
> {
  return {
    timeoutMs: options.timeoutMs,
    testTimeoutMs: options.testTimeoutMs,
    maxBodyBytes: options.maxBodyBytes,
    discardBodies: options.discardBodies,
    transport: options.transport,
    serverUrl: options.serverUrl ?? null,
    heartbeatTimeoutMs: options.distributed!.heartbeatTimeoutMs,
  };
}

/**
 * Checks the broker options (their files too), connects as
 * `loads-runner <host>` and opens the JetStream resources. A server going
 * away and the broker's errors go to stderr as one line each (a follower
 * says itself when the connection drops and comes back). Throws UsageError
 * or BrokerError (exit 2).
 */
export async function openBroker(
  distributed: DistributedOptions,
  terminal: Terminal,
): Promise<OpenBroker> {
  const options = parseBrokerOptions({ ...distributed.broker, name: `${PROGRAM} ${hostname()}` });
  const conn = await connectBroker(options, {
    onStatus: (status) => {
      const text = describeStatus(status);
      if (text !== null) {
        terminal.writeErr(`${PROGRAM}: ${text}\n`);
      }
    },
  });
  try {
    return { conn, state: await openBrokerState(conn) };
  } catch (err) {
    await conn.close();
    throw err;
  }
}

function describeStatus(status: BrokerStatus): string | null {
  switch (status.type) {
    case 'disconnected':
    case 'reconnected':
    case 'reconnecting':
      return null;
    case 'lame-duck':
      return `the broker ${status.server} is shutting down; moving to another server when there is one`;
    case 'error':
      return `broker: ${status.message}`;
    default: {
      const never: never = status;
      return never;
    }
  }
}

/** What a follow needs prepared before the run is started or attached to (so that a bad port or name stops it first). */
interface Prepared {
  outputs: Output[];
  aggregator: Aggregator;
  dashboard: Dashboard | undefined;
}

async function prepare(
  options: RunOptions,
  terminal: Terminal,
  names: { fqn: string; projectName: string },
): Promise<Prepared> {
  const outputs = createRunOutputs(options, terminal, names);
  const aggregator = new Aggregator();
  // Bound before the run starts, so a port in use stops it with exit 2.
  const dashboard =
    options.dashboard === null
      ? undefined
      : await startDashboard({
          address: options.dashboard,
          aggregator,
          thresholds: options.thresholds,
        });
  return { outputs, aggregator, dashboard };
}

/** `--agents N`: starts the run on N agents and follows it to its summary (or returns at once with --detach). */
export async function runOnAgents(
  options: RunOptions,
  terminal: Terminal,
  exitNow: ExitNow,
): Promise<number> {
  const distributed = options.distributed!;
  const agents = distributed.agents!;
  const cwd = process.cwd();
  const external = options.external;
  // Resolve everything that can fail on bad input before any agent is claimed.
  // An external test is not loaded here: its name is the command's to resolve,
  // on each agent; how many tests a hit runs only its results tell (1 until then).
  const methodsPerRun = external === null ? (await loadTest(options.fqn, cwd)).methods.length : 1;
  const plan =
    options.rate === null
      ? buildPlan(options.users, options.hits, options.durationMs, options.rampUpMs)
      : buildRatePlan(options.rate, options.durationMs!, options.maxUsers!, options.rampUpMs);
  checkThresholdSteps(options.thresholds, plan.length);
  const includeFiles = await resolveIncludeFiles(distributed.includeFiles, cwd);
  const prepared = distributed.detach
    ? undefined
    : await prepare(options, terminal, { fqn: options.fqn, projectName: options.projectName });
  const forwardEvents = prepared?.outputs.some((output) => output.onEvent !== undefined) ?? false;

  let broker: OpenBroker;
  try {
    broker = await openBroker(distributed, terminal);
  } catch (err) {
    await prepared?.dashboard?.close();
    throw err;
  }
  const { conn, state } = broker;
  try {
    const version = readVersion();
    const { runId, record } = await startRun(conn, state, {
      fqn: options.fqn,
      cwd,
      version,
      agents,
      includeFiles,
      runnerHost: hostname(),
      record: {
        plan,
        methodsPerRun,
        info: {
          fqn: options.fqn,
          projectName: options.projectName,
          version,
          // Open model: the pool bound of each rate step, as users per step.
          users: options.rate === null ? options.users : plan.map((step) => step.users),
          hits: options.hits,
          durationMs: options.durationMs,
          rate: options.rate,
          maxUsers: options.maxUsers,
          rampUpMs: options.rampUpMs,
          // Known for sure once the agents' finals say how many threads each ran.
          workers: agents * (options.workers ?? 1),
        },
        workersPerAgent: options.workers,
        ...recordSettings(options),
        forwardEvents,
        external:
          external === null
            ? null
            : {
                command: external.command,
                argv: external.argv,
                processTimeoutS: external.processTimeoutS,
              },
      },
    });
    const names = record.agents.map((id) => record.agentHosts?.[id]?.name ?? id);
    terminal.writeErr(
      `${PROGRAM}: run ${runId} on ${record.agents.length} ${record.agents.length === 1 ? 'agent' : 'agents'} (${names.join(', ')}) via ${conn.description}; follow it from elsewhere with --attach ${runId}\n`,
    );
    if (distributed.detach) {
      terminal.writeOut(`${runId}\n`);
      terminal.writeErr(`${PROGRAM}: detached; follow it with --attach ${runId}\n`);
      return ExitCode.OK;
    }
    return await followRun({
      options,
      terminal,
      broker,
      runId,
      record,
      live: true,
      prepared: prepared!,
      exitNow,
    });
  } catch (err) {
    await prepared?.dashboard?.close();
    throw err;
  } finally {
    await conn.close();
  }
}

/** `--attach [RUN_ID]`: follows a run on the broker, live or finished, to its summary and exit status. */
export async function attachToRun(
  options: RunOptions,
  terminal: Terminal,
  exitNow: ExitNow,
): Promise<number> {
  const distributed = options.distributed!;
  const command = options.command;
  const broker = await openBroker(distributed, terminal);
  const { conn, state } = broker;
  let prepared: Prepared | undefined;
  try {
    const runs = await listRuns(state);
    const runId =
      command.kind === 'attach' && command.runId !== null
        ? command.runId
        : pickRun(runs, terminal, conn.description);
    const record = await readRunRecord(state, runId);
    if (record === null) {
      throw new UsageError(
        `no run ${runId} on the broker at ${conn.description} (runs are kept 24 hours); --attach without an id lists them`,
      );
    }
    if (record.state === 'cancelled') {
      throw new UsageError(
        `run ${runId} was cancelled before it started (too few free agents): there is nothing to follow`,
      );
    }
    checkThresholdSteps(options.thresholds, record.plan.length);
    const over = runs.find((listing) => listing.record.id === runId)?.over ?? false;
    prepared = await prepare(options, terminal, {
      fqn: record.fqn,
      projectName: options.projectName === 'N/A' ? record.info.projectName : options.projectName,
    });
    terminal.writeErr(
      `${PROGRAM}: attached to run ${runId} (${record.fqn}, ${record.agents.length} ${record.agents.length === 1 ? 'agent' : 'agents'}) via ${conn.description}${over ? '; it is over, its summary follows' : ''}\n`,
    );
    return await followRun({
      options,
      terminal,
      broker,
      runId,
      record,
      live: !over,
      prepared,
      exitNow,
    });
  } catch (err) {
    await prepared?.dashboard?.close();
    throw err;
  } finally {
    await conn.close();
  }
}

/**
 * --attach without an id: the only run in progress. Several in progress,
 * or none but finished ones: the list on stdout, and a UsageError asking
 * for one (exit 2).
 */
function pickRun(runs: readonly RunListing[], terminal: Terminal, where: string): string {
  const started = runs.filter((listing) => listing.record.state !== 'cancelled');
  const inProgress = started.filter((listing) => !listing.over);
  if (inProgress.length === 1) {
    return inProgress[0]!.record.id;
  }
  if (started.length === 0) {
    throw new UsageError(`no run on the broker at ${where}: start one with --agents N`);
  }
  terminal.writeOut(runTable(started).join('\n') + '\n');
  throw new UsageError(
    inProgress.length > 1
      ? `${inProgress.length} runs are in progress on the broker at ${where} (listed above): give one with --attach RUN_ID`
      : `no run is in progress on the broker at ${where}; to see a finished one (listed above), give it with --attach RUN_ID`,
  );
}

/** The runs as a table: id, test, agents, started, state; newest first. */
export function runTable(runs: readonly RunListing[]): string[] {
  const rows = [...runs]
    .sort((a, b) => b.record.createdAt - a.record.createdAt)
    .map((listing) => [
      listing.record.id,
      listing.record.fqn,
      String(listing.record.agents.length),
      formatLocalTime(listing.record.createdAt),
      runState(listing),
    ]);
  const head = ['Run', 'Test', 'Agents', 'Started', 'State'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    '  ' +
    cells
      .map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

function runState(listing: RunListing): string {
  if (listing.record.state === 'cancelled') {
    return 'cancelled';
  }
  if (!listing.over) {
    return listing.record.state === 'claiming' ? 'starting' : 'running';
  }
  return listing.lost > 0 ? `finished, ${listing.lost} lost` : 'finished';
}

interface FollowContext {
  options: RunOptions;
  terminal: Terminal;
  broker: OpenBroker;
  runId: string;
  record: RunRecord;
  /** The run is not over: judge liveness, draw the progress, handle Ctrl-C. */
  live: boolean;
  prepared: Prepared;
  exitNow: ExitNow;
}

/** Follows the run to its end (or a detach), then the summary, outputs, dashboard and exit status. */
async function followRun(context: FollowContext): Promise<number> {
  const { options, terminal, runId, record, live, prepared, exitNow } = context;
  const { outputs, aggregator, dashboard } = prepared;
  const listeners = eventListenersOf(outputs);
  let progress: Progress | undefined;
  // On a terminal the bar holds the line: a message starts on a new one.
  const lineStart = terminal.progressBar && live && !options.quiet ? '\n' : '';
  const follower = new RunFollower({
    conn: context.broker.conn,
    state: context.broker.state,
    runId,
    aggregator,
    eventSink: listeners.length === 0 ? undefined : createFanoutSink(listeners),
    watchLiveness: live,
    onAgentLost: (agent) => {
      terminal.writeErr(
        `${lineStart}${PROGRAM}: agent ${agent.name} (${agent.host}) stopped heartbeating: lost; the run goes on without it\n`,
      );
    },
    onStatus: (text) => terminal.writeErr(`${lineStart}${PROGRAM}: ${text}\n`),
  });
  const followed = follower.follow();
  // The run's start is known once every agent is ready; a run whose agents all failed first ends before.
  const first = await Promise.race([
    follower.started().then((started) => started.startedAt),
    followed.then((result) => result.startedAt),
  ]);
  const startedAt = first > 0 ? first : Date.now();
  const agentCount = record.agents.length;
  const info: RunInfo = { ...record.info, startedAt };
  aggregator.startTimeline(startedAt);
  try {
    for (const output of outputs) {
      output.onRunStart?.(info);
    }
  } catch (err) {
    // An output that cannot work: the run we started stops, an attached one goes on.
    if (live && context.options.command.kind === 'run') {
      await follower.stop('output-error').catch(() => {});
    }
    follower.detach();
    await followed.catch(() => {});
    throw err;
  }
  if (dashboard !== undefined) {
    dashboard.onRunStart(info);
    const where = dashboard.onEveryInterface ? ' (listening on every interface)' : '';
    terminal.writeErr(`${PROGRAM}: dashboard at ${dashboard.url}${where}\n`);
  }

  // Attached midway: the bar covers what is left of the run's time.
  const attached = options.command.kind === 'attach';
  const durationMs = record.plan.reduce((sum, step) => sum + step.durationMs, 0);
  const hitsMode = record.plan.every((step) => step.durationMs === 0);
  const openModel = record.plan.some((step) => step.rate > 0);
  const external = (record.external ?? null) !== null;
  // An external class runs each of its methods per hit, which only its results tell.
  const runsTotal = {
    kind: 'runs' as const,
    get runs(): number {
      const perRun = external ? Math.max(1, aggregator.testsSeen) : record.methodsPerRun;
      return countRuns(record.plan, perRun) * agentCount;
    },
  };
  const runsPlanned = runsTotal.runs;
  if (live && !options.quiet) {
    progress = new Progress({
      stream: terminal.stderr,
      isTTY: terminal.progressBar,
      color: terminal.stderrColor,
      plainIntervalMs: options.statusIntervalMs,
      showDropped: openModel,
      total: hitsMode
        ? runsTotal
        : {
            kind: 'duration',
            durationMs: attached ? Math.max(1, durationMs - (Date.now() - startedAt)) : durationMs,
          },
      read: () => aggregator.progress(),
    });
  }

  // Known in advance in hits mode and in the open model; not in closed duration runs, nor for an external test.
  const plannedRuns = (hitsMode || openModel) && !external ? runsPlanned : null;
  let abortedBy: string | null = null;
  let interruptedBy: InterruptSignal | null = null;
  let stopping = false;
  let userDetached = false;
  let stopTimer: NodeJS.Timeout | undefined;
  let finalsMissing = false;
  const stopRun = (reason: string): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    follower.stop(reason).catch((err: unknown) => {
      terminal.writeErr(
        `${PROGRAM}: could not ask the agents to stop (${err instanceof Error ? err.message : String(err)})\n`,
      );
    });
    // The agents end their current runs and report; one that never does is given up on.
    stopTimer = setTimeout(() => {
      finalsMissing = true;
      follower.detach();
    }, record.heartbeatTimeoutMs + STOP_GRACE_MS);
    stopTimer.unref();
  };

  if (live && options.abortOnFail && !canAnyCrossEarly(options.thresholds, plannedRuns)) {
    terminal.writeErr(`${PROGRAM}: ${NOTHING_TO_ABORT_ON}\n`);
  }
  const stopWatching =
    live && options.abortOnFail
      ? watchThresholds(options.thresholds, aggregator, plannedRuns, (threshold) => {
          if (stopping) {
            return;
          }
          abortedBy = threshold.expression;
          progress?.stop();
          terminal.writeErr(
            `${PROGRAM}: threshold '${threshold.expression}' crossed; stopping the run on every agent (--abort-on-fail)\n`,
          );
          stopRun('abort-on-fail');
        })
      : () => {};

  const removeInterruptHandlers = live
    ? handleDistributedInterrupts({
        terminal,
        runId,
        onStop: (signal) => {
          progress?.stop();
          if (abortedBy === null && interruptedBy === null) {
            interruptedBy = signal;
          }
          const again = signal === 'SIGINT' ? 'Ctrl-C again' : 'a second SIGTERM or Ctrl-C';
          terminal.writeErr(
            `${PROGRAM}: stopped by ${signal}: the agents end their current test runs, then the summary follows (${again} to exit now)\n`,
          );
          stopRun(signal);
        },
        onDetach: () => {
          userDetached = true;
          progress?.stop();
          follower.detach();
        },
        onExitNow: (signal) => {
          flushOutputsNow(outputs);
          terminal.writeErr(
            `\n${PROGRAM}: a second signal (${signal}); exiting now (the agents were asked to stop; --attach ${runId} shows the result)\n`,
          );
          exitNow(signalExitCode(signal));
        },
        beforePrompt: () => progress?.stop(),
        isStopping: () => stopping,
      })
    : () => {};

  // Nothing of ours may keep the loop empty while the follower waits on the broker.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const loop = new LoopMonitor('main');
  progress?.start();
  loop.start();
  let result: Awaited<ReturnType<RunFollower['follow']>>;
  try {
    result = await followed;
  } finally {
    clearInterval(keepAlive);
    clearTimeout(stopTimer);
    stopWatching();
    progress?.stop();
    removeInterruptHandlers();
  }
  const runnerLoop = loop.stop();

  if (userDetached) {
    // The outputs and dashboard are --attach's to write now: what is buffered goes out as it is.
    flushOutputsNow(outputs);
    await dashboard?.close();
    terminal.writeErr(`${PROGRAM}: detached; the run goes on; follow it with --attach ${runId}\n`);
    return ExitCode.OK;
  }
  if (finalsMissing) {
    const missing = result.agents.filter((agent) => !agent.finished && !agent.lost);
    terminal.writeErr(
      `${PROGRAM}: ${missing.map((agent) => agent.name).join(', ') || 'some agents'} did not report the end of ${missing.length === 1 ? 'its' : 'their'} part in time; the summary covers what arrived\n`,
    );
  }

  const agents = result.agents.map(toAgentSummary);
  const threads = result.agents.reduce((sum, agent) => sum + agent.threads, 0);
  const endedAt = result.endedAt >= startedAt ? result.endedAt : Date.now();
  const summary: Summary = buildSummary(
    aggregator.snapshot(),
    { ...info, workers: threads > 0 ? threads : info.workers },
    endedAt,
    result.interrupted || finalsMissing,
    generatorOf(result.agents, runnerLoop),
    options.thresholds,
    abortedBy,
    interruptedBy,
    {
      distributed: { runId, agents, stoppedBy: result.stoppedBy },
      external: externalOf(record, result.agents),
    },
  );
  const outputError = await endRunOutputs(outputs, dashboard, summary);
  if (outputError !== undefined) {
    throw outputError;
  }
  return summary.exitStatus;
}

/** An external run's block of the summary: the agents' reports summed; null for a TypeScript test. */
function externalOf(record: RunRecord, agents: readonly AgentResult[]): ExternalSummary | null {
  const external = record.external ?? null;
  if (external === null) {
    return null;
  }
  const reports = agents.flatMap((agent) => (agent.external === null ? [] : [agent.external]));
  return { command: external.command, ...mergeExternalReports(reports) };
}

function toAgentSummary(agent: AgentResult): AgentSummary {
  return {
    name: agent.name,
    host: agent.host,
    runs: agent.runs,
    hits: agent.hits,
    errors: agent.errors,
    hitErrors: agent.hitErrors,
    threads: agent.threads,
    saturated: agent.saturated,
    lost: agent.lost,
    runsNotDone: agent.runsNotDone,
    failure: agent.failure,
  };
}

/**
 * The load generators of a distributed run are the agents: saturated when
 * any agent was, naming each; the threads listed are the runner's own loop
 * (the agents' samples stay with their rows).
 */
function generatorOf(
  agents: readonly AgentResult[],
  runnerLoop: GeneratorLoad['threads'][number],
): GeneratorLoad {
  const saturated = agents.filter((agent) => agent.saturated);
  return {
    threads: [runnerLoop],
    saturated: saturated.length > 0,
    reason: saturated.map((agent) => `agent ${agent.name}: ${agent.saturationReason}`).join('; '),
  };
}

interface DistributedInterruptOptions {
  terminal: Terminal;
  runId: string;
  /** Stop the run on every agent: the first SIGTERM, a Ctrl-C off a terminal, or `s` at the prompt. */
  onStop: (signal: InterruptSignal) => void;
  /** `d` at the prompt: stop following; the run goes on. */
  onDetach: () => void;
  /** A signal once stopping: exit at once. */
  onExitNow: (signal: InterruptSignal) => void;
  beforePrompt: () => void;
  isStopping: () => boolean;
}

/**
 * Ctrl-C and SIGTERM while a distributed run is followed. On a terminal the
 * first Ctrl-C asks `(s)top the run or (d)etach?` (one key; Ctrl-C again
 * means stop); with no terminal to ask, Ctrl-C stops the run, as SIGTERM
 * always does. A signal after the run is stopping exits at once.
 */
function handleDistributedInterrupts(options: DistributedInterruptOptions): () => void {
  let prompt: ReturnType<typeof askStopOrDetach> | undefined;
  const onSignal = (raw: NodeJS.Signals): void => {
    const signal: InterruptSignal = raw === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
    if (options.isStopping()) {
      options.onExitNow(signal);
      return;
    }
    if (prompt !== undefined) {
      // A signal while asking: stop, as a second Ctrl-C at the prompt does.
      prompt.cancel();
      prompt = undefined;
      options.onStop(signal);
      return;
    }
    if (signal === 'SIGINT' && process.stdin.isTTY === true) {
      options.beforePrompt();
      const asked = askStopOrDetach(process.stdin, options.terminal.writeErr);
      prompt = asked;
      void asked.answer.then((choice) => {
        if (prompt !== asked) {
          return;
        }
        prompt = undefined;
        if (choice === 'stop') {
          options.onStop('SIGINT');
        } else {
          options.onDetach();
        }
      });
      return;
    }
    options.onStop(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    prompt?.cancel();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
