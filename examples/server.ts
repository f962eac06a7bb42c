// The example target: a small HTTP + WebSocket service on 127.0.0.1, used by
// `npm run demo`, the examples and the end-to-end tests.
//   GET  /                 an HTML page
//   GET  /api/items?n=3    a JSON list
//   POST /api/echo         echoes the JSON body back
//   GET  /login            sets a session cookie; GET /me needs it (401 without)
//   GET  /slow?ms=50       answers after a delay
//   GET  /status/404       answers with that status
//   WS   /ws               echoes every message (not over HTTP/2)
//   GET  /protocol         the HTTP version of the request ('1.1' or '2.0')
//   GET  /gzip?n=3         the /api/items list, gzip-compressed
// Given `tls`, it serves HTTPS (and wss://), or HTTP/2 with HTTP/1.1
// fallback, with the key and certificate given; the tests make them.
// Run it alone: `node --import tsx examples/server.ts [port]`; over HTTPS
// with `--key server.key --cert server.crt`, HTTP/2 with `--http2`, mutual
// TLS with `--client-ca ca.crt`.
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { WebSocketServer } from 'ws';

export interface ExampleServer {
  url: string;
  /** Connections accepted so far (over HTTP/2, sessions). */
  readonly connections: number;
  close(): Promise<void>;
}

/** HTTPS settings of the example server: PEM texts. */
export interface ExampleTls {
  key: string;
  cert: string;
  /** With requestCert: the CA a client certificate must be signed by. */
  ca?: string;
  /** Mutual TLS: refuse clients without a certificate signed by `ca`. */
  requestCert?: boolean;
  /** Serve HTTP/2 (ALPN), still answering HTTP/1.1 clients. */
  http2?: boolean;
}

const PAGE =
  '<!doctype html><title>loads-runner example</title><h1>Hello from the loads-runner example server</h1>\n';

function handle(
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const send = (status: number, body: string, type = 'text/plain'): void => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  switch (url.pathname) {
    case '/':
      return send(200, PAGE, 'text/html; charset=utf-8');
    case '/protocol':
      return send(200, req.httpVersion);
    case '/gzip': {
      const n = Math.min(Number(url.searchParams.get('n') ?? 3) || 3, 1000);
      const items = Array.from({ length: n }, (_, i) => ({ id: i + 1, name: `item ${i + 1}` }));
      const body = gzipSync(JSON.stringify(items));
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': body.length,
      });
      res.end(body);
      return;
    }
    case '/api/items': {
      const n = Math.min(Number(url.searchParams.get('n') ?? 3) || 3, 1000);
      const items = Array.from({ length: n }, (_, i) => ({ id: i + 1, name: `item ${i + 1}` }));
      return send(200, JSON.stringify(items), 'application/json');
    }
    case '/api/echo': {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () =>
        send(200, Buffer.concat(chunks).toString('utf8') || '{}', 'application/json'),
      );
      return;
    }
    case '/login':
      res.setHeader(
        'set-cookie',
        `session=user-${Math.floor(Math.random() * 1e9)}; Path=/; HttpOnly`,
      );
      return send(200, 'logged in');
    case '/me': {
      const cookie = req.headers.cookie ?? '';
      const match = /(?:^|;\s*)session=([^;]+)/.exec(cookie);
      return match
        ? send(200, JSON.stringify({ user: match[1] }), 'application/json')
        : send(401, 'log in first');
    }
    case '/slow': {
      const ms = Math.min(Number(url.searchParams.get('ms') ?? 50) || 0, 10_000);
      setTimeout(() => send(200, `slept ${ms} ms`), ms);
      return;
    }
    default: {
      const status = /^\/status\/(\d{3})$/.exec(url.pathname);
      if (status) {
        return send(Number(status[1]), `status ${status[1]}`);
      }
      return send(404, 'not found');
    }
  }
}

/** Starts the example server on 127.0.0.1 (port 0: any free port); HTTPS given `tls`. */
export async function startExampleServer(port = 0, tls?: ExampleTls): Promise<ExampleServer> {
  const tlsOptions =
    tls === undefined
      ? undefined
      : {
          key: tls.key,
          cert: tls.cert,
          ...(tls.ca === undefined ? {} : { ca: tls.ca }),
          requestCert: tls.requestCert ?? false,
          rejectUnauthorized: tls.requestCert ?? false,
        };
  let connections = 0;
  if (tlsOptions !== undefined && tls?.http2 === true) {
    const h2 = http2.createSecureServer({ ...tlsOptions, allowHTTP1: true }, handle);
    const sessions = new Set<http2.ServerHttp2Session>();
    h2.on('session', (session) => {
      connections++;
      sessions.add(session);
      session.on('close', () => sessions.delete(session));
    });
    h2.on('secureConnection', (socket: { alpnProtocol?: string | false }) => {
      if (socket.alpnProtocol !== 'h2') {
        connections++;
      }
    });
    h2.listen(port, '127.0.0.1');
    await once(h2, 'listening');
    return {
      url: `https://127.0.0.1:${(h2.address() as AddressInfo).port}`,
      get connections() {
        return connections;
      },
      async close() {
        for (const session of sessions) {
          session.destroy();
        }
        await new Promise<void>((resolve) => h2.close(() => resolve()));
      },
    };
  }
  const server =
    tlsOptions === undefined ? http.createServer(handle) : https.createServer(tlsOptions, handle);
  server.on(tlsOptions === undefined ? 'connection' : 'secureConnection', () => connections++);
  server.keepAliveTimeout = 30_000;
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  return {
    url: `${tlsOptions === undefined ? 'http' : 'https'}://127.0.0.1:${address.port}`,
    get connections() {
      return connections;
    },
    async close() {
      for (const client of wss.clients) {
        client.terminate();
      }
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // node --import tsx examples/server.ts [port] [--key K --cert C [--http2] [--client-ca CA]]
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      key: { type: 'string' },
      cert: { type: 'string' },
      http2: { type: 'boolean' },
      'client-ca': { type: 'string' },
    },
  });
  const read = (file: string | undefined): string | undefined =>
    file === undefined ? undefined : readFileSync(file, 'utf8');
  const key = read(values.key);
  const cert = read(values.cert);
  const clientCa = read(values['client-ca']);
  const tls =
    key === undefined || cert === undefined
      ? undefined
      : {
          key,
          cert,
          http2: values.http2 ?? false,
          ...(clientCa === undefined ? {} : { ca: clientCa, requestCert: true }),
        };
  const server = await startExampleServer(Number(positionals[0] ?? 9200), tls);
  console.log(`example server listening on ${server.url} (Ctrl-C to stop)`);
  process.once('SIGINT', () => void server.close());
}
