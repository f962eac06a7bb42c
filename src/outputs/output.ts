// The Output contract: what the CLI calls on each output chosen with
// `--output NAME`, and when. Hooks are optional so an output pays only for
// what it uses; in particular an output without onEvent is left out of the
// event fan-out and costs nothing per hit (STYLE.md §8.3).
import type { LoadsEvent } from '../metrics/events.ts';
import type { RunInfo, Summary } from '../metrics/summary.ts';

/** What an output gets from the CLI when it is created. Owned by the CLI; read-only. */
export interface OutputContext {
  projectName: string;
  fqn: string;
  /** Writes to stdout (the CLI's writer); for outputs whose target is stdout. */
  write: (text: string) => void;
  /**
   * Output options by their config name, e.g. `output_file_filename`,
   * `output_funkload_filename`, `output_json_filename`, `output_html_filename`,
   * `server_url`.
   * Missing or undefined means the output's default.
   */
  options: Record<string, string | undefined>;
  /** Colour allowed (a TTY, no NO_COLOR, no --no-color): decided by the CLI. */
  color: boolean;
  /** --quiet: nothing on stdout. */
  quiet: boolean;
}

export interface Output {
  /** The name given to `--output`. */
  readonly name: string;
  /**
   * Called once, before the first event. May open files. May throw a
   * LoadsError when the output cannot work at all (e.g. the file cannot be
   * created); the CLI then reports it before any load is sent.
   */
  onRunStart?(info: RunInfo): void;
  /**
   * Called synchronously for every event, on the hot path, only for outputs
   * that define it. Buffer, do not write: no I/O, no await, no per-event
   * timer, never throw. The event belongs to the caller and may be reused
   * after the call: copy or serialize the fields you keep.
   */
  onEvent?(event: LoadsEvent): void;
  /**
   * Called once at the end: after the last event, also after Ctrl-C and after
   * a test that threw. Flush and close everything here. It rejects (or
   * throws) a LoadsError when something could not be written, after
   * releasing what it holds. The summary belongs to the CLI: read it, do not
   * change it. Called only if onRunStart was called (when defined).
   */
  onRunEnd?(summary: Summary): Promise<void> | void;
  /**
   * Called at most once, when the user asks to exit at once (a second
   * Ctrl-C or SIGTERM), right before the process exits: onRunEnd may be
   * pending or may never be called, and no hook is called after this one.
   * Write what is buffered with synchronous I/O only (nothing asynchronous
   * gets to run after it), keep what is written well-formed where it
   * can be, and return; never throw. Outputs that write at the end only
   * (json, junit) need not define it.
   */
  onExitNow?(): void;
}
