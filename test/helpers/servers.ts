// Real servers for tests, on 127.0.0.1 with an ephemeral port. Each returns
// its base URL and a close() that also ends kept-alive connections.
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface TestServer {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  /** Requests the server has received so far. */
  readonly requests: number;
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export async function startHttpServer(handler: Handler): Promise<TestServer> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return requests;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      if (server.listening) {
        await once(server, 'close');
      }
    },
  };
}

/** Reads the whole request body as a string. */
export async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A server that accepts connections and requests but never answers. */
export async function startSilentServer(): Promise<TestServer> {
  return startHttpServer(() => {
    /* never replies: for timeout tests */
  });
}

/** A port that was just closed, so connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = await startHttpServer(() => {});
  await server.close();
  return server.port;
}

export interface TestWsServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A WebSocket server. Without onConnection it echoes every message back.
 */
export async function startWsServer(
  onConnection?: (socket: WebSocket, req: http.IncomingMessage) => void,
): Promise<TestWsServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  wss.on(
    'connection',
    onConnection ??
      ((socket) => {
        socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
      }),
  );
  const port = (wss.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    async close() {
      for (const client of wss.clients) {
        client.terminate();
      }
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
