// The console while the run goes (SPEC §5). It pulls cheap counts from
// `read()` on its own clock, never per hit (STYLE.md §8.7): on a TTY a
// cli-progress bar redrawn ~10×/s; elsewhere (CI logs, or CI set: the CLI
// decides) one short plain status line every 10 s (--status-interval) with no
// control characters, whose rps covers the last interval, which says more
// than the average. Every timer is unref()'d so the display never keeps the
// process alive; stop() draws the final state once, with the run's average rps.
import { SingleBar } from 'cli-progress';
import { Chalk } from 'chalk';
import type { ProgressCounts } from '../../metrics/aggregator.ts';
import { now } from '../../metrics/clock.ts';

export const TTY_REFRESH_MS = 100;
export const PLAIN_INTERVAL_MS = 10_000;

export interface ProgressOptions {
  /** Where to draw (stderr, so stdout stays clean for the summary). */
  stream: NodeJS.WritableStream;
  /** Draw the bar; false for plain status lines (not a TTY, or CI set). */
  isTTY: boolean;
  color: boolean;
  total: { kind: 'runs'; runs: number } | { kind: 'duration'; durationMs: number };
  read: () => ProgressCounts;
  /** Open model (--rate): show the dropped runs, the sign that the pool of users is saturated. */
  showDropped?: boolean;
  /** Status-line period when not on a TTY; default PLAIN_INTERVAL_MS. */
  plainIntervalMs?: number;
}

/** cli-progress re-arms a plain setTimeout on every render; unref each one. */
class UnrefSingleBar extends SingleBar {
  override render(): void {
    super.render();
    (this as unknown as { timer: NodeJS.Timeout | null }).timer?.unref();
  }
}

interface Frame {
  percent: number;
  /** 'runs 450/1000' or 'time 13/30s'. */
  done: string;
  hits: number;
  /** Average over the run so far. */
  rps: number;
  errors: number;
  failures: number;
  dropped: number;
  elapsedMs: number;
}

/** H:MM:SS. */
function formatElapsed(ms: number): string {
  const total = Math.floor(Math.max(0, ms) / 1000);
  const minutes = Math.floor(total / 60) % 60;
  const seconds = total % 60;
  return `${Math.floor(total / 3600)}:${String(minutes).padStart(2, '0')}:${String(seconds).padStart(2, '0')}`;
}

export class Progress {
  readonly #options: ProgressOptions;
  #startedAt = 0;
  #timer: NodeJS.Timeout | undefined = undefined;
  #bar: UnrefSingleBar | undefined = undefined;
  #running = false;
  /** Hits and time (ms since start) at the last status line: its rps covers the interval since. */
  #lineHits = 0;
  #lineAtMs = 0;

  constructor(options: ProgressOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#running) {
      return;
    }
    this.#running = true;
    this.#startedAt = now();
    this.#lineHits = 0;
    this.#lineAtMs = 0;
    if (this.#options.isTTY) {
      this.#startBar();
    } else {
      const interval = this.#options.plainIntervalMs ?? PLAIN_INTERVAL_MS;
      this.#timer = setInterval(() => this.#writePlain(false), interval);
      this.#timer.unref();
    }
  }

  /** Draws the final state once and stops. Safe to call twice or before start(). */
  stop(): void {
    if (!this.#running) {
      return;
    }
    this.#running = false;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#bar !== undefined) {
      this.#updateBar();
      this.#bar.stop();
      this.#bar = undefined;
    } else {
      this.#writePlain(true);
    }
  }

  #frame(): Frame {
    const counts = this.#options.read();
    const elapsedMs = now() - this.#startedAt;
    const total = this.#options.total;
    let fraction: number;
    let done: string;
    if (total.kind === 'runs') {
      fraction = total.runs > 0 ? counts.runs / total.runs : 0;
      done = `runs ${counts.runs}/${total.runs}`;
    } else {
      fraction = total.durationMs > 0 ? elapsedMs / total.durationMs : 0;
      // Whole seconds, except a total such as -d 2.5 that is not whole.
      const totalS = total.durationMs / 1000;
      done = `time ${Math.floor(Math.min(elapsedMs, total.durationMs) / 1000)}/${Number.isInteger(totalS) ? totalS : totalS.toFixed(1)}s`;
    }
    return {
      percent: Math.floor(Math.min(1, Math.max(0, fraction)) * 100),
      done,
      hits: counts.hits,
      rps: elapsedMs > 0 ? Math.round((counts.hits * 1000) / elapsedMs) : 0,
      errors: counts.errors,
      failures: counts.failures,
      dropped: counts.dropped,
      elapsedMs,
    };
  }

  /** One status line; rps over the interval since the last line, or the run's average at the end. */
  #writePlain(final: boolean): void {
    const f = this.#frame();
    let rps = f.rps;
    if (!final) {
      const windowMs = f.elapsedMs - this.#lineAtMs;
      rps = windowMs > 0 ? Math.round(((f.hits - this.#lineHits) * 1000) / windowMs) : 0;
      this.#lineHits = f.hits;
      this.#lineAtMs = f.elapsedMs;
    }
    this.#options.stream.write(
      `[loads] ${formatElapsed(f.elapsedMs)} ${f.percent}% ${f.done} hits ${f.hits} ${final ? 'avg rps' : 'rps'} ${rps} errors ${f.errors} failures ${f.failures}${this.#options.showDropped === true ? ` dropped ${f.dropped}` : ''}\n`,
    );
  }

  #startBar(): void {
    const chalk = new Chalk({ level: this.#options.color ? 1 : 0 });
    this.#bar = new UnrefSingleBar({
      stream: this.#options.stream,
      fps: 1000 / TTY_REFRESH_MS,
      format: `${chalk.cyan('{bar}')} {percentage}% | {done} | hits {hits} | rps {rps} | errors {errors} | failures {failures}${this.#options.showDropped === true ? ' | dropped {dropped}' : ''}`,
      barsize: 30,
      // Trim to the terminal width instead of switching wrapping off: nothing
      // to restore if the process dies on a second Ctrl-C. Same for the cursor.
      linewrap: true,
      hideCursor: false,
      clearOnComplete: false,
      gracefulExit: false,
    });
    const f = this.#frame();
    this.#bar.start(100, f.percent, this.#payload(f));
    this.#timer = setInterval(() => this.#updateBar(), TTY_REFRESH_MS);
    this.#timer.unref();
  }

  #updateBar(): void {
    const f = this.#frame();
    this.#bar?.update(f.percent, this.#payload(f));
  }

  #payload(f: Frame): Record<string, string | number> {
    return {
      done: f.done,
      hits: f.hits,
      rps: f.rps,
      errors: f.errors,
      failures: f.failures,
      dropped: f.dropped,
    };
  }
}
