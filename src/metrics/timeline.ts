// The run's timeline (SPEC §9): one row per second since the run's start,
// each with its counts and two HDR histograms (response time and service
// time). Rows are keyed by time since the run's start — a hit by the time
// its response ended, a run by when it started or ended — never by when the
// event arrived, so the rows of worker threads (and later agents) merge
// exactly: counts add, histograms merge bucket by bucket.
//
// Memory is bounded whatever the run's length: past MAX_TIMELINE_ROWS rows,
// neighbouring rows merge pairwise into rows twice as wide (exactly, as
// above), so an 8-hour soak holds as many rows as an hour. Only the newest
// few rows keep live histograms (tens of KB each); older rows are sealed:
// their histograms are kept encoded (a few hundred bytes) with their
// percentiles computed once, so a summary or a live page never decodes them.
import {
  bucketPairsPercentiles,
  mergeBucketPairs,
  RowHistogram,
  type BucketPairs,
} from './histogram.ts';

/** Rows held at most; beyond it rows double in width. 3600: an hour at one second per row. */
export const MAX_TIMELINE_ROWS = 3600;
/**
 * Rows this far behind the newest are sealed. Worker deltas arrive every
 * 200 ms, so later data for a sealed row is rare; it is still merged exactly.
 */
const SEAL_BEHIND_ROWS = 4;

/** One row as plain data: what a worker ships and what the summary reads. */
export interface TimelineRowSnapshot {
  /** The row covers [index × widthS, (index + 1) × widthS) seconds since the run's start. */
  index: number;
  /** HTTP requests whose response ended in the row. */
  hits: number;
  /** Of them: no response (status 0) or a status ≥ 400. */
  hitErrors: number;
  /** Of them: a status ≥ 500. */
  hits5xx: number;
  /** HTTP body bytes received by those hits. */
  bytes: number;
  /** Test runs started in the row. */
  started: number;
  /** Test runs that ended in the row, by outcome. */
  successes: number;
  failures: number;
  errors: number;
  /** Open model: runs due in the row that never started. */
  dropped: number;
  /**
   * Test runs in flight integrated over the row, ms (a run in flight for the
   * whole of a 1 s row adds 1000): busyMs / row width is the average number
   * of active virtual users. It adds across threads and coarsens exactly.
   */
  busyMs: number;
  wsOpened: number;
  wsClosed: number;
  wsMessages: number;
  wsBytes: number;
  /** The row's hit response times (elapsedMs + lagMs), as RowHistogram bucket pairs. */
  latency: BucketPairs;
  /** The row's hit service times (elapsedMs), as bucket pairs. */
  serviceLatency: BucketPairs;
  /** Response-time percentiles of the row's hits, ms (0 without hits). */
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  /** Service-time percentiles of the row's hits, ms. */
  serviceP50: number;
  serviceP99: number;
}

export interface TimelineSnapshot {
  /** Seconds per row: 1, or a power of two once the run outgrew MAX_TIMELINE_ROWS rows. */
  widthS: number;
  /** Rows that saw an event, by index; seconds without any event have no row. */
  rows: TimelineRowSnapshot[];
}

const STAT_PERCENTILES = [50, 90, 95, 99, 100];
const SERVICE_PERCENTILES = [50, 99];
const NO_PAIRS: BucketPairs = new Uint32Array(0);

/** A row being filled: live histograms while recent, bucket pairs once sealed. */
class TimelineBucket {
  index: number;
  hits = 0;
  hitErrors = 0;
  hits5xx = 0;
  bytes = 0;
  started = 0;
  successes = 0;
  failures = 0;
  errors = 0;
  dropped = 0;
  busyMs = 0;
  wsOpened = 0;
  wsClosed = 0;
  wsMessages = 0;
  wsBytes = 0;
  /** Live histograms; null while sealed (then the pairs hold the values). */
  latency: RowHistogram | null = null;
  serviceLatency: RowHistogram | null = null;
  latencyPairs: BucketPairs = NO_PAIRS;
  servicePairs: BucketPairs = NO_PAIRS;
  /** [p50, p90, p95, p99, max, serviceP50, serviceP99] in ms; null when stale. */
  stats: number[] | null = null;

  constructor(index: number) {
    this.index = index;
  }

  /** Makes the histograms live again (late data for a sealed row: rare). */
  live(): void {
    if (this.latency === null) {
      this.latency = new RowHistogram();
      this.serviceLatency = new RowHistogram();
      this.latency.addPairs(this.latencyPairs);
      this.serviceLatency.addPairs(this.servicePairs);
      this.latencyPairs = NO_PAIRS;
      this.servicePairs = NO_PAIRS;
    }
    this.stats = null;
  }

  #pairs(): [BucketPairs, BucketPairs] {
    return this.latency === null
      ? [this.latencyPairs, this.servicePairs]
      : [this.latency.toPairs(), this.serviceLatency!.toPairs()];
  }

  #statsOf(latency: BucketPairs, service: BucketPairs): number[] {
    this.stats ??= [
      ...bucketPairsPercentiles(latency, STAT_PERCENTILES),
      ...bucketPairsPercentiles(service, SERVICE_PERCENTILES),
    ];
    return this.stats;
  }

  seal(): void {
    if (this.latency !== null) {
      const [latency, service] = this.#pairs();
      this.#statsOf(latency, service);
      this.latencyPairs = latency;
      this.servicePairs = service;
      this.latency = null;
      this.serviceLatency = null;
    }
  }

  /** Adds the counts and histograms of `row` (exact). */
  add(row: TimelineRowSnapshot): void {
    this.hits += row.hits;
    this.hitErrors += row.hitErrors;
    this.hits5xx += row.hits5xx;
    this.bytes += row.bytes;
    this.started += row.started;
    this.successes += row.successes;
    this.failures += row.failures;
    this.errors += row.errors;
    this.dropped += row.dropped;
    this.busyMs += row.busyMs;
    this.wsOpened += row.wsOpened;
    this.wsClosed += row.wsClosed;
    this.wsMessages += row.wsMessages;
    this.wsBytes += row.wsBytes;
    if (row.hits > 0) {
      this.stats = null;
      if (this.latency === null) {
        // Sealed (or new): merge the pairs directly, no histogram needed.
        this.latencyPairs = mergeBucketPairs(this.latencyPairs, row.latency);
        this.servicePairs = mergeBucketPairs(this.servicePairs, row.serviceLatency);
      } else {
        this.latency.addPairs(row.latency);
        this.serviceLatency!.addPairs(row.serviceLatency);
      }
    }
  }

  snapshot(): TimelineRowSnapshot {
    const [latency, service] = this.#pairs();
    const stats = this.#statsOf(latency, service);
    return {
      index: this.index,
      hits: this.hits,
      hitErrors: this.hitErrors,
      hits5xx: this.hits5xx,
      bytes: this.bytes,
      started: this.started,
      successes: this.successes,
      failures: this.failures,
      errors: this.errors,
      dropped: this.dropped,
      busyMs: this.busyMs,
      wsOpened: this.wsOpened,
      wsClosed: this.wsClosed,
      wsMessages: this.wsMessages,
      wsBytes: this.wsBytes,
      // Sealed pairs are never changed in place (merges make new arrays): safe to share.
      latency,
      serviceLatency: service,
      p50: stats[0]!,
      p90: stats[1]!,
      p95: stats[2]!,
      p99: stats[3]!,
      max: stats[4]!,
      serviceP50: stats[5]!,
      serviceP99: stats[6]!,
    };
  }
}

export class Timeline {
  /** Epoch ms of the run's start: row 0 begins there. NaN until known (the first event's time then). */
  #originMs = Number.NaN;
  /** Row width in ms: 1000 × 2^k. */
  #widthMs = 1000;
  /** Dense by index; holes are seconds without events. */
  #rows: (TimelineBucket | undefined)[] = [];
  #newest = -1;
  /** Rows below this index are sealed. */
  #sealedBelow = 0;
  /** The last bucket touched: most events land in the same row as the one before. */
  #last: TimelineBucket | undefined = undefined;
  /** Test runs started and not yet ended in this thread. */
  #inFlight = 0;
  /** Epoch ms up to which #inFlight has been integrated into the rows' busyMs; NaN before the first run. */
  #busyUntilMs = Number.NaN;

  /** Row 0 begins at `originMs` (the run's start, epoch ms). Call before the first event. */
  setOrigin(originMs: number): void {
    this.#originMs = originMs;
  }

  get widthS(): number {
    return this.#widthMs / 1000;
  }

  /** Rows held (including holes below the newest): bounded by MAX_TIMELINE_ROWS. */
  get rowCount(): number {
    return this.#rows.length;
  }

  /** The bucket of the row holding epoch ms `atMs`. */
  #bucket(atMs: number): TimelineBucket {
    if (Number.isNaN(this.#originMs)) {
      this.#originMs = atMs;
    }
    let index = Math.floor((atMs - this.#originMs) / this.#widthMs);
    if (index < 0) {
      index = 0;
    }
    const last = this.#last;
    if (last !== undefined && last.index === index) {
      return last;
    }
    return this.#bucketAt(index);
  }

  #bucketAt(index: number): TimelineBucket {
    while (index >= MAX_TIMELINE_ROWS) {
      this.#coarsen();
      index >>= 1;
    }
    let bucket = this.#rows[index];
    if (bucket === undefined) {
      bucket = new TimelineBucket(index);
      while (this.#rows.length < index) {
        this.#rows.push(undefined);
      }
      this.#rows[index] = bucket;
      if (index > this.#newest) {
        this.#newest = index;
        this.#sealBefore(index - SEAL_BEHIND_ROWS);
      }
    }
    this.#last = bucket;
    return bucket;
  }

  /** Seals every row up to `limit` not sealed yet (amortised O(1) per row). */
  #sealBefore(limit: number): void {
    for (; this.#sealedBelow <= limit; this.#sealedBelow++) {
      this.#rows[this.#sealedBelow]?.seal();
    }
  }

  /** Merges neighbouring rows pairwise into rows twice as wide (exact). */
  #coarsen(): void {
    const old = this.#rows;
    const rows: (TimelineBucket | undefined)[] = [];
    for (let i = 0; i < old.length; i += 2) {
      const a = old[i];
      const b = old[i + 1];
      let merged: TimelineBucket | undefined;
      if (a !== undefined || b !== undefined) {
        merged = new TimelineBucket(i >> 1);
        if (a !== undefined) {
          merged.add(a.snapshot());
        }
        if (b !== undefined) {
          merged.add(b.snapshot());
        }
      }
      rows.push(merged);
    }
    this.#rows = rows;
    this.#widthMs *= 2;
    this.#newest = this.#newest >> 1;
    this.#sealedBelow = this.#newest;
    this.#last = undefined;
  }

  // --- recording (hot path: O(1), no allocation but a new row's) ---

  hit(
    endedAtMs: number,
    status: number,
    bytes: number,
    responseMs: number,
    serviceMs: number,
  ): void {
    const bucket = this.#bucket(endedAtMs);
    if (bucket.latency === null) {
      bucket.live();
    } else {
      bucket.stats = null;
    }
    bucket.hits++;
    bucket.bytes += bytes;
    if (status <= 0 || status >= 400) {
      bucket.hitErrors++;
      if (status >= 500) {
        bucket.hits5xx++;
      }
    }
    bucket.latency!.record(responseMs);
    bucket.serviceLatency!.record(serviceMs);
  }

  runStarted(atMs: number): void {
    this.#integrateBusy(atMs);
    this.#bucket(atMs).started++;
    this.#inFlight++;
  }

  /** outcome: 0 success, 1 failure, 2 error (events.ts Outcome). */
  runEnded(atMs: number, outcome: number): void {
    this.#integrateBusy(atMs);
    const bucket = this.#bucket(atMs);
    if (outcome === 0) {
      bucket.successes++;
    } else if (outcome === 1) {
      bucket.failures++;
    } else {
      bucket.errors++;
    }
    if (this.#inFlight > 0) {
      this.#inFlight--;
    }
  }

  /** A step ended: runs it left without an end (Ctrl-C) are in flight no more. */
  stepEnded(atMs: number): void {
    this.#integrateBusy(atMs);
    this.#inFlight = 0;
  }

  /**
   * Adds #inFlight × the time since the last change to the busyMs of the
   * rows in between: a time-weighted integral of the runs in flight, O(1)
   * per run when runs are shorter than a row.
   */
  #integrateBusy(atMs: number): void {
    const from = this.#busyUntilMs;
    if (atMs <= from) {
      return;
    }
    this.#busyUntilMs = atMs;
    const inFlight = this.#inFlight;
    if (inFlight === 0 || Number.isNaN(from)) {
      return;
    }
    const width = this.#widthMs;
    let start = from;
    while (start < atMs) {
      const bucket = this.#bucket(start);
      const rowEnd = this.#originMs + (bucket.index + 1) * this.#widthMs;
      const end = rowEnd < atMs ? rowEnd : atMs;
      bucket.busyMs += inFlight * (end - start);
      if (width !== this.#widthMs || end <= start) {
        break; // the timeline coarsened meanwhile (a row beyond the last): the rest is within a row
      }
      start = end;
    }
  }

  dropped(atMs: number, count: number): void {
    this.#bucket(atMs).dropped += count;
  }

  socketOpened(atMs: number): void {
    this.#bucket(atMs).wsOpened++;
  }

  socketClosed(atMs: number): void {
    this.#bucket(atMs).wsClosed++;
  }

  socketMessage(atMs: number, bytes: number): void {
    const bucket = this.#bucket(atMs);
    bucket.wsMessages++;
    bucket.wsBytes += bytes;
  }

  // --- snapshots and merging ---

  /**
   * A copy of every row; later events do not change it. `nowMs` (epoch ms)
   * counts the runs still in flight up to then.
   */
  snapshot(nowMs: number): TimelineSnapshot {
    if (this.#inFlight > 0) {
      this.#integrateBusy(nowMs);
    }
    const rows: TimelineRowSnapshot[] = [];
    for (const bucket of this.#rows) {
      if (bucket !== undefined) {
        rows.push(bucket.snapshot());
      }
    }
    return { widthS: this.widthS, rows };
  }

  /** Adds another timeline's rows (a worker's delta): exact, whatever either's row width. */
  merge(snapshot: TimelineSnapshot): void {
    const widthMs = snapshot.widthS * 1000;
    while (this.#widthMs < widthMs) {
      this.#coarsen();
    }
    const ratio = this.#widthMs / widthMs;
    for (const row of snapshot.rows) {
      const bucket = this.#bucketAt(Math.floor(row.index / ratio));
      bucket.add(row);
      if (bucket.index < this.#sealedBelow) {
        bucket.seal(); // late data for an old row: merged, and sealed again
      }
    }
  }

  /** Forgets every row (a worker's delta was taken); keeps the origin, the width and the runs in flight. */
  clear(): void {
    this.#rows = [];
    this.#newest = -1;
    this.#sealedBelow = 0;
    this.#last = undefined;
  }
}
