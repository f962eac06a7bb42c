// The loads-runner command: the composition root. It parses and validates
// the options (`loads-runner report` goes to report-command.ts; a run on
// agents, --attach and the broker commands to distributed-run.ts and
// broker-admin.ts, --find-capacity to capacity-command.ts, loaded only for them), loads the test, wires the
// aggregator and outputs to the runner (in this thread, or on worker
// threads with --workers), handles Ctrl-C, and is the only place that
// turns errors into exit statuses (SPEC §7): usage/input errors print one
// line and exit 2, a run with failures or errors (or a crashed worker, or a
// lost agent) exits 1, an internal bug prints its stack.
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type * as Commander from 'commander';
import { ExitCode, LoadsError, UsageError, UsageErrors } from '../errors.ts';
import { createFanoutSink } from '../metrics/events.ts';
import { Aggregator } from '../metrics/aggregator.ts';
import {
  buildSummary,
  type InterruptSignal,
  type RunInfo,
  type Summary,
} from '../metrics/summary.ts';
import { assessGeneratorLoad, LoopMonitor, type LoopSample } from '../metrics/loop-monitor.ts';
import { checkThresholdSteps } from '../metrics/thresholds.ts';
import { OUTPUT_NAMES } from '../outputs/registry.ts';
import { Progress } from '../outputs/stdout/progress.ts';
import { loadTest } from '../runner/loader.ts';
import { filterModuleTypeWarnings } from '../runner/module-type-warning.ts';
import { buildPlan, buildRatePlan, countRuns } from '../runner/cycle.ts';
import { LocalRunner, type RunResult } from '../runner/local-runner.ts';
import { ThreadedRunner } from '../workers/threaded-runner.ts';
import {
  createProgram,
  REPORT_COMMAND,
  type RawOptions,
  type RawReportOptions,
} from './options.ts';
import { runReport } from './report-command.ts';
import { readVersion } from './version.ts';
import { readConfig, type ConfigValues } from './config.ts';
import { validateOptions, type RunOptions } from './validate.ts';
import {
  createTerminal,
  guardClosedStream,
  isCI,
  isColorAllowed,
  writeTo,
  type Terminal,
} from './console.ts';
import { handleInterrupts, signalExitCode } from './signals.ts';
import { tuneGarbageCollector } from './gc-tuning.ts';
import { emfileHint, readOpenFilesLimit } from './open-files.ts';
import { startDashboard, type Dashboard } from './dashboard.ts';
import {
  createRunOutputs,
  endRunOutputs,
  eventListenersOf,
  flushOutputsNow,
} from './run-outputs.ts';
import { canAnyCrossEarly, NOTHING_TO_ABORT_ON, watchThresholds } from './threshold-watch.ts';
import { requireCjs } from '../require-cjs.ts';

const { CommanderError } = requireCjs('commander') as typeof Commander;

const PROGRAM = 'loads-runner';

/** Runs the command and resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const stderr = process.stderr;
  guardClosedStream(process.stdout);
  guardClosedStream(stderr);
  sayTypelessModulesOnce(stderr);
  try {
    const parsed = parseArguments(argv);
    if (typeof parsed === 'number') {
      return parsed;
    }
    if (parsed.command === 'report') {
      return runReport(parsed.runFile, parsed.raw, {
        writeOut: (text) => writeTo(process.stdout, text),
        writeErr: (text) => writeTo(stderr, text),
      });
    }
    const config: ConfigValues =
      parsed.raw.config === undefined ? {} : readConfig(parsed.raw.config);
    const options = validateOptions(parsed.fqn, parsed.raw, config, OUTPUT_NAMES);
    const terminal = createTerminal(
      process.stdout,
      process.stderr,
      isColorAllowed(process.env, options.noColor),
      isCI(process.env),
    );
    return await dispatch(options, terminal);
  } catch (err) {
    if (err instanceof UsageErrors) {
      for (const problem of err.errors) {
        writeTo(stderr, `${PROGRAM}: ${problem.message}\n`);
      }
      return ExitCode.USAGE;
    }
    if (err instanceof LoadsError) {
      writeTo(stderr, `${PROGRAM}: ${err.message}\n`);
      return err.exitCode;
    }
    writeTo(
      stderr,
      `${PROGRAM}: internal error (a bug in loads-runner, please report it):\n${
        err instanceof Error ? (err.stack ?? err.message) : String(err)
      }\n`,
    );
    return ExitCode.RUN_FAILED;
  }
}

/** What the command line asks for: a load run, or a report from saved json documents. */
type ParsedArguments =
  | { command: 'run'; fqn: string | undefined; raw: RawOptions }
  | { command: 'report'; runFile: string; raw: RawReportOptions };

function parseArguments(argv: readonly string[]): ParsedArguments | number {
  const program = createProgram(readVersion());
  let parsed: ParsedArguments | undefined;
  program.action((fqn: string | undefined) => {
    parsed = { command: 'run', fqn, raw: program.opts<RawOptions>() };
  });
  const report = program.commands.find((command) => command.name() === REPORT_COMMAND);
  report?.action((runFile: string, raw: RawReportOptions) => {
    // Before `report`, commander still reads the run's options (-u 10 report x.json): refuse them.
    const runOptions = program.options
      .filter((option) => program.getOptionValueSource(option.attributeName()) === 'cli')
      .map((option) => option.long ?? option.flags);
    if (runOptions.length > 0) {
      throw new UsageError(
        `${runOptions.join(', ')} ${runOptions.length === 1 ? 'is an option' : 'are options'} of a load run, not of ${REPORT_COMMAND}; see ${PROGRAM} ${REPORT_COMMAND} --help`,
      );
    }
    parsed = { command: 'report', runFile, raw };
  });
  // Subcommands copy these settings only when created, so each gets them here;
  // the help named in a usage error is that of the command that refused.
  let helpOf = program;
  for (const command of [program, ...program.commands]) {
    command.exitOverride((err) => {
      helpOf = command;
      throw err;
    });
    command.configureOutput({
      writeOut: (text) => writeTo(process.stdout, text),
      writeErr: (text) => writeTo(process.stderr, text),
      // Our own one-line message is printed below, with exit status 2.
      outputError: () => {},
    });
  }
  try {
    program.parse(argv as string[]);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) {
        return ExitCode.OK; // --help, --version
      }
      const message = err.message.replace(/^error: /, '');
      const help = helpOf === program ? PROGRAM : `${PROGRAM} ${helpOf.name()}`;
      writeTo(process.stderr, `${PROGRAM}: ${message}; see ${help} --help\n`);
      return ExitCode.USAGE;
    }
    throw err;
  }
  if (parsed === undefined) {
    throw new Error('commander parsed the command line without calling an action');
  }
  return parsed;
}

/**
 * A run on this machine, or (loaded only then) a run on agents, --attach,
 * and the broker commands.
 */
async function dispatch(options: RunOptions, terminal: Terminal): Promise<number> {
  const exitNow = (code: number): never => process.exit(code);
  switch (options.command.kind) {
    case 'run':
      if (options.external !== null && options.distributed === null) {
        return (await import('./external-run.ts')).runExternalLoad(
          options,
          options.external,
          terminal,
          exitNow,
        );
      }
      if (options.capacity !== null) {
        const { runCapacityCommand } = await import('./capacity-command.ts');
        return runCapacityCommand(options, terminal, { watchStrayErrors, exitNow });
      }
      if (options.distributed === null) {
        return runLoad(options, terminal);
      }
      return (await import('./distributed-run.ts')).runOnAgents(options, terminal, exitNow);
    case 'attach':
      return (await import('./distributed-run.ts')).attachToRun(options, terminal, exitNow);
    case 'ping-broker':
      return (await import('./broker-admin.ts')).pingBroker(options, terminal);
    case 'check-cluster':
      return (await import('./broker-admin.ts')).checkCluster(options, terminal);
    case 'purge-broker':
      return (await import('./broker-admin.ts')).purgeBroker(options, terminal);
    default: {
      const never: never = options.command;
      return never;
    }
  }
}

async function runLoad(options: RunOptions, terminal: Terminal): Promise<number> {
  // Resolve everything that can fail on bad input before any load is sent.
  const test = await loadTest(options.fqn, process.cwd());
  const plan =
    options.rate === null
      ? buildPlan(options.users, options.hits, options.durationMs, options.rampUpMs)
      : buildRatePlan(options.rate, options.durationMs!, options.maxUsers!, options.rampUpMs);
  checkThresholdSteps(options.thresholds, plan.length);
  const outputs = createRunOutputs(options, terminal);

  const aggregator = new Aggregator();
  const outputListeners = eventListenersOf(outputs);
  // One thread: every event goes to the aggregator and the outputs. Worker
  // threads: the aggregator fills from the workers' deltas, and only the
  // outputs that need every event get the events, batched by the workers.
  // With --rate the pool bound caps the threads, as the users do otherwise
  // (options.users is [maxUsers] then).
  const workers = Math.min(options.workers ?? availableParallelism(), Math.max(...options.users));
  const controller = new AbortController();
  // Bound before any load, so a port in use stops the run with exit 2; it
  // serves pages once the run starts.
  const dashboard: Dashboard | undefined =
    options.dashboard === null
      ? undefined
      : await startDashboard({
          address: options.dashboard,
          aggregator,
          thresholds: options.thresholds,
        });
  const strays = watchStrayErrors(terminal);
  let threaded: ThreadedRunner | undefined;
  if (workers > 1) {
    threaded = new ThreadedRunner({
      fqn: options.fqn,
      cwd: process.cwd(),
      plan,
      workers,
      aggregator,
      eventSink: outputListeners.length === 0 ? undefined : createFanoutSink(outputListeners),
      signal: controller.signal,
      timeoutMs: options.timeoutMs,
      testTimeoutMs: options.testTimeoutMs,
      maxBodyBytes: options.maxBodyBytes,
      discardBodies: options.discardBodies,
      transport: options.transport,
      serverUrl: options.serverUrl,
      onStrayError: (text, workerIndex) => strays.report(`${text} (worker ${workerIndex})`),
    });
    // Each worker loads the test itself: before the clock starts, and a
    // worker that cannot load it stops the run before any load is sent.
    try {
      await threaded.start();
    } catch (err) {
      strays.stop();
      await dashboard?.close();
      throw err;
    }
  }

  const info: RunInfo = {
    startedAt: Date.now(),
    fqn: options.fqn,
    projectName: options.projectName,
    version: readVersion(),
    // Open model: the pool bound of each rate step, as users per step.
    users: options.rate === null ? options.users : plan.map((step) => step.users),
    hits: options.hits,
    durationMs: options.durationMs,
    rate: options.rate,
    maxUsers: options.maxUsers,
    rampUpMs: options.rampUpMs,
    workers: threaded === undefined ? 1 : workers,
  };
  aggregator.startTimeline(info.startedAt);
  for (const output of outputs) {
    output.onRunStart?.(info);
  }
  if (dashboard !== undefined) {
    dashboard.onRunStart(info);
    const where = dashboard.onEveryInterface ? ' (listening on every interface)' : '';
    terminal.writeErr(`${PROGRAM}: dashboard at ${dashboard.url}${where}\n`);
  }

  // On stderr whatever the outputs are; --quiet is the one way to silence it.
  const progress = options.quiet
    ? undefined
    : new Progress({
        stream: terminal.stderr,
        isTTY: terminal.progressBar,
        color: terminal.stderrColor,
        plainIntervalMs: options.statusIntervalMs,
        showDropped: options.rate !== null,
        total:
          options.durationMs === null
            ? { kind: 'runs', runs: countRuns(plan, test.methods.length) }
            : { kind: 'duration', durationMs: options.durationMs * plan.length },
        read: () => aggregator.progress(),
      });

  // The first signal decides the exit status (130 or 143), unless
  // --abort-on-fail was already stopping the run (exit 1).
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
        `\n${PROGRAM}: stopped by ${signal}; the summary follows (${again} to exit now)\n`,
      );
    },
    onSecond: (signal) => {
      flushOutputsNow(outputs);
      terminal.writeErr(`\n${PROGRAM}: a second signal (${signal}); exiting now\n`);
      process.exit(signalExitCode(signal));
    },
  });
  // A test awaiting a promise that nothing will settle leaves the event loop
  // empty, and Node would exit mid-run without a summary; this handle keeps
  // the process alive until the runner returns.
  const keepAlive = setInterval(() => {}, 1 << 30);

  // Known in advance in hits mode and in the open model (its schedule); not in closed duration runs.
  const plannedRuns =
    options.durationMs === null || options.rate !== null
      ? countRuns(plan, test.methods.length)
      : null;
  if (options.abortOnFail && !canAnyCrossEarly(options.thresholds, plannedRuns)) {
    terminal.writeErr(`${PROGRAM}: ${NOTHING_TO_ABORT_ON}\n`);
  }
  const stopWatching = options.abortOnFail
    ? watchThresholds(options.thresholds, aggregator, plannedRuns, (threshold) => {
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
  const loop = new LoopMonitor('main');
  progress?.start();
  loop.start();
  try {
    let result: RunResult;
    if (threaded === undefined) {
      result = await new LocalRunner({
        test,
        plan,
        sink: createFanoutSink([aggregator, ...outputListeners]),
        signal: controller.signal,
        timeoutMs: options.timeoutMs,
        testTimeoutMs: options.testTimeoutMs,
        maxBodyBytes: options.maxBodyBytes,
        discardBodies: options.discardBodies,
        transport: options.transport,
        serverUrl: options.serverUrl,
      }).run();
    } else {
      result = await threaded.run(info.startedAt);
    }
    interrupted = result.interrupted;
  } catch (err) {
    runnerError = err;
  } finally {
    clearInterval(keepAlive);
    stopWatching();
    progress?.stop();
  }
  const threads: LoopSample[] = [loop.stop(), ...(threaded?.loopSamples ?? [])];
  const generator = assessGeneratorLoad(threads);

  // Outputs are closed whatever happened, so that nothing is lost.
  const summary: Summary = buildSummary(
    aggregator.snapshot(),
    info,
    Date.now(),
    interrupted,
    generator,
    options.thresholds,
    abortedBy,
    interruptedBy,
  );
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
  // An interrupted run never reads as a pass, however well what ran went (SPEC §7).
  return summary.exitStatus;
}

/**
 * Node's multi-line warning for a .js ES module in a folder whose
 * package.json has no "type": "module" becomes one line of ours, once (see
 * runner/module-type-warning.ts; worker threads drop theirs).
 */
function sayTypelessModulesOnce(stderr: NodeJS.WritableStream): void {
  let said = false;
  filterModuleTypeWarnings(process, ({ file, packageJson }) => {
    if (said) {
      return;
    }
    said = true;
    const shown = (absolute: string): string => {
      const relative = path.relative(process.cwd(), absolute);
      return relative.startsWith('..') || path.isAbsolute(relative) ? absolute : `./${relative}`;
    };
    const where = packageJson === null ? 'the package.json of its folder' : shown(packageJson);
    const renamed = path.basename(file).replace(/\.js$/, '.mjs');
    writeTo(
      stderr,
      `${PROGRAM}: warning: ${shown(file)} is an ES module but ${where} has no "type": "module", so Node parses it twice; add "type": "module" there, or rename it to ${renamed}\n`,
    );
  });
}

const MAX_STRAY_REPORTS = 3;

/**
 * A test that does not await a promise can leave a rejection or exception
 * outside any test run. It must not crash the load: say so on stderr (the
 * first few), and go on.
 */
function watchStrayErrors(terminal: Terminal): {
  /** Reports one stray error described by `text` (from a worker thread). */
  report: (text: string) => void;
  stop: () => void;
} {
  let count = 0;
  const report = (text: string): void => {
    count++;
    if (count <= MAX_STRAY_REPORTS) {
      terminal.writeErr(
        `${PROGRAM}: warning: an error escaped a test run (a promise not awaited?): ${text}\n`,
      );
    }
  };
  const onStray = (reason: unknown): void => {
    report(reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason));
  };
  process.on('unhandledRejection', onStray);
  process.on('uncaughtException', onStray);
  return {
    report,
    stop: () => {
      process.off('unhandledRejection', onStray);
      process.off('uncaughtException', onStray);
    },
  };
}

tuneGarbageCollector(process.execArgv);
process.exitCode = await main(process.argv);
// Everything is flushed by now (stdout/stderr writes are synchronous on Linux
// pipes, files and TTYs). A test left hanging on a timer or socket of its own
// must not keep the process alive: give the loop a moment, then leave.
setTimeout(() => process.exit(), 200).unref();
