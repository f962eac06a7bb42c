// The keep-alive connections of one virtual user. Per origin: one undici
// Client (one connection, reused), and a Pool only once the user has a
// second request in flight to that origin at the same time, so parallel
// requests inside a test still run in parallel. Why not one undici Agent per
// user: its per-origin Pool allocates a 2,048-slot request queue up front,
// about 20 KB of heap per user (measured with 3,000 users: Agent 26.9 KB heap
// and 45.7 KB RSS per user with one open connection, Client 7.2 KB and
// 27 KB), and most tests send one request at a time.
import { Client, Pool, type Dispatcher } from 'undici';

/** One origin's connections; returned by dispatch() and given back to release(). */
export interface OriginConnections {
  readonly client: Client;
  /** The Client has a request in flight: the next one goes to the overflow Pool. */
  clientBusy: boolean;
  overflow: Pool | undefined;
}

export class UserConnections {
  readonly #options: Client.Options;
  readonly #origins = new Map<string, OriginConnections>();

  /**
   * `connectTimeoutMs` bounds each new connection (0: none). Requests get no
   * undici timers: the Session's deadline sweep bounds each whole exchange.
   */
  constructor(connectTimeoutMs: number) {
    this.#options = {
      connect: { timeout: connectTimeoutMs },
      headersTimeout: 0,
      bodyTimeout: 0,
    };
  }

  /**
   * Sends one request to `origin`. Returns the origin's entry when the
   * request went to its Client, which must then be release()d once the
   * request has settled; undefined when it went to the overflow Pool.
   */
  dispatch(
    origin: string,
    options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): OriginConnections | undefined {
    let entry = this.#origins.get(origin);
    if (entry === undefined) {
      entry = { client: new Client(origin, this.#options), clientBusy: false, overflow: undefined };
      this.#origins.set(origin, entry);
    }
    if (!entry.clientBusy) {
      entry.clientBusy = true;
      entry.client.dispatch(options, handler);
      return entry;
    }
    entry.overflow ??= new Pool(origin, this.#options);
    entry.overflow.dispatch(options, handler);
    return undefined;
  }

  release(entry: OriginConnections | undefined): void {
    if (entry !== undefined) {
      entry.clientBusy = false;
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

  async #each(action: (dispatcher: Client | Pool) => Promise<void>): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const entry of this.#origins.values()) {
      pending.push(action(entry.client));
      if (entry.overflow !== undefined) {
        pending.push(action(entry.overflow));
      }
    }
    await Promise.all(pending);
  }
}
