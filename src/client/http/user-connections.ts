// The keep-alive connections of one virtual user. Per origin: one undici
// Client (one connection, reused), and a Pool only once the user has a
// second request in flight to that origin at the same time over HTTP/1.1,
// so parallel requests inside a test still run in parallel. Over HTTP/2
// (--http2, negotiated by ALPN) the Client's one connection multiplexes
// them instead, as a browser does: one h2 session per origin per user. Why
// not one undici Agent per user: its per-origin Pool allocates a 2,048-slot
// request queue up front, about 20 KB of heap per user (measured with 3,000
// users: Agent 26.9 KB heap and 45.7 KB RSS per user with one open
// connection, Client 7.2 KB and 27 KB), and most tests send one request at
// a time. A request whose own `verify` differs from the run's (--insecure)
// gets connections of its own, so an unverified connection never serves a
// verified request.
import type * as Undici from 'undici';
import type { Dispatcher } from 'undici';
import { originUrl } from './parsed-targets.ts';
import { DEFAULT_TRANSPORT, tlsConnectOptions, type TransportOptions } from '../transport.ts';
import { buildConnector, Client, Pool } from './undici.ts';

/** The protocol a hit used: 'h1' or 'h2'; '' before a connection was made. */
export type HttpProtocol = 'h1' | 'h2' | '';

/** A request's handler, told by dispatch() where the request went. */
export interface ConnectionsUser extends Dispatcher.DispatchHandler {
  /** The origin's entry; set by dispatch(). */
  connections: OriginConnections | undefined;
  /** Whether the request went to the entry's Client (not its overflow Pool). */
  onClient: boolean;
}

/** One origin's connections. */
export class OriginConnections {
  /** Set right after construction: its options refer to this entry. */
  client!: Client;
  /** Requests in flight on the Client; over HTTP/1.1 a second one goes to the overflow Pool. */
  clientInflight = 0;
  overflow: Pool | undefined = undefined;
  /** What the last connection negotiated: always 'h1' without --http2, '' until one is made with it. */
  protocol: HttpProtocol;

  constructor(protocol: HttpProtocol) {
    this.protocol = protocol;
  }
}

/**
 * Plain-http Client options by connect timeout, shared by every user. With
 * `connect` as options undici builds a connector per Client, each with a
 * TLS session cache, a FinalizationRegistry and three closures that plain
 * http never uses; one connector serving them all took idle users from
 * 18.0–18.2 to 16.7–17.1 KB of RSS each (npm run bench -- memory).
 * https keeps a connector per Client: users do not resume each other's TLS
 * sessions, as separate clients would not.
 */
const httpClientOptions = new Map<number, Undici.Client.Options>();

function plainHttpOptions(connectTimeoutMs: number): Undici.Client.Options {
  let options = httpClientOptions.get(connectTimeoutMs);
  if (options === undefined) {
    options = {
      connect: buildConnector({ timeout: connectTimeoutMs }),
      headersTimeout: 0,
      bodyTimeout: 0,
    };
    httpClientOptions.set(connectTimeoutMs, options);
  }
  return options;
}

export class UserConnections {
  readonly #connectTimeoutMs: number;
  readonly #transport: TransportOptions;
  /**
   * The first origin of the run's `verify` in fields, the others in a Map
   * made on first use: most users talk to one origin, and an empty Map with
   * its table is 184 bytes per user.
   */
  #firstOrigin = '';
  #firstEntry: OriginConnections | undefined = undefined;
  #origins: Map<string, OriginConnections> | undefined = undefined;
  /** HTTP/1.1-only Client options, made on first use: one per `verify`. */
  #verifiedOptions: Undici.Client.Options | undefined = undefined;
  #unverifiedOptions: Undici.Client.Options | undefined = undefined;
  /** Origins of requests whose own `verify` is not the run's. */
  #otherOrigins: Map<string, OriginConnections> | undefined = undefined;

  /**
   * `connectTimeoutMs` bounds each new connection (0: none). Requests get no
   * undici timers: the Session's deadline sweep bounds each whole exchange.
   */
  constructor(connectTimeoutMs: number, transport: TransportOptions = DEFAULT_TRANSPORT) {
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#transport = transport;
  }

  /** --insecure or not: what a request without its own `verify` gets. */
  get verifyByDefault(): boolean {
    return !this.#transport.insecure;
  }

  /**
   * Sends one request to `origin`; the handler must be release()d once the
   * request has settled. `verify` false accepts any certificate.
   */
  dispatch(
    origin: string,
    verify: boolean,
    options: Dispatcher.DispatchOptions,
    handler: ConnectionsUser,
  ): void {
    let entry: OriginConnections | undefined;
    if (verify !== this.verifyByDefault) {
      const origins = (this.#otherOrigins ??= new Map<string, OriginConnections>());
      entry = origins.get(origin);
      if (entry === undefined) {
        entry = this.#createEntry(origin, verify);
        origins.set(origin, entry);
      }
    } else if (origin === this.#firstOrigin) {
      entry = this.#firstEntry!;
    } else {
      entry = this.#origins?.get(origin);
      if (entry === undefined) {
        entry = this.#createEntry(origin, verify);
        if (this.#firstEntry === undefined) {
          this.#firstOrigin = origin;
          this.#firstEntry = entry;
        } else {
          (this.#origins ??= new Map<string, OriginConnections>()).set(origin, entry);
        }
      }
    }
    // Over h2, or before the protocol is known with --http2 (the first
    // requests of a test may be parallel), the Client takes every request.
    if (
      entry.clientInflight === 0 ||
      entry.protocol === 'h2' ||
      (entry.protocol === '' && this.#transport.http2)
    ) {
      entry.clientInflight++;
      handler.connections = entry;
      handler.onClient = true;
      entry.client.dispatch(options, handler);
      return;
    }
    entry.overflow ??= new Pool(originUrl(origin), this.#clientOptions(entry, origin, verify));
    handler.connections = entry;
    handler.onClient = false;
    entry.overflow.dispatch(options, handler);
  }

  /** After a request of dispatch()'s settled (or failed to be dispatched). */
  release(handler: ConnectionsUser): void {
    const entry = handler.connections;
    if (entry !== undefined && handler.onClient) {
      handler.onClient = false;
      entry.clientInflight--;
    }
  }

  /** Closes every connection; waits for requests in flight. */
  close(): Promise<void> {
    return this.#each((dispatcher) => dispatcher.close());
  }

  /** Closes every connection now; requests in flight fail. */
  destroy(): Promise<void> {
    return this.#each((dispatcher) => dispatcher.destroy());
  }

  #createEntry(origin: string, verify: boolean): OriginConnections {
    const entry = new OriginConnections(this.#transport.http2 ? '' : 'h1');
    // A URL, not the string: undici keeps the URL it is given and would parse a string into one per user.
    entry.client = new Client(originUrl(origin), this.#clientOptions(entry, origin, verify));
    return entry;
  }

  /**
   * Options of the entry's Client and Pool. Over HTTP/1.1 only, plain http
   * takes the process-wide plainHttpOptions, and every https entry of this
   * user shares one object per `verify` and undici builds its own
   * connector; with --http2, undici's connector (TLS session reuse, ALPN) is
   * wrapped to learn what each connection negotiated, one wrapper per entry.
   */
  #clientOptions(entry: OriginConnections, origin: string, verify: boolean): Undici.Client.Options {
    if (!this.#transport.http2) {
      if (origin.startsWith('http:')) {
        return plainHttpOptions(this.#connectTimeoutMs);
      }
      let options = verify ? this.#verifiedOptions : this.#unverifiedOptions;
      if (options === undefined) {
        options = {
          connect: {
            timeout: this.#connectTimeoutMs,
            ...tlsConnectOptions(this.#transport, verify),
          },
          headersTimeout: 0,
          bodyTimeout: 0,
        };
        if (verify) {
          this.#verifiedOptions = options;
        } else {
          this.#unverifiedOptions = options;
        }
      }
      return options;
    }
    const connect = buildConnector({
      ...tlsConnectOptions(this.#transport, verify),
      allowH2: true,
      timeout: this.#connectTimeoutMs,
    });
    return {
      connect: (options, callback) =>
        connect(options, (err, socket) => {
          if (err !== null) {
            callback(err, null);
            return;
          }
          entry.protocol =
            (socket as { alpnProtocol?: unknown }).alpnProtocol === 'h2' ? 'h2' : 'h1';
          callback(null, socket!);
        }),
      allowH2: true,
      headersTimeout: 0,
      bodyTimeout: 0,
    };
  }

  async #each(action: (dispatcher: Client | Pool) => Promise<void>): Promise<void> {
    const entries = [
      ...(this.#firstEntry === undefined ? [] : [this.#firstEntry]),
      ...(this.#origins?.values() ?? []),
      ...(this.#otherOrigins?.values() ?? []),
    ];
    const pending: Promise<void>[] = [];
    for (const entry of entries) {
      pending.push(action(entry.client));
      if (entry.overflow !== undefined) {
        pending.push(action(entry.overflow));
      }
    }
    await Promise.all(pending);
  }
}
