// The outputs of a load, created from the options, for a run on this
// machine (main.ts) and on agents or attached to (distributed-run.ts).
import type { EventSink } from '../metrics/events.ts';
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
