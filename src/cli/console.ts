// The terminal the CLI writes to: stdout for the summary and the json output,
// stderr for the progress bar and error lines. Colour is decided here once
// (a TTY, no NO_COLOR, no --no-color) and passed down, and so is the choice
// between the progress bar and plain status lines (terminals, no CI variable);
// nothing below the CLI asks the environment (STYLE.md §2, k6 GlobalState).

export interface Terminal {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** Colour on stdout (the summary). */
  stdoutColor: boolean;
  /** Colour on stderr (the bar, error lines). */
  stderrColor: boolean;
  /**
   * The progress bar on stderr: stdout and stderr both terminals and not CI;
   * otherwise plain status lines (output piped or redirected is a log).
   */
  progressBar: boolean;
  writeOut(text: string): void;
  writeErr(text: string): void;
}

/** Streams that failed once (their reader went away): later writes to them are dropped. */
const closedStreams = new WeakSet<NodeJS.WritableStream>();
const guardedStreams = new WeakSet<NodeJS.WritableStream>();

/**
 * A closed stdout or stderr (`loads-runner --help | head -1`, a log reader
 * that went away, a terminal that closed) must not crash the run or read as
 * an internal error: the stream's first error (EPIPE, EIO…) marks it
 * closed, and the run goes on, still writing its file outputs.
 */
export function guardClosedStream(stream: NodeJS.WritableStream): void {
  if (guardedStreams.has(stream) || typeof stream.on !== 'function') {
    return;
  }
  guardedStreams.add(stream);
  stream.on('error', () => {
    closedStreams.add(stream);
  });
}

/** Writes text unless the stream is closed; never throws (a stdout file on a full disk throws). */
export function writeTo(stream: NodeJS.WritableStream, text: string): void {
  if (closedStreams.has(stream)) {
    return;
  }
  try {
    stream.write(text);
  } catch {
    closedStreams.add(stream);
  }
}

export function isColorAllowed(
  env: Record<string, string | undefined>,
  noColorFlag: boolean,
): boolean {
  // https://no-color.org: any non-empty NO_COLOR turns colour off.
  return !noColorFlag && !env['NO_COLOR'] && env['TERM'] !== 'dumb';
}

/**
 * A CI system runs us: the CI variable is set, not empty, "false" or "0"
 * (GitHub Actions, GitLab, CircleCI, Travis… set CI=true). Its log keeps
 * every byte, so a redrawn bar would only fill it: status lines instead,
 * even when the CI gives us a pseudo-terminal.
 */
export function isCI(env: Record<string, string | undefined>): boolean {
  const value = env['CI']?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

export function createTerminal(
  stdout: NodeJS.WriteStream,
  stderr: NodeJS.WriteStream,
  colorAllowed: boolean,
  ci = false,
): Terminal {
  guardClosedStream(stdout);
  guardClosedStream(stderr);
  const stdoutIsTTY = stdout.isTTY === true;
  const stderrIsTTY = stderr.isTTY === true;
  return {
    stdout,
    stderr,
    stdoutIsTTY,
    stderrIsTTY,
    stdoutColor: colorAllowed && stdoutIsTTY,
    stderrColor: colorAllowed && stderrIsTTY,
    progressBar: stdoutIsTTY && stderrIsTTY && !ci,
    writeOut: (text) => writeTo(stdout, text),
    writeErr: (text) => writeTo(stderr, text),
  };
}
