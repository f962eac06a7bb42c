// WebSockets for `this.createWs` (SPEC §3.3), on the `ws` package. Every
// received message is counted (a `socket-message` event with its bytes)
// whether or not the test reads it. Without an onMessage callback, messages
// wait in a queue for receive(); with one, they go to the callback (and to a
// receive() already waiting) and are not queued, so a callback-only test does
// not grow memory. The first error seen on the socket is kept in `error` so
// the runner can fail the test run with it. Closing waits at most the
// timeout (--timeout) for the peer's close frame, then drops the connection,
// rather than ws's fixed 30 s. The opening handshake's, receive()'s and
// close()'s deadlines are checked by the thread's DeadlineSweep, as requests'
// are (up to 50 ms late), not by a timer each: eleven timers set and cleared
// per run (10 echoes) cost 6–20 % of the runs per CPU-second (npm run bench
// -- ws, 2026-12-08), and the handshake's (ws's handshakeTimeout) more.
import type WebSocket from 'ws';
import { WebSocketError } from '../../errors.ts';
import { now, toEpochMs } from '../../metrics/clock.ts';
import type { EventSink, SocketMessageEvent } from '../../metrics/events.ts';
import { describeValue } from '../describe-value.ts';
import { describeConnectError } from '../connect-errors.ts';
import { THREAD_DEADLINES, type DeadlineSweep, type Swept } from '../deadline-sweep.ts';
import { DEFAULT_TRANSPORT, tlsConnectOptions, type TransportOptions } from '../transport.ts';
import { requireCjs } from '../../require-cjs.ts';

const WebSocketClass = requireCjs('ws') as typeof WebSocket;

/** Options of `this.createWs(url, opts)`. */
export interface WsOptions {
  /** Subprotocols offered in the handshake. */
  protocols?: string | string[];
  /** Extra handshake headers. */
  headers?: Record<string, string>;
  /** Called with each message: text as a string, binary as a Buffer. Must not throw. */
  onMessage?: (data: string | Buffer) => void;
  /** Seconds to wait for the socket to open. Default: the run's `--timeout`. */
  timeout?: number;
}

/** What a socket needs from its virtual user. */
export interface WsContext {
  sink: EventSink;
  /** Default open timeout and receive() timeout, ms; 0 = none. */
  timeoutMs: number;
  /** TLS settings for wss:// (--insecure, --ca, --cert/--key); default none. */
  transport?: TransportOptions;
  /** What checks the opening handshake's, receive()'s and close()'s deadlines; default the thread's own. */
  deadlines?: DeadlineSweep;
  /**
   * Run-level abort: closes the socket at once. A virtual user passes none
   * and calls abort() on its sockets instead (no listener per socket).
   */
  signal?: AbortSignal;
}

interface Waiter {
  resolve: (data: string | Buffer) => void;
  reject: (err: unknown) => void;
  /** Monotonic ms at which it fails; Infinity for none. */
  deadlineMs: number;
  timeoutMs: number;
}

/** Close codes that mean the peer went away without a proper close. */
const ABNORMAL_CLOSE = 1006;
/** Compact the receive queue once this many read slots are dead. */
const QUEUE_COMPACT_AT = 1024;

/**
 * Opens a WebSocket. Resolves once it is open; rejects with WebSocketError
 * when the handshake fails or times out, or with the signal's reason on abort.
 */
export function openWebSocket(
  url: string,
  options: WsOptions,
  context: WsContext,
): Promise<WsSocket> {
  const signal = context.signal;
  if (signal !== undefined && signal.aborted) {
    return Promise.reject(signal.reason as unknown);
  }
  let socket: WsSocket;
  try {
    socket = createWebSocket(url, options, context);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  return socket.opened.then(() => socket);
}

/**
 * Starts opening a WebSocket and returns it at once, before the handshake
 * ends (`opened` settles then), so that the caller can track it and
 * abort() it while it connects. Throws WebSocketError for a bad URL or
 * options. Does not look at `context.signal` being aborted already.
 */
export function createWebSocket(url: string, options: WsOptions, context: WsContext): WsSocket {
  checkWsArguments(url, options);
  const timeoutMs = options.timeout === undefined ? context.timeoutMs : options.timeout * 1000;
  const startMs = now();
  let ws: WebSocket;
  try {
    const transport = context.transport ?? DEFAULT_TRANSPORT;
    ws = new WebSocketClass(url, options.protocols, {
      headers: options.headers ?? {},
      // Read by ws only for wss://; the same TLS as the run's HTTP requests.
      ...tlsConnectOptions(transport, !transport.insecure),
    });
  } catch (err) {
    throw new WebSocketError(url, `cannot open: ${(err as Error).message}`, err);
  }
  // The open's deadline is the sweep's too (no handshakeTimeout: ws would
  // put a timer on the socket): 1.18× the runs per CPU-second, median of 12
  // interleaved pairs of the ws bench (2026-12-08).
  return new WsSocket(
    ws,
    url,
    options,
    context,
    startMs,
    timeoutMs > 0 ? startMs + timeoutMs : Infinity,
  );
}

/** An open WebSocket; see openWebSocket. */
export class WsSocket implements Swept {
  /** The URL it was opened with. */
  readonly url: string;
  /** @internal Settles when the handshake ends. */
  readonly opened: Promise<void>;
  readonly #ws: WebSocket;
  readonly #sink: EventSink;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #deadlines: DeadlineSweep;
  readonly #onMessage: ((data: string | Buffer) => void) | undefined;
  readonly #onAbort: () => void;
  readonly #rejectOpen: (err: unknown) => void;
  readonly #messageEvent: SocketMessageEvent;
  #queue: (string | Buffer)[] = [];
  #head = 0;
  #waiters: Waiter[] = [];
  #closeWaiters: (() => void)[] = [];
  #error: Error | undefined = undefined;
  #isOpened = false;
  #closed = false;
  #closeCode = 0;
  #closingByUs = false;
  /** Monotonic ms at which a handshake still under way fails; Infinity once open, or for none. */
  #openDeadlineMs: number;
  /** Monotonic ms at which the connection is dropped if the peer has not finished the closing handshake; Infinity for none. */
  #closeDeadlineMs = Infinity;
  /** In the sweep's scan. */
  #swept = false;

  /** @internal Use openWebSocket. */
  constructor(
    ws: WebSocket,
    url: string,
    options: WsOptions,
    context: WsContext,
    startMs: number,
    openDeadlineMs: number,
  ) {
    this.#ws = ws;
    this.url = url;
    this.#sink = context.sink;
    this.#timeoutMs = context.timeoutMs;
    this.#signal = context.signal;
    this.#deadlines = context.deadlines ?? THREAD_DEADLINES;
    this.#onMessage = options.onMessage;
    this.#messageEvent = { type: 'socket-message', url, bytes: 0 };
    let resolveOpen!: () => void;
    let rejectOpen!: (err: unknown) => void;
    this.opened = new Promise<void>((resolve, reject) => {
      resolveOpen = resolve;
      rejectOpen = reject;
    });
    this.#rejectOpen = rejectOpen;
    this.#openDeadlineMs = openDeadlineMs;
    if (openDeadlineMs !== Infinity) {
      this.#watch();
    }
    this.#onAbort = () => this.abort(this.#signal?.reason);
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });

    ws.on('open', () => {
      this.#isOpened = true;
      this.#openDeadlineMs = Infinity;
      this.#sink.emit({ type: 'socket-open', url, startedAt: toEpochMs(startMs) });
      resolveOpen();
    });
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      this.#received(toBuffer(data), isBinary);
    });
    ws.on('error', (err: Error) => {
      if (!this.#isOpened) {
        rejectOpen(
          new WebSocketError(
            url,
            `cannot open: ${describeConnectError(err, { http2: false, clientCert: (context.transport?.cert ?? null) !== null, webSocket: true }, url.startsWith('wss:'))}`,
            err,
          ),
        );
      } else {
        this.#error ??= new WebSocketError(url, err.message, err);
      }
    });
    ws.on('close', (code: number) => {
      this.#closed = true;
      this.#closeCode = code;
      this.#closeDeadlineMs = Infinity;
      this.#signal?.removeEventListener('abort', this.#onAbort);
      if (this.#isOpened) {
        if (code === ABNORMAL_CLOSE && !this.#closingByUs) {
          this.#error ??= new WebSocketError(url, `connection closed abnormally (code ${code})`);
        }
        this.#sink.emit({ type: 'socket-close', url, code });
      } else {
        rejectOpen(new WebSocketError(url, `cannot open: closed with code ${code}`));
      }
      // The error only when a receive() waits: built on every close, its
      // stack cost 9 µs of a 545 µs run (open, 10 echoes, close).
      if (this.#waiters.length > 0) {
        this.#rejectWaiters(
          this.#error ??
            new WebSocketError(url, `closed (code ${code}) while waiting for a message`),
        );
      }
      const closeWaiters = this.#closeWaiters;
      this.#closeWaiters = [];
      for (const done of closeWaiters) {
        done();
      }
      if (this.#swept) {
        this.#swept = false;
        this.#deadlines.delete(this);
      }
    });
  }

  /** True while the socket is open (not closing or closed). */
  get isOpen(): boolean {
    return this.#ws.readyState === WebSocketClass.OPEN;
  }

  /** The first error seen on the socket after it opened, if any. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** The subprotocol the server picked, '' if none. */
  get protocol(): string {
    return this.#ws.protocol;
  }

  /** Sends a message (string → text frame, Buffer → binary); resolves once written. */
  send(data: string | Buffer): Promise<void> {
    if (typeof data !== 'string' && !Buffer.isBuffer(data) && !ArrayBuffer.isView(data)) {
      return Promise.reject(
        new TypeError(
          `ws.send(data): the message must be a string (text) or a Buffer (binary), not ${describeValue(data)}`,
        ),
      );
    }
    if (!this.isOpen) {
      return Promise.reject(new WebSocketError(this.url, 'cannot send: the socket is not open'));
    }
    return new Promise<void>((resolve, reject) => {
      this.#ws.send(data, (err?: Error) => {
        if (err === undefined || err === null) {
          resolve();
        } else {
          reject(new WebSocketError(this.url, `send failed: ${err.message}`, err));
        }
      });
    });
  }

  /**
   * The next message not yet received: text as a string, binary as a Buffer.
   * Rejects with WebSocketError after `timeoutSeconds` (default: the run's
   * `--timeout`; 0 waits forever) or when the socket closes first.
   */
  receive(timeoutSeconds?: number): Promise<string | Buffer> {
    if (
      timeoutSeconds !== undefined &&
      (typeof timeoutSeconds !== 'number' || !(timeoutSeconds >= 0) || timeoutSeconds === Infinity)
    ) {
      return Promise.reject(
        new TypeError(
          `ws.receive(timeoutSeconds): the timeout must be a number of seconds ≥ 0 (0 waits forever), not ${describeValue(timeoutSeconds)}`,
        ),
      );
    }
    if (this.#head < this.#queue.length) {
      const data = this.#queue[this.#head]!;
      this.#queue[this.#head] = '';
      this.#head++;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      } else if (this.#head >= QUEUE_COMPACT_AT) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve(data);
    }
    if (this.#closed) {
      return Promise.reject(
        this.#error ??
          new WebSocketError(this.url, `closed (code ${this.#closeCode}); no message to receive`),
      );
    }
    const timeoutMs = timeoutSeconds === undefined ? this.#timeoutMs : timeoutSeconds * 1000;
    const deadlineMs = timeoutMs > 0 ? now() + timeoutMs : Infinity;
    if (deadlineMs !== Infinity) {
      this.#watch();
    }
    return new Promise<string | Buffer>((resolve, reject) => {
      this.#waiters.push({ resolve, reject, deadlineMs, timeoutMs });
    });
  }

  /**
   * Starts the closing handshake; resolves once the socket is closed. A peer
   * that does not answer within the timeout (--timeout) has its connection
   * dropped then.
   */
  close(code?: number, reason?: string): Promise<void> {
    if (this.#closed) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      try {
        this.#closingByUs = true;
        this.#ws.close(code, reason);
        this.#closeWaiters.push(resolve);
        if (this.#closeDeadlineMs === Infinity && this.#timeoutMs > 0 && !this.#closed) {
          this.#closeDeadlineMs = now() + this.#timeoutMs;
          this.#watch();
        }
      } catch (err) {
        reject(err);
      }
    });
  }

  /**
   * @internal Run-level abort: rejects a pending open or receive() with
   * `reason` and terminates the connection at once. No-op once closed.
   */
  abort(reason: unknown): void {
    if (this.#closed) {
      return;
    }
    this.#closingByUs = true;
    this.#rejectWaiters(reason);
    if (!this.#isOpened) {
      this.#rejectOpen(reason);
    }
    this.#ws.terminate();
  }

  /**
   * Swept: fails an opening handshake or a receive() past its deadline and
   * drops a connection whose closing handshake is late; false once no
   * deadline is left.
   */
  checkDeadlines(nowMs: number): boolean {
    let watched = false;
    if (this.#openDeadlineMs !== Infinity) {
      if (nowMs >= this.#openDeadlineMs) {
        this.#openDeadlineMs = Infinity;
        // ws's own words for its handshakeTimeout; the 'error' and 'close'
        // that terminate() brings find the open settled.
        this.#rejectOpen(
          new WebSocketError(this.url, 'cannot open: Opening handshake has timed out'),
        );
        this.#ws.terminate();
      } else {
        watched = true;
      }
    }
    const waiters = this.#waiters;
    for (let i = 0; i < waiters.length; i++) {
      const waiter = waiters[i]!;
      if (nowMs >= waiter.deadlineMs) {
        waiters.splice(i, 1);
        i--;
        waiter.reject(
          new WebSocketError(this.url, `no message received within ${waiter.timeoutMs / 1000} s`),
        );
      } else if (waiter.deadlineMs !== Infinity) {
        watched = true;
      }
    }
    if (this.#closeDeadlineMs !== Infinity) {
      if (nowMs >= this.#closeDeadlineMs) {
        this.#closeDeadlineMs = Infinity;
        this.#ws.terminate();
      } else {
        watched = true;
      }
    }
    this.#swept = watched;
    return watched;
  }

  #watch(): void {
    if (!this.#swept) {
      this.#swept = true;
      this.#deadlines.add(this);
    }
  }

  #received(data: Buffer, isBinary: boolean): void {
    const event = this.#messageEvent;
    event.bytes = data.length;
    this.#sink.emit(event);
    const value = isBinary ? data : data.toString('utf8');
    const onMessage = this.#onMessage;
    if (onMessage !== undefined) {
      try {
        onMessage(value);
      } catch (err) {
        this.#error ??=
          err instanceof Error
            ? err
            : new WebSocketError(this.url, `onMessage threw ${String(err)}`);
      }
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve(value);
    } else if (onMessage === undefined) {
      this.#queue.push(value);
    }
  }

  #rejectWaiters(reason: unknown): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) {
      waiter.reject(reason);
    }
  }
}

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) {
    return data;
  }
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

/** Throws a TypeError in the user's terms for what `this.createWs(url, options)` cannot take. */
function checkWsArguments(url: unknown, options: unknown): void {
  if (typeof url !== 'string' && !(url instanceof URL)) {
    throw new TypeError(
      `createWs(url): the URL must be a string such as 'ws://127.0.0.1:8080/socket', not ${describeValue(url)}`,
    );
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(
      `createWs(url, options): the options must be an object such as { protocols: 'chat' }, not ${describeValue(options)}`,
    );
  }
  const timeout = (options as { timeout?: unknown }).timeout;
  if (
    timeout !== undefined &&
    (typeof timeout !== 'number' || !(timeout >= 0) || timeout === Infinity)
  ) {
    throw new TypeError(
      `createWs: the option 'timeout' must be a number of seconds ≥ 0, not ${describeValue(timeout)}`,
    );
  }
  const onMessage = (options as { onMessage?: unknown }).onMessage;
  if (onMessage !== undefined && typeof onMessage !== 'function') {
    throw new TypeError(
      `createWs: the option 'onMessage' must be a function, not ${describeValue(onMessage)}`,
    );
  }
}
