// `loads-runner FQN --find-capacity --threshold …` (SPEC §12): the load run
// of main.ts's runLoad, with the probes of capacity-run.ts in place of one
// plan. It says at the start how long the search can take, shows each
// probe (its rate, a progress line, its verdict), feeds the run's
// aggregator and outputs as any run does, handles Ctrl-C and SIGTERM the
// same way (summary printed, exit 130/143), and builds the summary with its
// Capacity section, whose answer — not the thresholds over all the probes,
// some of which were meant to break — decides the exit status.
import { availableParallelism } from 'node:os';
import { Aggregator } from '../metrics/aggregator.ts';
import { createFanoutSink } from '../metrics/events.ts';
import { assessGeneratorLoad } from '../metrics/loop-monitor.ts';
import { formatSeconds } from '../metrics/format-seconds.ts';
import {
  buildSummary,
  type CapacitySummary,
  type InterruptSignal,
  type RunInfo,
  type Summary,
} from '../metrics/summary.ts';
import { Progress } from '../outputs/stdout/progress.ts';
import { DEFAULT_CAPACITY_SEARCH } from '../runner/capacity-search.ts';
import { loadTest } from '../runner/loader.ts';
import {
  capacityRunBoundMs,
  runCapacitySearch,
  type CapacityOutcome,
  type CapacityProbe,
} from './capacity-run.ts';
import { resolveIncludeFiles } from '../distributed/include-files.ts';
import { agentsProbeRunner } from './capacity-agents.ts';
import type { Terminal } from './console.ts';
import { openBroker, type OpenBroker } from './distributed-run.ts';
import { startDashboard, type Dashboard } from './dashboard.ts';
import { emfileHint, readOpenFilesLimit } from './open-files.ts';
import {
  createRunOutputs,
  endRunOutputs,
  eventListenersOf,
  flushOutputsNow,
} from './run-outputs.ts';
import { handleInterrupts, signalExitCode } from './signals.ts';
import type { CapacityOptions, RunOptions } from './validate.ts';
import { readVersion } from './version.ts';

const PROGRAM = 'loads-runner';

/** What main.ts lends (it runs itself when imported, and owns process.exit). */
export interface CapacityCommandHost {
  /** Watches for errors that escape a test run, until stop(). */
  watchStrayErrors: (terminal: Terminal) => { stop: () => void };
  /** Ends the process at once with `code` (a second signal). */
  exitNow: (code: number) => never;
}

/** '2m27s', '45s', '1h05m': the bound printed at the start. */
export function formatBound(ms: number): string {
  const total = Math.ceil(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor(total / 60) % 60;
  const seconds = total % 60;
  if (hours > 0) {
    return `${hours}h${String(minutes).padStart(2, '0')}m`;
  }
  return minutes > 0 ? `${minutes}m${String(seconds).padStart(2, '0')}s` : `${seconds}s`;
}

/** The line printed before any load: what the search does and the longest it can take. */
export function capacityStartLine(options: {
  startRate: number;
  durationMs: number;
  restMs: number;
  maxRate: number | null;
}): string {
  const maxProbes = DEFAULT_CAPACITY_SEARCH.maxProbes;
  const bound = capacityRunBoundMs({
    durationMs: options.durationMs,
    restMs: options.restMs,
    maxProbes,
  });
  const upTo = options.maxRate === null ? '' : ` to at most ${options.maxRate}/s`;
  return `${PROGRAM}: finding the capacity: probes of ${formatSeconds(options.durationMs / 1000)} from ${options.startRate}/s${upTo}, up to ${maxProbes} probes, at most ${formatBound(bound)}`;
}

/** A probe's verdict in one line: 'held', 'broke p95<200ms (1.25s)', or the generator's saturation. */
export function probeVerdictText(probe: CapacityProbe): string {
  if (probe.saturated) {
    return `not judged: the generator was saturated (${probe.saturationReason})`;
  }
  const figures = probe.thresholds.map((t) => `${t.expression} ${t.display}`).join(', ');
  return probe.held ? `held (${figures})` : `broke ${probe.broken.join(', ')} (${figures})`;
}

function capacitySummaryOf(
  outcome: CapacityOutcome,
  capacity: CapacityOptions,
  thresholds: RunOptions['thresholds'],
): CapacitySummary {
  return {
    heldRate: outcome.heldRate,
    brokeRate: outcome.brokeRate,
    reason: outcome.reason,
    slo: thresholds.map((t) => t.expression),
    precision: capacity.precision,
    maxRate: capacity.maxRate,
    probes: outcome.probes.map((probe) => ({
      index: probe.index,
      rate: probe.rate,
      achievedRate: probe.achievedRate,
      held: probe.held,
      broken: probe.broken,
      saturated: probe.saturated,
      saturationReason: probe.saturationReason,
      p95Ms: probe.p95Ms,
      errorPercent: probe.errorPercent,
      thresholds: probe.thresholds,
      startedAt: probe.startedAt,
      endedAt: probe.endedAt,
    })),
  };
}

export async function runCapacityCommand(
  options: RunOptions,
  terminal: Terminal,
  host: CapacityCommandHost,
): Promise<number> {
  if (options.distributed === null) {
    return searchCapacity(options, terminal, host, undefined);
  }
  // Checked and connected before any output starts: a broker error is exit 2 with nothing written.
  const broker = await openBroker(options.distributed, terminal);
  try {
    return await searchCapacity(options, terminal, host, broker);
  } finally {
    await broker.conn.close();
  }
}

async function searchCapacity(
  options: RunOptions,
  terminal: Terminal,
  host: CapacityCommandHost,
  broker: OpenBroker | undefined,
): Promise<number> {
  const capacity = options.capacity!;
  const startRate = options.rate![0]!;
  const durationMs = options.durationMs!;
  const maxUsers = options.maxUsers!;
  // Resolve everything that can fail on bad input before any load is sent.
  const test = await loadTest(options.fqn, process.cwd());
  const distributed = options.distributed;
  const includeFiles =
    distributed === null ? [] : await resolveIncludeFiles(distributed.includeFiles, process.cwd());
  const outputs = createRunOutputs(options, terminal);
  const aggregator = new Aggregator();
  const outputListeners = eventListenersOf(outputs);
  const workers = Math.min(options.workers ?? availableParallelism(), maxUsers);
  const controller = new AbortController();
  // The thresholds over all the probes are no verdict (see the file's head): the page shows none.
  const dashboard: Dashboard | undefined =
    options.dashboard === null
      ? undefined
      : await startDashboard({ address: options.dashboard, aggregator, thresholds: [] });
  const strays = host.watchStrayErrors(terminal);

  // One step per probe: the first is known now (outputs such as funkload
  // read it at the start), the others are added as they start, so the live page follows.
  const rates: number[] = [startRate];
  const users: number[] = [maxUsers];
  const info: RunInfo = {
    startedAt: Date.now(),
    fqn: options.fqn,
    projectName: options.projectName,
    version: readVersion(),
    users,
    hits: null,
    durationMs,
    rate: rates,
    maxUsers,
    rampUpMs: options.rampUpMs,
    workers,
  };
  aggregator.startTimeline(info.startedAt);
  for (const output of outputs) {
    output.onRunStart?.(info);
  }
  terminal.writeErr(
    `${capacityStartLine({ startRate, durationMs, restMs: capacity.restMs, maxRate: capacity.maxRate })}${distributed === null ? '' : `; each probe on ${distributed.agents} agents, the rate per agent`}\n`,
  );
  if (dashboard !== undefined) {
    dashboard.onRunStart(info);
    const where = dashboard.onEveryInterface ? ' (listening on every interface)' : '';
    terminal.writeErr(`${PROGRAM}: dashboard at ${dashboard.url}${where}\n`);
  }

  let progress: Progress | undefined;
  const say = (text: string): void => {
    if (!options.quiet) {
      terminal.writeErr(`${PROGRAM}: ${text}\n`);
    }
  };

  let interruptedBy: InterruptSignal | null = null;
  const removeInterruptHandlers = handleInterrupts({
    controller,
    onFirst: (signal) => {
      progress?.stop();
      interruptedBy = signal;
      const again = signal === 'SIGINT' ? 'Ctrl-C again' : 'a second SIGTERM or Ctrl-C';
      terminal.writeErr(
        `\n${PROGRAM}: stopped by ${signal}; the summary follows (${again} to exit now)\n`,
      );
    },
    onSecond: (signal) => {
      flushOutputsNow(outputs);
      terminal.writeErr(`\n${PROGRAM}: a second signal (${signal}); exiting now\n`);
      host.exitNow(signalExitCode(signal));
    },
  });
  // As in runLoad: a test awaiting a promise nothing settles must not let Node exit mid-run.
  const keepAlive = setInterval(() => {}, 1 << 30);

  let outcome: CapacityOutcome | undefined;
  let runnerError: unknown;
  try {
    const eventSink = outputListeners.length === 0 ? undefined : createFanoutSink(outputListeners);
    outcome = await runCapacitySearch({
      test,
      fqn: options.fqn,
      cwd: process.cwd(),
      thresholds: options.thresholds,
      startRate,
      maxRate: capacity.maxRate,
      precision: capacity.precision,
      durationMs,
      rampUpMs: options.rampUpMs,
      restMs: capacity.restMs,
      maxUsers,
      workers,
      timeoutMs: options.timeoutMs,
      testTimeoutMs: options.testTimeoutMs,
      maxBodyBytes: options.maxBodyBytes,
      discardBodies: options.discardBodies,
      transport: options.transport,
      serverUrl: options.serverUrl,
      aggregator,
      eventSink,
      signal: controller.signal,
      timelineOriginMs: info.startedAt,
      ...(broker === undefined
        ? {}
        : {
            probeRunner: agentsProbeRunner({
              options,
              conn: broker.conn,
              state: broker.state,
              agents: distributed!.agents!,
              includeFiles,
              methodsPerRun: test.methods.length,
              eventSink,
              signal: controller.signal,
              say,
            }),
            generators: distributed!.agents!,
          }),
      onProbeStart: (index, rate, read) => {
        rates[index] = rate;
        users[index] = maxUsers;
        say(`probe ${index + 1}: ${rate}/s for ${formatSeconds(durationMs / 1000)}`);
        if (!options.quiet) {
          progress = new Progress({
            stream: terminal.stderr,
            isTTY: terminal.progressBar,
            color: terminal.stderrColor,
            plainIntervalMs: options.statusIntervalMs,
            showDropped: true,
            total: { kind: 'duration', durationMs },
            read,
          });
          progress.start();
        }
      },
      onProbeEnd: (probe) => {
        progress?.stop();
        progress = undefined;
        say(`probe ${probe.index + 1}: ${probe.rate}/s ${probeVerdictText(probe)}`);
      },
    });
  } catch (err) {
    runnerError = err;
  } finally {
    clearInterval(keepAlive);
    progress?.stop();
  }

  const summary: Summary = buildSummary(
    aggregator.snapshot(),
    info,
    Date.now(),
    outcome?.interrupted ?? true,
    assessGeneratorLoad(outcome?.loops ?? []),
    [],
    null,
    interruptedBy,
    {
      capacity:
        outcome === undefined ? null : capacitySummaryOf(outcome, capacity, options.thresholds),
    },
  );
  // Outputs are closed whatever happened, so that nothing is lost.
  const outputError = await endRunOutputs(outputs, dashboard, summary);
  const emfile = summary.hitErrorKeys['EMFILE'] ?? 0;
  if (emfile > 0) {
    terminal.writeErr(`${PROGRAM}: ${emfileHint(emfile, readOpenFilesLimit())}\n`);
  }
  strays.stop();
  removeInterruptHandlers();
  if (runnerError !== undefined) {
    throw runnerError;
  }
  if (outputError !== undefined) {
    throw outputError;
  }
  return summary.exitStatus;
}
