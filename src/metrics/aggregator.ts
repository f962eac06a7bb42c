// Streaming aggregation of the run's events: O(1) per event, memory bounded
// by the number of distinct URLs (capped at MAX_URLS), test names, error keys
// and counters, never by the number of hits. Latencies go into one HDR
// histogram per URL (3 significant digits); the overall histogram is their
// exact merge, built at snapshot time, so a hit costs one record, not two.
// snapshot() returns plain, structured-clonable data (histograms encoded), so
// a later worker or agent can ship it and the receiver can merge() it.
import { Outcome } from './events.ts';
import type { EventSink, HitEvent, LoadsEvent, TestEndEvent } from './events.ts';
import { LatencyHistogram } from './histogram.ts';

/** Distinct per-URL entries kept; later URLs are counted under OTHER_URLS_KEY. */
export const MAX_URLS = 1000;
/** Distinct error (and failure) keys kept; later ones are counted as "other". */
export const MAX_ERROR_KEYS = 1000;
/** The per-URL entry that collects hits beyond MAX_URLS distinct URLs. */
export const OTHER_URLS_KEY = '* (other URLs)';

/** Cheap counts for the progress display. */
export interface ProgressCounts {
  hits: number;
  /** Test runs finished: successes + failures + errors. */
  runs: number;
  successes: number;
  failures: number;
  errors: number;
  /** Hits with no response (status 0) or a status ≥ 400. */
  hitErrors: number;
}

export interface TestCounts {
  successes: number;
  failures: number;
  errors: number;
}

export interface UrlSnapshot {
  /** `${method} ${url without query string}`, or OTHER_URLS_KEY. */
  key: string;
  method: string;
  url: string;
  hits: number;
  /** Hits with no response (status 0) or a status ≥ 400. */
  errors: number;
  /** LatencyHistogram.encode() of this URL's hit latencies. */
  latency: string;
}

export interface ErrorSnapshot {
  name: string;
  message: string;
  /** The stack of the first occurrence. */
  stack: string;
  count: number;
}

/** Everything the summary needs. Plain data: safe to keep, clone or send. */
export interface Snapshot {
  hits: number;
  /** Hits with no response (status 0) or a status ≥ 400. */
  hitErrors: number;
  /** Epoch ms of the first hit's start; 0 without hits. */
  firstHitAt: number;
  /** Epoch ms of the last hit's end; 0 without hits. */
  lastHitAt: number;
  /** Encoded histogram of every hit's latency (the merge of the per-URL ones). */
  latency: string;
  /** Hits per status class: [0] no response, [1] 1xx … [5] 5xx (6xx+ counted as 5xx). */
  statusClasses: number[];
  /** Hits per status, only for statuses outside 200–399 (0 excluded). */
  statusCounts: Record<string, number>;
  /** Hits with no response, per error key (ECONNREFUSED, …). */
  hitErrorKeys: Record<string, number>;
  /** Per-URL stats, in first-seen order. */
  urls: UrlSnapshot[];
  tests: TestCounts;
  /** Per test name ('Class.method'). */
  perTest: Record<string, TestCounts>;
  /** Test runs that errored, per name + message, most frequent first. */
  topErrors: ErrorSnapshot[];
  /** Test runs that failed (assertions), per name + message, most frequent first. */
  topFailures: ErrorSnapshot[];
  /** Errors beyond MAX_ERROR_KEYS distinct keys. */
  otherErrors: number;
  /** Failures beyond MAX_ERROR_KEYS distinct keys. */
  otherFailures: number;
  counters: Record<string, number>;
  socketsOpened: number;
  socketsClosed: number;
  wsMessages: number;
  wsBytesReceived: number;
}

/** One URL + method. Entries for the same URL and other methods chain on `next`. */
class UrlEntry {
  readonly key: string;
  readonly method: string;
  readonly url: string;
  hits = 0;
  errors = 0;
  readonly latency = new LatencyHistogram();
  next: UrlEntry | undefined = undefined;

  constructor(method: string, url: string, key: string) {
    this.method = method;
    this.url = url;
    this.key = key;
  }
}

interface ErrorEntry {
  name: string;
  message: string;
  stack: string;
  count: number;
}

/** Counts by name + message; the first stack of each key is kept, once. */
class ErrorTable {
  readonly #entries = new Map<string, ErrorEntry>();
  other = 0;

  add(name: string, message: string, stack: string, count: number): void {
    const key = `${name}\u0000${message}`;
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      entry.count += count;
      if (entry.stack === '') {
        entry.stack = stack;
      }
    } else if (this.#entries.size < MAX_ERROR_KEYS) {
      this.#entries.set(key, { name, message, stack, count });
    } else {
      this.other += count;
    }
  }

  /** Copies, most frequent first (ties: first seen first). */
  sorted(): ErrorSnapshot[] {
    const list: ErrorSnapshot[] = [];
    for (const e of this.#entries.values()) {
      list.push({ name: e.name, message: e.message, stack: e.stack, count: e.count });
    }
    return list.sort((a, b) => b.count - a.count);
  }

  /** Forgets every entry (takeDelta). */
  clear(): void {
    this.#entries.clear();
    this.other = 0;
  }
}

function stripQuery(url: string): string {
  let end = url.indexOf('?');
  const hash = url.indexOf('#');
  if (hash !== -1 && (end === -1 || hash < end)) {
    end = hash;
  }
  return end === -1 ? url : url.slice(0, end);
}

function isHitError(status: number): boolean {
  return status <= 0 || status >= 400;
}

function copyCounts(counts: TestCounts): TestCounts {
  return { successes: counts.successes, failures: counts.failures, errors: counts.errors };
}

export class Aggregator implements EventSink {
  #hits = 0;
  #hitErrors = 0;
  #firstHitAt = 0;
  #lastHitAt = 0;
  readonly #statusClasses = new Uint32Array(6);
  readonly #statusCounts = new Map<number, number>();
  readonly #hitErrorKeys = new Map<string, number>();

  /** Stripped URL → entry (chained by method). */
  readonly #urls = new Map<string, UrlEntry>();
  readonly #urlList: UrlEntry[] = [];
  #otherUrls: UrlEntry | undefined = undefined;
  // One-entry cache: most producers send the same URL string again and again.
  #lastUrl = '';
  #lastMethod = '';
  #lastEntry: UrlEntry | undefined = undefined;

  #successes = 0;
  #failures = 0;
  #errors = 0;
  readonly #perTest = new Map<string, TestCounts>();
  readonly #topErrors = new ErrorTable();
  readonly #topFailures = new ErrorTable();

  readonly #counters = new Map<string, number>();
  #socketsOpened = 0;
  #socketsClosed = 0;
  #wsMessages = 0;
  #wsBytesReceived = 0;

  emit(event: LoadsEvent): void {
    switch (event.type) {
      case 'hit':
        this.#recordHit(event);
        break;
      case 'test-end':
        this.#recordTestEnd(event);
        break;
      case 'socket-open':
        this.#socketsOpened++;
        break;
      case 'socket-message':
        this.#wsMessages++;
        this.#wsBytesReceived += event.bytes;
        break;
      case 'socket-close':
        this.#socketsClosed++;
        break;
      case 'counter':
        this.#counters.set(event.name, (this.#counters.get(event.name) ?? 0) + event.value);
        break;
      case 'test-start':
      case 'cycle-start':
      case 'cycle-end':
      case 'dropped':
        break;
      default: {
        const unknown: never = event;
        void unknown;
      }
    }
  }

  #recordHit(event: HitEvent): void {
    const status = event.status;
    this.#hits++;
    if (this.#firstHitAt === 0 || event.startedAt < this.#firstHitAt) {
      this.#firstHitAt = event.startedAt;
    }
    const endedAt = event.startedAt + event.elapsedMs;
    if (endedAt > this.#lastHitAt) {
      this.#lastHitAt = endedAt;
    }
    const statusClass = status <= 0 ? 0 : status >= 500 ? 5 : (status / 100) | 0;
    this.#statusClasses[statusClass]!++;

    const entry = this.#urlEntry(event.method, event.url);
    entry.hits++;
    entry.latency.record(event.elapsedMs);
    if (isHitError(status)) {
      this.#hitErrors++;
      entry.errors++;
      if (status <= 0) {
        const key = event.errorKey === '' ? 'OTHER' : event.errorKey;
        this.#hitErrorKeys.set(key, (this.#hitErrorKeys.get(key) ?? 0) + 1);
      }
    }
    if (status > 0 && (status < 200 || status >= 400)) {
      this.#statusCounts.set(status, (this.#statusCounts.get(status) ?? 0) + 1);
    }
  }

  #urlEntry(method: string, url: string): UrlEntry {
    if (url === this.#lastUrl && method === this.#lastMethod && this.#lastEntry !== undefined) {
      return this.#lastEntry;
    }
    const entry = this.#findOrAddUrl(method, stripQuery(url));
    this.#lastUrl = url;
    this.#lastMethod = method;
    this.#lastEntry = entry;
    return entry;
  }

  #findOrAddUrl(method: string, stripped: string): UrlEntry {
    const head = this.#urls.get(stripped);
    let entry = head;
    while (entry !== undefined) {
      if (entry.method === method) {
        return entry;
      }
      entry = entry.next;
    }
    if (this.#urlList.length >= MAX_URLS) {
      if (this.#otherUrls === undefined) {
        this.#otherUrls = new UrlEntry('*', '*', OTHER_URLS_KEY);
      }
      return this.#otherUrls;
    }
    const created = new UrlEntry(method, stripped, `${method} ${stripped}`);
    if (head === undefined) {
      this.#urls.set(stripped, created);
    } else {
      created.next = head.next;
      head.next = created;
    }
    this.#urlList.push(created);
    return created;
  }

  #recordTestEnd(event: TestEndEvent): void {
    let perTest = this.#perTest.get(event.test);
    if (perTest === undefined) {
      perTest = { successes: 0, failures: 0, errors: 0 };
      this.#perTest.set(event.test, perTest);
    }
    switch (event.outcome) {
      case Outcome.SUCCESS:
        this.#successes++;
        perTest.successes++;
        break;
      case Outcome.FAILURE:
        this.#failures++;
        perTest.failures++;
        this.#topFailures.add(event.errorName, event.errorMessage, event.errorStack, 1);
        break;
      case Outcome.ERROR:
        this.#errors++;
        perTest.errors++;
        this.#topErrors.add(event.errorName, event.errorMessage, event.errorStack, 1);
        break;
    }
  }

  /** Counts only; cheap enough for ~10 calls a second. */
  progress(): ProgressCounts {
    return {
      hits: this.#hits,
      runs: this.#successes + this.#failures + this.#errors,
      successes: this.#successes,
      failures: this.#failures,
      errors: this.#errors,
      hitErrors: this.#hitErrors,
    };
  }

  /** Distinct per-URL entries held (including the "other URLs" one). */
  get urlCount(): number {
    return this.#urlList.length + (this.#otherUrls === undefined ? 0 : 1);
  }

  /** A copy of everything so far; later events do not change it. Not for the hot path. */
  snapshot(): Snapshot {
    const overall = new LatencyHistogram();
    const urls: UrlSnapshot[] = [];
    const entries =
      this.#otherUrls === undefined ? this.#urlList : [...this.#urlList, this.#otherUrls];
    for (const entry of entries) {
      overall.merge(entry.latency);
      urls.push({
        key: entry.key,
        method: entry.method,
        url: entry.url,
        hits: entry.hits,
        errors: entry.errors,
        latency: entry.latency.encode(),
      });
    }
    const statusCounts: Record<string, number> = {};
    for (const [status, count] of [...this.#statusCounts].sort((a, b) => a[0] - b[0])) {
      statusCounts[String(status)] = count;
    }
    const perTest: Record<string, TestCounts> = {};
    for (const [name, counts] of this.#perTest) {
      perTest[name] = copyCounts(counts);
    }
    return {
      hits: this.#hits,
      hitErrors: this.#hitErrors,
      firstHitAt: this.#firstHitAt,
      lastHitAt: this.#lastHitAt,
      latency: overall.encode(),
      statusClasses: Array.from(this.#statusClasses),
      statusCounts,
      hitErrorKeys: Object.fromEntries(this.#hitErrorKeys),
      urls,
      tests: { successes: this.#successes, failures: this.#failures, errors: this.#errors },
      perTest,
      topErrors: this.#topErrors.sorted(),
      topFailures: this.#topFailures.sorted(),
      otherErrors: this.#topErrors.other,
      otherFailures: this.#topFailures.other,
      counters: Object.fromEntries(this.#counters),
      socketsOpened: this.#socketsOpened,
      socketsClosed: this.#socketsClosed,
      wsMessages: this.#wsMessages,
      wsBytesReceived: this.#wsBytesReceived,
    };
  }

  /**
   * Adds a snapshot (e.g. a worker's delta) into this aggregator. Counts and
   * histograms add exactly; error keys and URLs obey the same caps.
   */
  merge(snapshot: Snapshot): void {
    this.#hits += snapshot.hits;
    this.#hitErrors += snapshot.hitErrors;
    if (
      snapshot.firstHitAt !== 0 &&
      (this.#firstHitAt === 0 || snapshot.firstHitAt < this.#firstHitAt)
    ) {
      this.#firstHitAt = snapshot.firstHitAt;
    }
    if (snapshot.lastHitAt > this.#lastHitAt) {
      this.#lastHitAt = snapshot.lastHitAt;
    }
    for (let i = 0; i < this.#statusClasses.length; i++) {
      this.#statusClasses[i]! += snapshot.statusClasses[i] ?? 0;
    }
    for (const [status, count] of Object.entries(snapshot.statusCounts)) {
      const code = Number(status);
      this.#statusCounts.set(code, (this.#statusCounts.get(code) ?? 0) + count);
    }
    for (const [key, count] of Object.entries(snapshot.hitErrorKeys)) {
      this.#hitErrorKeys.set(key, (this.#hitErrorKeys.get(key) ?? 0) + count);
    }
    for (const url of snapshot.urls) {
      const entry =
        url.key === OTHER_URLS_KEY
          ? (this.#otherUrls ??= new UrlEntry('*', '*', OTHER_URLS_KEY))
          : this.#findOrAddUrl(url.method, url.url);
      entry.hits += url.hits;
      entry.errors += url.errors;
      entry.latency.merge(LatencyHistogram.decode(url.latency));
    }
    this.#successes += snapshot.tests.successes;
    this.#failures += snapshot.tests.failures;
    this.#errors += snapshot.tests.errors;
    for (const [name, counts] of Object.entries(snapshot.perTest)) {
      const mine = this.#perTest.get(name);
      if (mine === undefined) {
        this.#perTest.set(name, copyCounts(counts));
      } else {
        mine.successes += counts.successes;
        mine.failures += counts.failures;
        mine.errors += counts.errors;
      }
    }
    for (const e of snapshot.topErrors) {
      this.#topErrors.add(e.name, e.message, e.stack, e.count);
    }
    for (const e of snapshot.topFailures) {
      this.#topFailures.add(e.name, e.message, e.stack, e.count);
    }
    this.#topErrors.other += snapshot.otherErrors;
    this.#topFailures.other += snapshot.otherFailures;
    for (const [name, value] of Object.entries(snapshot.counters)) {
      this.#counters.set(name, (this.#counters.get(name) ?? 0) + value);
    }
    this.#socketsOpened += snapshot.socketsOpened;
    this.#socketsClosed += snapshot.socketsClosed;
    this.#wsMessages += snapshot.wsMessages;
    this.#wsBytesReceived += snapshot.wsBytesReceived;
  }

  /**
   * snapshot(), then back to the state of a new Aggregator: a worker ships
   * the result as a delta and the receiver merge()s it (STYLE.md §8.8). Not
   * for the hot path (about 5 calls a second per worker).
   */
  takeDelta(): Snapshot {
    const delta = this.snapshot();
    this.#hits = 0;
    this.#hitErrors = 0;
    this.#firstHitAt = 0;
    this.#lastHitAt = 0;
    this.#statusClasses.fill(0);
    this.#statusCounts.clear();
    this.#hitErrorKeys.clear();
    this.#urls.clear();
    this.#urlList.length = 0;
    this.#otherUrls = undefined;
    this.#lastUrl = '';
    this.#lastMethod = '';
    this.#lastEntry = undefined;
    this.#successes = 0;
    this.#failures = 0;
    this.#errors = 0;
    this.#perTest.clear();
    this.#topErrors.clear();
    this.#topFailures.clear();
    this.#counters.clear();
    this.#socketsOpened = 0;
    this.#socketsClosed = 0;
    this.#wsMessages = 0;
    this.#wsBytesReceived = 0;
    return delta;
  }
}
