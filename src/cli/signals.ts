// Ctrl-C handling (SPEC §7): the first SIGINT or SIGTERM stops the load and
// lets the summary and outputs finish, and decides the exit status (130 or
// 143); a second one, of either kind, exits at once with 128 + its own
// number. Returns a function that removes the handlers.
import { constants } from 'node:os';
import type { InterruptSignal } from '../metrics/summary.ts';

export interface InterruptOptions {
  controller: AbortController;
  /** The first signal, before the controller aborts. */
  onFirst: (signal: InterruptSignal) => void;
  /** Any later signal: exit now. */
  onSecond: (signal: InterruptSignal) => void;
}

/** The shell's status for a process ended by `signal`: 128 + its number (SIGINT 130, SIGTERM 143). */
export function signalExitCode(signal: InterruptSignal): number {
  return 128 + constants.signals[signal];
}

export function handleInterrupts(options: InterruptOptions): () => void {
  let count = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    const name: InterruptSignal = signal === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
    count++;
    if (count === 1) {
      options.onFirst(name);
      options.controller.abort();
    } else {
      options.onSecond(name);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
