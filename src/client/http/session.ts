// The HTTP client behind `this.session` (the Requests role, SPEC §3.1). Each
// Session, i.e. each virtual user, has its own keep-alive connections
// (UserConnections) and cookie jar, like a real client. Requests go through
// undici's dispatch with a small handler: chunks are counted as they arrive and
// every wire request (each redirect hop) emits exactly one `hit`. The timeout
// is a deadline for the whole exchange (connect, headers, body), checked by
// the thread's DeadlineSweep, so no timer is created per hit. A body over
// maxBodyBytes is not kept: the request fails and its connection is closed,
// so memory is bounded by users × that limit. A compressed body (gzip,
// deflate, br) is decoded by undici's DecompressHandler (decode.ts); the
// limit then applies to the decoded bytes, the hit counts the wire bytes.
// TLS verification, extra CAs, a client certificate and HTTP/2 (ALPN) come
// from the run's TransportOptions; each hit records the protocol it used.
// No proxy.
import type { Dispatcher } from 'undici';
import { HttpRequestError } from '../../errors.ts';
import { findSimilar } from '../../did-you-mean.ts';
import { now, toEpochMs } from '../../metrics/clock.ts';
import { classifyError } from '../../metrics/error-key.ts';
import {
  newHitEvent,
  type EventSink,
  type HitEvent,
  type RunContext,
} from '../../metrics/events.ts';
import { THREAD_DEADLINES, type DeadlineSweep, type Swept } from '../deadline-sweep.ts';
import { describeValue } from '../describe-value.ts';
import { describeConnectError, errorText } from '../connect-errors.ts';
import { DEFAULT_TRANSPORT, type TransportOptions } from '../transport.ts';
import { CookieJar } from './cookie-jar.ts';
import {
  ContentDecodingError,
  createBodyDecoder,
  type BodyDecoder,
  type DecodedBodyReceiver,
} from './decode.ts';
import { Response, parseRawHeaders, type RawHeaderList, type RawHeaders } from './response.ts';
import { parseTarget, type ParsedTarget } from './parsed-targets.ts';
import {
  UserConnections,
  type ConnectionsUser,
  type HttpProtocol,
  type OriginConnections,
} from './user-connections.ts';
import { undiciUtil } from './undici.ts';

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
   * Seconds for the whole request, each redirect hop on its own: connect,
   * headers and the whole body; 0 waits forever. Default: `--timeout`.
   */
  timeout?: number;
  /** Follow 3xx responses (up to 10 hops, one hit each). Default true. */
  allowRedirects?: boolean;
  /** Cookies sent with this call only; they win over stored ones of the same name. */
  cookies?: Record<string, string>;
  /**
   * `'discard'`: the body is counted and timed but not kept (no size limit
   * applies) nor decoded, even when compressed; `content` is empty and
   * `text`/`json()` throw. Default: keep it, unless --discard-bodies.
   */
  body?: 'discard';
  /**
   * false accepts any TLS certificate for this request; true verifies it
   * even with --insecure. Default: verify, unless --insecure.
   */
  verify?: boolean;
  /**
   * The name this request's hits are grouped under, instead of their URL, in
   * the per-URL table, `url:` thresholds and every output: give the same name
   * to URLs that differ only by an id, e.g. `'/item/:id'`, so that they make
   * one row rather than one row each. Every redirect hop of the call carries it.
   *
   * @example
   * await this.session.get(`${base}/item/${id}`, { name: '/item/:id' });
   */
  name?: string;
}

/** Every option name a request takes, for the "did you mean" of a misspelt one. */
export const REQUEST_OPTION_NAMES: readonly string[] = Object.freeze([
  'headers',
  'params',
  'json',
  'data',
  'timeout',
  'allowRedirects',
  'cookies',
  'body',
  'verify',
  'name',
]);

/** What a Session needs from its virtual user. */
export interface SessionOptions {
  /** Receives one `hit` per wire request, synchronously. */
  sink: EventSink;
  /** Read on each hit for cycleIndex/currentUser/currentHit. */
  context: RunContext;
  /** 'Class.method' of the running test, '' outside a test; called once per hit. */
  testName: () => string;
  /** Default per-request deadline (connect, headers and body), ms; 0 = none. */
  timeoutMs: number;
  /**
   * Response bodies longer than this (decoded, for a compressed one) fail
   * with BODY_TOO_LARGE and are not kept; default 64 MiB.
   */
  maxBodyBytes?: number;
  /** `body: 'discard'` for every request (--discard-bodies); default false. */
  discardBodies?: boolean;
  /** The cookie jar to use (a virtual user's replacement session keeps its jar); default a new one. */
  cookies?: CookieJar;
  /** TLS and HTTP/2 settings of the run (--insecure, --ca, --cert/--key, --http2); default none. */
  transport?: TransportOptions;
  /** What checks the deadlines; default the thread's own. */
  deadlines?: DeadlineSweep;
  /**
   * Run-level abort: in-flight requests reject with the signal's reason and
   * emit no hit (as abortAll). A virtual user passes none and calls
   * abortAll(), so that no listener is added per session.
   */
  signal?: AbortSignal;
}

/** Redirects followed per call before failing with TOO_MANY_REDIRECTS. */
export const MAX_REDIRECTS = 10;

/** --max-body-size's default: 64 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * The hit object of every Session of this thread, refilled right before each
 * emit: a sink copies what it keeps before emit returns (EventSink), so one
 * object serves all users (one per session was 144 bytes per idle user).
 */
const THREAD_HIT: HitEvent = newHitEvent();

/**
 * A request past its deadline (the `cause` of the HttpRequestError the test
 * gets); classified as REQUEST_TIMEOUT.
 */
export class RequestTimeoutError extends Error {
  readonly code = 'LOADS_ERR_REQUEST_TIMEOUT';
  constructor(timeoutMs: number, phase: string) {
    super(
      `no complete response within the ${timeoutMs / 1000} s timeout (${phase}); raise --timeout or this request's timeout option`,
    );
    this.name = 'RequestTimeoutError';
  }
}

/** A response body over the limit (the cause of the test's HttpRequestError); classified as BODY_TOO_LARGE. */
export class BodyTooLargeError extends Error {
  readonly code = 'LOADS_ERR_BODY_TOO_LARGE';
  constructor(limitBytes: number, what: string) {
    super(
      `${what} is over --max-body-size (${formatBytes(limitBytes)}): not kept, connection closed; raise --max-body-size, or pass body: 'discard' to count the bytes without keeping them`,
    );
    this.name = 'BodyTooLargeError';
  }
}

const USER_AGENT = 'loads-runner';
/** Sent unless the test sets accept-encoding itself, as Requests and browsers do. */
const ACCEPT_ENCODING = 'gzip, deflate, br';
/** The headers of a call that sets none: one frozen object shared by every such call. */
const DEFAULT_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'user-agent': USER_AGENT,
  'accept-encoding': ACCEPT_ENCODING,
});
const FORM_TYPE = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const NO_HEADERS: RawHeaders = Object.freeze({}) as RawHeaders;
const NO_RAW_HEADERS: RawHeaderList = Object.freeze([]) as unknown as RawHeaderList;

/** Exchange.chunks until a body's second chunk: never pushed to. */
const NO_CHUNKS: Buffer[] = Object.freeze([]) as unknown as Buffer[];
/** The request context a BodyDecoder gets: our sink never reads it. */
const NO_CONTEXT = Object.freeze({});

/**
 * One wire request: the undici handler and the promise it settles. The
 * promise resolves with nothing; the fields hold the outcome. It ends in one
 * of three ways: the response ends (resolve), undici or fail() ends it with
 * an error (reject; the Session emits the hit), or abort() ends it with no
 * hit of the Session's own (reject with the reason; `aborted` is true).
 *
 * A body with a content-encoding goes through a BodyDecoder, made when its
 * first chunk arrives: an empty body (content-length 0, HEAD, 204, 304) has
 * nothing to decode, and an empty gzip stream would be an error. undici
 * still calls this Exchange, which counts the wire bytes and passes the
 * chunks, their end or an error on to the decoder; the decoded chunks come
 * back through the DecodedBodyReceiver methods, are checked against the
 * limit and kept, and the decoded end resolves. Settling stays here, once.
 */
class Exchange implements ConnectionsUser, DecodedBodyReceiver {
  status = 0;
  connections: OriginConnections | undefined = undefined;
  onClient = false;
  /** The response's headers as undici read them: name, value, name, value… */
  rawHeaders: RawHeaderList = NO_RAW_HEADERS;
  /** The response has a set-cookie header. */
  setsCookies = false;
  /** The body kept, as received or decoded: its first chunk while it has only one… */
  chunk: Buffer | undefined = undefined;
  /** …and from a second one on, every chunk. */
  chunks: Buffer[] = NO_CHUNKS;
  /** Body bytes on the wire (compressed, for an encoded body): the hit's bytes. */
  bytes = 0;
  startMs = 0;
  /** When the body ended (decoded, for an encoded one) or the exchange failed. */
  endMs = 0;
  /** Monotonic ms after which the sweep fails it; Infinity for none. */
  deadlineMs = Infinity;
  timeoutMs = 0;
  aborted = false;
  readonly method: string;
  readonly target: URL;
  /** The hop's URL (target's href), for the hit, also when the run's end aborts it. */
  readonly url: string;
  /** The call's `name` option ('' for none), for that hit too. */
  readonly name: string;
  readonly #maxBodyBytes: number;
  readonly promise: Promise<void>;
  #headers: RawHeaders | undefined = undefined;
  /** undici's abort of this request; set once it has a connection. */
  #abortRequest: ((reason: Error) => void) | undefined = undefined;
  /** undici's resume of a paused body (the decoder pauses it). */
  #resumeBody: (() => void) | undefined = undefined;
  #abortReason: Error | undefined = undefined;
  #settled = false;
  /** The response has a content-encoding and its body is kept: it goes to a decoder. */
  #encoded = false;
  #decoder: BodyDecoder | undefined = undefined;
  /** What the decoder pauses, resumes and aborts the body through. */
  #decoderController: ExchangeController | undefined = undefined;
  #decodedBytes = 0;
  #resolve!: () => void;
  #reject!: (err: unknown) => void;

  /** `maxBodyBytes` Infinity keeps any body; -1 keeps none (discard). */
  constructor(method: string, target: URL, name: string, maxBodyBytes: number) {
    this.method = method;
    this.target = target;
    this.url = target.href;
    this.name = name;
    this.#maxBodyBytes = maxBodyBytes;
    this.promise = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  get discarded(): boolean {
    return this.#maxBodyBytes < 0;
  }

  /** From dispatch to the end of the body (or the failure), ms: Response's `elapsed`. */
  get elapsedMs(): number {
    return this.endMs - this.startMs;
  }

  /** The response headers, lower-case names, parsed on first use: most tests never read them. */
  get headers(): RawHeaders {
    if (this.#headers === undefined) {
      this.#headers = this.rawHeaders.length === 0 ? NO_HEADERS : parseRawHeaders(this.rawHeaders);
    }
    return this.#headers;
  }

  // undici's own handler callbacks (onConnect, onHeaders, onData, onComplete,
  // onError): a handler of the onRequestStart/onResponse* form is wrapped by
  // undici in two more objects per request and gets every header parsed into
  // strings. Skipping both: 8,123 → 7,738 heap bytes per hit (npm run bench
  // -- per-hit).
  onConnect(abort: (reason?: Error) => void): void {
    if (this.#abortReason !== undefined) {
      abort(this.#abortReason);
      return;
    }
    this.#abortRequest = abort;
  }

  onHeaders(statusCode: number, rawHeaders: RawHeaderList, resume: () => void): boolean {
    // 1xx informational responses come before the real one.
    if (statusCode < 200) {
      return true;
    }
    this.status = statusCode;
    this.rawHeaders = rawHeaders;
    this.#resumeBody = resume;
    // One pass over the names, which undici maps to interned strings without
    // allocating; a value becomes a string only when it is needed.
    let length: Buffer | string | undefined;
    let encoding: Buffer | string | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const raw = rawHeaders[i]!;
      if (!mayBeNeeded(raw)) {
        continue;
      }
      const name = undiciUtil.headerNameToString(raw);
      if (name === 'content-length') {
        length = rawHeaders[i + 1];
      } else if (name === 'content-encoding') {
        encoding = rawHeaders[i + 1];
      } else if (name === 'set-cookie') {
        this.setsCookies = true;
      }
    }
    // A declared length over the limit fails before the body is sent. For
    // an encoded body it is the compressed length, and a decoded body is
    // as long or longer, but for a few bytes of framing.
    const max = this.#maxBodyBytes;
    if (
      length !== undefined &&
      max >= 0 &&
      max !== Infinity &&
      this.method !== 'HEAD' &&
      declaredLength(length) > max
    ) {
      this.fail(new BodyTooLargeError(max, `the body (content-length ${length.toString()})`));
      return true;
    }
    // A discarded body is only counted: decoding it would be work for nothing.
    this.#encoded = encoding !== undefined && max >= 0 && encoding.toString() !== 'identity';
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#settled) {
      return true;
    }
    const bytes = this.bytes + chunk.length;
    this.bytes = bytes;
    const max = this.#maxBodyBytes;
    if (max < 0) {
      return true; // discarded: counted only
    }
    if (this.#encoded) {
      // The limit applies to the decoded bytes (onDecodedData).
      const decoder = this.#decoder ?? this.#startDecoder();
      const controller = this.#decoderController;
      if (decoder !== undefined && controller !== undefined) {
        decoder.onResponseData(controller, chunk);
        return !controller.paused;
      }
      return true;
    }
    if (bytes > max) {
      this.fail(new BodyTooLargeError(max, 'the body'));
      return true;
    }
    this.#keep(chunk);
    return true;
  }

  /**
   * Keeps a body chunk: the first in `chunk`, and only from a second one on
   * an array of them all (an array grown by push() has room for 17: 184
   * bytes a hit, and more kept by a Response held across a sleep).
   */
  #keep(chunk: Buffer): void {
    if (this.chunks !== NO_CHUNKS) {
      this.chunks.push(chunk);
    } else if (this.chunk === undefined) {
      this.chunk = chunk;
    } else {
      this.chunks = [this.chunk, chunk];
      this.chunk = undefined;
    }
  }

  onComplete(rawTrailers: RawHeaderList | null): void {
    if (this.#settled) {
      return;
    }
    const decoder = this.#decoder;
    if (decoder !== undefined) {
      // Settles in onDecodedEnd or onDecodedError.
      decoder.onResponseEnd(
        this.#decoderController!,
        rawTrailers === null || rawTrailers.length === 0
          ? NO_HEADERS
          : parseRawHeaders(rawTrailers),
      );
      return;
    }
    this.#settled = true;
    this.endMs = now();
    this.#resolve();
  }

  onError(error: Error): void {
    // Through the decoder, if any: it destroys its zlib streams and hands
    // the error to onDecodedError, wrapped when it is its own zlib error
    // coming back from undici as the reason of the decoder's abort. #settle
    // covers a decoder that had stopped already and hands nothing on.
    const controller = this.#decoderController;
    if (controller !== undefined) {
      this.#decoder?.onResponseError(controller, error);
    }
    this.#settle(error);
  }

  /** The decoder's pause() stops the body: onData's return value tells undici. */
  resumeBody(): void {
    this.#resumeBody?.();
  }

  /** The decoder's abort(): undici's, or at the start if it has not connected yet. */
  abortRequest(reason: Error): void {
    const abort = this.#abortRequest;
    if (abort === undefined) {
      this.#abortReason = reason;
    } else {
      abort(reason);
    }
  }

  onDecodedData(chunk: Buffer): void {
    if (this.#settled) {
      return;
    }
    const bytes = this.#decodedBytes + chunk.length;
    this.#decodedBytes = bytes;
    const max = this.#maxBodyBytes;
    if (bytes > max) {
      this.fail(new BodyTooLargeError(max, 'the decoded body'));
      return;
    }
    this.#keep(chunk);
  }

  onDecodedEnd(): void {
    if (!this.#settled) {
      this.#settled = true;
      this.endMs = now();
      this.#resolve();
    }
  }

  onDecodedError(error: Error): void {
    this.#settle(error);
  }

  /** Where the exchange is, for a timeout's message. */
  phase(): string {
    if (this.status === 0) {
      return this.#abortRequest === undefined ? 'connecting' : 'waiting for the response headers';
    }
    const received = `reading the body, ${formatBytes(this.bytes)} received`;
    return this.#decoder === undefined
      ? received
      : `${received}, ${formatBytes(this.#decodedBytes)} decoded`;
  }

  /**
   * Ends it now with `error`, as if undici had failed it: the connection is
   * closed, what was kept is let go, and the Session emits the hit.
   */
  fail(error: Error): void {
    if (this.#settled) {
      return;
    }
    this.#settled = true;
    this.endMs = now();
    this.chunk = undefined;
    this.chunks = NO_CHUNKS;
    this.#stop(error);
    this.#reject(error);
  }

  /**
   * Rejects at once with `reason`, even while still connecting; the Session
   * emits no hit for it. Returns false when it had already ended.
   */
  abort(reason: unknown): boolean {
    if (this.#settled) {
      return false;
    }
    this.#settled = true;
    this.aborted = true;
    this.endMs = now();
    this.chunk = undefined;
    this.chunks = NO_CHUNKS;
    this.#stop(
      reason instanceof Error
        ? reason
        : new DOMException('This operation was aborted', 'AbortError'),
    );
    this.#reject(reason);
    return true;
  }

  /** Rejects with `error` unless it has settled already. */
  #settle(error: Error): void {
    if (!this.#settled) {
      this.#settled = true;
      this.endMs = now();
      this.chunk = undefined;
      this.chunks = NO_CHUNKS;
      this.#reject(error);
    }
  }

  /**
   * Makes the decoder at the first chunk of an encoded body; undefined when
   * undici's handler refuses the response (more than 5 encodings), which
   * fails the exchange.
   */
  #startDecoder(): BodyDecoder | undefined {
    const header = this.headers['content-encoding'];
    const encoding = Array.isArray(header) ? header.join(', ') : String(header);
    const decoder = createBodyDecoder(this, encoding);
    const controller = new ExchangeController(this);
    this.#decoder = decoder;
    this.#decoderController = controller;
    // The decoder's pause, resume and abort reach the socket through the
    // controller; our sink needs no request context.
    decoder.onRequestStart(controller, NO_CONTEXT);
    try {
      // The headers it strips content-encoding and content-length from are
      // its copy: Response.headers shows the ones the server sent.
      decoder.onResponseStart(controller, this.status, this.headers, '');
    } catch (err) {
      this.fail(new ContentDecodingError(encoding, errorText(err), err));
      return undefined;
    }
    return decoder;
  }

  /**
   * Aborts the undici request (closing its connection), or makes sure it
   * aborts when it starts; and stops the decoder, which may still be
   * inflating a compressed body that has all arrived (undici has nothing
   * left to abort then, and the connection stays open).
   */
  #stop(error: Error): void {
    this.#abortReason = error;
    const abort = this.#abortRequest;
    if (abort !== undefined) {
      abort(error);
      const controller = this.#decoderController;
      if (controller !== undefined) {
        this.#decoder?.onResponseError(controller, error);
      }
    }
  }
}

/**
 * What a BodyDecoder (undici's DecompressHandler) pauses, resumes and
 * aborts its Exchange's body through, as undici's own controller would;
 * made only for an encoded body.
 */
class ExchangeController implements Dispatcher.DispatchController {
  paused = false;
  aborted = false;
  reason: Error | null = null;
  readonly #exchange: Exchange;

  constructor(exchange: Exchange) {
    this.#exchange = exchange;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (this.paused) {
      this.paused = false;
      this.#exchange.resumeBody();
    }
  }

  abort(reason: Error): void {
    if (!this.aborted) {
      this.aborted = true;
      this.reason = reason;
      this.#exchange.abortRequest(reason);
    }
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
export class Session implements Swept {
  /** This session's cookie jar: cookies set by servers are sent back from here. */
  readonly cookies: CookieJar;
  readonly #connections: UserConnections;
  readonly #sink: EventSink;
  readonly #context: RunContext;
  readonly #testName: () => string;
  readonly #timeoutMs: number;
  readonly #maxBodyBytes: number;
  readonly #discardBodies: boolean;
  readonly #deadlines: DeadlineSweep;
  readonly #signal: AbortSignal | undefined;
  readonly #transport: TransportOptions;
  /**
   * The request in flight. A test usually has one at a time, so it goes in
   * this field; only concurrent ones go into the Set (made on first use),
   * because adding to and deleting from a Set per request allocates.
   */
  #inflight: Exchange | undefined = undefined;
  #moreInflight: Set<Exchange> | undefined = undefined;
  /** In the deadline sweep's scan (it takes the session out once idle). */
  #swept = false;
  #aborted = false;
  #abortReason: unknown = undefined;
  readonly #onAbort: (() => void) | undefined;
  #closing: Promise<void> | undefined = undefined;
  /** The last first-hop target, parsed (shared with every user of the thread). */
  #lastTarget: ParsedTarget | undefined = undefined;

  constructor(options: SessionOptions) {
    this.#sink = options.sink;
    this.#context = options.context;
    this.#testName = options.testName;
    this.#timeoutMs = options.timeoutMs;
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#discardBodies = options.discardBodies ?? false;
    this.#deadlines = options.deadlines ?? THREAD_DEADLINES;
    this.cookies = options.cookies ?? new CookieJar();
    this.#signal = options.signal;
    const transport = options.transport ?? DEFAULT_TRANSPORT;
    this.#connections = new UserConnections(options.timeoutMs, transport);
    this.#transport = transport;
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
   * Run-level abort: the requests in flight reject at once with `reason`,
   * later ones reject with it before sending, and close() destroys the
   * connections. Requests in flight emit no hit, or, given `hitErrorKey`,
   * one status-0 hit each with that key (a timed-out run's requests count,
   * once). Only the first call counts.
   */
  abortAll(reason: unknown, hitErrorKey = ''): void {
    if (this.#aborted) {
      return;
    }
    this.#aborted = true;
    this.#abortReason = reason;
    const one = this.#inflight;
    this.#inflight = undefined;
    if (one !== undefined) {
      this.#abortExchange(one, reason, hitErrorKey);
    }
    const more = this.#moreInflight;
    if (more !== undefined) {
      for (const exchange of more) {
        this.#abortExchange(exchange, reason, hitErrorKey);
      }
      more.clear();
    }
  }

  #abortExchange(exchange: Exchange, reason: unknown, hitErrorKey: string): void {
    if (exchange.abort(reason) && hitErrorKey !== '') {
      this.#emitHit(
        exchange.method,
        exchange.url,
        exchange.name,
        0,
        hitErrorKey,
        exchange.startMs,
        exchange.endMs - exchange.startMs,
        exchange.bytes,
        '',
      );
    }
  }

  /** Swept: fails each request in flight past its deadline; false once none is in flight. */
  checkDeadlines(nowMs: number): boolean {
    const one = this.#inflight;
    if (one !== undefined && nowMs >= one.deadlineMs) {
      one.fail(new RequestTimeoutError(one.timeoutMs, one.phase()));
    }
    const more = this.#moreInflight;
    if (more !== undefined && more.size > 0) {
      for (const exchange of more) {
        if (nowMs >= exchange.deadlineMs) {
          exchange.fail(new RequestTimeoutError(exchange.timeoutMs, exchange.phase()));
        }
      }
      return true;
    }
    if (one === undefined) {
      this.#swept = false;
      return false;
    }
    return true;
  }

  get(url: string, opts?: RequestOptions): Promise<Response> {
    return this.#checkedRequest('get', 'GET', url, opts);
  }

  post(url: string, opts?: RequestOptions): Promise<Response> {
    return this.#checkedRequest('post', 'POST', url, opts);
  }

  put(url: string, opts?: RequestOptions): Promise<Response> {
    return this.#checkedRequest('put', 'PUT', url, opts);
  }

  patch(url: string, opts?: RequestOptions): Promise<Response> {
    return this.#checkedRequest('patch', 'PATCH', url, opts);
  }

  delete(url: string, opts?: RequestOptions): Promise<Response> {
    return this.#checkedRequest('delete', 'DELETE', url, opts);
  }

  head(url: string, opts?: RequestOptions): Promise<Response> {
    return this.#checkedRequest('head', 'HEAD', url, opts);
  }

  options(url: string, opts?: RequestOptions): Promise<Response> {
    return this.#checkedRequest('options', 'OPTIONS', url, opts);
  }

  /**
   * Sends `method url` and reads the whole body. Resolves with any HTTP
   * status (a 500 is a response, not an error); rejects with
   * HttpRequestError when no response came, after emitting a status-0 hit,
   * and with a TypeError (no hit) for arguments that are not what it takes.
   */
  request(method: string, url: string, opts?: RequestOptions): Promise<Response> {
    if (typeof method !== 'string' || !HTTP_TOKEN.test(method)) {
      return Promise.reject(
        new TypeError(
          `session.request(method, url): the method must be an HTTP method such as 'GET', not ${describeValue(method)}`,
        ),
      );
    }
    return this.#checkedRequest('request', method.toUpperCase(), url, opts);
  }

  #checkedRequest(
    call: string,
    method: string,
    url: string,
    opts: RequestOptions | undefined,
  ): Promise<Response> {
    const problem = checkRequestArguments(`session.${call}`, url, opts, REQUEST_OPTION_NAMES);
    if (problem !== undefined) {
      return Promise.reject(problem);
    }
    return this.send(method, typeof url === 'string' ? url : String(url), opts ?? NO_OPTIONS);
  }

  /**
   * request() once its arguments are known to be right (App checks its own).
   * @internal
   */
  async send(method: string, url: string, opts: RequestOptions): Promise<Response> {
    // Kept small on purpose: a suspended async function keeps every register
    // of its frame, so the first hop is set up in #firstHop and redirects are
    // followed in #followRedirects. The wire request is awaited here, not in
    // a helper, so an error keeps the test's frames in its async stack.
    const exchange = this.#firstHop(method, url, opts);
    try {
      await exchange.promise;
    } catch (err) {
      throw this.#failed(exchange, err);
    }
    this.#completed(exchange);
    const location =
      opts.allowRedirects !== false && isRedirect(exchange.status)
        ? exchange.headers['location']
        : undefined;
    if (typeof location !== 'string') {
      return new Response(exchange);
    }
    return await this.#followRedirects(method, url, opts, exchange, location);
  }

  /** Checks and dispatches a call's first request; throws INVALID_URL (with its hit) for a bad URL. */
  #firstHop(method: string, url: string, opts: RequestOptions): Exchange {
    if (this.#aborted) {
      throw this.#abortReason;
    }
    const target = opts.params === undefined ? url : appendParams(url, opts.params);
    const name = opts.name ?? '';
    // A test usually calls the same URL every run: the string comparison
    // spares even the cache's lookup.
    let last = this.#lastTarget;
    if (last === undefined || last.target !== target) {
      try {
        last = parseTarget(target);
      } catch (err) {
        this.#emitHit(method, target, name, 0, 'INVALID_URL', now(), 0, 0, '');
        throw new HttpRequestError(method, target, 'INVALID_URL', errorText(err), err);
      }
      this.#lastTarget = last;
    }
    const current = last.url;
    const headers = buildHeaders(opts.headers, bodyContentType(opts));
    return this.#dispatch(
      method,
      current,
      name,
      this.#withCookies(headers, current, opts),
      requestBody(opts),
      opts,
    );
  }

  /** The hops after a first one that answered with a redirect to `location`. */
  async #followRedirects(
    method: string,
    url: string,
    opts: RequestOptions,
    first: Exchange,
    location: string,
  ): Promise<Response> {
    let verb = method;
    let body = requestBody(opts);
    let headers = buildHeaders(opts.headers, bodyContentType(opts));
    let current = first.target;
    let status = first.status;
    let hopUrl = first.url;
    for (let hop = 1; ; hop++) {
      if (hop > MAX_REDIRECTS) {
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
      const exchange = this.#dispatch(
        verb,
        current,
        opts.name ?? '',
        this.#withCookies(headers, current, opts),
        body,
        opts,
      );
      try {
        await exchange.promise;
      } catch (err) {
        throw this.#failed(exchange, err);
      }
      this.#completed(exchange);
      status = exchange.status;
      hopUrl = exchange.url;
      const nextLocation = isRedirect(status) ? exchange.headers['location'] : undefined;
      if (typeof nextLocation !== 'string') {
        return new Response(exchange);
      }
      location = nextLocation;
    }
  }

  /**
   * `headers` with the jar's cookies for `url` (a copy when they change),
   * unless the test set a cookie header itself.
   */
  #withCookies(
    headers: Record<string, string>,
    url: URL,
    opts: RequestOptions,
  ): Record<string, string> {
    if (this.cookies.size === 0 && opts.cookies === undefined) {
      return headers;
    }
    if (headers['cookie'] !== undefined) {
      return headers;
    }
    const cookie = this.cookies.cookieHeader(url, opts.cookies);
    if (cookie === '') {
      return headers;
    }
    return { ...headers, cookie };
  }

  /**
   * Closes the keep-alive pool; waits for requests still in flight (each
   * bounded by its deadline), or destroys the connections after abortAll().
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      if (this.#onAbort !== undefined) {
        this.#signal?.removeEventListener('abort', this.#onAbort);
      }
      if (this.#inflight === undefined && (this.#moreInflight?.size ?? 0) === 0) {
        this.#deadlines.delete(this);
        this.#swept = false;
      }
      this.#closing = this.#aborted ? this.#connections.destroy() : this.#connections.close();
    }
    return this.#closing;
  }

  /** One wire request, dispatched: its promise settles when it has ended. */
  #dispatch(
    method: string,
    url: URL,
    name: string,
    headers: Record<string, string>,
    body: string | Buffer | null,
    opts: RequestOptions,
  ): Exchange {
    const timeoutMs = opts.timeout === undefined ? this.#timeoutMs : opts.timeout * 1000;
    const maxBodyBytes =
      opts.body === 'discard' || this.#discardBodies ? DISCARD : this.#maxBodyBytes;
    const exchange = new Exchange(method, url, name, maxBodyBytes);
    if (this.#aborted) {
      exchange.abort(this.#abortReason); // a redirect hop after abortAll()
      return exchange;
    }
    this.#track(exchange);
    const startMs = now();
    exchange.startMs = startMs;
    if (timeoutMs > 0) {
      exchange.timeoutMs = timeoutMs;
      exchange.deadlineMs = startMs + timeoutMs;
      if (!this.#swept) {
        this.#swept = true;
        this.#deadlines.add(this);
      }
    }
    const last = this.#lastTarget;
    const cached = last !== undefined && url === last.url;
    const origin = cached ? last.origin : url.origin;
    try {
      this.#connections.dispatch(
        origin,
        opts.verify ?? this.#connections.verifyByDefault,
        {
          origin,
          path: cached ? last.path : url.pathname + url.search,
          method,
          headers,
          body,
          // The deadline sweep bounds the whole exchange instead.
          headersTimeout: 0,
          bodyTimeout: 0,
        },
        exchange,
      );
    } catch (err) {
      exchange.onError(err instanceof Error ? err : new Error(String(err)));
    }
    return exchange;
  }

  /** After a request that ended with its body: emits its hit. */
  #completed(exchange: Exchange): void {
    this.#connections.release(exchange);
    this.#untrack(exchange);
    this.#emitHit(
      exchange.method,
      exchange.url,
      exchange.name,
      exchange.status,
      '',
      exchange.startMs,
      exchange.endMs - exchange.startMs,
      exchange.bytes,
      exchange.connections?.protocol ?? '',
    );
    const setCookie = exchange.setsCookies ? exchange.headers['set-cookie'] : undefined;
    if (setCookie !== undefined) {
      if (typeof setCookie === 'string') {
        this.cookies.setCookie(setCookie, exchange.target);
      } else {
        for (const one of setCookie) {
          this.cookies.setCookie(one, exchange.target);
        }
      }
    }
  }

  /**
   * After a request that failed with `err`: emits its status-0 hit and
   * returns the HttpRequestError to throw; an aborted one emits nothing and
   * returns the abort's reason.
   */
  #failed(exchange: Exchange, err: unknown): unknown {
    this.#connections.release(exchange);
    this.#untrack(exchange);
    if (exchange.aborted) {
      return err;
    }
    const key = classifyError(err);
    this.#emitHit(
      exchange.method,
      exchange.url,
      exchange.name,
      0,
      key,
      exchange.startMs,
      exchange.endMs - exchange.startMs,
      exchange.bytes,
      '',
    );
    return new HttpRequestError(
      exchange.method,
      exchange.url,
      key,
      describeConnectError(
        err,
        { http2: this.#transport.http2, clientCert: this.#transport.cert !== null },
        exchange.target.protocol === 'https:',
      ),
      err,
    );
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
    name: string,
    status: number,
    errorKey: string,
    startMs: number,
    elapsedMs: number,
    bytes: number,
    protocol: HttpProtocol,
  ): void {
    const hit = THREAD_HIT;
    const context = this.#context;
    hit.method = method;
    hit.url = url;
    hit.name = name;
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
    hit.protocol = protocol;
    this.#sink.emit(hit);
  }
}

/**
 * Whether a raw header name may be one onHeaders looks for (content-length,
 * content-encoding, set-cookie), told by its length and first letter: most
 * names are not, and undici's name lookup walks a tree a byte at a time.
 */
function mayBeNeeded(name: Buffer | string): boolean {
  const length = name.length;
  if (length === 14 || length === 16) {
    return true;
  }
  if (length !== 10) {
    return false;
  }
  // 's' or 'S': set-cookie, not connection or keep-alive.
  return ((typeof name === 'string' ? name.charCodeAt(0) : name[0]!) | 0x20) === 0x73;
}

/**
 * A content-length value as a number, read off its bytes: no string per
 * response (with Response built from the Exchange itself, 7,156 → 6,994
 * heap bytes per hit). NaN when it is not all digits, as Number() would make it (undici
 * has already refused a malformed length).
 */
function declaredLength(value: Buffer | string): number {
  if (typeof value === 'string') {
    return Number(value);
  }
  if (value.length === 0 || value.length > 15) {
    return Number(value.toString('latin1'));
  }
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const digit = value[i]! - 48;
    if (digit < 0 || digit > 9) {
      return Number(value.toString('latin1'));
    }
    n = n * 10 + digit;
  }
  return n;
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

/**
 * The default headers with the user's over them, names lower-cased (so a
 * test's Accept-Encoding replaces ours); the shared default object when
 * there is nothing to add.
 */
function buildHeaders(
  user: Record<string, string> | undefined,
  contentType: string | undefined,
): Record<string, string> {
  if (user === undefined && contentType === undefined) {
    return DEFAULT_HEADERS;
  }
  const headers: Record<string, string> = { ...DEFAULT_HEADERS };
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

/** The body a call sends: data or json serialised, or null. */
function requestBody(opts: RequestOptions): string | Buffer | null {
  const data = opts.data;
  if (data !== undefined) {
    if (typeof data === 'string' || Buffer.isBuffer(data)) {
      return data;
    }
    return (data instanceof URLSearchParams ? data : toSearchParams(data)).toString();
  }
  return opts.json === undefined ? null : JSON.stringify(opts.json);
}

/** The content-type its body implies, unless the test sets one. */
function bodyContentType(opts: RequestOptions): string | undefined {
  const data = opts.data;
  if (data !== undefined) {
    return typeof data === 'string' || Buffer.isBuffer(data) ? undefined : FORM_TYPE;
  }
  return opts.json === undefined ? undefined : JSON_TYPE;
}

function withoutHeader(headers: Record<string, string>, name: string): Record<string, string> {
  const copy = { ...headers };
  delete copy[name];
  return copy;
}

const NO_OPTIONS: RequestOptions = Object.freeze({});
/** Exchange's maxBodyBytes for a discarded body. */
const DISCARD = -1;
/** RFC 9110 token: what an HTTP method may be made of. */
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The problem with the arguments of a request call (`call` names it the way
 * the user wrote it, e.g. 'session.get'), as a TypeError to reject with, or
 * undefined when they are fine. Only the URL is looked at when there are no
 * options, which is the common call.
 */
export function checkRequestArguments(
  call: string,
  url: unknown,
  opts: unknown,
  optionNames: readonly string[],
): TypeError | undefined {
  if (typeof url !== 'string' && !(url instanceof URL)) {
    return new TypeError(
      `${call}(url): the URL must be a string such as 'http://127.0.0.1:8080/path', not ${describeValue(url)}`,
    );
  }
  if (opts === undefined) {
    return undefined;
  }
  if (!isPlainObject(opts)) {
    return new TypeError(
      `${call}(url, options): the options must be an object such as { timeout: 5 }, not ${describeValue(opts)}`,
    );
  }
  for (const name in opts) {
    if (!optionNames.includes(name)) {
      const similar = findSimilar(name, optionNames);
      return new TypeError(
        `${call}: unknown option '${name}'${similar.length > 0 ? ` (did you mean '${similar[0]}'?)` : ''}; the options are ${optionNames.join(', ')}`,
      );
    }
  }
  const o = opts as Record<string, unknown>;
  const bad = (name: string, rule: string): TypeError =>
    new TypeError(`${call}: the option '${name}' must be ${rule}, not ${describeValue(o[name])}`);
  if (o['headers'] !== undefined) {
    if (!isPlainObject(o['headers'])) {
      return bad(
        'headers',
        "an object of header names and values, such as { accept: 'text/html' }",
      );
    }
    for (const [name, value] of Object.entries(o['headers'])) {
      if (typeof value !== 'string') {
        return new TypeError(
          `${call}: the header '${name}' must have a string value, not ${describeValue(value)}`,
        );
      }
    }
  }
  if (
    o['params'] !== undefined &&
    !(o['params'] instanceof URLSearchParams) &&
    !isPlainObject(o['params'])
  ) {
    return bad('params', 'an object or URLSearchParams, such as { page: 2 }');
  }
  const data = o['data'];
  if (
    data !== undefined &&
    typeof data !== 'string' &&
    !Buffer.isBuffer(data) &&
    !(data instanceof URLSearchParams) &&
    !isPlainObject(data)
  ) {
    return bad('data', 'a string, a Buffer, URLSearchParams or an object (sent as a form)');
  }
  if (data !== undefined && o['json'] !== undefined) {
    return new TypeError(
      `${call}: the options 'json' and 'data' cannot be used together; pick one`,
    );
  }
  const timeout = o['timeout'];
  if (
    timeout !== undefined &&
    (typeof timeout !== 'number' || !(timeout >= 0) || timeout === Infinity)
  ) {
    return bad('timeout', 'a number of seconds ≥ 0 (0 waits forever)');
  }
  if (o['allowRedirects'] !== undefined && typeof o['allowRedirects'] !== 'boolean') {
    return bad('allowRedirects', 'true or false');
  }
  if (o['cookies'] !== undefined && !isPlainObject(o['cookies'])) {
    return bad('cookies', 'an object of cookie names and values');
  }
  if (o['body'] !== undefined && o['body'] !== 'discard') {
    return bad('body', "'discard' (or left out to keep the body)");
  }
  if (o['verify'] !== undefined && typeof o['verify'] !== 'boolean') {
    return bad('verify', 'true or false (false accepts any TLS certificate)');
  }
  if (o['name'] !== undefined && (typeof o['name'] !== 'string' || o['name'] === '')) {
    return bad('name', "a non-empty string such as '/item/:id'");
  }
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return false;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** 67108864 → '64 MiB', for messages. */
function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) {
    return bytes === 1 ? '1 byte' : `${bytes} bytes`;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}
