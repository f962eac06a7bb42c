// The terminal the CLI writes to: stdout for the summary and the json output,
// stderr for the progress bar and error lines. Colour is decided here once
// (a TTY, no NO_COLOR, no --no-color) and passed down; nothing below the CLI
// asks the environment (STYLE.md §2, k6 GlobalState).

export interface Terminal {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** Colour on stdout (the summary). */
  stdoutColor: boolean;
  /** Colour on stderr (the bar, error lines). */
  stderrColor: boolean;
  writeOut(text: string): void;
  writeErr(text: string): void;
}

export function isColorAllowed(
  env: Record<string, string | undefined>,
  noColorFlag: boolean,
): boolean {
  // https://no-color.org: any non-empty NO_COLOR turns colour off.
  return !noColorFlag && !env['NO_COLOR'] && env['TERM'] !== 'dumb';
}

export function createTerminal(
  stdout: NodeJS.WriteStream,
  stderr: NodeJS.WriteStream,
  colorAllowed: boolean,
): Terminal {
  const stdoutIsTTY = stdout.isTTY === true;
  const stderrIsTTY = stderr.isTTY === true;
  return {
    stdout,
    stderr,
    stdoutIsTTY,
    stderrIsTTY,
    stdoutColor: colorAllowed && stdoutIsTTY,
    stderrColor: colorAllowed && stderrIsTTY,
    writeOut: (text) => {
      stdout.write(text);
    },
    writeErr: (text) => {
      stderr.write(text);
    },
  };
}
