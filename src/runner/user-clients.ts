// What one TestCase instance of a virtual user talks through: its Session,
// App and WebSockets (the TestCaseContext the instance is attached to). A
// virtual user has one at a time. When a run passes --test-timeout the
// user aborts this one (every request and socket of the run, now) and goes
// on with a new instance and new clients that keep the cookie jar: the
// abandoned body may still wake up later, but everything it can reach is
// this object, which then rejects every call, so nothing of a finished run
// is counted after it ended, and the next run never shares its connections.
import type { EventSink, RunContext } from '../metrics/events.ts';
import { Session } from '../client/http/session.ts';
import type { CookieJar } from '../client/http/cookie-jar.ts';
import { App } from '../client/http/app.ts';
import {
  createWebSocket,
  type WsContext,
  type WsOptions,
  type WsSocket,
} from '../client/ws/socket.ts';
import type { TransportOptions } from '../client/transport.ts';
import type { TestCaseContext } from './test-case.ts';

export interface UserClientsOptions {
  sink: EventSink;
  /** The user's, shared by every UserClients it makes. */
  runContext: RunContext;
  /** 'Class.method' of the run in flight, '' between runs. */
  testName: () => string;
  /** Per-request deadline, also the WebSocket open/receive/close bound, ms (0 = none). */
  timeoutMs: number;
  maxBodyBytes: number | undefined;
  discardBodies: boolean;
  /** TLS and HTTP/2 settings (--insecure, --ca, --cert/--key, --http2), for HTTP and wss://. */
  transport: TransportOptions | undefined;
  /** The base URL of `this.app`, read on each request. */
  serverUrl: () => string | undefined;
  /** The cookie jar to keep (a replacement after a timeout); default a new one. */
  cookies: CookieJar | undefined;
  /** The user's counter, called while these clients are live. */
  incrCounter: (name: string, by: number) => void;
}

export class UserClients implements TestCaseContext {
  readonly session: Session;
  readonly app: App;
  readonly runContext: RunContext;
  readonly #wsContext: WsContext;
  readonly #incrCounter: (name: string, by: number) => void;
  /** Sockets opened (or opening) since the last closeSockets(). */
  readonly #sockets: WsSocket[] = [];
  #aborted = false;
  #abortReason: unknown = undefined;

  constructor(options: UserClientsOptions) {
    this.runContext = options.runContext;
    this.#incrCounter = options.incrCounter;
    this.session = new Session({
      sink: options.sink,
      context: options.runContext,
      testName: options.testName,
      timeoutMs: options.timeoutMs,
      ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
      discardBodies: options.discardBodies,
      ...(options.transport === undefined ? {} : { transport: options.transport }),
      ...(options.cookies === undefined ? {} : { cookies: options.cookies }),
    });
    this.app = new App(this.session, options.serverUrl);
    this.#wsContext = {
      sink: options.sink,
      timeoutMs: options.timeoutMs,
      ...(options.transport === undefined ? {} : { transport: options.transport }),
    };
  }

  /** TestCaseContext: `this.createWs()`; the socket is tracked for the end of the run. */
  async openWs(url: string, options: WsOptions): Promise<WsSocket> {
    if (this.#aborted) {
      throw this.#abortReason;
    }
    const socket = createWebSocket(url, options, this.#wsContext);
    // Tracked while it connects too, so that abort() ends the handshake.
    this.#sockets.push(socket);
    await socket.opened;
    return socket;
  }

  /** TestCaseContext: `this.incrCounter()`; dropped once aborted. */
  incrCounter(name: string, by: number): void {
    if (!this.#aborted) {
      this.#incrCounter(name, by);
    }
  }

  /**
   * Ends every request in flight and every socket now, with `reason`; later
   * calls reject with it at once and counters are dropped. Requests in
   * flight count as status-0 hits with `hitErrorKey` ('' for none). Only the
   * first call counts.
   */
  abort(reason: unknown, hitErrorKey = ''): void {
    if (this.#aborted) {
      return;
    }
    this.#aborted = true;
    this.#abortReason = reason;
    this.session.abortAll(reason, hitErrorKey);
    const sockets = this.#sockets;
    for (let i = 0; i < sockets.length; i++) {
      sockets[i]!.abort(reason);
    }
  }

  /** Whether a socket was opened since the last closeSockets(). */
  get hasSockets(): boolean {
    return this.#sockets.length > 0;
  }

  /**
   * Closes the sockets opened since the last call, all at once (each waits
   * at most the timeout for its peer); resolves with the first error any of
   * them saw during the run.
   */
  async closeSockets(): Promise<Error | undefined> {
    const sockets = this.#sockets.splice(0);
    if (sockets.length === 0) {
      return undefined;
    }
    let error: Error | undefined;
    const closing: Promise<void>[] = [];
    for (const socket of sockets) {
      error ??= socket.error;
      if (socket.isOpen) {
        closing.push(socket.close().catch(ignore));
      }
    }
    await Promise.all(closing);
    return error;
  }

  /** Closes the sockets still open and the session. Never rejects. */
  async close(): Promise<void> {
    await this.closeSockets();
    await this.session.close().catch(ignore);
  }
}

function ignore(): void {}
