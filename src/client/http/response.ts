// The response a Session resolves with (the Requests role, SPEC §3.1). The
// body arrives as chunks; they are joined and decoded only when the test asks
// for `content`, `text` or `json()`, so a test that only checks the status
// pays no copy. Headers are normalised on first access for the same reason.
// A discarded body (`body: 'discard'`, --discard-bodies) was counted and
// timed but not kept: `content` is empty and `text`/`json()` throw. A
// compressed body arrives here decoded (the Session decodes it as it comes),
// while `bytes` and the headers stay what was on the wire.
import { STATUS_CODES } from 'node:http';
import { util as undiciUtil } from 'undici';
import { ExitCode, LoadsError } from '../../errors.ts';

/** Headers parsed: lower-case names, repeated ones as arrays. */
export type RawHeaders = Record<string, string | string[] | undefined>;

/** Headers as undici reads them off the wire: name, value, name, value… */
export type RawHeaderList = (Buffer | string)[];

/** `raw` parsed the way undici parses headers for its own API. */
export function parseRawHeaders(raw: RawHeaderList): RawHeaders {
  return undiciUtil.parseHeaders(raw) as RawHeaders;
}

/** What a Session gathered for one call; owned by the Response afterwards. */
export interface ResponseParts {
  method: string;
  status: number;
  /** Parsed only if the test reads `headers`. */
  rawHeaders: RawHeaderList;
  /** The final URL, after redirects. */
  url: string;
  /** The body kept, decoded when it had a content-encoding. */
  chunks: Buffer[];
  /** Body bytes on the wire (compressed, for an encoded body). */
  bytes: number;
  elapsedMs: number;
  /** The body was counted, not kept (`body: 'discard'`); `chunks` is empty. */
  discarded: boolean;
}

/** `raiseForStatus()` on a 4xx or 5xx response. */
export class HttpStatusError extends LoadsError {
  readonly status: number;
  readonly method: string;
  readonly url: string;
  constructor(method: string, url: string, status: number) {
    const kind = status >= 500 ? 'Server Error' : 'Client Error';
    super(
      `${status} ${kind}: ${STATUS_CODES[status] ?? 'Unknown'} for ${method} ${url}`,
      'LOADS_ERR_HTTP_STATUS',
      ExitCode.RUN_FAILED,
    );
    this.status = status;
    this.method = method;
    this.url = url;
  }
}

/** `text` or `json()` of a response whose body was discarded. */
export class BodyDiscardedError extends LoadsError {
  constructor(method: string, url: string, what: string) {
    super(
      `the body of ${method} ${url} was discarded (body: 'discard' or --discard-bodies), so ${what} has nothing to read; drop that option for this request to read its body`,
      'LOADS_ERR_BODY_DISCARDED',
      ExitCode.RUN_FAILED,
    );
  }
}

const EMPTY = Buffer.alloc(0);

/** An HTTP response whose body has been read to the end. */
export class Response {
  /** Upper-case method of the request that got this response (after redirects). */
  readonly method: string;
  /** HTTP status code. */
  readonly status: number;
  /** True for a status below 400. */
  readonly ok: boolean;
  /** The final URL, after redirects. */
  readonly url: string;
  /** Seconds from sending the request to the end of the body (this hop only). */
  readonly elapsed: number;
  #rawHeaders: RawHeaderList;
  #headers: Record<string, string> | undefined;
  #chunks: Buffer[];
  #bytes: number;
  #content: Buffer | undefined;
  #text: string | undefined;
  #discarded: boolean;

  /** Built by Session; AppResponse passes a Response to share its body. */
  constructor(parts: ResponseParts | Response) {
    if (parts instanceof Response) {
      this.method = parts.method;
      this.status = parts.status;
      this.ok = parts.ok;
      this.url = parts.url;
      this.elapsed = parts.elapsed;
      this.#rawHeaders = parts.#rawHeaders;
      this.#headers = parts.#headers;
      this.#chunks = parts.#chunks;
      this.#bytes = parts.#bytes;
      this.#content = parts.#content;
      this.#text = parts.#text;
      this.#discarded = parts.#discarded;
      return;
    }
    this.method = parts.method;
    this.status = parts.status;
    this.ok = parts.status < 400;
    this.url = parts.url;
    this.elapsed = parts.elapsedMs / 1000;
    this.#rawHeaders = parts.rawHeaders;
    this.#headers = undefined;
    this.#chunks = parts.chunks;
    this.#bytes = parts.bytes;
    this.#content = undefined;
    this.#text = undefined;
    this.#discarded = parts.discarded;
  }

  /**
   * Response headers as the server sent them, lower-case names: a
   * compressed body keeps its `content-encoding`, and `content-length` is
   * its compressed length. Repeated headers are joined with ', ', except
   * `set-cookie`, whose values are joined with '\n' because cookie dates
   * contain commas.
   */
  get headers(): Record<string, string> {
    if (this.#headers === undefined) {
      const parsed = parseRawHeaders(this.#rawHeaders);
      const out: Record<string, string> = {};
      for (const name of Object.keys(parsed)) {
        const value = parsed[name];
        if (value === undefined) {
          continue;
        }
        out[name] =
          typeof value === 'string' ? value : value.join(name === 'set-cookie' ? '\n' : ', ');
      }
      this.#headers = out;
    }
    return this.#headers;
  }

  /**
   * Body bytes received on the wire, as counted in the hit: for a compressed
   * body (content-encoding gzip, deflate, br) its compressed size, while
   * `content.length` is the decoded one.
   */
  get bytes(): number {
    return this.#bytes;
  }

  /** True when the body was counted but not kept (`body: 'discard'` or --discard-bodies). */
  get discarded(): boolean {
    return this.#discarded;
  }

  /** The whole body, decoded when it was compressed; empty when it was discarded. */
  get content(): Buffer {
    if (this.#content === undefined) {
      const chunks = this.#chunks;
      // Buffer.concat sums the chunks' lengths itself: #bytes counts the
      // wire, which is less than a decoded body.
      this.#content =
        chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      this.#chunks = [this.#content];
    }
    return this.#content;
  }

  /** The body decoded as UTF-8. Throws BodyDiscardedError when the body was discarded. */
  get text(): string {
    if (this.#discarded) {
      throw new BodyDiscardedError(this.method, this.url, '`text`');
    }
    if (this.#text === undefined) {
      this.#text = this.content.toString('utf8');
    }
    return this.#text;
  }

  /**
   * The body parsed as JSON; throws a SyntaxError when it is not JSON, and
   * BodyDiscardedError when the body was discarded.
   */
  json<T = unknown>(): T {
    if (this.#discarded) {
      throw new BodyDiscardedError(this.method, this.url, '`json()`');
    }
    return JSON.parse(this.text) as T;
  }

  /** Throws HttpStatusError for a 4xx or 5xx status; does nothing otherwise. */
  raiseForStatus(): void {
    if (this.status >= 400 && this.status < 600) {
      throw new HttpStatusError(this.method, this.url, this.status);
    }
  }
}
