import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Session, type SessionOptions } from '../../src/client/http/session.ts';
import { HttpStatusError } from '../../src/client/http/response.ts';
import { CookieJar } from '../../src/client/http/cookie-jar.ts';
import { HttpRequestError } from '../../src/errors.ts';
import type { LoadsEvent, RunContext } from '../../src/metrics/events.ts';
import { collectHits } from '../helpers/events.ts';
import {
  closedPort,
  readBody,
  startHttpServer,
  startSilentServer,
  type TestServer,
} from '../helpers/servers.ts';

const context: RunContext = {
  cycleIndex: 2,
  users: 5,
  hits: 3,
  currentUser: 4,
  currentHit: 7,
  lagMs: 0,
};

function makeSession(
  sink: { emit: (e: LoadsEvent) => void },
  extra: Partial<SessionOptions> = {},
): Session {
  return new Session({
    sink,
    context,
    testName: () => 'TestX.test_one',
    timeoutMs: 5000,
    ...extra,
  });
}

async function handler(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname;
  if (path === '/echo' || path === '/prefs/echo') {
    const body = await readBody(req);
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-multi', ['a', 'b']);
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
  } else if (path === '/login') {
    res.setHeader('set-cookie', ['sid=abc123; Path=/; HttpOnly', 'theme=dark; Path=/prefs']);
    res.end('logged in');
  } else if (path === '/logout') {
    res.setHeader('set-cookie', 'sid=; Max-Age=0; Path=/');
    res.end('bye');
  } else if (path.startsWith('/redirect/')) {
    const n = Number(path.slice('/redirect/'.length));
    if (n > 0) {
      res.statusCode = 302;
      res.setHeader('location', `/redirect/${n - 1}`);
      res.end('moving');
    } else {
      res.end('arrived');
    }
  } else if (path === '/see-other') {
    res.statusCode = 303;
    res.setHeader('location', '/echo');
    res.setHeader('set-cookie', 'via=303; Path=/');
    res.end();
  } else if (path === '/keep-method') {
    res.statusCode = 307;
    res.setHeader('location', '/echo');
    res.end();
  } else if (path === '/loop') {
    res.statusCode = 302;
    res.setHeader('location', '/loop');
    res.end();
  } else if (path === '/status/500') {
    res.statusCode = 500;
    res.end('boom');
  } else if (path === '/status/404') {
    res.statusCode = 404;
    res.end('nope');
  } else if (path === '/reset') {
    req.socket.destroy();
  } else if (path === '/big') {
    res.write(Buffer.alloc(70000, 97));
    res.end(Buffer.alloc(30000, 98));
  } else if (path === '/hang') {
    // headers never come: for abort tests
  } else {
    res.statusCode = 404;
    res.end();
  }
}

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

describe('Session', () => {
  let server: TestServer;
  before(async () => {
    server = await startHttpServer((req, res) => {
      void handler(req, res);
    });
  });
  after(async () => {
    await server.close();
  });

  it('sends every verb and resolves with the echoed method', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    const verbs = ['get', 'post', 'put', 'patch', 'delete', 'options'] as const;
    for (const verb of verbs) {
      const res = await session[verb](`${server.url}/echo`);
      assert.equal(res.status, 200);
      assert.equal(res.json<Echo>().method, verb.toUpperCase());
    }
    const head = await session.head(`${server.url}/echo`);
    assert.equal(head.status, 200);
    assert.equal(head.content.length, 0);
    const custom = await session.request('propfind', `${server.url}/echo`);
    assert.equal(custom.json<Echo>().method, 'PROPFIND');
    assert.deepEqual(
      sink.hits.map((h) => h.method),
      ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'PROPFIND'],
    );
    await session.close();
  });

  it('appends params to the query string', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    const res = await session.get(`${server.url}/echo?a=1`, {
      params: { b: 'x y', c: 3, d: true },
    });
    assert.equal(res.json<Echo>().url, '/echo?a=1&b=x+y&c=3&d=true');
    const res2 = await session.get(`${server.url}/echo`, {
      params: new URLSearchParams([['q', 'é']]),
    });
    assert.equal(res2.json<Echo>().url, '/echo?q=%C3%A9');
    assert.equal(sink.hits[0]!.url, `${server.url}/echo?a=1&b=x+y&c=3&d=true`);
    await session.close();
  });

  it('sends json with content-type application/json', async () => {
    const session = makeSession(collectHits());
    const res = await session.post(`${server.url}/echo`, { json: { a: [1, 2], b: 'c' } });
    const echo = res.json<Echo>();
    assert.equal(echo.body, '{"a":[1,2],"b":"c"}');
    assert.equal(echo.headers['content-type'], 'application/json');
    assert.equal(echo.headers['content-length'], '19');
    await session.close();
  });

  it('sends a plain object as a form, a string and a Buffer as they are', async () => {
    const session = makeSession(collectHits());
    const form = (
      await session.post(`${server.url}/echo`, { data: { user: 'a b', n: 2 } })
    ).json<Echo>();
    assert.equal(form.body, 'user=a+b&n=2');
    assert.equal(form.headers['content-type'], 'application/x-www-form-urlencoded');
    const text = (await session.put(`${server.url}/echo`, { data: 'raw text' })).json<Echo>();
    assert.equal(text.body, 'raw text');
    assert.equal(text.headers['content-type'], undefined);
    const buf = (
      await session.post(`${server.url}/echo`, {
        data: Buffer.from('bin'),
        headers: { 'Content-Type': 'application/octet-stream' },
      })
    ).json<Echo>();
    assert.equal(buf.body, 'bin');
    assert.equal(buf.headers['content-type'], 'application/octet-stream');
    await assert.rejects(session.post(`${server.url}/echo`, { data: 'x', json: {} }), TypeError);
    await session.close();
  });

  it('sends headers and exposes response headers in lower case', async () => {
    const session = makeSession(collectHits());
    const res = await session.get(`${server.url}/echo`, {
      headers: { 'X-Token': 'abc', Accept: 'text/plain' },
    });
    const echo = res.json<Echo>();
    assert.equal(echo.headers['x-token'], 'abc');
    assert.equal(echo.headers['accept'], 'text/plain');
    assert.equal(echo.headers['user-agent'], 'loads-runner');
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.headers['x-multi'], 'a, b');
    await session.close();
  });

  it('sends cookies back within the session and not from another session', async () => {
    const session = makeSession(collectHits());
    const other = makeSession(collectHits());
    const login = await session.get(`${server.url}/login`);
    assert.equal(
      login.headers['set-cookie'],
      'sid=abc123; Path=/; HttpOnly\ntheme=dark; Path=/prefs',
    );
    assert.equal(session.cookies.get('sid'), 'abc123');
    const again = (await session.get(`${server.url}/echo`)).json<Echo>();
    assert.equal(again.headers['cookie'], 'sid=abc123');
    const prefs = (await session.get(`${server.url}/prefs/echo`)).json<Echo>();
    assert.equal(prefs.url, '/prefs/echo');
    assert.equal(prefs.headers['cookie'], 'theme=dark; sid=abc123');
    const fromOther = (await other.get(`${server.url}/echo`)).json<Echo>();
    assert.equal(fromOther.headers['cookie'], undefined);
    const withExtra = (
      await session.get(`${server.url}/echo`, { cookies: { sid: 'override', x: '1' } })
    ).json<Echo>();
    assert.equal(withExtra.headers['cookie'], 'sid=override; x=1');
    await session.get(`${server.url}/logout`);
    const after = (await session.get(`${server.url}/echo`)).json<Echo>();
    assert.equal(after.headers['cookie'], undefined);
    await session.close();
    await other.close();
  });

  it('follows redirects with one hit per hop and the final url', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    const res = await session.get(`${server.url}/redirect/2`);
    assert.equal(res.status, 200);
    assert.equal(res.text, 'arrived');
    assert.equal(res.url, `${server.url}/redirect/0`);
    assert.deepEqual(
      sink.hits.map((h) => [h.method, h.url, h.status, h.bytes]),
      [
        ['GET', `${server.url}/redirect/2`, 302, 6],
        ['GET', `${server.url}/redirect/1`, 302, 6],
        ['GET', `${server.url}/redirect/0`, 200, 7],
      ],
    );
    await session.close();
  });

  it('returns the 3xx as it is with allowRedirects false', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    const res = await session.get(`${server.url}/redirect/2`, { allowRedirects: false });
    assert.equal(res.status, 302);
    assert.equal(res.ok, true);
    assert.equal(res.headers['location'], '/redirect/1');
    assert.equal(res.url, `${server.url}/redirect/2`);
    assert.equal(sink.hits.length, 1);
    await session.close();
  });

  it('turns a POST into a GET on 303, keeps it on 307, and keeps cookies set by the redirect', async () => {
    const session = makeSession(collectHits());
    const seeOther = await session.post(`${server.url}/see-other`, { data: { a: '1' } });
    const echo = seeOther.json<Echo>();
    assert.equal(echo.method, 'GET');
    assert.equal(echo.body, '');
    assert.equal(echo.headers['content-type'], undefined);
    assert.equal(echo.headers['cookie'], 'via=303');
    assert.equal(seeOther.method, 'GET');
    const keep = (await session.post(`${server.url}/keep-method`, { json: [1] })).json<Echo>();
    assert.equal(keep.method, 'POST');
    assert.equal(keep.body, '[1]');
    await session.close();
  });

  it('fails after 10 redirects with TOO_MANY_REDIRECTS', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    await assert.rejects(session.get(`${server.url}/loop`), (err: unknown) => {
      assert.ok(err instanceof HttpRequestError);
      assert.equal(err.errorKey, 'TOO_MANY_REDIRECTS');
      return true;
    });
    assert.equal(sink.hits.length, 11);
    assert.ok(sink.hits.every((h) => h.status === 302));
    await session.close();
  });

  it('treats a 500 as a response; raiseForStatus throws HttpStatusError', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    const res = await session.get(`${server.url}/status/500`);
    assert.equal(res.status, 500);
    assert.equal(res.ok, false);
    assert.equal(res.text, 'boom');
    assert.throws(
      () => res.raiseForStatus(),
      (err: unknown) => {
        assert.ok(err instanceof HttpStatusError);
        assert.equal(err.status, 500);
        assert.equal(err.code, 'LOADS_ERR_HTTP_STATUS');
        assert.equal(
          err.message,
          `500 Server Error: Internal Server Error for GET ${server.url}/status/500`,
        );
        return true;
      },
    );
    const notFound = await session.get(`${server.url}/status/404`);
    assert.throws(() => notFound.raiseForStatus(), /^HttpStatusError: 404 Client Error: Not Found/);
    (await session.get(`${server.url}/echo`)).raiseForStatus();
    assert.deepEqual(
      sink.hits.map((h) => [h.status, h.errorKey]),
      [
        [500, ''],
        [404, ''],
        [200, ''],
      ],
    );
    await session.close();
  });

  it('emits one hit with every field filled from the context', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    const before = Date.now();
    const res = await session.get(`${server.url}/big`);
    const after = Date.now();
    assert.equal(res.content.length, 100000);
    assert.equal(res.text.slice(69998, 70002), 'aabb');
    assert.equal(sink.hits.length, 1);
    const hit = sink.hits[0]!;
    assert.deepEqual(Object.keys(hit), [
      'type',
      'method',
      'url',
      'name',
      'status',
      'errorKey',
      'startedAt',
      'elapsedMs',
      'bytes',
      'test',
      'cycleIndex',
      'currentUser',
      'currentHit',
      'lagMs',
      'protocol',
    ]);
    assert.deepEqual(
      { ...hit, startedAt: 0, elapsedMs: 0 },
      {
        type: 'hit',
        method: 'GET',
        url: `${server.url}/big`,
        name: '',
        status: 200,
        errorKey: '',
        startedAt: 0,
        elapsedMs: 0,
        bytes: 100000,
        test: 'TestX.test_one',
        cycleIndex: 2,
        currentUser: 4,
        currentHit: 7,
        lagMs: 0,
        protocol: 'h1',
      },
    );
    assert.ok(
      hit.startedAt >= before - 1 && hit.startedAt <= after + 1,
      `startedAt ${hit.startedAt}`,
    );
    assert.ok(
      hit.elapsedMs > 0 && hit.elapsedMs <= after - before + 1,
      `elapsedMs ${hit.elapsedMs}`,
    );
    assert.equal(res.elapsed, hit.elapsedMs / 1000);
    await session.close();
  });

  it('rejects on a reset connection after a status-0 hit', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    await assert.rejects(session.get(`${server.url}/reset`), (err: unknown) => {
      assert.ok(err instanceof HttpRequestError);
      assert.equal(err.errorKey, 'UND_ERR_SOCKET');
      assert.equal(err.method, 'GET');
      assert.equal(err.url, `${server.url}/reset`);
      assert.match(err.message, new RegExp(`^GET ${server.url}/reset failed: UND_ERR_SOCKET: `));
      return true;
    });
    assert.deepEqual(
      sink.hits.map((h) => [h.method, h.url, h.status, h.errorKey, h.bytes]),
      [['GET', `${server.url}/reset`, 0, 'UND_ERR_SOCKET', 0]],
    );
    await session.close();
  });

  it('rejects an invalid URL with INVALID_URL and a status-0 hit', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    await assert.rejects(session.get('not a url'), {
      name: 'HttpRequestError',
      errorKey: 'INVALID_URL',
    });
    await assert.rejects(session.get('ftp://127.0.0.1/x'), {
      name: 'HttpRequestError',
      errorKey: 'INVALID_URL',
    });
    assert.deepEqual(
      sink.hits.map((h) => [h.url, h.status, h.errorKey]),
      [
        ['not a url', 0, 'INVALID_URL'],
        ['ftp://127.0.0.1/x', 0, 'INVALID_URL'],
      ],
    );
    await session.close();
  });

  it('aborting the run signal rejects in-flight requests and emits no hit', async () => {
    const sink = collectHits();
    const controller = new AbortController();
    const session = makeSession(sink, { signal: controller.signal });
    const pending = session.get(`${server.url}/hang`);
    const pending2 = session.get(`${server.url}/hang`);
    setImmediate(() => controller.abort());
    await assert.rejects(pending, { name: 'AbortError' });
    await assert.rejects(pending2, { name: 'AbortError' });
    await assert.rejects(session.get(`${server.url}/echo`), { name: 'AbortError' });
    assert.equal(sink.hits.length, 0);
    await session.close();
  });

  it('abortAll without a signal ends every request in flight, and later ones, with the reason', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    // Concurrent requests, one of which ends first: the in-flight tracking stays right.
    const [a, b] = await Promise.all([
      session.get(`${server.url}/echo`),
      session.get(`${server.url}/echo`),
    ]);
    assert.deepEqual([a.status, b.status], [200, 200]);
    const reason = new Error('step ended');
    const pending = session.get(`${server.url}/hang`);
    const pending2 = session.get(`${server.url}/hang`);
    const pending3 = session.get(`${server.url}/hang`);
    setImmediate(() => session.abortAll(reason));
    await assert.rejects(pending, reason);
    await assert.rejects(pending2, reason);
    await assert.rejects(pending3, reason);
    await assert.rejects(session.get(`${server.url}/echo`), reason);
    session.abortAll(new Error('second call is ignored'));
    await assert.rejects(session.get(`${server.url}/echo`), reason);
    assert.equal(sink.hits.length, 2);
    await session.close();
  });

  it('keeps hits completed before an abort', async () => {
    const sink = collectHits();
    const controller = new AbortController();
    const session = makeSession(sink, { signal: controller.signal });
    await session.get(`${server.url}/echo`);
    const pending = session.get(`${server.url}/hang`);
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(pending, { name: 'AbortError' });
    assert.deepEqual(
      sink.hits.map((h) => [h.url, h.status]),
      [[`${server.url}/echo`, 200]],
    );
    await session.close();
  });

  it('carries the name option on every hit of the call, each redirect hop included', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    const res = await session.get(`${server.url}/redirect/2`, { name: '/redirect/:n' });
    assert.equal(res.text, 'arrived');
    await session.post(`${server.url}/echo`, { name: '/echo (named)', json: {} });
    await session.request('PUT', `${server.url}/echo`, { name: '/echo (put)' });
    await session.get(`${server.url}/echo`);
    assert.deepEqual(
      sink.hits.map((h) => [h.method, h.url, h.name, h.status]),
      [
        ['GET', `${server.url}/redirect/2`, '/redirect/:n', 302],
        ['GET', `${server.url}/redirect/1`, '/redirect/:n', 302],
        ['GET', `${server.url}/redirect/0`, '/redirect/:n', 200],
        ['POST', `${server.url}/echo`, '/echo (named)', 200],
        ['PUT', `${server.url}/echo`, '/echo (put)', 200],
        // The session's one hit object is refilled: a later unnamed call has no name.
        ['GET', `${server.url}/echo`, '', 200],
      ],
    );
    await session.close();
  });

  it('carries the name on hits without a response: reset, invalid URL, and abortAll', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    const name = '/item/:id';
    await assert.rejects(session.get(`${server.url}/reset`, { name }), {
      errorKey: 'UND_ERR_SOCKET',
    });
    await assert.rejects(session.get('not a url', { name }), { errorKey: 'INVALID_URL' });
    const pending = session.get(`${server.url}/hang`, { name });
    setImmediate(() => session.abortAll(new Error('run timed out'), 'TEST_TIMEOUT'));
    await assert.rejects(pending, /run timed out/);
    assert.deepEqual(
      sink.hits.map((h) => [h.url, h.name, h.status, h.errorKey]),
      [
        [`${server.url}/reset`, name, 0, 'UND_ERR_SOCKET'],
        ['not a url', name, 0, 'INVALID_URL'],
        [`${server.url}/hang`, name, 0, 'TEST_TIMEOUT'],
      ],
    );
    await session.close();
  });
});

describe('Session response framing', () => {
  // A raw server: the response comes in one write, or in pieces that reach
  // the client in separate socket reads (headers split between two).
  let server: net.Server;
  let origin: string;
  const sockets = new Set<net.Socket>();
  const whole =
    'HTTP/1.1 200 OK\r\nX-One: 1\r\nX-Multi: a\r\nX-Multi: b\r\nSet-Cookie: s=1\r\n' +
    'Set-Cookie: t=2\r\nContent-Length: 6\r\n\r\nabcdef';
  before(async () => {
    server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      socket.once('data', (request) => {
        if (request.toString('latin1').startsWith('GET /whole ')) {
          socket.end(whole);
          return;
        }
        void (async () => {
          for (const piece of [whole.slice(0, 30), whole.slice(30, 100), whole.slice(100, 109)]) {
            socket.write(piece);
            await sleep(30);
          }
          socket.end(whole.slice(109));
        })();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(async () => {
    for (const socket of sockets) {
      socket.destroy();
    }
    await new Promise((resolve) => server.close(resolve));
  });

  it('gives the same headers and body whether they came in one read or many', async () => {
    const seen: { headers: Record<string, string>; text: string; bytes: number }[] = [];
    for (const path of ['/whole', '/pieces']) {
      const session = makeSession({ emit: () => {} });
      try {
        const res = await session.get(`${origin}${path}`);
        seen.push({ headers: res.headers, text: res.text, bytes: res.bytes });
      } finally {
        await session.close();
      }
    }
    assert.deepEqual(seen[0], {
      headers: {
        'x-one': '1',
        'x-multi': 'a, b',
        'set-cookie': 's=1\nt=2',
        'content-length': '6',
      },
      text: 'abcdef',
      bytes: 6,
    });
    assert.deepEqual(seen[1], seen[0]);
  });
});

describe('Session connections', () => {
  it('reuses one keep-alive connection for sequential requests', async () => {
    const ports = new Set<number>();
    const server = await startHttpServer((req, res) => {
      ports.add(req.socket.remotePort ?? 0);
      res.end('ok');
    });
    const session = makeSession(collectHits());
    try {
      for (let i = 0; i < 5; i++) {
        assert.equal((await session.get(`${server.url}/`)).status, 200);
      }
      assert.equal(ports.size, 1);
    } finally {
      await session.close();
      await server.close();
    }
  });

  it('keeps one connection per origin across three origins, and closes them all', async () => {
    // The first origin's connections are kept apart from the others' (in
    // fields, not a Map): all three must be reused, and closed with the session.
    const ports = [0, 1, 2].map(() => new Set<number>());
    let open = 0;
    const servers = await Promise.all(
      ports.map((seen) =>
        startHttpServer((req, res) => {
          if (!seen.has(req.socket.remotePort ?? 0)) {
            seen.add(req.socket.remotePort ?? 0);
            open++;
            req.socket.once('close', () => open--);
          }
          res.end('ok');
        }),
      ),
    );
    const session = makeSession(collectHits());
    try {
      for (let round = 0; round < 3; round++) {
        for (const server of servers) {
          assert.equal((await session.get(`${server.url}/${round}`)).status, 200);
        }
      }
      assert.deepEqual(
        ports.map((seen) => seen.size),
        [1, 1, 1],
      );
      assert.equal(open, 3);
      await session.close();
      for (let waited = 0; open > 0 && waited < 2000; waited += 20) {
        await sleep(20);
      }
      assert.equal(open, 0);
    } finally {
      await session.close();
      await Promise.all(servers.map((server) => server.close()));
    }
  });

  it('runs parallel requests of one user in parallel, on connections of its own', async () => {
    // The server answers only once three requests are in flight at the same
    // time: serialised requests would wait for the fallback and show 1.
    let inFlight = 0;
    let maxInFlight = 0;
    const waiting: http.ServerResponse[] = [];
    let holding = true;
    const server = await startHttpServer((_req, res) => {
      if (!holding) {
        res.end('ok');
        return;
      }
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      waiting.push(res);
      const release = (): void => {
        holding = false;
        for (const held of waiting.splice(0)) {
          inFlight--;
          held.end('ok');
        }
      };
      if (inFlight === 3) {
        release();
      } else {
        setTimeout(release, 3000).unref();
      }
    });
    const sink = collectHits();
    const session = makeSession(sink);
    const other = makeSession(collectHits());
    try {
      const responses = await Promise.all([1, 2, 3].map(() => session.get(`${server.url}/`)));
      assert.deepEqual(
        responses.map((r) => r.status),
        [200, 200, 200],
      );
      assert.equal(maxInFlight, 3);
      assert.equal(sink.hits.length, 3);
      // And the connections stay usable afterwards, from either path.
      assert.equal((await session.get(`${server.url}/`)).status, 200);
      assert.equal((await other.get(`${server.url}/`)).status, 200);
    } finally {
      await session.close();
      await other.close();
      await server.close();
    }
  });
});

describe('Session network errors', () => {
  it('times out against a silent server with REQUEST_TIMEOUT in about the timeout', async () => {
    const silent = await startSilentServer();
    const sink = collectHits();
    const session = makeSession(sink, { timeoutMs: 30000 });
    try {
      const started = performance.now();
      await assert.rejects(
        session.get(`${silent.url}/x`, { timeout: 0.3, name: '/x (named)' }),
        (err: unknown) => {
          assert.ok(err instanceof HttpRequestError);
          assert.equal(err.errorKey, 'REQUEST_TIMEOUT');
          assert.match(
            err.message,
            /within the 0\.3 s timeout \(waiting for the response headers\)/,
          );
          return true;
        },
      );
      const tookMs = performance.now() - started;
      assert.ok(tookMs >= 300 && tookMs < 5000, `took ${tookMs} ms`);
      assert.equal(sink.hits.length, 1);
      assert.deepEqual(
        [sink.hits[0]!.status, sink.hits[0]!.errorKey, sink.hits[0]!.url, sink.hits[0]!.name],
        [0, 'REQUEST_TIMEOUT', `${silent.url}/x`, '/x (named)'],
      );
      assert.ok(sink.hits[0]!.elapsedMs >= 300 && sink.hits[0]!.elapsedMs < 5000);
    } finally {
      await session.close();
      await silent.close();
    }
  });

  it('uses the session timeout when the call gives none', async () => {
    const silent = await startSilentServer();
    const sink = collectHits();
    const session = makeSession(sink, { timeoutMs: 300 });
    try {
      await assert.rejects(session.get(silent.url), { errorKey: 'REQUEST_TIMEOUT' });
    } finally {
      await session.close();
      await silent.close();
    }
  });

  it('rejects a refused connection with ECONNREFUSED', async () => {
    const port = await closedPort();
    const sink = collectHits();
    const session = makeSession(sink);
    const url = `http://127.0.0.1:${port}/x`;
    await assert.rejects(session.post(url, { json: {} }), (err: unknown) => {
      assert.ok(err instanceof HttpRequestError);
      assert.equal(err.errorKey, 'ECONNREFUSED');
      assert.equal(err.code, 'LOADS_ERR_HTTP');
      assert.match(err.message, new RegExp(`^POST ${url} failed: ECONNREFUSED: `));
      return true;
    });
    assert.deepEqual(
      sink.hits.map((h) => [h.method, h.url, h.status, h.errorKey, h.bytes, h.test]),
      [['POST', url, 0, 'ECONNREFUSED', 0, 'TestX.test_one']],
    );
    await session.close();
  });
});

describe('CookieJar', () => {
  it('keeps host-only cookies to their host and domain cookies to subdomains', () => {
    const jar = new CookieJar();
    assert.equal(jar.setCookie('a=1', 'http://www.example.com/'), true);
    assert.equal(jar.setCookie('b=2; Domain=.example.com', 'http://www.example.com/'), true);
    assert.equal(jar.setCookie('c=3; Domain=other.com', 'http://www.example.com/'), false);
    assert.equal(jar.setCookie('d=4; Domain=com', 'http://www.example.com/'), false);
    assert.equal(jar.cookieHeader(new URL('http://www.example.com/x')), 'a=1; b=2');
    assert.equal(jar.cookieHeader(new URL('http://api.example.com/x')), 'b=2');
    assert.equal(jar.cookieHeader(new URL('http://example.com/')), 'b=2');
    assert.equal(jar.cookieHeader(new URL('http://notexample.com/')), '');
  });

  it('matches paths, longest first, with the RFC default path', () => {
    const jar = new CookieJar();
    jar.setCookie('root=1; Path=/', 'http://h.test/');
    jar.setCookie('deep=2', 'http://h.test/a/b/page');
    jar.setCookie('quoted="3"; Path=/a', 'http://h.test/');
    assert.equal(jar.cookieHeader(new URL('http://h.test/a/b/other')), 'deep=2; quoted=3; root=1');
    assert.equal(jar.cookieHeader(new URL('http://h.test/a/bc')), 'quoted=3; root=1');
    assert.equal(jar.cookieHeader(new URL('http://h.test/ab')), 'root=1');
  });

  it('expires by Max-Age over Expires and deletes with Max-Age=0', () => {
    let clock = 1_000_000;
    const jar = new CookieJar(() => clock);
    jar.setCookie('short=1; Max-Age=10; Expires=Wed, 01 Jan 2200 00:00:00 GMT', 'http://h.test/');
    jar.setCookie('old=1; Expires=Wed, 01 Jan 1970 00:00:01 GMT', 'http://h.test/');
    jar.setCookie('keep=1; Expires=Wed, 01 Jan 2200 00:00:00 GMT', 'http://h.test/');
    assert.deepEqual(
      jar.all().map((c) => c.name),
      ['short', 'keep'],
    );
    clock += 10_000;
    assert.equal(jar.cookieHeader(new URL('http://h.test/')), 'keep=1');
    jar.setCookie('keep=; Max-Age=0', 'http://h.test/');
    assert.equal(jar.size, 0);
  });

  it('sends Secure cookies only over https, replaces a cookie in place', () => {
    const jar = new CookieJar();
    jar.setCookie('s=1; Secure', 'https://h.test/');
    jar.setCookie('p=1', 'https://h.test/');
    jar.setCookie('p=2', 'https://h.test/');
    assert.equal(jar.cookieHeader(new URL('http://h.test/')), 'p=2');
    assert.equal(jar.cookieHeader(new URL('https://h.test/')), 's=1; p=2');
    assert.equal(jar.cookieHeader(new URL('https://h.test/'), { p: 'x', z: '9' }), 's=1; p=x; z=9');
    assert.equal(jar.setCookie('noequals', 'http://h.test/'), false);
    jar.set('m', 'v', 'h.test');
    assert.equal(jar.get('m'), 'v');
    jar.clear();
    assert.equal(jar.size, 0);
  });

  it('keeps cookies of 127.0.0.1 host-only', () => {
    const jar = new CookieJar();
    jar.setCookie('ip=1; Domain=127.0.0.1', 'http://127.0.0.1:8080/');
    assert.equal(jar.cookieHeader(new URL('http://127.0.0.1:9090/')), 'ip=1');
    assert.equal(jar.all()[0]!.hostOnly, true);
  });
});
