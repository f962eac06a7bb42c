// The outputs of a load, created from the options and ended with its
// summary, for every kind of run: on this machine (main.ts), with an
// external test runner (external-run.ts), on agents or attached to
// (distributed-run.ts).
import type { EventSink } from '../metrics/events.ts';
import type { Summary } from '../metrics/summary.ts';
import type { Output } from '../outputs/output.ts';
import { createOutput } from '../outputs/registry.ts';
import type { Terminal } from './console.ts';
import type { RunOptions } from './validate.ts';

/**
 * Every output asked for; the text summary goes to stderr when json holds
 * stdout (see RunOptions.summaryStream). `names` are the run's (--attach:
 * the run on the broker's), the options' by default.
 */
export function createRunOutputs(
  options: RunOptions,
  terminal: Terminal,
  names: { fqn: string; projectName: string } = options,
): Output[] {
  const summaryToStderr = options.summaryStream === 'stderr';
  return options.outputs.map((name) => {
    const toStderr = name === 'stdout' && summaryToStderr;
    return createOutput(name, {
      projectName: names.projectName,
      fqn: names.fqn,
      write: toStderr ? terminal.writeErr : terminal.writeOut,
      options: options.outputOptions,
      color: toStderr ? terminal.stderrColor : terminal.stdoutColor,
      quiet: options.quiet,
    });
  });
}

/** The outputs that take every event (file, funkload), as sinks; empty when none does. */
export function eventListenersOf(outputs: readonly Output[]): EventSink[] {
  const listeners: EventSink[] = [];
  for (const output of outputs) {
    if (output.onEvent !== undefined) {
      listeners.push({ emit: output.onEvent.bind(output) });
    }
  }
  return listeners;
}

/** Exit now (a second signal): what the file outputs have buffered goes out synchronously first. */
export function flushOutputsNow(outputs: readonly Output[]): void {
  for (const output of outputs) {
    try {
      output.onExitNow?.();
    } catch {
      // The contract says never throw; exiting matters more than a report now.
    }
  }
}

/**
 * The run is over: every output gets the summary, even when one before it
 * failed (so nothing is lost), then the open dashboard pages get the final
 * report. Resolves with the first output's error, if any, for the caller
 * to throw once its own cleanup is done.
 */
export async function endRunOutputs(
  outputs: readonly Output[],
  dashboard: { onRunEnd(summary: Summary): Promise<void> } | undefined,
  summary: Summary,
): Promise<unknown> {
  let outputError: unknown;
  for (const output of outputs) {
    try {
      await output.onRunEnd?.(summary);
    } catch (err) {
      outputError ??= err;
    }
  }
  // Then their streams end and the server closes, so no page keeps the process alive.
  await dashboard?.onRunEnd(summary);
  return outputError;
}
