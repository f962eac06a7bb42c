// The response a Session resolves with (the Requests role, SPEC §3.1). The
// body arrives as chunks; they are joined and decoded only when the test asks
// for `content`, `text` or `json()`, so a test that only checks the status
// pays no copy. Headers are normalised on first access for the same reason.
// A discarded body (`body: 'discard'`, --discard-bodies) was counted and
// timed but not kept: `content` is empty and `text`/`json()` throw. A
// compressed body arrives here decoded (the Session decodes it as it comes),
// while `bytes` and the headers stay what was on the wire.
import { STATUS_CODES } from 'node:http';
import { ExitCode, LoadsError } from '../../errors.ts';
import { undiciUtil } from './undici.ts';

/** Headers parsed: lower-case names, repeated ones as arrays. */
export type RawHeaders = Record<string, string | string[] | undefined>;

/** Headers as undici reads them off the wire: name, value, name, value… */
export type RawHeaderList = (Buffer | string)[];

/** `raw` parsed the way undici parses headers for its own API. */
export function parseRawHeaders(raw: RawHeaderList): RawHeaders {
  return undiciUtil.parseHeaders(raw) as RawHeaders;
}

/** A packed header list: each entry's byteOffset × 2^14 + length, in its one ArrayBuffer. */
const SPAN_SHIFT = 14;
const MAX_SPAN_LENGTH = (1 << SPAN_SHIFT) - 1;
const MAX_SPAN_OFFSET = (1 << 16) - 1;

/**
 * Packs `raw` in place when every name and value views one ArrayBuffer (the
 * socket read they came in, as undici hands them), and returns that buffer;
 * undefined leaves `raw` as it was. Each view is 96 heap bytes, and an async
 * test function keeps its locals while it sleeps, so a Response it still
 * holds was promoted to the old generation with all of them: packed, it
 * keeps the buffer and one small integer per entry (5 headers: 960 bytes
 * less), at no allocation per hit. `raw` must be the caller's own.
 */
function packRawHeaders(raw: RawHeaderList): ArrayBufferLike | undefined {
  const first = raw[0];
  if (first === undefined || typeof first === 'string') {
    return undefined;
  }
  const buffer = first.buffer;
  const packed = raw as unknown as number[];
  // One pass that packs as it checks: a second pass cost 20 % more.
  for (let i = 0; i < raw.length; i++) {
    const entry = raw[i]!;
    if (typeof entry === 'string') {
      unpackFirst(packed, i, buffer);
      return undefined;
    }
    const offset = entry.byteOffset;
    const length = entry.length;
    if (entry.buffer !== buffer || offset > MAX_SPAN_OFFSET || length > MAX_SPAN_LENGTH) {
      unpackFirst(packed, i, buffer);
      return undefined;
    }
    packed[i] = offset * (MAX_SPAN_LENGTH + 1) + length;
  }
  return buffer;
}

/** Puts back the first `count` entries packRawHeaders packed before it met one it could not. */
function unpackFirst(packed: unknown[], count: number, buffer: ArrayBufferLike): void {
  for (let i = 0; i < count; i++) {
    packed[i] = spanView(buffer, packed[i] as number);
  }
}

/** The Buffer view one packed entry stands for. */
function spanView(buffer: ArrayBufferLike, span: number): Buffer {
  return Buffer.from(buffer, span >>> SPAN_SHIFT, span & MAX_SPAN_LENGTH);
}

/** A list packed by packRawHeaders, as Buffers again. */
function unpackRawHeaders(packed: readonly number[], buffer: ArrayBufferLike): RawHeaderList {
  const raw: RawHeaderList = new Array<Buffer>(packed.length);
  for (let i = 0; i < packed.length; i++) {
    raw[i] = spanView(buffer, packed[i]!);
  }
  return raw;
}

/** What a Session gathered for one call; owned by the Response afterwards. */
export interface ResponseParts {
  method: string;
  status: number;
  /** Parsed only if the test reads `headers`. */
  rawHeaders: RawHeaderList;
  /** The final URL, after redirects. */
  url: string;
  /** The body kept, decoded when it had a content-encoding: its only chunk, if it had one… */
  chunk: Buffer | undefined;
  /** …else all of them (none for an empty or discarded body). */
  chunks: Buffer[];
  /** Body bytes on the wire (compressed, for an encoded body). */
  bytes: number;
  elapsedMs: number;
  /** The body was counted, not kept (`body: 'discard'`); there are no chunks. */
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
const NO_CHUNKS: readonly Buffer[] = Object.freeze([]);

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
  /** The buffer #rawHeaders views when packRawHeaders packed it, else undefined. */
  #rawHeadersBuffer: ArrayBufferLike | undefined;
  #headers: Record<string, string> | undefined;
  /** The body's chunks until `content` joins them (#content is then set). */
  #chunks: readonly Buffer[];
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
      this.#rawHeadersBuffer = parts.#rawHeadersBuffer;
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
    // The parts are the Session's, done with: their list can be packed.
    this.#rawHeaders = parts.rawHeaders;
    this.#rawHeadersBuffer = packRawHeaders(parts.rawHeaders);
    this.#headers = undefined;
    // A one-chunk body is its content as it is: no array kept for it.
    this.#chunks = parts.chunk === undefined ? parts.chunks : NO_CHUNKS;
    this.#bytes = parts.bytes;
    this.#content = parts.chunk;
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
      const buffer = this.#rawHeadersBuffer;
      const parsed = parseRawHeaders(
        buffer === undefined
          ? this.#rawHeaders
          : unpackRawHeaders(this.#rawHeaders as unknown as number[], buffer),
      );
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
    let content = this.#content;
    if (content === undefined) {
      const chunks = this.#chunks;
      // Buffer.concat sums the chunks' lengths itself: #bytes counts the
      // wire, which is less than a decoded body.
      content =
        chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      this.#content = content;
      this.#chunks = NO_CHUNKS;
    }
    return content;
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
