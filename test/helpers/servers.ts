// Real servers for tests, on 127.0.0.1 with an ephemeral port. Each returns
// its base URL and a close() that also ends kept-alive connections.
import http from 'node:http';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
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

export interface TestMuteWsServer extends TestWsServer {
  /** TCP connections still open. */
  readonly openSockets: number;
}

/**
 * A WebSocket peer that completes the opening handshake and then reads and
 * ignores every frame: it never answers a close frame (nor closes), as a
 * hung server would. A client's close() must give up on it by itself.
 */
export async function startMuteWsServer(): Promise<TestMuteWsServer> {
  const sockets = new Set<Socket>();
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', () => {}); // frames are read and ignored
    socket.on('end', () => socket.destroy()); // the client dropped the connection
    const key = String(req.headers['sec-websocket-key']);
    const accept = createHash('sha1')
      .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    get openSockets() {
      return sockets.size;
    },
    async close() {
      for (const socket of sockets) {
        socket.destroy();
      }
      server.close();
      await once(server, 'close');
    },
  };
}
