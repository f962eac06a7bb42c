// --dashboard (SPEC §9): the report page, live, over plain node:http. GET /
// is the page (renderReport with `live`), GET /events the Server-Sent
// Events it follows: the whole history at once, then about once a second
// the summary with the timeline rows that can still change, and at the end
// the final report, after which every response ends and the server closes,
// so the run never waits for an open page.
//
// It reads the aggregator once a second (a snapshot, off the per-hit path),
// only while a page listens, and builds that summary once for every page.
// Only GET and HEAD of those two paths are served (nothing from disk), the
// Host header must name this server (DNS rebinding), and a page that does
// not read its stream is skipped, then dropped, never queued for.
import http from 'node:http';
import { once } from 'node:events';
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../errors.ts';
import type { Aggregator } from '../metrics/aggregator.ts';
import { buildSummary, type RunInfo, type Summary } from '../metrics/summary.ts';
import type { Threshold } from '../metrics/thresholds.ts';
import { renderReport } from '../report/render.ts';
import type { LiveUpdate } from '../report/types.ts';
import type { DashboardAddress } from './validate.ts';

/** How often the pages get an update. */
export const DASHBOARD_TICK_MS = 1000;
/**
 * Reading the aggregator and building a summary costs milliseconds per
 * distinct URL (its histogram is encoded, then decoded), on the load's own
 * thread without --workers: a run with a thousand URLs would lose a fifth
 * of it at one update a second. Updates are spaced so that building them
 * takes at most this share of the time.
 */
const MAX_BUILD_SHARE = 0.05;
/**
 * How late data for a moment may reach the aggregator: a worker ships its
 * delta every 200 ms. An update carries again every row that ended less
 * than this long before the page's previous update; older rows are settled
 * (and the final update carries every row anyway).
 */
const LATE_DATA_MS = 1000;
/** Pages following the run at once; more get 503 (each may hold one update in its socket buffer). */
const MAX_PAGES = 32;
/** A page whose socket has not drained for this long is dropped (it reconnects and gets the history). */
const STALLED_PAGE_MS = 10_000;
/** At the end, how long the final update may take to reach the sockets before they are closed. */
const FINAL_FLUSH_MS = 500;

export const EVENTS_PATH = '/events';

const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export interface DashboardOptions {
  address: DashboardAddress;
  aggregator: Aggregator;
  /** Evaluated on the live summary too, so the page shows how they stand. */
  thresholds: readonly Threshold[];
}

/** One page following the run. */
interface Page {
  res: http.ServerResponse;
  /** When the data of the last update sent was read (epoch ms): rows ending after it may have changed since. */
  dataAt: number;
  /** The timeline's row width when that update was built; a change means "send it all". */
  widthS: number;
  /** Since when its socket has not drained (epoch ms), or null while it reads. */
  stalledSince: number | null;
}

/** The run as of one moment, shared by every page. */
interface LiveState {
  summary: Summary;
  widthS: number;
  /** When its snapshot was taken, epoch ms. */
  builtAt: number;
  /** How long it took to build, ms. */
  costMs: number;
  /** The page, rendered from this state once asked for. */
  html: string | null;
}

/** Listens at `options.address`; a port in use (or any bind failure) is a UsageError, before any load. */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const dashboard = new Dashboard(options);
  await dashboard.listen();
  return dashboard;
}

export class Dashboard {
  readonly #options: DashboardOptions;
  readonly #server: http.Server;
  readonly #pages = new Set<Page>();
  #port = 0;
  #info: RunInfo | null = null;
  #state: LiveState | null = null;
  #timer: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(options: DashboardOptions) {
    this.#options = options;
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    // Each page holds one stream; page loads and reconnects need a few more.
    this.#server.maxConnections = MAX_PAGES * 2;
  }

  async listen(): Promise<void> {
    const { host, port } = this.#options.address;
    this.#server.listen({ host, port, exclusive: true });
    try {
      await once(this.#server, 'listening');
    } catch (err) {
      throw listenError(err, host, port);
    }
    this.#port = (this.#server.address() as AddressInfo).port;
    // Past the bind, the dashboard's own troubles (a failed accept) must not end the load.
    this.#server.on('error', () => {});
  }

  /** Where to open the page on this machine (an unspecified address is reached over loopback). */
  get url(): string {
    const { host } = this.#options.address;
    const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    return `http://${isIP(shown) === 6 ? `[${shown}]` : shown}:${this.#port}/`;
  }

  /** Listening on every interface (0.0.0.0 or ::): the page is reachable from the network. */
  get onEveryInterface(): boolean {
    const { host } = this.#options.address;
    return host === '0.0.0.0' || host === '::';
  }

  /** The load starts: pages are served from now on, and updated every tick. */
  onRunStart(info: RunInfo): void {
    this.#info = info;
    this.#timer = setInterval(() => this.#tick(), DASHBOARD_TICK_MS);
    this.#timer.unref();
  }

  /**
   * The load is over: every page gets `summary` (the one the CLI prints) as
   * the final update, every response ends and the server closes, without
   * waiting for any page beyond a short flush.
   */
  async onRunEnd(summary: Summary): Promise<void> {
    const update: LiveUpdate = { summary, timelineFrom: 0, final: true };
    await this.close(formatEvent(update));
  }

  /** Ends every response (after `lastMessage`, if any) and closes the server. */
  async close(lastMessage?: string): Promise<void> {
    if (this.#closing) {
      return;
    }
    this.#closing = true;
    clearInterval(this.#timer);
    const flushed: Promise<unknown>[] = [];
    for (const page of this.#pages) {
      if (lastMessage !== undefined) {
        page.res.write(lastMessage);
      }
      page.res.end();
      flushed.push(Promise.race([once(page.res, 'finish'), once(page.res, 'close')]));
    }
    let graceTimer: NodeJS.Timeout | undefined;
    const grace = new Promise((resolve) => (graceTimer = setTimeout(resolve, FINAL_FLUSH_MS)));
    await Promise.race([Promise.all(flushed), grace]);
    clearTimeout(graceTimer);
    const closed = once(this.#server, 'close');
    this.#server.close();
    this.#server.closeAllConnections();
    await closed;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!isOwnHost(req.headers.host, this.#port)) {
      // A page of another site whose name now resolves here (DNS rebinding) must not read the run.
      sendText(res, 403, 'this dashboard answers only to its own address (Host header)');
      return;
    }
    const queryAt = (req.url ?? '').indexOf('?');
    const path = queryAt === -1 ? (req.url ?? '') : req.url!.slice(0, queryAt);
    if (path !== '/' && path !== EVENTS_PATH) {
      sendText(res, 404, 'not found: this dashboard serves / and /events only');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendText(res, 405, 'only GET and HEAD are served');
      return;
    }
    if (this.#closing || this.#info === null) {
      res.setHeader('connection', 'close');
      res.setHeader('retry-after', '1');
      sendText(res, 503, this.#closing ? 'the run is over' : 'the run is starting; reload');
      return;
    }
    if (path === '/') {
      this.#sendPage(req, res);
    } else {
      this.#follow(req, res);
    }
  }

  #sendPage(req: http.IncomingMessage, res: http.ServerResponse): void {
    const state = this.#currentState(DASHBOARD_TICK_MS);
    state.html ??= renderReport({ summary: state.summary, live: { eventsPath: EVENTS_PATH } });
    res.writeHead(200, {
      ...COMMON_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(state.html),
      'content-security-policy': CONTENT_SECURITY_POLICY,
    });
    res.end(req.method === 'HEAD' ? undefined : state.html);
  }

  /** GET /events: the whole history now, then the updates, until the run ends. */
  #follow(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.#pages.size >= MAX_PAGES) {
      res.setHeader('retry-after', '5');
      sendText(res, 503, `${MAX_PAGES} pages follow this run already; close one`);
      return;
    }
    res.writeHead(200, {
      ...COMMON_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-store',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const state = this.#currentState(DASHBOARD_TICK_MS);
    const page: Page = { res, dataAt: state.builtAt, widthS: state.widthS, stalledSince: null };
    this.#pages.add(page);
    res.on('close', () => this.#pages.delete(page));
    res.write(formatEvent({ summary: state.summary, timelineFrom: 0, final: false }));
  }

  /** Once a tick, with pages listening: one summary for all, each page the rows it may lack. */
  #tick(): void {
    if (this.#pages.size === 0 || this.#closing) {
      return;
    }
    // The same state as last time when building one costs much: nothing new to send then.
    const state = this.#currentState(0);
    const messages = new Map<number, string>();
    for (const page of this.#pages) {
      if (page.dataAt === state.builtAt) {
        continue; // it has this state already
      }
      if (page.res.writableNeedDrain) {
        // Never queue behind a page that does not read: skip it, and drop it when it stays stuck.
        page.stalledSince ??= state.builtAt;
        if (state.builtAt - page.stalledSince >= STALLED_PAGE_MS) {
          page.res.destroy();
        }
        continue;
      }
      page.stalledSince = null;
      const from =
        page.widthS === state.widthS ? this.#unsettledFrom(page.dataAt, state.widthS) : 0;
      let message = messages.get(from);
      if (message === undefined) {
        const timeline = state.summary.timeline.filter((row) => row.t >= from);
        message = formatEvent({
          summary: { ...state.summary, timeline },
          timelineFrom: from,
          final: false,
        });
        messages.set(from, message);
      }
      page.res.write(message);
      page.dataAt = state.builtAt;
      page.widthS = state.widthS;
    }
  }

  /**
   * The latest state while it is younger than `freshMs`, or than building
   * one allows (MAX_BUILD_SHARE); else a new one. Page loads, new pages and
   * ticks share it.
   */
  #currentState(freshMs: number): LiveState {
    const state = this.#state;
    if (state !== null) {
      const fresh = Math.max(freshMs, state.costMs / MAX_BUILD_SHARE);
      if (Date.now() - state.builtAt < fresh) {
        return state;
      }
    }
    const startedAt = performance.now();
    const snapshot = this.#options.aggregator.snapshot();
    const now = Date.now();
    const summary = buildSummary(snapshot, this.#info!, now, false, null, this.#options.thresholds);
    const costMs = performance.now() - startedAt;
    this.#state = { summary, widthS: snapshot.timeline.widthS, builtAt: now, costMs, html: null };
    return this.#state;
  }

  /**
   * timelineFrom for a page whose last update read the aggregator at
   * `dataAt`: the start of the first row that could still get data then.
   */
  #unsettledFrom(dataAt: number, widthS: number): number {
    const settledMs = dataAt - this.#info!.startedAt - LATE_DATA_MS;
    return Math.max(0, Math.floor(settledMs / 1000 / widthS)) * widthS;
  }
}

/** One Server-Sent Event; JSON holds no raw newline, so one data line. */
function formatEvent(update: LiveUpdate): string {
  return `event: update\ndata: ${JSON.stringify(update)}\n\n`;
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

const HOST_HEADER = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/;

/**
 * The Host header names this server: `localhost` or an IP address, with its
 * port. DNS rebinding sends a name of the attacker's; an address typed by
 * the user (the machine's own, with 0.0.0.0) is never one.
 */
function isOwnHost(header: string | undefined, port: number): boolean {
  const match = header === undefined ? null : HOST_HEADER.exec(header.trim());
  if (match === null) {
    return false;
  }
  const givenPort = match[2] === undefined ? 80 : Number(match[2]);
  const name = match[1]!.toLowerCase();
  const bare = name.startsWith('[') ? name.slice(1, -1) : name;
  return givenPort === port && (bare === 'localhost' || isIP(bare) !== 0);
}

function listenError(err: unknown, host: string, port: number): UsageError {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new UsageError(
        `--dashboard ${where}: the port is in use; pick another, or port 0 (or --dashboard alone) for a free one`,
        { cause: err },
      );
    case 'EACCES':
      return new UsageError(
        `--dashboard ${where}: not allowed to listen there (ports below 1024 need privileges); use a port from 1024 up`,
        { cause: err },
      );
    case 'EADDRNOTAVAIL':
      return new UsageError(
        `--dashboard ${where}: ${host} is not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its addresses`,
        { cause: err },
      );
    default:
      return new UsageError(`--dashboard ${where}: cannot listen there (${code ?? String(err)})`, {
        cause: err,
      });
  }
}
