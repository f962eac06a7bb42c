// The HTTP client behind `this.session` (the Requests role, SPEC §3.1). Each
// Session, i.e. each virtual user, has its own keep-alive connections
// (UserConnections) and cookie jar, like a real client. Requests go through
// undici's dispatch with a small handler: chunks are counted as they arrive and
// every wire request (each redirect hop) emits exactly one `hit`. Timeouts
// are undici's headersTimeout/bodyTimeout/connect timeout, so no timer is
// created per hit. Limits: HTTP/1.1 only, no proxy, no decompression.
import type { Dispatcher } from 'undici';
import { HttpRequestError } from '../../errors.ts';
import { now, toEpochMs } from '../../metrics/clock.ts';
import { classifyError } from '../../metrics/error-key.ts';
import type { EventSink, HitEvent, RunContext } from '../../metrics/events.ts';
import { CookieJar } from './cookie-jar.ts';
import { Response, type RawHeaders } from './response.ts';
import { UserConnections, type OriginConnections } from './user-connections.ts';

/** Options of one request (SPEC §3.1). */
export interface RequestOptions {
  /** Extra request headers; names are case-insensitive. */
  headers?: Record<string, string>;
  /** Query string parameters, appended to any query already in the URL. */
  params?: Record<string, string | number | boolean> | URLSearchParams;
  /** Sent as JSON with content-type application/json. Cannot be combined with `data`. */
  json?: unknown;
  /**
   * The body. A plain object or URLSearchParams is sent as
   * application/x-www-form-urlencoded; a string or Buffer as it is.
   */
  data?: string | Buffer | URLSearchParams | Record<string, string | number | boolean>;
  /**
   * Seconds to wait for the response headers, and between two body chunks;
   * 0 waits forever. Default: the session's (`--timeout`).
   */
  timeout?: number;
  /** Follow 3xx responses (up to 10 hops, one hit each). Default true. */
  allowRedirects?: boolean;
  /** Cookies sent with this call only; they win over stored ones of the same name. */
  cookies?: Record<string, string>;
}

/** What a Session needs from its virtual user. */
export interface SessionOptions {
  /** Receives one `hit` per wire request, synchronously. */
  sink: EventSink;
  /** Read on each hit for cycleIndex/currentUser/currentHit. */
  context: RunContext;
  /** 'Class.method' of the running test, '' outside a test; called once per hit. */
  testName: () => string;
  /** Default per-request timeout (headers, body chunks and connect), ms; 0 = none. */
  timeoutMs: number;
  /**
   * Run-level abort: in-flight requests reject with the signal's reason and
   * emit no hit (as abortAll). A virtual user passes none and calls
   * abortAll(), so that no listener is added per session.
   */
  signal?: AbortSignal;
}

/** Redirects followed per call before failing with TOO_MANY_REDIRECTS. */
export const MAX_REDIRECTS = 10;

const USER_AGENT = 'loads-runner';
const DEFAULT_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'user-agent': USER_AGENT,
});
const FORM_TYPE = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const NO_HEADERS: RawHeaders = Object.freeze({}) as RawHeaders;

/**
 * One wire request: the undici handler and the promise it settles. The
 * promise resolves with nothing; the fields hold the outcome.
 */
class Exchange implements Dispatcher.DispatchHandler {
  status = 0;
  headers: RawHeaders = NO_HEADERS;
  chunks: Buffer[] = [];
  bytes = 0;
  startMs = 0;
  endMs = 0;
  aborted = false;
  readonly promise: Promise<void>;
  #controller: Dispatcher.DispatchController | undefined = undefined;
  #abortReason: Error | undefined = undefined;
  #settled = false;
  #resolve!: () => void;
  #reject!: (err: unknown) => void;

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#abortReason !== undefined) {
      controller.abort(this.#abortReason);
      return;
    }
    this.#controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: RawHeaders,
  ): void {
    // 1xx informational responses come before the real one.
    if (statusCode >= 200) {
      this.status = statusCode;
      this.headers = headers;
    }
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  onResponseEnd(): void {
    if (!this.#settled) {
      this.#settled = true;
      this.endMs = now();
      this.#resolve();
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (!this.#settled) {
      this.#settled = true;
      this.endMs = now();
      this.#reject(error);
    }
  }

  /** Rejects at once with `reason`, even while still connecting. */
  abort(reason: unknown): void {
    if (this.#settled) {
      return;
    }
    this.#settled = true;
    this.aborted = true;
    const error =
      reason instanceof Error
        ? reason
        : new DOMException('This operation was aborted', 'AbortError');
    this.#abortReason = error;
    this.#controller?.abort(error);
    this.#reject(reason);
  }
}

/**
 * An HTTP client with its own keep-alive pool and cookie jar; one per
 * virtual user.
 *
 * @example
 * const res = await this.session.post('http://localhost:8080/login', { data: { user: 'a' } });
 * this.assertEqual(res.status, 200);
 */
export class Session {
  /** This session's cookie jar: cookies set by servers are sent back from here. */
  readonly cookies: CookieJar = new CookieJar();
  readonly #connections: UserConnections;
  readonly #sink: EventSink;
  readonly #context: RunContext;
  readonly #testName: () => string;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  /**
   * The request in flight. A test usually has one at a time, so it goes in
   * this field; only concurrent ones go into the Set (made on first use),
   * because adding to and deleting from a Set per request allocates.
   */
  #inflight: Exchange | undefined = undefined;
  #moreInflight: Set<Exchange> | undefined = undefined;
  #aborted = false;
  #abortReason: unknown = undefined;
  readonly #onAbort: (() => void) | undefined;
  /** One hit object per session, refilled for every hit (consumers copy fields). */
  readonly #hit: HitEvent = {
    type: 'hit',
    method: '',
    url: '',
    status: 0,
    errorKey: '',
    startedAt: 0,
    elapsedMs: 0,
    bytes: 0,
    test: '',
    cycleIndex: 0,
    currentUser: 0,
    currentHit: 0,
    lagMs: 0,
  };
  #closing: Promise<void> | undefined = undefined;
  #lastTarget = '';
  #lastUrl: URL | undefined = undefined;
  /** #lastUrl's origin and path + query: URL getters build a new string on every call. */
  #lastOrigin = '';
  #lastPath = '';

  constructor(options: SessionOptions) {
    this.#sink = options.sink;
    this.#context = options.context;
    this.#testName = options.testName;
    this.#timeoutMs = options.timeoutMs;
    this.#signal = options.signal;
    this.#connections = new UserConnections(options.timeoutMs);
    const signal = options.signal;
    if (signal === undefined) {
      this.#onAbort = undefined;
    } else if (signal.aborted) {
      this.#onAbort = undefined;
      this.abortAll(signal.reason);
    } else {
      this.#onAbort = () => this.abortAll(signal.reason);
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /**
   * Run-level abort: the requests in flight reject at once with `reason`
   * and emit no hit; later ones reject with `reason` before sending, and
   * close() destroys the connections. Only the first call counts.
   */
  abortAll(reason: unknown): void {
    if (this.#aborted) {
      return;
    }
    this.#aborted = true;
    this.#abortReason = reason;
    const one = this.#inflight;
    this.#inflight = undefined;
    one?.abort(reason);
    const more = this.#moreInflight;
    if (more !== undefined) {
      for (const exchange of more) {
        exchange.abort(reason);
      }
      more.clear();
    }
  }

  get(url: string, opts?: RequestOptions): Promise<Response> {
    return this.request('GET', url, opts);
  }

  post(url: string, opts?: RequestOptions): Promise<Response> {
    return this.request('POST', url, opts);
  }

  put(url: string, opts?: RequestOptions): Promise<Response> {
    return this.request('PUT', url, opts);
  }

  patch(url: string, opts?: RequestOptions): Promise<Response> {
    return this.request('PATCH', url, opts);
  }

  delete(url: string, opts?: RequestOptions): Promise<Response> {
    return this.request('DELETE', url, opts);
  }

  head(url: string, opts?: RequestOptions): Promise<Response> {
    return this.request('HEAD', url, opts);
  }

  options(url: string, opts?: RequestOptions): Promise<Response> {
    return this.request('OPTIONS', url, opts);
  }

  /**
   * Sends `method url` and reads the whole body. Resolves with any HTTP
   * status (a 500 is a response, not an error); rejects with
   * HttpRequestError when no response came, after emitting a status-0 hit.
   */
  async request(method: string, url: string, opts: RequestOptions = {}): Promise<Response> {
    if (this.#aborted) {
      throw this.#abortReason;
    }
    let verb = method.toUpperCase();
    const timeoutMs = opts.timeout === undefined ? this.#timeoutMs : opts.timeout * 1000;
    const target = opts.params === undefined ? url : appendParams(url, opts.params);

    let body: string | Buffer | null = null;
    let contentType: string | undefined;
    if (opts.data !== undefined) {
      if (opts.json !== undefined) {
        throw new TypeError('request options `json` and `data` cannot be used together; pick one');
      }
      const data = opts.data;
      if (typeof data === 'string' || Buffer.isBuffer(data)) {
        body = data;
      } else {
        body = (data instanceof URLSearchParams ? data : toSearchParams(data)).toString();
        contentType = FORM_TYPE;
      }
    } else if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      contentType = JSON_TYPE;
    }

    let current: URL;
    if (target === this.#lastTarget && this.#lastUrl !== undefined) {
      // A test usually calls the same URL every run: parse it once. URL
      // objects are never mutated below, so sharing the parsed one is safe.
      current = this.#lastUrl;
    } else {
      try {
        current = new URL(target);
        if (current.protocol !== 'http:' && current.protocol !== 'https:') {
          throw new TypeError(`unsupported protocol ${current.protocol} (use http: or https:)`);
        }
      } catch (err) {
        this.#emitHit(verb, target, 0, 'INVALID_URL', now(), 0, 0);
        throw new HttpRequestError(verb, target, 'INVALID_URL', errorMessage(err), err);
      }
      if (current.hash !== '') {
        current.hash = '';
      }
      this.#lastTarget = target;
      this.#lastUrl = current;
      this.#lastOrigin = current.origin;
      this.#lastPath = current.pathname + current.search;
    }

    let headers = buildHeaders(opts.headers, contentType);
    const userCookieHeader = headers !== DEFAULT_HEADERS && headers['cookie'] !== undefined;
    const follow = opts.allowRedirects !== false;
    for (let hop = 0; ; hop++) {
      if (!userCookieHeader && (this.cookies.size > 0 || opts.cookies !== undefined)) {
        const cookie = this.cookies.cookieHeader(current, opts.cookies);
        if (cookie !== '') {
          if (headers === DEFAULT_HEADERS) {
            headers = { ...DEFAULT_HEADERS };
          }
          headers['cookie'] = cookie;
        } else if (headers['cookie'] !== undefined) {
          delete headers['cookie'];
        }
      }
      const hopUrl = current.href;
      const exchange = await this.#send(verb, current, hopUrl, headers, body, timeoutMs);
      const setCookie = exchange.headers['set-cookie'];
      if (setCookie !== undefined) {
        if (typeof setCookie === 'string') {
          this.cookies.setCookie(setCookie, current);
        } else {
          for (const one of setCookie) {
            this.cookies.setCookie(one, current);
          }
        }
      }
      const status = exchange.status;
      const location = exchange.headers['location'];
      if (!follow || !isRedirect(status) || typeof location !== 'string') {
        return new Response({
          method: verb,
          status,
          headers: exchange.headers,
          url: hopUrl,
          chunks: exchange.chunks,
          bytes: exchange.bytes,
          elapsedMs: exchange.endMs - exchange.startMs,
        });
      }
      if (hop === MAX_REDIRECTS) {
        throw new HttpRequestError(
          verb,
          url,
          'TOO_MANY_REDIRECTS',
          `more than ${MAX_REDIRECTS} redirects, last to ${location}`,
        );
      }
      let next: URL;
      try {
        next = new URL(location, current);
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new TypeError(`unsupported protocol ${next.protocol} in redirect`);
        }
      } catch (err) {
        throw new HttpRequestError(
          verb,
          hopUrl,
          'INVALID_URL',
          `bad redirect location ${location}`,
          err,
        );
      }
      if (next.hash !== '') {
        next.hash = '';
      }
      // Requests' rules: 303 turns anything but HEAD into GET; 301/302 turn POST into GET.
      if (
        (status === 303 && verb !== 'HEAD') ||
        ((status === 301 || status === 302) && verb === 'POST')
      ) {
        verb = 'GET';
        if (body !== null) {
          body = null;
          headers = headers === DEFAULT_HEADERS ? headers : withoutHeader(headers, 'content-type');
        }
      }
      if (next.origin !== current.origin && headers['authorization'] !== undefined) {
        headers = withoutHeader(headers, 'authorization');
      }
      current = next;
    }
  }

  /** Closes the keep-alive pool; waits for requests still in flight. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      if (this.#onAbort !== undefined) {
        this.#signal?.removeEventListener('abort', this.#onAbort);
      }
      this.#closing = this.#aborted ? this.#connections.destroy() : this.#connections.close();
    }
    return this.#closing;
  }

  /** One wire request: dispatch, wait for the end of the body, emit the hit. */
  async #send(
    method: string,
    url: URL,
    hopUrl: string,
    headers: Record<string, string>,
    body: string | Buffer | null,
    timeoutMs: number,
  ): Promise<Exchange> {
    const exchange = new Exchange();
    this.#track(exchange);
    const startMs = now();
    exchange.startMs = startMs;
    const cached = url === this.#lastUrl;
    const origin = cached ? this.#lastOrigin : url.origin;
    let connection: OriginConnections | undefined;
    try {
      connection = this.#connections.dispatch(
        origin,
        {
          origin,
          path: cached ? this.#lastPath : url.pathname + url.search,
          method,
          headers,
          body,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        },
        exchange,
      );
      await exchange.promise;
    } catch (err) {
      this.#connections.release(connection);
      this.#untrack(exchange);
      if (exchange.aborted) {
        throw err;
      }
      const key = classifyError(err);
      this.#emitHit(method, hopUrl, 0, key, startMs, exchange.endMs - startMs, exchange.bytes);
      throw new HttpRequestError(method, hopUrl, key, errorMessage(err), err);
    }
    this.#connections.release(connection);
    this.#untrack(exchange);
    this.#emitHit(
      method,
      hopUrl,
      exchange.status,
      '',
      startMs,
      exchange.endMs - startMs,
      exchange.bytes,
    );
    return exchange;
  }

  #track(exchange: Exchange): void {
    if (this.#inflight === undefined) {
      this.#inflight = exchange;
    } else {
      (this.#moreInflight ??= new Set()).add(exchange);
    }
  }

  #untrack(exchange: Exchange): void {
    if (this.#inflight === exchange) {
      this.#inflight = undefined;
    } else {
      this.#moreInflight?.delete(exchange);
    }
  }

  #emitHit(
    method: string,
    url: string,
    status: number,
    errorKey: string,
    startMs: number,
    elapsedMs: number,
    bytes: number,
  ): void {
    const hit = this.#hit;
    const context = this.#context;
    hit.method = method;
    hit.url = url;
    hit.status = status;
    hit.errorKey = errorKey;
    hit.startedAt = toEpochMs(startMs);
    hit.elapsedMs = elapsedMs;
    hit.bytes = bytes;
    hit.test = this.#testName();
    hit.cycleIndex = context.cycleIndex;
    hit.currentUser = context.currentUser;
    hit.currentHit = context.currentHit;
    hit.lagMs = context.lagMs;
    this.#sink.emit(hit);
  }
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function toSearchParams(record: Record<string, string | number | boolean>): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of Object.keys(record)) {
    params.append(key, String(record[key]));
  }
  return params;
}

function appendParams(
  url: string,
  params: Record<string, string | number | boolean> | URLSearchParams,
): string {
  const query = (params instanceof URLSearchParams ? params : toSearchParams(params)).toString();
  if (query === '') {
    return url;
  }
  const hashAt = url.indexOf('#');
  const base = hashAt < 0 ? url : url.slice(0, hashAt);
  const separator = base.includes('?')
    ? base.endsWith('?') || base.endsWith('&')
      ? ''
      : '&'
    : '?';
  return base + separator + query;
}

/** Lower-cases the user's header names; returns the shared default object when there is nothing to add. */
function buildHeaders(
  user: Record<string, string> | undefined,
  contentType: string | undefined,
): Record<string, string> {
  if (user === undefined && contentType === undefined) {
    return DEFAULT_HEADERS;
  }
  const headers: Record<string, string> = { 'user-agent': USER_AGENT };
  if (user !== undefined) {
    for (const name of Object.keys(user)) {
      headers[name.toLowerCase()] = user[name]!;
    }
  }
  if (contentType !== undefined && headers['content-type'] === undefined) {
    headers['content-type'] = contentType;
  }
  return headers;
}

function withoutHeader(headers: Record<string, string>, name: string): Record<string, string> {
  const copy = { ...headers };
  delete copy[name];
  return copy;
}

function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    return errorMessage(err.errors[0]);
  }
  if (err instanceof Error) {
    return err.message === '' ? err.name : err.message;
  }
  return String(err);
}
