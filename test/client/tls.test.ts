// TLS and HTTP/2 of the session and of wss:// (SPEC §3.1), against real
// node:https, node:http2 and ws servers on loopback with a CA made for the
// test (test/helpers/tls.ts): verification, --insecure, verify: false, --ca,
// mutual TLS, ALPN with fallback, multiplexing, and the error messages.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Session } from '../../src/client/http/session.ts';
import { openWebSocket } from '../../src/client/ws/socket.ts';
import { DEFAULT_TRANSPORT, type TransportOptions } from '../../src/client/transport.ts';
import { describeConnectError } from '../../src/client/connect-errors.ts';
import { classifyError } from '../../src/metrics/error-key.ts';
import { HttpRequestError, WebSocketError } from '../../src/errors.ts';
import { collectHits, firstRunContext } from '../helpers/events.ts';
import type { ExampleServer } from '../../examples/server.ts';
import {
  createTestPki,
  startTlsSites,
  TLS_SKIP,
  type TestPki,
  type TlsSites,
} from '../helpers/tls.ts';

const context = firstRunContext();

let pki: TestPki;
let sites: TlsSites;
let site: ExampleServer;
let mutual: ExampleServer;
let h2site: ExampleServer;
const sessions: Session[] = [];

function session(
  transport: Partial<TransportOptions> = {},
  sink = collectHits(),
): { session: Session; hits: ReturnType<typeof collectHits>['hits'] } {
  const s = new Session({
    sink,
    context,
    testName: () => 'T.test',
    timeoutMs: 5000,
    transport: { ...DEFAULT_TRANSPORT, ...transport },
  });
  sessions.push(s);
  return { session: s, hits: sink.hits };
}

async function rejection(promise: Promise<unknown>): Promise<HttpRequestError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof HttpRequestError, String(err));
    return err;
  }
  assert.fail('expected the request to fail');
}

before(async () => {
  if (TLS_SKIP !== false) {
    return;
  }
  pki = createTestPki();
  sites = await startTlsSites(pki);
  ({ site, mutual, h2site } = sites);
});

after(async () => {
  if (TLS_SKIP !== false) {
    return;
  }
  await Promise.all(sessions.map((s) => s.close()));
  await sites.close();
  pki.remove();
});

describe('TLS verification', { skip: TLS_SKIP }, () => {
  it('refuses a certificate from an unknown CA by default, naming --ca and --insecure', async () => {
    const { session: s, hits } = session();
    const err = await rejection(s.get(`${site.url}/`));
    assert.equal(err.errorKey, 'TLS');
    assert.match(err.message, /certificate/);
    assert.match(err.message, /--ca FILE/);
    assert.match(err.message, /--insecure/);
    assert.equal(hits.length, 1);
    assert.equal(hits[0]!.status, 0);
    assert.equal(hits[0]!.errorKey, 'TLS');
    assert.equal(hits[0]!.protocol, '');
  });

  it('accepts it with --insecure', async () => {
    const { session: s, hits } = session({ insecure: true });
    const res = await s.get(`${site.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.text, /loads-runner example/);
    assert.equal(hits[0]!.protocol, 'h1');
  });

  it('accepts it for one request with verify: false, and keeps verifying the others', async () => {
    const { session: s } = session();
    const res = await s.get(`${site.url}/`, { verify: false });
    assert.equal(res.status, 200);
    // The unverified connection is not reused for a request that verifies.
    const err = await rejection(s.get(`${site.url}/`));
    assert.equal(err.errorKey, 'TLS');
  });

  it('verify: true wins over --insecure for its request', async () => {
    const { session: s } = session({ insecure: true });
    assert.equal((await s.get(`${site.url}/`)).status, 200);
    const err = await rejection(s.get(`${site.url}/`, { verify: true }));
    assert.equal(err.errorKey, 'TLS');
  });

  it('trusts the CA given with --ca', async () => {
    const { session: s } = session({ ca: [pki.caCert] });
    assert.equal((await s.get(`${site.url}/`)).status, 200);
  });

  it('rejects a bad verify option with a clear message', async () => {
    const { session: s } = session();
    await assert.rejects(
      s.get(`${site.url}/`, { verify: 'no' as unknown as boolean }),
      /session\.get: the option 'verify' must be true or false/,
    );
  });
});

describe('mutual TLS', { skip: TLS_SKIP }, () => {
  it('is accepted with a client certificate signed by the CA the server trusts', async () => {
    const { session: s } = session({ ca: [pki.caCert], cert: pki.clientCert, key: pki.clientKey });
    const res = await s.get(`${mutual.url}/`);
    assert.equal(res.status, 200);
  });

  it('is refused without one, with a message that names --cert and --key', async () => {
    const { session: s, hits } = session({ ca: [pki.caCert] });
    const err = await rejection(s.get(`${mutual.url}/`));
    assert.match(err.message, /--cert FILE --key FILE/);
    assert.equal(hits[0]!.status, 0);
  });
});

describe('HTTP/2', { skip: TLS_SKIP }, () => {
  it('--http2 negotiates h2, and parallel requests share the one connection', async () => {
    const before = h2site.connections;
    const { session: s, hits } = session({ ca: [pki.caCert], http2: true });
    const responses = await Promise.all([
      s.get(`${h2site.url}/protocol`),
      s.get(`${h2site.url}/protocol`),
      s.get(`${h2site.url}/api/items`),
    ]);
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 200, 200],
    );
    assert.equal(responses[0]!.text, '2.0');
    assert.deepEqual(
      hits.map((h) => h.protocol),
      ['h2', 'h2', 'h2'],
    );
    await s.get(`${h2site.url}/protocol`);
    assert.equal(h2site.connections - before, 1, 'one h2 session for the user');
  });

  it('without --http2 the same server is spoken to in HTTP/1.1', async () => {
    const { session: s, hits } = session({ ca: [pki.caCert] });
    const res = await s.get(`${h2site.url}/protocol`);
    assert.equal(res.text, '1.1');
    assert.equal(hits[0]!.protocol, 'h1');
  });

  it('falls back to HTTP/1.1 against a server that offers only that', async () => {
    const { session: s, hits } = session({ ca: [pki.caCert], http2: true });
    const res = await s.get(`${site.url}/protocol`);
    assert.equal(res.text, '1.1');
    assert.equal(hits[0]!.protocol, 'h1');
  });

  it('against an h2-only server, the error without --http2 says to pass it', async () => {
    const server = http2.createSecureServer(
      { key: pki.serverKey, cert: pki.serverCert, allowHTTP1: false },
      (_req, res) => res.end('h2 only'),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const err = await rejection(session({ ca: [pki.caCert] }).session.get(url));
      assert.equal(err.errorKey, 'TLS');
      assert.match(err.message, /speaks only HTTP\/2; pass --http2/);
      const { session: s, hits } = session({ ca: [pki.caCert], http2: true });
      assert.equal((await s.get(url)).text, 'h2 only');
      assert.equal(hits[0]!.protocol, 'h2');
      await s.close();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('gives an h2 response its headers, a long value and repeated ones included', async () => {
    // undici hands h2 headers as Buffers of its own; a value over 4 KB is not
    // in Node's buffer pool with the others.
    const long = 'x'.repeat(5000);
    const server = http2.createSecureServer(
      { key: pki.serverKey, cert: pki.serverCert, allowHTTP1: false },
      (req, res) => {
        res.setHeader('x-one', '1');
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        if (req.url !== '/short') {
          res.setHeader('x-long', long);
        }
        res.end('ok');
      },
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const { session: s } = session({ ca: [pki.caCert], http2: true });
      const res = await s.get(url);
      assert.equal(res.text, 'ok');
      assert.equal(res.headers['x-one'], '1');
      assert.equal(res.headers['set-cookie'], 'a=1\nb=2');
      assert.equal(res.headers['x-long'], long);
      const short = await s.get(`${url}short`);
      assert.equal(short.headers['x-one'], '1');
      assert.equal(short.headers['set-cookie'], 'a=1\nb=2');
      assert.equal(short.headers['x-long'], undefined);
      await s.close();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('wss://', { skip: TLS_SKIP }, () => {
  const ctx = (transport: Partial<TransportOptions>) => ({
    sink: { emit() {} },
    timeoutMs: 5000,
    transport: { ...DEFAULT_TRANSPORT, ...transport },
  });
  const wsUrl = (): string => `${site.url.replace('https', 'wss')}/ws`;

  it('is refused by default with the same advice', async () => {
    await assert.rejects(openWebSocket(wsUrl(), {}, ctx({})), (err: unknown) => {
      assert.ok(err instanceof WebSocketError);
      assert.match(err.message, /--ca FILE/);
      assert.match(err.message, /--insecure/);
      return true;
    });
  });

  const echoOnce = async (transport: Partial<TransportOptions>): Promise<void> => {
    const socket = await openWebSocket(wsUrl(), {}, ctx(transport));
    await socket.send('ping');
    assert.equal(await socket.receive(5), 'ping');
    await socket.close();
  };

  it('opens with --insecure', () => echoOnce({ insecure: true }));

  it('opens with --ca', () => echoOnce({ ca: [pki.caCert] }));

  it('presents the client certificate to a mutual-TLS server', async () => {
    const url = `${mutual.url.replace('https', 'wss')}/ws`;
    const socket = await openWebSocket(
      url,
      {},
      ctx({ ca: [pki.caCert], cert: pki.clientCert, key: pki.clientKey }),
    );
    await socket.send('hi');
    assert.equal(await socket.receive(5), 'hi');
    await socket.close();
  });
});

describe('error messages', () => {
  it("drop OpenSSL's thread-specific prefix, so one error is one row whatever the thread", () => {
    const fromThread = (thread: string): Error =>
      Object.assign(
        new Error(
          `${thread}:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n`,
        ),
        { code: 'ERR_SSL_WRONG_VERSION_NUMBER' },
      );
    const context = { http2: false, clientCert: false };
    const a = describeConnectError(fromThread('C0967F85AE7F0000'), context, true);
    const b = describeConnectError(fromThread('C0A6BF85AE7F0000'), context, true);
    assert.equal(a, b);
    assert.match(a, /^wrong version number \(ERR_SSL_WRONG_VERSION_NUMBER\): .*http:\/\//);
    assert.doesNotMatch(a, /C0967F85AE7F0000|ssl3_record\.c/);
  });

  it('name the fix for a certificate issued for another host', () => {
    const err = Object.assign(
      new Error(
        "Hostname/IP does not match certificate's altnames: IP: 127.0.0.2 is not in the cert's list: 127.0.0.1",
      ),
      { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
    );
    const message = describeConnectError(err, { http2: false, clientCert: false }, true);
    assert.match(
      message,
      /altnames.*: use the host name the certificate was issued for, or pass --insecure/,
    );
  });

  it('count every certificate verification failure as TLS', () => {
    for (const code of ['CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'HOSTNAME_MISMATCH']) {
      assert.equal(classifyError(Object.assign(new Error('x'), { code })), 'TLS', code);
    }
  });
});
