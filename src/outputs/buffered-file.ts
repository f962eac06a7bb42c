// An append-only file for outputs that see every event (file, funkload):
// append() only concatenates to an in-memory buffer (hot path, no I/O); the
// buffer goes to disk on an unref'd interval, when it passes 1 MiB, and at
// close(). Writes are chained so they land in order. A write error does not
// crash the run: the first one is kept, later data is dropped, and close()
// throws it as a LoadsError (k6 SampleBuffer + PeriodicFlusher).
import { close as closeFd, openSync, writeFile } from 'node:fs';
import { ExitCode, LoadsError } from '../errors.ts';

export const FLUSH_INTERVAL_MS = 1000;
/** Buffered characters that trigger a flush before the next interval. */
const FLUSH_THRESHOLD_CHARS = 1 << 20;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class BufferedFile {
  readonly path: string;
  readonly #outputName: string;
  readonly #flushIntervalMs: number;
  #fd: number | undefined = undefined;
  #buffer = '';
  #pending: Promise<void> = Promise.resolve();
  #error: unknown = undefined;
  #timer: NodeJS.Timeout | undefined = undefined;
  #flushScheduled = false;
  #closed = false;

  constructor(path: string, outputName: string, flushIntervalMs = FLUSH_INTERVAL_MS) {
    this.path = path;
    this.#outputName = outputName;
    this.#flushIntervalMs = flushIntervalMs;
  }

  /** Creates (or truncates) the file and starts the flush interval. Throws a LoadsError (exit 2). */
  open(): void {
    try {
      this.#fd = openSync(this.path, 'w');
    } catch (err) {
      throw new LoadsError(
        `the ${this.#outputName} output cannot create '${this.path}': ${errorMessage(err)}; pick a writable path`,
        'LOADS_ERR_OUTPUT',
        ExitCode.USAGE,
        { cause: err },
      );
    }
    this.#timer = setInterval(() => this.#flush(), this.#flushIntervalMs);
    this.#timer.unref();
  }

  /** Buffers text. Never does I/O and never throws. */
  append(text: string): void {
    if (this.#closed || this.#error !== undefined) {
      return;
    }
    this.#buffer += text;
    if (this.#buffer.length > FLUSH_THRESHOLD_CHARS && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  }

  #flush(): void {
    const fd = this.#fd;
    if (this.#buffer === '' || fd === undefined || this.#error !== undefined) {
      return;
    }
    const chunk = this.#buffer;
    this.#buffer = '';
    this.#pending = this.#pending.then(
      () =>
        new Promise<void>((resolve) => {
          if (this.#error !== undefined) {
            resolve();
            return;
          }
          writeFile(fd, chunk, (err) => {
            if (err !== null && this.#error === undefined) {
              this.#error = err;
            }
            resolve();
          });
        }),
    );
  }

  /**
   * Writes what is buffered, closes the file. Rejects with a LoadsError if any
   * write failed during the run. Calling it again does nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    clearInterval(this.#timer);
    this.#flush();
    await this.#pending;
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) {
      await new Promise<void>((resolve) => {
        closeFd(fd, (err) => {
          if (err !== null && this.#error === undefined) {
            this.#error = err;
          }
          resolve();
        });
      });
    }
    if (this.#error !== undefined) {
      throw new LoadsError(
        `the ${this.#outputName} output could not write '${this.path}': ${errorMessage(this.#error)}`,
        'LOADS_ERR_OUTPUT',
        ExitCode.RUN_FAILED,
        { cause: this.#error },
      );
    }
  }
}
