// An append-only file for outputs that see every event (file, funkload):
// append() only concatenates to an in-memory buffer (hot path, no I/O); the
// buffer goes to disk on an unref'd interval, when it passes 1 MiB, and at
// close(). A write error does not crash the run: the first one is kept,
// later data is dropped, and close() throws it as a LoadsError (k6
// SampleBuffer + PeriodicFlusher).
//
// Each flushed chunk gets its byte offset in the file when it leaves the
// buffer, and is written there (pwrite), one chunk at a time. So flushSync()
// (a second Ctrl-C, right before the process exits) can write every chunk
// not yet known to be on disk, plus the buffer, at their own offsets: an
// asynchronous write still in flight then writes the same bytes to the same
// place, whenever it lands, and no line can be lost, reordered or doubled.
// A target that cannot seek (a FIFO, /dev/stdout) is written synchronously
// at each flush instead, as Node writes stdout to a pipe.
import { close as closeFd, fstatSync, openSync, write, writeSync } from 'node:fs';
import { ExitCode, LoadsError } from '../errors.ts';

export const FLUSH_INTERVAL_MS = 1000;
/** Buffered characters that trigger a flush before the next interval. */
const FLUSH_THRESHOLD_CHARS = 1 << 20;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Bytes that left the buffer, and where they go in the file. */
interface Chunk {
  readonly bytes: Buffer;
  /** Byte offset in the file. */
  readonly position: number;
  /** All of it is on disk (written by either path). */
  done: boolean;
}

export class BufferedFile {
  readonly path: string;
  readonly #outputName: string;
  readonly #flushIntervalMs: number;
  #fd: number | undefined = undefined;
  /** The file is a regular file: chunks are written at their offsets, asynchronously. */
  #seekable = true;
  #buffer = '';
  /** Chunks not yet known to be written, in file order; the first may be in flight. */
  readonly #queue: Chunk[] = [];
  /** Offset of the next chunk. */
  #position = 0;
  #writing = false;
  /** close() waiting for the queue to drain. */
  #onDrained: (() => void) | undefined = undefined;
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
      this.#seekable = fstatSync(this.#fd).isFile();
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

  /**
   * Writes synchronously, before returning, everything appended so far that
   * is not known to be on disk yet: the queued chunks (also one whose
   * asynchronous write is in flight) and the buffer. For the moment the
   * process must exit now; appending and close() still work after it.
   * Never throws: a write error is kept for close().
   */
  flushSync(): void {
    this.#takeBuffer();
    const fd = this.#fd;
    if (fd === undefined) {
      return;
    }
    try {
      for (const chunk of this.#queue) {
        if (!chunk.done) {
          this.#writeAllSync(fd, chunk);
        }
      }
    } catch (err) {
      this.#error ??= err;
    }
    // An in-flight write sees its chunk done when it calls back, and stops.
    this.#queue.length = 0;
  }

  /** Moves the buffer into a chunk at the next offset. */
  #takeBuffer(): void {
    if (this.#buffer === '' || this.#fd === undefined || this.#error !== undefined) {
      return;
    }
    const bytes = Buffer.from(this.#buffer, 'utf8');
    this.#buffer = '';
    this.#queue.push({ bytes, position: this.#position, done: false });
    this.#position += bytes.length;
  }

  #flush(): void {
    this.#takeBuffer();
    const fd = this.#fd;
    if (fd === undefined || this.#queue.length === 0) {
      return;
    }
    if (this.#seekable) {
      this.#writeNext(fd);
      return;
    }
    // Not seekable: write in place, in order, now (see the header).
    this.flushSync();
  }

  /** Starts writing the first queued chunk unless a write is in flight. */
  #writeNext(fd: number): void {
    if (this.#writing) {
      return;
    }
    const chunk = this.#queue[0];
    if (chunk === undefined || this.#error !== undefined) {
      this.#queue.length = 0;
      this.#onDrained?.();
      return;
    }
    this.#writing = true;
    this.#writeFrom(fd, chunk, 0);
  }

  #writeFrom(fd: number, chunk: Chunk, offset: number): void {
    write(
      fd,
      chunk.bytes,
      offset,
      chunk.bytes.length - offset,
      chunk.position + offset,
      (err, written) => {
        if (err !== null) {
          this.#error ??= err;
        } else if (!chunk.done && offset + written < chunk.bytes.length) {
          this.#writeFrom(fd, chunk, offset + written);
          return;
        }
        chunk.done = true;
        if (this.#queue[0] === chunk) {
          this.#queue.shift();
        }
        this.#writing = false;
        this.#writeNext(fd);
      },
    );
  }

  #writeAllSync(fd: number, chunk: Chunk): void {
    let offset = 0;
    while (offset < chunk.bytes.length) {
      offset += writeSync(
        fd,
        chunk.bytes,
        offset,
        chunk.bytes.length - offset,
        this.#seekable ? chunk.position + offset : null,
      );
    }
    chunk.done = true;
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
    if (this.#writing || this.#queue.length > 0) {
      await new Promise<void>((resolve) => {
        this.#onDrained = resolve;
      });
    }
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
