// The Session against servers that misbehave: the whole-request deadline
// (a drip-fed body, a silent server), body size limits, discarded bodies,
// and argument checks at the public API.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { Session } from '../../src/client/http/session.ts';
import { App } from '../../src/client/http/app.ts';
import { BodyDiscardedError } from '../../src/client/http/response.ts';
import { HttpRequestError } from '../../src/errors.ts';
import { collectHits } from '../helpers/events.ts';
import { makeTestSession } from '../helpers/session.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { countTimersCreated } from '../helpers/timers.ts';

const makeSession = makeTestSession;

const MIB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

let server: TestServer;
/** Sockets the server saw close, by the path of their first request. */
const closedSockets: string[] = [];
/** Open sockets, and the most open at once, by the path of their first request. */
const openSockets = new Map<string, number>();
const peakSockets = new Map<string, number>();

before(async () => {
  server = await startHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const socket = req.socket as Socket & { seen?: boolean };
    if (socket.seen !== true) {
      socket.seen = true;
      const path = url.pathname;
      const open = (openSockets.get(path) ?? 0) + 1;
      openSockets.set(path, open);
      peakSockets.set(path, Math.max(peakSockets.get(path) ?? 0, open));
      socket.on('close', () => {
        openSockets.set(path, openSockets.get(path)! - 1);
        closedSockets.push(path);
      });
    }
    switch (url.pathname) {
      case '/silent':
      case '/silent-one':
        return; // never answers
      case '/drip': {
        // Headers at once, then one byte every 100 ms: each gap is short, the whole is not.
        res.writeHead(200, { 'content-length': '40' });
        let sent = 0;
        const timer = setInterval(() => {
          res.write('x');
          if (++sent === 40) {
            clearInterval(timer);
            res.end();
          }
        }, 100);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case '/chunked': {
        // A body of ?mb= MiB with no content-length; ?mb=0 never ends.
        const total = Number(url.searchParams.get('mb')) * MIB;
        res.writeHead(200, { 'content-type': 'text/plain' });
        let sent = 0;
        const pump = (): void => {
          while (total === 0 || sent < total) {
            sent += CHUNK.length;
            if (!res.write(CHUNK)) {
              return;
            }
          }
          res.end();
        };
        res.on('drain', pump);
        res.on('close', () => res.off('drain', pump));
        pump();
        return;
      }
      case '/declared': {
        // Declares a big body, and would send it.
        res.writeHead(200, { 'content-length': String(10 * MIB) });
        res.write(CHUNK);
        return;
      }
      case '/json':
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
        return;
      default:
        res.end('ok');
    }
  });
});

after(async () => {
  await server.close();
});

describe('Session deadline', () => {
  it('bounds the whole body: a drip-fed body fails at the deadline, with REQUEST_TIMEOUT and the bytes so far', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    try {
      await assert.rejects(session.get(`${server.url}/drip`, { timeout: 0.5 }), (err: unknown) => {
        assert.ok(err instanceof HttpRequestError);
        assert.equal(err.errorKey, 'REQUEST_TIMEOUT');
        assert.match(
          err.message,
          /within the 0\.5 s timeout \(reading the body, \d+ bytes? received\)/,
        );
        return true;
      });
      const hit = sink.hits[0]!;
      assert.deepEqual([sink.hits.length, hit.status, hit.errorKey], [1, 0, 'REQUEST_TIMEOUT']);
      // Each gap is 100 ms, so only a deadline on the whole body ends it before its 4 s.
      assert.ok(hit.elapsedMs >= 500 && hit.elapsedMs < 3000, `elapsed ${hit.elapsedMs}`);
      assert.ok(hit.bytes >= 1 && hit.bytes < 40, `bytes ${hit.bytes}`);
    } finally {
      await session.close();
    }
  });

  it('makes no timer per request: 200 requests on 20 warm connections create none', async () => {
    const sessions = Array.from({ length: 20 }, () => makeSession(collectHits()));
    try {
      // Connect first: a new connection has a connect timer of undici's.
      await Promise.all(sessions.map((s) => s.get(`${server.url}/json`)));
      const created = await countTimersCreated(async () => {
        for (let i = 0; i < 10; i++) {
          await Promise.all(sessions.map((s) => s.get(`${server.url}/json`)));
        }
      });
      // At most the sweep's interval, if it stopped between two rounds.
      assert.ok(created <= 10, `${created} timers for 200 requests`);
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
    }
  });

  it('timeout 0 waits forever (until aborted)', async () => {
    const sink = collectHits();
    const session = makeSession(sink, { timeoutMs: 100 });
    const pending = session.get(`${server.url}/silent`, { timeout: 0 });
    const outcome = await Promise.race([
      pending.then(
        () => 'resolved',
        () => 'rejected',
      ),
      new Promise((resolve) => setTimeout(resolve, 400, 'still waiting')),
    ]);
    assert.equal(outcome, 'still waiting');
    const reason = new Error('stop');
    session.abortAll(reason, 'TEST_TIMEOUT');
    await assert.rejects(pending, reason);
    assert.deepEqual(
      sink.hits.map((h) => [h.status, h.errorKey, h.url]),
      [[0, 'TEST_TIMEOUT', `${server.url}/silent`]],
    );
    await session.close();
  });
});

describe('Session body size', () => {
  it('fails a body over the limit with BODY_TOO_LARGE, keeps none of it and closes the connection', async () => {
    const sink = collectHits();
    const session = makeSession(sink, { maxBodyBytes: MIB });
    try {
      await assert.rejects(session.get(`${server.url}/chunked?mb=3`), (err: unknown) => {
        assert.ok(err instanceof HttpRequestError);
        assert.equal(err.errorKey, 'BODY_TOO_LARGE');
        assert.match(err.message, /over --max-body-size \(1 MiB\)/);
        return true;
      });
      const hit = sink.hits[0]!;
      assert.deepEqual([hit.status, hit.errorKey], [0, 'BODY_TOO_LARGE']);
      assert.ok(hit.bytes > MIB && hit.bytes < 3 * MIB, `bytes ${hit.bytes}`);
      // The connection is closed, so the next request opens a new one and works.
      const res = await session.get(`${server.url}/json`);
      assert.equal(res.status, 200);
      assert.ok(closedSockets.includes('/chunked'));
    } finally {
      await session.close();
    }
  });

  it('fails a declared content-length over the limit before the body is read', async () => {
    const sink = collectHits();
    const session = makeSession(sink, { maxBodyBytes: MIB });
    try {
      await assert.rejects(session.get(`${server.url}/declared`), {
        errorKey: 'BODY_TOO_LARGE',
        message: /content-length 10485760/,
      });
      assert.equal(sink.hits[0]!.bytes, 0);
    } finally {
      await session.close();
    }
  });

  it('an endless body ends at the limit', async () => {
    const sink = collectHits();
    const session = makeSession(sink, { maxBodyBytes: 2 * MIB, timeoutMs: 0 });
    try {
      await assert.rejects(session.get(`${server.url}/chunked?mb=0`), {
        errorKey: 'BODY_TOO_LARGE',
      });
    } finally {
      await session.close();
    }
  });
});

describe('Session discarded bodies', () => {
  it("body: 'discard' counts the bytes, keeps none, and text/json() say why they cannot read", async () => {
    const sink = collectHits();
    const session = makeSession(sink, { maxBodyBytes: MIB });
    try {
      // No limit applies to a body that is not kept.
      const big = await session.get(`${server.url}/chunked?mb=3`, { body: 'discard' });
      assert.equal(big.status, 200);
      assert.equal(big.bytes, 3 * MIB);
      assert.equal(big.discarded, true);
      assert.equal(big.content.length, 0);
      assert.equal(sink.hits[0]!.bytes, 3 * MIB);
      const small = await session.get(`${server.url}/json`, { body: 'discard' });
      assert.throws(
        () => small.text,
        (err: unknown) => {
          assert.ok(err instanceof BodyDiscardedError);
          assert.match(
            err.message,
            /^the body of GET http:\/\/127\.0\.0\.1:\d+\/json was discarded \(body: 'discard' or --discard-bodies\), so `text`/,
          );
          return true;
        },
      );
      assert.throws(() => small.json(), BodyDiscardedError);
      // Without the option the same session keeps bodies.
      assert.deepEqual((await session.get(`${server.url}/json`)).json(), { ok: true });
    } finally {
      await session.close();
    }
  });

  it('discardBodies (--discard-bodies) discards every body', async () => {
    const session = makeSession(collectHits(), { discardBodies: true });
    try {
      const res = await session.get(`${server.url}/json`);
      assert.deepEqual([res.discarded, res.bytes, res.content.length], [true, 11, 0]);
    } finally {
      await session.close();
    }
  });
});

describe('argument checks at the public API', () => {
  let session: Session;
  let app: App;
  before(() => {
    session = makeSession(collectHits());
    app = new App(session, () => server.url);
  });
  after(async () => {
    await session.close();
  });

  it("rejects what is not a URL in the user's terms, with no hit", async () => {
    await assert.rejects(session.get(42 as unknown as string), {
      name: 'TypeError',
      message:
        "session.get(url): the URL must be a string such as 'http://127.0.0.1:8080/path', not the number 42",
    });
    await assert.rejects(app.post(undefined as unknown as string), {
      message: /^app\.post\(url\): the URL must be a string .*, not undefined$/,
    });
    await assert.rejects(session.request(1 as unknown as string, server.url), {
      message: /^session\.request\(method, url\): the method must be an HTTP method such as 'GET'/,
    });
  });

  it('names a misspelt option and suggests the right one', async () => {
    await assert.rejects(session.get(server.url, { header: { a: 'b' } } as never), {
      message:
        /^session\.get: unknown option 'header' \(did you mean 'headers'\?\); the options are headers, params, json, data, timeout, allowRedirects, cookies, body, verify, name$/,
    });
    await assert.rejects(app.get('/', { stauts: 404 } as never), {
      message: /^app\.get: unknown option 'stauts' \(did you mean 'status'\?\)/,
    });
  });

  it('checks option types', async () => {
    await assert.rejects(session.get(server.url, { timeout: '5' } as never), {
      message:
        'session.get: the option \'timeout\' must be a number of seconds ≥ 0 (0 waits forever), not the string "5"',
    });
    await assert.rejects(session.get(server.url, { headers: { a: 1 } } as never), {
      message: "session.get: the header 'a' must have a string value, not the number 1",
    });
    await assert.rejects(session.post(server.url, { json: {}, data: 'x' }), {
      message: "session.post: the options 'json' and 'data' cannot be used together; pick one",
    });
    await assert.rejects(session.get(server.url, { body: 'keep' } as never), {
      message: /the option 'body' must be 'discard'/,
    });
    await assert.rejects(session.get(server.url, 'fast' as never), {
      message:
        /^session\.get\(url, options\): the options must be an object such as \{ timeout: 5 \}, not the string "fast"$/,
    });
    await assert.rejects(app.get('/', { status: 'ok' } as never), {
      message: /^app\.get: the option 'status' must be a status code such as 404/,
    });
  });

  it('checks the name option: a non-empty string, with no hit for a bad one', async () => {
    const sink = collectHits();
    const named = makeSession(sink);
    const namedApp = new App(named, () => server.url);
    try {
      await assert.rejects(named.get(server.url, { name: '' }), {
        name: 'TypeError',
        message:
          "session.get: the option 'name' must be a non-empty string such as '/item/:id', not the string \"\"",
      });
      await assert.rejects(named.request('GET', server.url, { name: 42 } as never), {
        name: 'TypeError',
        message:
          "session.request: the option 'name' must be a non-empty string such as '/item/:id', not the number 42",
      });
      await assert.rejects(namedApp.get('/', { name: ['/a'] } as never), {
        name: 'TypeError',
        message:
          "app.get: the option 'name' must be a non-empty string such as '/item/:id', not an array",
      });
      assert.equal(sink.hits.length, 0);
      assert.equal((await namedApp.get('/json', { name: '/json (named)' })).status, 200);
      assert.deepEqual(
        sink.hits.map((h) => h.name),
        ['/json (named)'],
      );
    } finally {
      await named.close();
    }
  });

  it('accepts a URL object and every documented option', async () => {
    const res = await session.get(new URL(`${server.url}/json`) as unknown as string, {
      headers: { accept: 'application/json' },
      params: { a: 1 },
      timeout: 2,
      allowRedirects: false,
      cookies: { c: 'd' },
    });
    assert.equal(res.status, 200);
    assert.equal((await app.get('/json', { status: [200, 204] })).status, 200);
  });
});

describe('connections under timeouts', () => {
  it('a timed-out request closes its connection, so connections never pile up', async () => {
    const session = makeSession(collectHits());
    try {
      for (let i = 0; i < 5; i++) {
        await assert.rejects(session.get(`${server.url}/silent-one`, { timeout: 0.1 }), {
          errorKey: 'REQUEST_TIMEOUT',
        });
      }
    } finally {
      await session.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(peakSockets.get('/silent-one'), 1);
    assert.equal(openSockets.get('/silent-one'), 0);
    assert.equal(closedSockets.filter((p) => p === '/silent-one').length, 5);
  });
});
