import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { errors } from 'undici';
import { classifyError, ERROR_KEYS } from '../../src/metrics/error-key.ts';
import { HttpRequestError } from '../../src/errors.ts';
import { BodyTooLargeError, RequestTimeoutError } from '../../src/client/http/session.ts';
import { ContentDecodingError } from '../../src/client/http/decode.ts';
import { closedPort } from '../helpers/servers.ts';

function withCode(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

describe('classifyError', () => {
  it('classifies a real refused connection as ECONNREFUSED', async () => {
    const port = await closedPort();
    const socket = net.connect(port, '127.0.0.1');
    const [err] = (await once(socket, 'error').catch((e: unknown) => [e])) as [unknown];
    assert.equal(classifyError(err), 'ECONNREFUSED');
  });

  it('maps node codes directly', () => {
    const cases: [string, string][] = [
      ['ECONNREFUSED', 'ECONNREFUSED'],
      ['ECONNRESET', 'ECONNRESET'],
      ['ETIMEDOUT', 'ETIMEDOUT'],
      ['ENOTFOUND', 'ENOTFOUND'],
      ['EAI_AGAIN', 'EAI_AGAIN'],
      ['EPIPE', 'EPIPE'],
      ['EHOSTUNREACH', 'EHOSTUNREACH'],
      ['EHOSTDOWN', 'EHOSTUNREACH'],
      ['ENETUNREACH', 'ENETUNREACH'],
      ['EADDRNOTAVAIL', 'EADDRNOTAVAIL'],
      ['EMFILE', 'EMFILE'],
      ['ENFILE', 'EMFILE'],
      ['CERT_HAS_EXPIRED', 'TLS'],
      ['ERR_SSL_WRONG_VERSION_NUMBER', 'TLS'],
      ['ERR_TLS_CERT_ALTNAME_INVALID', 'TLS'],
      ['HPE_INVALID_CONSTANT', 'HTTP_PARSE'],
      ['ERR_INVALID_URL', 'INVALID_URL'],
      ['ABORT_ERR', 'ABORTED'],
      ['EWHATEVER', 'OTHER'],
    ];
    assert.deepEqual(
      cases.map(([code]) => [code, classifyError(withCode(code))]),
      cases,
    );
  });

  it('maps undici errors by their code', () => {
    assert.equal(classifyError(new errors.ConnectTimeoutError()), 'ETIMEDOUT');
    assert.equal(classifyError(new errors.HeadersTimeoutError()), 'UND_ERR_HEADERS_TIMEOUT');
    assert.equal(classifyError(new errors.BodyTimeoutError()), 'UND_ERR_BODY_TIMEOUT');
    assert.equal(classifyError(new errors.SocketError('other side closed')), 'UND_ERR_SOCKET');
    assert.equal(classifyError(new errors.RequestAbortedError()), 'ABORTED');
    assert.equal(
      classifyError(new errors.ResponseContentLengthMismatchError()),
      'CONTENT_LENGTH_MISMATCH',
    );
    assert.equal(classifyError(new errors.InvalidArgumentError('bad')), 'OTHER');
  });

  it('looks into cause chains and AggregateError', () => {
    assert.equal(
      classifyError(new TypeError('fetch failed', { cause: withCode('ECONNRESET') })),
      'ECONNRESET',
    );
    assert.equal(
      classifyError(
        new Error('a', { cause: new Error('b', { cause: withCode('UND_ERR_SOCKET') }) }),
      ),
      'UND_ERR_SOCKET',
    );
    assert.equal(
      classifyError(new AggregateError([withCode('EHOSTUNREACH'), withCode('ECONNREFUSED')])),
      'EHOSTUNREACH',
    );
    const tooDeep = new Error('1', {
      cause: new Error('2', {
        cause: new Error('3', { cause: new Error('4', { cause: withCode('EPIPE') }) }),
      }),
    });
    assert.equal(classifyError(tooDeep), 'OTHER');
  });

  it('maps abort and timeout DOMExceptions, and a bad URL', () => {
    assert.equal(classifyError(new DOMException('aborted', 'AbortError')), 'ABORTED');
    assert.equal(classifyError(new DOMException('timed out', 'TimeoutError')), 'ETIMEDOUT');
    let urlError: unknown;
    try {
      new URL('not a url');
    } catch (err) {
      urlError = err;
    }
    assert.equal(classifyError(urlError), 'INVALID_URL');
  });

  it('returns the key of an HttpRequestError, OTHER when it is not a known key', () => {
    assert.equal(
      classifyError(new HttpRequestError('GET', 'http://x/', 'TOO_MANY_REDIRECTS', 'loop')),
      'TOO_MANY_REDIRECTS',
    );
    assert.equal(classifyError(new HttpRequestError('GET', 'http://x/', 'NOPE', 'x')), 'OTHER');
  });

  it('never throws on odd values', () => {
    assert.deepEqual(
      [undefined, null, 'ECONNRESET', 42, {}, { code: 7 }, [], Object.create(null) as object].map(
        classifyError,
      ),
      ['OTHER', 'OTHER', 'OTHER', 'OTHER', 'OTHER', 'OTHER', 'OTHER', 'OTHER'],
    );
  });

  it('only ever returns keys from ERROR_KEYS', () => {
    assert.equal(new Set(ERROR_KEYS).size, ERROR_KEYS.length);
    assert.equal(ERROR_KEYS.includes('OTHER'), true);
    assert.equal(ERROR_KEYS.length, 24);
  });

  it("classifies the runner's own deadline and body limit, and undici's size limit", () => {
    assert.equal(classifyError(new RequestTimeoutError(1000, 'connecting')), 'REQUEST_TIMEOUT');
    assert.equal(classifyError(new BodyTooLargeError(1024, 'the body')), 'BODY_TOO_LARGE');
    assert.equal(classifyError(new errors.ResponseExceededMaxSizeError()), 'BODY_TOO_LARGE');
  });

  it("classifies a body that does not decode, ours or zlib's own error, as CONTENT_DECODING", () => {
    assert.equal(
      classifyError(new ContentDecodingError('gzip', 'incorrect header check, Z_DATA_ERROR')),
      'CONTENT_DECODING',
    );
    // The codes Node's zlib, brotli and zstd decoders throw.
    for (const code of [
      'Z_DATA_ERROR',
      'Z_BUF_ERROR',
      'Z_NEED_DICT',
      'ERR__ERROR_FORMAT_PADDING_2',
      'ERR__ERROR_FORMAT_HUFFMAN_SPACE',
      'ZSTD_error_prefix_unknown',
    ]) {
      assert.equal(classifyError(withCode(code)), 'CONTENT_DECODING', code);
    }
    assert.equal(classifyError(withCode('Z_OK')), 'OTHER');
  });
});
