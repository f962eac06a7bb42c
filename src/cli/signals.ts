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

/** The answer to the distributed run's Ctrl-C prompt. */
export type StopOrDetach = 'stop' | 'detach';

/** Ctrl-C as a key: in raw mode the terminal sends it instead of SIGINT. */
const CTRL_C = '\u0003';

/**
 * Ctrl-C on a terminal during a distributed run (issue 11 §3): asks
 * `(s)top the run or (d)etach? ` and waits for one key, `s` or `d`; a second
 * Ctrl-C means stop now. Other keys are ignored. The terminal is put in raw
 * mode for the question only. `cancel()` puts it back (a SIGTERM decided first).
 */
export function askStopOrDetach(
  input: NodeJS.ReadStream,
  write: (text: string) => void,
): { answer: Promise<StopOrDetach>; cancel: () => void } {
  let settle: (answer: StopOrDetach) => void = () => {};
  const answer = new Promise<StopOrDetach>((resolve) => {
    settle = resolve;
  });
  let done = false;
  const onData = (chunk: Buffer | string): void => {
    const keys = chunk.toString();
    for (const key of keys) {
      if (key === CTRL_C || key === 's' || key === 'S') {
        finish('stop');
        return;
      }
      if (key === 'd' || key === 'D') {
        finish('detach');
        return;
      }
    }
  };
  const restore = (): void => {
    input.off('data', onData);
    input.setRawMode(false);
    input.pause();
  };
  const finish = (choice: StopOrDetach): void => {
    if (done) {
      return;
    }
    done = true;
    restore();
    write(`${choice === 'stop' ? 's' : 'd'}\n`);
    settle(choice);
  };
  write('\n(s)top the run or (d)etach? ');
  input.setRawMode(true);
  input.on('data', onData);
  input.resume();
  return {
    answer,
    cancel: () => {
      if (!done) {
        done = true;
        restore();
        write('\n');
      }
    },
  };
}
