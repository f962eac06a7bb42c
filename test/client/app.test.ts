import { describe, it, before, after } from 'node:test';
import assert, { AssertionError } from 'node:assert/strict';
import { App, AppResponse } from '../../src/client/http/app.ts';
import { Session } from '../../src/client/http/session.ts';
import { MissingServerUrlError } from '../../src/errors.ts';
import type { HitEvent, LoadsEvent } from '../../src/metrics/events.ts';
import { readBody, startHttpServer, type TestServer } from '../helpers/servers.ts';
import { firstRunContext } from '../helpers/events.ts';

const context = firstRunContext();

function makeSession(hits: HitEvent[] = []): Session {
  return new Session({
    sink: {
      emit(e: LoadsEvent) {
        if (e.type === 'hit') {
          hits.push({ ...e });
        }
      },
    },
    context,
    testName: () => 'TestApp.test_x',
    timeoutMs: 5000,
  });
}

describe('App', () => {
  let server: TestServer;
  let other: TestServer;
  before(async () => {
    server = await startHttpServer((req, res) => {
      void (async () => {
        const body = await readBody(req);
        if (req.url === '/missing') {
          res.statusCode = 404;
          res.end('not here');
        } else if (req.url === '/moved') {
          res.statusCode = 301;
          res.setHeader('location', '/hello');
          res.end();
        } else if (req.url === '/broken') {
          res.statusCode = 503;
          res.end('down');
        } else {
          res.end(`main ${req.method ?? ''} ${req.url ?? ''} ${body}`);
        }
      })();
    });
    other = await startHttpServer((req, res) => {
      res.end(`other ${req.url ?? ''}`);
    });
  });
  after(async () => {
    await server.close();
    await other.close();
  });

  it('sends paths relative to the server URL', async () => {
    const hits: HitEvent[] = [];
    const session = makeSession(hits);
    const app = new App(session, () => server.url);
    const res = await app.get('/hello');
    assert.ok(res instanceof AppResponse);
    assert.equal(res.status, 200);
    assert.equal(res.text, 'main GET /hello ');
    assert.equal((await app.post('relative', { data: 'x=1' })).text, 'main POST /relative x=1');
    assert.equal((await app.put('/p', { json: 1 })).text, 'main PUT /p 1');
    assert.equal((await app.patch('/p')).text, 'main PATCH /p ');
    assert.equal((await app.delete('/d')).text, 'main DELETE /d ');
    assert.equal((await app.options('/o')).text, 'main OPTIONS /o ');
    assert.equal((await app.head('/h')).status, 200);
    assert.equal((await app.request('GET', `${other.url}/abs`)).text, 'other /abs');
    assert.deepEqual(
      hits.map((h) => `${h.method} ${h.url}`),
      [
        `GET ${server.url}/hello`,
        `POST ${server.url}/relative`,
        `PUT ${server.url}/p`,
        `PATCH ${server.url}/p`,
        `DELETE ${server.url}/d`,
        `OPTIONS ${server.url}/o`,
        `HEAD ${server.url}/h`,
        `GET ${other.url}/abs`,
      ],
    );
    await session.close();
  });

  it('keeps a path prefix of the server URL', async () => {
    const session = makeSession();
    const app = new App(session, () => `${server.url}/api/`);
    assert.equal((await app.get('/v1')).text, 'main GET /api/v1 ');
    assert.equal((await app.get('v2')).text, 'main GET /api/v2 ');
    await session.close();
  });

  it('reads the default server URL lazily and lets the setter override it', async () => {
    const session = makeSession();
    let fromClass: string | undefined = undefined;
    const app = new App(session, () => fromClass);
    assert.equal(app.serverUrl, undefined);
    fromClass = server.url;
    assert.equal(app.serverUrl, server.url);
    assert.equal((await app.get('/a')).text, 'main GET /a ');
    app.serverUrl = other.url;
    assert.equal(app.serverUrl, other.url);
    assert.equal((await app.get('/a')).text, 'other /a');
    app.serverUrl = undefined;
    assert.equal((await app.get('/b')).text, 'main GET /b ');
    await session.close();
  });

  it('throws MissingServerUrlError without a server URL', async () => {
    const hits: HitEvent[] = [];
    const session = makeSession(hits);
    const app = new App(session, () => undefined);
    await assert.rejects(app.get('/x'), (err: unknown) => {
      assert.ok(err instanceof MissingServerUrlError);
      assert.equal(
        err.message,
        'this.app needs a server URL: set `serverUrl` on the test class or pass --server-url',
      );
      return true;
    });
    assert.equal(hits.length, 0);
    await session.close();
  });

  it('accepts an expected status and fails on an unexpected one', async () => {
    const hits: HitEvent[] = [];
    const session = makeSession(hits);
    const app = new App(session, () => server.url);
    assert.equal((await app.get('/missing', { status: 404 })).text, 'not here');
    assert.equal((await app.get('/missing', { status: '*' })).status, 404);
    assert.equal((await app.get('/missing', { status: [400, 404] })).status, 404);
    await assert.rejects(app.get('/missing'), (err: unknown) => {
      assert.ok(err instanceof AssertionError);
      assert.equal(
        err.message,
        `GET ${server.url}/missing returned status 404, expected 2xx or 3xx`,
      );
      assert.equal(err.actual, 404);
      return true;
    });
    await assert.rejects(app.post('/broken'), {
      name: 'AssertionError',
      message: `POST ${server.url}/broken returned status 503, expected 2xx or 3xx`,
    });
    await assert.rejects(app.get('/hello', { status: 201 }), {
      name: 'AssertionError',
      message: `GET ${server.url}/hello returned status 200, expected 201`,
    });
    await assert.rejects(app.get('/hello', { status: [201, 204] }), {
      name: 'AssertionError',
      message: `GET ${server.url}/hello returned status 200, expected 201 or 204`,
    });
    assert.deepEqual(
      hits.map((h) => h.status),
      [404, 404, 404, 404, 503, 200, 200],
    );
    await session.close();
  });

  it('lets a 3xx through with allowRedirects false, follows it otherwise', async () => {
    const session = makeSession();
    const app = new App(session, () => server.url);
    const moved = await app.get('/moved', { allowRedirects: false });
    assert.equal(moved.status, 301);
    assert.equal(moved.headers['location'], '/hello');
    const followed = await app.get('/moved');
    assert.equal(followed.status, 200);
    assert.equal(followed.url, `${server.url}/hello`);
    await session.close();
  });

  it('passes the name option to every hit of the call, a redirect hop included', async () => {
    const hits: HitEvent[] = [];
    const session = makeSession(hits);
    const app = new App(session, () => server.url);
    await app.get('/moved', { name: '/moved/:id' });
    await app.request('GET', '/missing', { name: '/missing/:id', status: 404 });
    await app.get('/hello');
    assert.deepEqual(
      hits.map((h) => [h.url, h.name, h.status]),
      [
        [`${server.url}/moved`, '/moved/:id', 301],
        [`${server.url}/hello`, '/moved/:id', 200],
        [`${server.url}/missing`, '/missing/:id', 404],
        [`${server.url}/hello`, '', 200],
      ],
    );
    await session.close();
  });

  it('includes and mustContain check the body', async () => {
    const session = makeSession();
    const app = new App(session, () => server.url);
    const res = await app.get('/greeting');
    assert.equal(res.includes('GET /greeting'), true);
    assert.equal(res.includes('POST'), false);
    res.mustContain('main', 'greeting');
    assert.throws(
      () => res.mustContain('main', 'absent', 'gone'),
      (err: unknown) => {
        assert.ok(err instanceof AssertionError);
        assert.equal(
          err.message,
          `GET ${server.url}/greeting: body does not contain "absent", "gone"`,
        );
        return true;
      },
    );
    await session.close();
  });
});
