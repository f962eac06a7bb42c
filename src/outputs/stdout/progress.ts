// The console while the run goes (SPEC §5). It pulls cheap counts from
// `read()` on its own clock, never per hit (STYLE.md §8.7): on a TTY a
// cli-progress bar redrawn ~10×/s whose line formatBarLine fits to the
// terminal's width; elsewhere (CI logs, or CI set: the CLI decides) one short
// plain status line every 10 s (--status-interval) with no control
// characters, whose rps covers the last interval, which says more than the
// average. Every timer is unref()'d so the display never keeps the process
// alive; stop() draws the final state once, with the run's average rps. The
// bar never turns line wrapping or the cursor off, so a process that dies on
// a second Ctrl-C leaves nothing to restore.
import type CliProgress from 'cli-progress';
import type { Options as BarOptions, Params } from 'cli-progress';
import { Chalk } from 'chalk';
import type { ProgressCounts } from '../../metrics/aggregator.ts';
import { now } from '../../metrics/clock.ts';
import { requireCjs } from '../../require-cjs.ts';

const cliProgress = requireCjs('cli-progress') as typeof CliProgress;

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

/** What one drawing shows: the bar's fields (rps: the average so far), the dropped runs always, and the time. */
interface Frame extends Omit<BarFields, 'dropped'> {
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

/** The fields of a bar line, as drawn. */
export interface BarFields {
  /** 0–100. */
  percent: number;
  /** 'runs 450/1000' or 'time 13/30s'. */
  done: string;
  hits: number;
  rps: number;
  errors: number;
  failures: number;
  /** Open model: the dropped runs; null in the closed model (not shown). */
  dropped: number | null;
}

/** Width of the bar when there is room, and the least it may shrink to before it goes. */
export const BAR_MAX_WIDTH = 30;
export const BAR_MIN_WIDTH = 10;
/** Terminal width assumed when the stream does not say (stream.columns). */
export const DEFAULT_COLUMNS = 80;

const BAR_DONE = '\u2588';
const BAR_TODO = '\u2591';

/** The bar's glyphs, `width` wide, for a fraction 0–1 done: cli-progress's own bar formatter. */
function glyphBar(fraction: number, width: number): string {
  return cliProgress.Format.BarFormat(fraction, {
    barsize: width,
    barCompleteString: BAR_DONE.repeat(width),
    barIncompleteString: BAR_TODO.repeat(width),
    barGlue: '',
  });
}

/**
 * The bar line for a terminal `columns` wide, using at most columns − 1
 * (writing the last column makes some terminals wrap). What does not fit
 * goes, least useful first: the bar shrinks to 10 characters, then rps
 * goes, then the bar, then hits, then the labels shorten (err, fail,
 * drop), then the runs (or time) count; the percentage and the error,
 * failure and dropped counts stay to the last. `paintBar` colours the bar (its
 * escapes do not count in the width).
 */
export function formatBarLine(
  fields: BarFields,
  columns: number,
  paintBar: (bar: string) => string = (bar) => bar,
): string {
  const room = Math.max(1, columns - 1);
  const counts = (short: boolean): string[] => {
    const list = [
      `${short ? 'err' : 'errors'} ${fields.errors}`,
      `${short ? 'fail' : 'failures'} ${fields.failures}`,
    ];
    if (fields.dropped !== null) {
      list.push(`${short ? 'drop' : 'dropped'} ${fields.dropped}`);
    }
    return list;
  };
  const percent = `${fields.percent}%`;
  const hits = `hits ${fields.hits}`;
  const rps = `rps ${fields.rps}`;
  // Each layout, from the fullest; withBar: a bar in front, as wide as fits.
  const layouts: { withBar: boolean; parts: string[] }[] = [
    { withBar: true, parts: [percent, fields.done, hits, rps, ...counts(false)] },
    { withBar: true, parts: [percent, fields.done, hits, ...counts(false)] },
    { withBar: false, parts: [percent, fields.done, hits, ...counts(false)] },
    { withBar: false, parts: [percent, fields.done, ...counts(false)] },
    { withBar: false, parts: [percent, fields.done, ...counts(true)] },
    { withBar: false, parts: [percent, ...counts(false)] },
    { withBar: false, parts: [percent, ...counts(true)] },
  ];
  for (const { withBar, parts } of layouts) {
    const text = parts.join(' | ');
    if (!withBar) {
      if (text.length <= room) {
        return text;
      }
      continue;
    }
    const barWidth = Math.min(BAR_MAX_WIDTH, room - text.length - 1);
    if (barWidth >= BAR_MIN_WIDTH) {
      const fraction = Math.min(100, Math.max(0, fields.percent)) / 100;
      return `${paintBar(glyphBar(fraction, barWidth))} ${text}`;
    }
  }
  // Narrower than the shortest layout: cut it.
  return layouts.at(-1)!.parts.join(' | ').slice(0, room);
}

/**
 * cli-progress's SingleBar, with two changes. Its render re-arms a plain
 * setTimeout each time: unref each one. And its Terminal cuts every line at
 * the terminal's width counting colour escapes as characters (a fallback
 * with a TODO in its terminal.js), which cut our coloured line at 70 of 80
 * columns: formatBarLine fits the visible width itself, so the cut is off.
 */
class FittedBar extends cliProgress.SingleBar {
  constructor(options: BarOptions) {
    super(options);
    (this as unknown as { terminal: { linewrap: boolean | null } }).terminal.linewrap = null;
  }

  override render(): void {
    super.render();
    (this as unknown as { timer: NodeJS.Timeout | null }).timer?.unref();
  }
}

export class Progress {
  readonly #options: ProgressOptions;
  #startedAt = 0;
  #timer: NodeJS.Timeout | undefined = undefined;
  #bar: FittedBar | undefined = undefined;
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
    const paintBar = (bar: string): string => chalk.cyan(bar);
    this.#bar = new FittedBar({
      stream: this.#options.stream,
      fps: 1000 / TTY_REFRESH_MS,
      // params.maxWidth is cli-progress's reading of the width (80 when unknown).
      format: (_options: BarOptions, params: Params, payload: BarFields): string =>
        formatBarLine(payload, params.maxWidth > 0 ? params.maxWidth : DEFAULT_COLUMNS, paintBar),
      linewrap: true,
      hideCursor: false,
      clearOnComplete: false,
      gracefulExit: false,
    });
    const fields = this.#fields();
    this.#bar.start(100, fields.percent, fields);
    this.#timer = setInterval(() => this.#updateBar(), TTY_REFRESH_MS);
    this.#timer.unref();
  }

  #updateBar(): void {
    const fields = this.#fields();
    this.#bar?.update(fields.percent, fields);
  }

  #fields(): BarFields {
    const { elapsedMs: _elapsedMs, dropped, ...fields } = this.#frame();
    return { ...fields, dropped: this.#options.showDropped === true ? dropped : null };
  }
}
