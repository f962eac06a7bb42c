// Compressed response bodies: the Session asks for gzip, deflate and br,
// decodes what comes (content, text, json()), counts the wire bytes in the
// hit, bounds the decoded bytes by maxBodyBytes, and fails a body that does
// not decode with CONTENT_DECODING; with deadlines and aborts in between.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { Socket } from 'node:net';
import zlib from 'node:zlib';
import type { Dispatcher } from 'undici';
import {
  ContentDecodingError,
  createBodyDecoder,
  type DecodedBodyReceiver,
} from '../../src/client/http/decode.ts';
import { HttpRequestError } from '../../src/errors.ts';
import { collectHits } from '../helpers/events.ts';
import { makeTestSession } from '../helpers/session.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';

const makeSession = makeTestSession;

const MIB = 1024 * 1024;
/** About 190 KB of JSON: decoded, it comes back in a dozen 16 KB chunks. */
const ITEMS = Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `item number ${i}` }));
const JSON_TEXT = JSON.stringify(ITEMS);
const BODIES: Record<string, Buffer> = {
  gzip: zlib.gzipSync(JSON_TEXT),
  'x-gzip': zlib.gzipSync(JSON_TEXT),
  deflate: zlib.deflateSync(JSON_TEXT),
  br: zlib.brotliCompressSync(JSON_TEXT),
  // Applied in the order listed: deflate first, then gzip.
  'deflate, gzip': zlib.gzipSync(zlib.deflateSync(JSON_TEXT)),
};
const GZIPPED_TEXT = zlib.gzipSync('hello, compressed world');
/** gzip members of 1 MiB of zeros each (about 1 KB): a decoder reads them one after the other. */
const ZEROS_MEMBER = zlib.gzipSync(Buffer.alloc(MIB));
/** 'gzip, gzip' of 100 such members: a few hundred bytes on the wire, 100 MiB decoded. */
const NESTED_BOMB = zlib.gzipSync(Buffer.concat(Array.from({ length: 100 }, () => ZEROS_MEMBER)));

/** Every warning this process emits: the decoder must not add undici's ExperimentalWarning. */
const warnings: Error[] = [];
process.on('warning', (warning) => warnings.push(warning));
const originalEmitWarning = process.emitWarning;

let server: TestServer;
/** The accept-encoding header of each request, by path. */
const acceptEncoding = new Map<string, string[]>();
/** Sockets the server saw close, by the path of their first request. */
const closedSockets: string[] = [];

function send(
  res: http.ServerResponse,
  status: number,
  encoding: string | undefined,
  body: Buffer | string,
): void {
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  };
  if (encoding !== undefined) {
    headers['content-encoding'] = encoding;
  }
  res.writeHead(status, headers);
  res.end(body);
}

before(async () => {
  server = await startHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    acceptEncoding.set(path, [
      ...(acceptEncoding.get(path) ?? []),
      ...req.rawHeaders.filter(
        (_, i, all) => i % 2 === 1 && /^accept-encoding$/i.test(all[i - 1]!),
      ),
    ]);
    const socket = req.socket as Socket & { seen?: boolean };
    if (socket.seen !== true) {
      socket.seen = true;
      socket.on('close', () => closedSockets.push(path));
    }
    const encoding = url.searchParams.get('encoding') ?? 'gzip';
    switch (path) {
      case '/items':
        return send(res, 200, encoding, BODIES[encoding]!);
      case '/negotiated': {
        // Compresses only when asked to, as a real server does.
        const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
        return gzip ? send(res, 200, 'gzip', GZIPPED_TEXT) : send(res, 200, undefined, 'plain');
      }
      case '/error':
        return send(res, 500, 'gzip', zlib.gzipSync('{"error":"server exploded"}'));
      case '/head':
        return send(res, 200, 'gzip', GZIPPED_TEXT); // node:http sends no body to a HEAD
      case '/no-content':
        res.writeHead(Number(url.searchParams.get('status')), { 'content-encoding': 'gzip' });
        return res.end();
      case '/empty':
        return send(res, 200, 'gzip', '');
      case '/unknown-encoding':
        return send(res, 200, 'x-custom', 'sent as it is');
      case '/corrupt':
        return send(
          res,
          200,
          'gzip',
          Buffer.concat([GZIPPED_TEXT.subarray(0, 10), Buffer.from('not deflate data at all')]),
        );
      case '/truncated':
        return send(res, 200, 'gzip', GZIPPED_TEXT.subarray(0, GZIPPED_TEXT.length - 6));
      case '/br-on-plain':
        return send(res, 200, 'br', '{"plain": "json, not brotli"}');
      case '/plain-labelled-gzip-endless':
        // Not gzip at all, and it never ends: the decoder fails while the body still arrives.
        res.writeHead(200, { 'content-encoding': 'gzip' });
        res.write('plain text, no gzip header');
        return;
      case '/nested-bomb':
        return send(res, 200, 'gzip, gzip', NESTED_BOMB);
      case '/endless-bomb': {
        // 1 MiB of zeros per 1 KB written, until the client goes away.
        res.writeHead(200, { 'content-encoding': 'gzip' });
        const pump = (): void => {
          if (!res.destroyed) {
            res.write(ZEROS_MEMBER, () => setImmediate(pump));
          }
        };
        pump();
        return;
      }
      case '/slow': {
        // The gzip stream in four writes 40 ms apart, chunked.
        const body = BODIES['gzip']!;
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'application/json' });
        const quarter = Math.ceil(body.length / 4);
        let part = 0;
        const next = (): void => {
          const piece = body.subarray(part * quarter, (part + 1) * quarter);
          part++;
          if (part === 4) {
            res.end(piece);
          } else {
            res.write(piece);
            setTimeout(next, 40);
          }
        };
        next();
        return;
      }
      case '/stalls':
        // Half of a gzip stream, then nothing: the deadline ends it while decoding.
        res.writeHead(200, { 'content-encoding': 'gzip' });
        res.write(BODIES['gzip']!.subarray(0, BODIES['gzip']!.length >> 1));
        return;
      default:
        res.writeHead(404).end();
    }
  });
});

after(async () => {
  await server.close();
  assert.deepEqual(
    warnings.filter((w) => /DecompressInterceptor/.test(w.message)),
    [],
    "undici's ExperimentalWarning reached the process",
  );
  assert.equal(process.emitWarning, originalEmitWarning, 'process.emitWarning was not restored');
});

function closedCount(path: string): number {
  return closedSockets.filter((closed) => closed === path).length;
}

/** Resolves once the server has seen `count` sockets of `path` close. */
async function socketClosed(path: string, count = 1): Promise<void> {
  const deadline = Date.now() + 2000;
  while (closedCount(path) < count) {
    assert.ok(Date.now() < deadline, `the connection of ${path} was not closed`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('Session compressed bodies', () => {
  for (const encoding of Object.keys(BODIES)) {
    it(`decodes content-encoding '${encoding}': text and json() decoded, the hit counts the wire bytes`, async () => {
      const sink = collectHits();
      const session = makeSession(sink);
      try {
        const res = await session.get(`${server.url}/items`, { params: { encoding } });
        assert.equal(res.status, 200);
        assert.equal(res.text, JSON_TEXT);
        assert.equal(res.content.length, Buffer.byteLength(JSON_TEXT));
        assert.deepEqual(res.json(), ITEMS);
        const wire = BODIES[encoding]!.length;
        assert.equal(res.bytes, wire);
        assert.ok(wire < JSON_TEXT.length / 3, `compressed to ${wire} bytes`);
        // The headers the server sent, not undici's decoded view of them.
        assert.equal(res.headers['content-encoding'], encoding);
        assert.equal(res.headers['content-length'], String(wire));
        assert.deepEqual(
          sink.hits.map((h) => [h.status, h.errorKey, h.bytes]),
          [[200, '', wire]],
        );
      } finally {
        await session.close();
      }
    });
  }

  it('sends accept-encoding: gzip, deflate, br unless the test sets it, in any case', async () => {
    acceptEncoding.delete('/negotiated');
    const session = makeSession(collectHits());
    try {
      const plainCall = await session.get(`${server.url}/negotiated`);
      assert.equal(plainCall.text, 'hello, compressed world');
      const withHeaders = await session.get(`${server.url}/negotiated`, {
        headers: { 'X-Other': '1' },
      });
      assert.equal(withHeaders.text, 'hello, compressed world');
      const identity = await session.get(`${server.url}/negotiated`, {
        headers: { 'Accept-Encoding': 'identity' },
      });
      assert.equal(identity.text, 'plain');
      assert.equal(identity.headers['content-encoding'], undefined);
      // One header per request: the test's replaces ours.
      assert.deepEqual(acceptEncoding.get('/negotiated'), [
        'gzip, deflate, br',
        'gzip, deflate, br',
        'identity',
      ]);
    } finally {
      await session.close();
    }
  });

  it('decodes an error response too', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    try {
      const res = await session.get(`${server.url}/error`);
      assert.equal(res.status, 500);
      assert.deepEqual(res.json(), { error: 'server exploded' });
      assert.deepEqual(
        sink.hits.map((h) => [h.status, h.errorKey]),
        [[500, '']],
      );
    } finally {
      await session.close();
    }
  });

  it('HEAD, 204, 304 and an empty body with a content-encoding have nothing to decode', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    try {
      const head = await session.head(`${server.url}/head`);
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-encoding'], 'gzip');
      assert.equal(head.content.length, 0);
      for (const status of [204, 304]) {
        const res = await session.get(`${server.url}/no-content`, { params: { status } });
        assert.equal(res.status, status);
        assert.equal(res.text, '');
      }
      // An empty gzip stream would not decode (Z_BUF_ERROR); an empty body is no stream.
      const empty = await session.get(`${server.url}/empty`);
      assert.equal(empty.text, '');
      assert.deepEqual(
        sink.hits.map((h) => [h.method, h.status, h.errorKey, h.bytes]),
        [
          ['HEAD', 200, '', 0],
          ['GET', 204, '', 0],
          ['GET', 304, '', 0],
          ['GET', 200, '', 0],
        ],
      );
    } finally {
      await session.close();
    }
  });

  it('passes a body in an encoding it does not know through as it is', async () => {
    const session = makeSession(collectHits());
    try {
      const res = await session.get(`${server.url}/unknown-encoding`);
      assert.equal(res.text, 'sent as it is');
      assert.equal(res.headers['content-encoding'], 'x-custom');
    } finally {
      await session.close();
    }
  });

  it("body: 'discard' counts the wire bytes and does not decode", async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    try {
      const res = await session.get(`${server.url}/items`, { body: 'discard' });
      assert.equal(res.discarded, true);
      assert.equal(res.bytes, BODIES['gzip']!.length);
      assert.equal(res.content.length, 0);
      // A corrupt body fails only when decoded: discarded, it is fine.
      const corrupt = await session.get(`${server.url}/corrupt`, { body: 'discard' });
      assert.equal(corrupt.status, 200);
      assert.deepEqual(
        sink.hits.map((h) => [h.status, h.errorKey, h.bytes]),
        [
          [200, '', BODIES['gzip']!.length],
          [200, '', 33],
        ],
      );
    } finally {
      await session.close();
    }
  });

  it('decodes a chunked gzip body that arrives slowly; the time covers the whole body', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    try {
      const res = await session.get(`${server.url}/slow`);
      assert.deepEqual(res.json(), ITEMS);
      assert.equal(res.bytes, BODIES['gzip']!.length);
      assert.ok(res.elapsed >= 0.115, `elapsed ${res.elapsed} s`);
      assert.equal(sink.hits[0]!.bytes, BODIES['gzip']!.length);
    } finally {
      await session.close();
    }
  });
});

describe('Session bodies that do not decode', () => {
  const cases: [string, string, RegExp][] = [
    ['/corrupt', 'gzip', /invalid block type, Z_DATA_ERROR/],
    ['/truncated', 'gzip', /unexpected end of file, Z_BUF_ERROR/],
    ['/br-on-plain', 'br', /Decompression failed, ERR__ERROR_FORMAT_/],
  ];
  for (const [path, encoding, detail] of cases) {
    it(`${path}: rejects with CONTENT_DECODING, one status-0 hit, and the session goes on`, async () => {
      const sink = collectHits();
      const session = makeSession(sink);
      const url = `${server.url}${path}`;
      try {
        await assert.rejects(session.get(url), (err: unknown) => {
          assert.ok(err instanceof HttpRequestError);
          assert.equal(err.errorKey, 'CONTENT_DECODING');
          assert.match(
            err.message,
            new RegExp(
              `^GET ${url} failed: CONTENT_DECODING: the body does not decode as its content-encoding '${encoding}' says \\(`,
            ),
          );
          assert.match(err.message, detail);
          assert.match(err.message, /accept-encoding: identity/);
          assert.ok(err.cause instanceof ContentDecodingError);
          assert.equal(err.cause.code, 'LOADS_ERR_CONTENT_DECODING');
          assert.equal(err.cause.contentEncoding, encoding);
          return true;
        });
        assert.equal(sink.hits.length, 1);
        const hit = sink.hits[0]!;
        assert.deepEqual([hit.status, hit.errorKey, hit.url], [0, 'CONTENT_DECODING', url]);
        assert.ok(hit.bytes > 0, `bytes ${hit.bytes}`);
        const next = await session.get(`${server.url}/items`);
        assert.equal(next.text, JSON_TEXT);
      } finally {
        await session.close();
      }
    });
  }

  it('fails while the body still arrives, and closes its connection', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    try {
      await assert.rejects(session.get(`${server.url}/plain-labelled-gzip-endless`), {
        errorKey: 'CONTENT_DECODING',
        message: /incorrect header check, Z_DATA_ERROR/,
      });
      await socketClosed('/plain-labelled-gzip-endless');
      assert.deepEqual(
        sink.hits.map((h) => [h.status, h.errorKey]),
        [[0, 'CONTENT_DECODING']],
      );
    } finally {
      await session.close();
    }
  });
});

describe('Session decoded body size', () => {
  it('a gzip bomb (a few hundred bytes, 100 MiB decoded) fails with BODY_TOO_LARGE in bounded memory', async () => {
    const sink = collectHits();
    const session = makeSession(sink, { maxBodyBytes: MIB });
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 1);
    try {
      await assert.rejects(session.get(`${server.url}/nested-bomb`), (err: unknown) => {
        assert.ok(err instanceof HttpRequestError);
        assert.equal(err.errorKey, 'BODY_TOO_LARGE');
        assert.match(err.message, /the decoded body is over --max-body-size \(1 MiB\)/);
        return true;
      });
      peak = Math.max(peak, process.memoryUsage.rss());
      assert.ok(NESTED_BOMB.length < 1024, `the bomb is ${NESTED_BOMB.length} bytes`);
      assert.deepEqual(
        sink.hits.map((h) => [h.status, h.errorKey, h.bytes]),
        [[0, 'BODY_TOO_LARGE', NESTED_BOMB.length]],
      );
      const growth = peak - baseline;
      assert.ok(growth < 40 * MIB, `RSS grew by ${(growth / MIB).toFixed(1)} MiB`);
    } finally {
      clearInterval(sampler);
      await session.close();
    }
  });

  it('an endless compressed body ends at the decoded limit and its connection is closed', async () => {
    const sink = collectHits();
    const session = makeSession(sink, { maxBodyBytes: 4 * MIB, timeoutMs: 0 });
    try {
      await assert.rejects(session.get(`${server.url}/endless-bomb`), {
        errorKey: 'BODY_TOO_LARGE',
      });
      await socketClosed('/endless-bomb');
      const hit = sink.hits[0]!;
      assert.equal(sink.hits.length, 1);
      // 4 MiB decoded is about 4 KB of gzip members; the wire may run a little ahead.
      assert.ok(hit.bytes >= 4 * ZEROS_MEMBER.length && hit.bytes < MIB, `bytes ${hit.bytes}`);
    } finally {
      await session.close();
    }
  });

  it('the limit counts decoded bytes: a body that fits compressed but not decoded fails', async () => {
    // BODIES.gzip is about 30 KB on the wire and 190 KB decoded.
    const session = makeSession(collectHits(), { maxBodyBytes: 100 * 1024 });
    try {
      await assert.rejects(session.get(`${server.url}/items`), {
        errorKey: 'BODY_TOO_LARGE',
        message: /the decoded body/,
      });
      const fits = makeSession(collectHits(), { maxBodyBytes: JSON_TEXT.length });
      assert.equal((await fits.get(`${server.url}/items`)).text, JSON_TEXT);
      await fits.close();
    } finally {
      await session.close();
    }
  });
});

describe('Session deadlines and aborts while decoding', () => {
  it('a deadline during decoding fails with REQUEST_TIMEOUT, once, and closes the connection', async () => {
    const sink = collectHits();
    const session = makeSession(sink);
    try {
      await assert.rejects(session.get(`${server.url}/stalls`, { timeout: 0.3 }), {
        errorKey: 'REQUEST_TIMEOUT',
        message: /\(reading the body, [\d.]+ KiB received, [\d.]+ KiB decoded\)/,
      });
      await socketClosed('/stalls');
      // Nothing comes later from the decoder or undici: still one hit.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(
        sink.hits.map((h) => [h.status, h.errorKey, h.bytes]),
        [[0, 'REQUEST_TIMEOUT', BODIES['gzip']!.length >> 1]],
      );
      assert.ok(sink.hits[0]!.elapsedMs >= 300, `elapsed ${sink.hits[0]!.elapsedMs}`);
    } finally {
      await session.close();
    }
  });

  it('abortAll during decoding rejects with the reason and counts the hit once', async () => {
    const sink = collectHits();
    const session = makeSession(sink, { timeoutMs: 0 });
    const closedBefore = closedCount('/stalls');
    try {
      const pending = session.get(`${server.url}/stalls`);
      // Time for the first half of the body to reach the decoder.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const reason = new Error('test run timed out');
      session.abortAll(reason, 'TEST_TIMEOUT');
      await assert.rejects(pending, reason);
      await socketClosed('/stalls', closedBefore + 1);
      // Nothing comes later from the decoder or undici: still one hit.
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(
        sink.hits.map((h) => [h.status, h.errorKey, h.bytes]),
        [[0, 'TEST_TIMEOUT', BODIES['gzip']!.length >> 1]],
      );
    } finally {
      await session.close();
    }
  });
});

/** What a BodyDecoder handed its receiver. */
class Received implements DecodedBodyReceiver {
  chunks: Buffer[] = [];
  ends = 0;
  errors: Error[] = [];
  /** Called after each chunk, e.g. to stop the decoder. */
  onChunk: (() => void) | undefined = undefined;
  onDecodedData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.onChunk?.();
  }
  onDecodedEnd(): void {
    this.ends++;
  }
  onDecodedError(error: Error): void {
    this.errors.push(error);
  }
  get bytes(): number {
    return this.chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  }
}

/** A controller standing for undici's: an abort fails the request back into the handler, as undici does. */
function controllerFor(onAbort: (reason: Error) => void): Dispatcher.DispatchController {
  let aborted = false;
  let reason: Error | null = null;
  return {
    get aborted() {
      return aborted;
    },
    get paused() {
      return false;
    },
    get reason() {
      return reason;
    },
    abort(why: Error) {
      if (!aborted) {
        aborted = true;
        reason = why;
        onAbort(why);
      }
    },
    pause() {},
    resume() {},
  };
}

/** Resolves once nothing more is pending on the zlib thread pool for a while. */
function settleDown(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 100));
}

describe('createBodyDecoder', () => {
  it('stops decoding, once, when the Exchange ends it with onResponseError, even after the input ended', async () => {
    const received = new Received();
    const decoder = createBodyDecoder(received, 'gzip, gzip');
    const controller = controllerFor((reason) => decoder.onResponseError(controller, reason));
    const stop = new Error('over the limit');
    received.onChunk = () => {
      if (received.bytes >= MIB) {
        decoder.onResponseError(controller, stop);
      }
    };
    decoder.onRequestStart(controller, {});
    decoder.onResponseStart(controller, 200, { 'content-encoding': 'gzip, gzip' }, 'OK');
    decoder.onResponseData(controller, NESTED_BOMB);
    decoder.onResponseEnd(controller, {});
    await settleDown();
    decoder.onResponseError(controller, new Error('a second stop does nothing'));
    assert.ok(received.bytes >= MIB && received.bytes < 2 * MIB, `decoded ${received.bytes}`);
    assert.deepEqual(received.errors, [stop]);
    assert.equal(received.ends, 0);
  });

  it("wraps the decoder's own error in ContentDecodingError and passes others on as they are", async () => {
    const received = new Received();
    const decoder = createBodyDecoder(received, 'gzip');
    const controller = controllerFor((reason) => decoder.onResponseError(controller, reason));
    decoder.onRequestStart(controller, {});
    decoder.onResponseStart(controller, 200, { 'content-encoding': 'gzip' }, 'OK');
    decoder.onResponseData(controller, Buffer.from('no gzip header here'));
    await settleDown();
    assert.equal(received.errors.length, 1);
    const error = received.errors[0]!;
    assert.ok(error instanceof ContentDecodingError);
    assert.equal((error.cause as { code?: string }).code, 'Z_DATA_ERROR');

    const other = new Received();
    const second = createBodyDecoder(other, 'br');
    const reset = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    second.onRequestStart(controller, {});
    second.onResponseStart(controller, 200, { 'content-encoding': 'br' }, 'OK');
    second.onResponseError(controller, reset);
    assert.deepEqual(other.errors, [reset]);
  });
});
