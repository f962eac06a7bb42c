// Streaming aggregation of the run's events: O(1) per event, memory bounded
// by the number of distinct URLs (capped at MAX_URLS), cycle steps, test
// names, error keys and counters, never by the number of hits. A hit's
// response time (elapsedMs + lagMs: from its run's intended start, so the
// open model's coordinated omission is corrected) goes into one HDR
// histogram per URL (or per request name: a named hit is grouped under its
// name, so '/item/:id' makes one entry however many ids it covers) and one
// per cycle step (3 significant digits); its service time (elapsedMs, from
// the request's actual start) into one overall histogram. The overall
// response-time histogram is the exact merge of the per-URL ones, built at
// snapshot time. In the closed model lagMs is 0 and both times are the same.
// snapshot() returns plain, structured-clonable data (histograms encoded), so
// a later worker or agent can ship it and the receiver can merge() it.
import { Outcome } from './events.ts';
import type { EventSink, HitEvent, LoadsEvent, TestEndEvent } from './events.ts';
import { LatencyHistogram } from './histogram.ts';
import { now, toEpochMs } from './clock.ts';
import { Timeline, type TimelineSnapshot } from './timeline.ts';

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
  /** Open model: test runs that were due but never started. */
  dropped: number;
}

export interface TestCounts {
  successes: number;
  failures: number;
  errors: number;
}

/** One cycle step's numbers: a row of the step report. */
export interface StepSnapshot {
  /** 0-based index of the step. */
  cycleIndex: number;
  /** Users of the step (closed model), or --max-users (open model); 0 until its cycle-start is seen. */
  users: number;
  /** Runs per user (closed model, hits mode); 0 otherwise. */
  runsPerUser: number;
  /** Open model: test runs started per second; 0 in the closed model. */
  rate: number;
  /** Epoch ms of the step's start; 0 until its cycle-start is seen. */
  startedAt: number;
  /** How long the step lasted, ms; 0 until its cycle-end is seen. */
  elapsedMs: number;
  hits: number;
  /** Hits with no response (status 0) or a status ≥ 400. */
  hitErrors: number;
  /** Hits with a status ≥ 500. */
  hits5xx: number;
  successes: number;
  failures: number;
  errors: number;
  /** Open model: test runs that were due but never started. */
  dropped: number;
  /** LatencyHistogram.encode() of the step's hit response times (elapsedMs + lagMs). */
  latency: string;
}

export interface UrlSnapshot {
  /** `${method} ${url}`, or OTHER_URLS_KEY. */
  key: string;
  method: string;
  /**
   * The URL without its query string, or, for hits with a `name` option, the
   * name as given (query stripping does not apply to names).
   */
  url: string;
  hits: number;
  /** Hits with no response (status 0) or a status ≥ 400. */
  errors: number;
  /** LatencyHistogram.encode() of this URL's hit response times (elapsedMs + lagMs). */
  latency: string;
}

export interface ErrorSnapshot {
  /** 'Class.method' of the test run that failed or errored. */
  test: string;
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
  /** Encoded histogram of every hit's response time, elapsedMs + lagMs (the merge of the per-URL ones). */
  latency: string;
  /** Encoded histogram of every hit's service time, elapsedMs (from the request's actual start). */
  serviceLatency: string;
  /** Hits per status class: [0] no response, [1] 1xx … [5] 5xx (6xx+ counted as 5xx). */
  statusClasses: number[];
  /** Hits per status, only for statuses outside 200–399 (0 excluded). */
  statusCounts: Record<string, number>;
  /** Hits with no response, per error key (ECONNREFUSED, …). */
  hitErrorKeys: Record<string, number>;
  /** Hits with a response, per protocol ('h1', 'h2'); protocols not used are left out. */
  protocols: Record<string, number>;
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
  /** Open model: test runs that were due but never started. */
  dropped: number;
  /** Per cycle step, by cycleIndex. */
  steps: StepSnapshot[];
  /** HTTP body bytes received by all hits. */
  bytesReceived: number;
  /** One row per second of the run (coarser on long runs): see timeline.ts. */
  timeline: TimelineSnapshot;
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

/** One cycle step's counts, filled by its events. */
class StepEntry {
  readonly cycleIndex: number;
  users = 0;
  runsPerUser = 0;
  rate = 0;
  startedAt = 0;
  elapsedMs = 0;
  hits = 0;
  hitErrors = 0;
  hits5xx = 0;
  successes = 0;
  failures = 0;
  errors = 0;
  dropped = 0;
  readonly latency = new LatencyHistogram();

  constructor(cycleIndex: number) {
    this.cycleIndex = cycleIndex;
  }
}

interface ErrorEntry {
  test: string;
  name: string;
  message: string;
  stack: string;
  count: number;
}

/** Counts by test + name + message; the first stack of each key is kept, once. */
class ErrorTable {
  readonly #entries = new Map<string, ErrorEntry>();
  other = 0;

  add(test: string, name: string, message: string, stack: string, count: number): void {
    const key = `${test}\u0000${name}\u0000${message}`;
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      entry.count += count;
      if (entry.stack === '') {
        entry.stack = stack;
      }
    } else if (this.#entries.size < MAX_ERROR_KEYS) {
      this.#entries.set(key, { test, name, message, stack, count });
    } else {
      this.other += count;
    }
  }

  /** Copies, most frequent first (ties: first seen first). */
  sorted(): ErrorSnapshot[] {
    const list: ErrorSnapshot[] = [];
    for (const e of this.#entries.values()) {
      list.push({ test: e.test, name: e.name, message: e.message, stack: e.stack, count: e.count });
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

function stepSnapshot(step: StepEntry): StepSnapshot {
  return {
    cycleIndex: step.cycleIndex,
    users: step.users,
    runsPerUser: step.runsPerUser,
    rate: step.rate,
    startedAt: step.startedAt,
    elapsedMs: step.elapsedMs,
    hits: step.hits,
    hitErrors: step.hitErrors,
    hits5xx: step.hits5xx,
    successes: step.successes,
    failures: step.failures,
    errors: step.errors,
    dropped: step.dropped,
    latency: step.latency.encode(),
  };
}

export class Aggregator implements EventSink {
  #hits = 0;
  #hitErrors = 0;
  #firstHitAt = 0;
  #lastHitAt = 0;
  readonly #statusClasses = new Uint32Array(6);
  readonly #statusCounts = new Map<number, number>();
  readonly #hitErrorKeys = new Map<string, number>();
  #serviceLatency = new LatencyHistogram();
  #dropped = 0;
  #h1Hits = 0;
  #h2Hits = 0;
  #bytesReceived = 0;
  #timeline = new Timeline();

  /** Cycle steps by cycleIndex; most events hit the same step as the last one. */
  readonly #steps = new Map<number, StepEntry>();
  #lastStep: StepEntry | undefined = undefined;

  /** Stripped URL or request name → entry (chained by method). */
  readonly #urls = new Map<string, UrlEntry>();
  readonly #urlList: UrlEntry[] = [];
  #otherUrls: UrlEntry | undefined = undefined;
  // One-entry cache: most producers send the same URL string (or the same
  // name, with a different URL each time) again and again.
  #lastUrl = '';
  #lastName = '';
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
        this.#timeline.socketOpened(event.startedAt);
        break;
      case 'socket-message':
        this.#wsMessages++;
        this.#wsBytesReceived += event.bytes;
        this.#timeline.socketMessage(toEpochMs(now()), event.bytes);
        break;
      case 'socket-close':
        this.#socketsClosed++;
        this.#timeline.socketClosed(toEpochMs(now()));
        break;
      case 'counter':
        this.#counters.set(event.name, (this.#counters.get(event.name) ?? 0) + event.value);
        break;
      case 'cycle-start': {
        const step = this.#step(event.cycleIndex);
        step.users = event.users;
        step.runsPerUser = event.hits;
        step.rate = event.rate;
        step.startedAt = event.startedAt;
        break;
      }
      case 'cycle-end':
        this.#step(event.cycleIndex).elapsedMs = event.elapsedMs;
        this.#timeline.stepEnded(toEpochMs(now()));
        break;
      case 'dropped':
        this.#dropped += event.count;
        this.#step(event.cycleIndex).dropped += event.count;
        this.#timeline.dropped(toEpochMs(now()), event.count);
        break;
      case 'test-start':
        this.#timeline.runStarted(event.startedAt);
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
    const protocol = event.protocol;
    if (protocol === 'h1') {
      this.#h1Hits++;
    } else if (protocol === 'h2') {
      this.#h2Hits++;
    }

    const responseMs = event.elapsedMs + event.lagMs;
    this.#bytesReceived += event.bytes;
    this.#serviceLatency.record(event.elapsedMs);
    this.#timeline.hit(endedAt, status, event.bytes, responseMs, event.elapsedMs);
    const entry = this.#urlEntry(event.method, event.url, event.name);
    entry.hits++;
    entry.latency.record(responseMs);
    const step = this.#step(event.cycleIndex);
    step.hits++;
    step.latency.record(responseMs);
    if (statusClass === 5) {
      step.hits5xx++;
    }
    if (isHitError(status)) {
      this.#hitErrors++;
      entry.errors++;
      step.hitErrors++;
      if (status <= 0) {
        const key = event.errorKey === '' ? 'OTHER' : event.errorKey;
        this.#hitErrorKeys.set(key, (this.#hitErrorKeys.get(key) ?? 0) + 1);
      }
    }
    if (status > 0 && (status < 200 || status >= 400)) {
      this.#statusCounts.set(status, (this.#statusCounts.get(status) ?? 0) + 1);
    }
  }

  #step(cycleIndex: number): StepEntry {
    const last = this.#lastStep;
    if (last !== undefined && last.cycleIndex === cycleIndex) {
      return last;
    }
    let step = this.#steps.get(cycleIndex);
    if (step === undefined) {
      step = new StepEntry(cycleIndex);
      this.#steps.set(cycleIndex, step);
    }
    this.#lastStep = step;
    return step;
  }

  /**
   * The entry of a hit: its name's when it has one (whatever the URL, so the
   * cache keys on the name alone), else its URL's without the query string.
   */
  #urlEntry(method: string, url: string, name: string): UrlEntry {
    if (
      name === this.#lastName &&
      (name !== '' || url === this.#lastUrl) &&
      method === this.#lastMethod &&
      this.#lastEntry !== undefined
    ) {
      return this.#lastEntry;
    }
    const entry = this.#findOrAddUrl(method, name === '' ? stripQuery(url) : name);
    this.#lastUrl = url;
    this.#lastName = name;
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
    this.#timeline.runEnded(event.startedAt + event.elapsedMs, event.outcome);
    const step = this.#step(event.cycleIndex);
    switch (event.outcome) {
      case Outcome.SUCCESS:
        this.#successes++;
        perTest.successes++;
        step.successes++;
        break;
      case Outcome.FAILURE:
        this.#failures++;
        perTest.failures++;
        step.failures++;
        this.#topFailures.add(event.test, event.errorName, event.errorMessage, event.errorStack, 1);
        break;
      case Outcome.ERROR:
        this.#errors++;
        perTest.errors++;
        step.errors++;
        this.#topErrors.add(event.test, event.errorName, event.errorMessage, event.errorStack, 1);
        break;
    }
  }

  /**
   * Row 0 of the timeline begins at `originMs` (the run's start, epoch ms),
   * in every thread alike, so their rows merge exactly. Call before the
   * first event; without it the first event's time is the origin.
   */
  startTimeline(originMs: number): void {
    this.#timeline.setOrigin(originMs);
  }

  /** How many distinct tests have ended so far: an external class's methods, learnt from its results. */
  get testsSeen(): number {
    return this.#perTest.size;
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
      dropped: this.#dropped,
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
      serviceLatency: this.#serviceLatency.encode(),
      statusClasses: Array.from(this.#statusClasses),
      statusCounts,
      hitErrorKeys: Object.fromEntries(this.#hitErrorKeys),
      protocols: {
        ...(this.#h1Hits > 0 ? { h1: this.#h1Hits } : {}),
        ...(this.#h2Hits > 0 ? { h2: this.#h2Hits } : {}),
      },
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
      dropped: this.#dropped,
      steps: [...this.#steps.values()]
        .sort((a, b) => a.cycleIndex - b.cycleIndex)
        .map(stepSnapshot),
      bytesReceived: this.#bytesReceived,
      timeline: this.#timeline.snapshot(toEpochMs(now())),
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
    this.#serviceLatency.merge(LatencyHistogram.decode(snapshot.serviceLatency));
    this.#dropped += snapshot.dropped;
    this.#h1Hits += snapshot.protocols['h1'] ?? 0;
    this.#h2Hits += snapshot.protocols['h2'] ?? 0;
    for (const from of snapshot.steps) {
      const step = this.#step(from.cycleIndex);
      // Workers do not see cycle-start/cycle-end (the main thread emits them once): keep what is known.
      if (from.startedAt !== 0) {
        step.users = from.users;
        step.runsPerUser = from.runsPerUser;
        step.rate = from.rate;
        step.startedAt =
          step.startedAt === 0 ? from.startedAt : Math.min(step.startedAt, from.startedAt);
      }
      step.elapsedMs = Math.max(step.elapsedMs, from.elapsedMs);
      step.hits += from.hits;
      step.hitErrors += from.hitErrors;
      step.hits5xx += from.hits5xx;
      step.successes += from.successes;
      step.failures += from.failures;
      step.errors += from.errors;
      step.dropped += from.dropped;
      step.latency.merge(LatencyHistogram.decode(from.latency));
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
      this.#topErrors.add(e.test, e.name, e.message, e.stack, e.count);
    }
    for (const e of snapshot.topFailures) {
      this.#topFailures.add(e.test, e.name, e.message, e.stack, e.count);
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
    this.#bytesReceived += snapshot.bytesReceived;
    this.#timeline.merge(snapshot.timeline);
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
    this.#serviceLatency = new LatencyHistogram();
    this.#dropped = 0;
    this.#h1Hits = 0;
    this.#h2Hits = 0;
    this.#steps.clear();
    this.#lastStep = undefined;
    this.#urls.clear();
    this.#urlList.length = 0;
    this.#otherUrls = undefined;
    this.#lastUrl = '';
    this.#lastName = '';
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
    this.#bytesReceived = 0;
    this.#timeline.clear();
    return delta;
  }
}
