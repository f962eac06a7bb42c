// A run with --test-runner (SPEC §11): as runLoad in main.ts — progress,
// outputs, dashboard, thresholds, --abort-on-fail, Ctrl-C/SIGTERM with the
// summary and exit 130/143 — but the test is an external one, run by
// ExternalRunner as one process per user per step. The test name is the
// external test's, never loaded as a module here. Each run gets a fresh
// run id (Loads used a uuid), which the processes' messages must carry, and
// this host's name as the agent id. Loaded only for such a run, so that
// zeromq's native module is not loaded otherwise.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Aggregator } from '../metrics/aggregator.ts';
import { createFanoutSink } from '../metrics/events.ts';
import {
  buildSummary,
  type InterruptSignal,
  type RunInfo,
  type Summary,
} from '../metrics/summary.ts';
import { checkThresholdSteps } from '../metrics/thresholds.ts';
import { Progress } from '../outputs/stdout/progress.ts';
import { buildPlan, countRuns } from '../runner/cycle.ts';
import { ExternalRunner } from '../runner/external/external-runner.ts';
import type { Terminal } from './console.ts';
import { startDashboard, type Dashboard } from './dashboard.ts';
import {
  createRunOutputs,
  endRunOutputs,
  eventListenersOf,
  flushOutputsNow,
} from './run-outputs.ts';
import { handleInterrupts, signalExitCode } from './signals.ts';
import { canAnyCrossEarly, NOTHING_TO_ABORT_ON, watchThresholds } from './threshold-watch.ts';
import type { ExternalOptions, RunOptions } from './validate.ts';
import { readVersion } from './version.ts';

const PROGRAM = 'loads-runner';

/**
 * Runs the load with the external test runner and resolves with the exit
 * status; `exitNow` ends the process at once (a second signal; main.ts
 * owns process.exit).
 */
export async function runExternalLoad(
  options: RunOptions,
  external: ExternalOptions,
  terminal: Terminal,
  exitNow: (code: number) => never,
): Promise<number> {
  // Resolve everything that can fail on bad input before any process starts.
  const plan = buildPlan(options.users, options.hits, options.durationMs, options.rampUpMs);
  checkThresholdSteps(options.thresholds, plan.length);
  const outputs = createRunOutputs(options, terminal);
  const aggregator = new Aggregator();
  const controller = new AbortController();
  const dashboard: Dashboard | undefined =
    options.dashboard === null
      ? undefined
      : await startDashboard({
          address: options.dashboard,
          aggregator,
          thresholds: options.thresholds,
        });

  const env: Record<string, string | undefined> = { ...process.env };
  if (options.serverUrl !== undefined) {
    // The target for the process's own client, as --server-url is this.app's.
    env['LOADS_SERVER_URL'] = options.serverUrl;
  }
  const runner = new ExternalRunner({
    argv: external.argv,
    fqn: options.fqn,
    plan,
    sink: createFanoutSink([aggregator, ...eventListenersOf(outputs)]),
    signal: controller.signal,
    cwd: process.cwd(),
    env,
    runId: randomUUID(),
    agentId: hostname(),
    receiver: external.receiver,
    processTimeoutS: external.processTimeoutS,
  });
  // An address in use stops the run before any process starts (exit 2).
  try {
    await runner.bind();
  } catch (err) {
    await dashboard?.close();
    throw err;
  }

  const info: RunInfo = {
    startedAt: Date.now(),
    fqn: options.fqn,
    projectName: options.projectName,
    version: readVersion(),
    users: options.users,
    hits: options.hits,
    durationMs: options.durationMs,
    rate: null,
    maxUsers: null,
    rampUpMs: options.rampUpMs,
    // The processes are the parallelism; this thread only counts.
    workers: 1,
  };
  aggregator.startTimeline(info.startedAt);
  try {
    for (const output of outputs) {
      output.onRunStart?.(info); // a file output checks its path here
    }
  } catch (err) {
    await runner.close();
    await dashboard?.close();
    throw err;
  }
  if (dashboard !== undefined) {
    dashboard.onRunStart(info);
    const where = dashboard.onEveryInterface ? ' (listening on every interface)' : '';
    terminal.writeErr(`${PROGRAM}: dashboard at ${dashboard.url}${where}\n`);
  }

  // A class runs each of its methods per hit, which only its results tell:
  // the total follows what the runner has learnt.
  const runsTotal = {
    kind: 'runs' as const,
    get runs(): number {
      return countRuns(plan, runner.testsPerHit);
    },
  };
  const progress = options.quiet
    ? undefined
    : new Progress({
        stream: terminal.stderr,
        isTTY: terminal.progressBar,
        color: terminal.stderrColor,
        plainIntervalMs: options.statusIntervalMs,
        total:
          options.durationMs === null
            ? runsTotal
            : { kind: 'duration', durationMs: options.durationMs * plan.length },
        read: () => aggregator.progress(),
      });

  let interruptedBy: InterruptSignal | null = null;
  let abortedBy: string | null = null;
  const removeInterruptHandlers = handleInterrupts({
    controller,
    onFirst: (signal) => {
      progress?.stop();
      if (abortedBy === null) {
        interruptedBy = signal;
      }
      const again = signal === 'SIGINT' ? 'Ctrl-C again' : 'a second SIGTERM or Ctrl-C';
      terminal.writeErr(
        `\n${PROGRAM}: stopped by ${signal}; the summary follows once the test processes have exited (${again} to exit now)\n`,
      );
    },
    onSecond: (signal) => {
      // No process may outlive the runner, even one that ignores SIGTERM.
      runner.killNow();
      flushOutputsNow(outputs);
      terminal.writeErr(`\n${PROGRAM}: a second signal (${signal}); exiting now\n`);
      exitNow(signalExitCode(signal));
    },
  });

  // How many runs a test makes is the process's to say, so a count
  // threshold can only be judged early on what it cannot change (errors<5).
  if (options.abortOnFail && !canAnyCrossEarly(options.thresholds, null)) {
    terminal.writeErr(`${PROGRAM}: ${NOTHING_TO_ABORT_ON}\n`);
  }
  const stopWatching = options.abortOnFail
    ? watchThresholds(options.thresholds, aggregator, null, (threshold) => {
        if (controller.signal.aborted) {
          return;
        }
        abortedBy = threshold.expression;
        progress?.stop();
        terminal.writeErr(
          `${PROGRAM}: threshold '${threshold.expression}' crossed; stopping (--abort-on-fail)\n`,
        );
        controller.abort();
      })
    : () => {};

  let interrupted = false;
  let runnerError: unknown;
  progress?.start();
  try {
    interrupted = (await runner.run()).interrupted;
  } catch (err) {
    runnerError = err;
  } finally {
    stopWatching();
    progress?.stop();
  }
  // Not judged: the processes time their own requests, so this thread's
  // event-loop delay says nothing about the latencies.
  const generator = null;

  const summary: Summary = buildSummary(
    aggregator.snapshot(),
    info,
    Date.now(),
    interrupted,
    generator,
    options.thresholds,
    abortedBy,
    interruptedBy,
    { external: { command: external.command, ...runner.report() } },
  );
  const outputError = await endRunOutputs(outputs, dashboard, summary);
  removeInterruptHandlers();
  if (runnerError !== undefined) {
    throw runnerError;
  }
  if (outputError !== undefined) {
    throw outputError;
  }
  return summary.exitStatus;
}
