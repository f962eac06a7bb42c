// Maps a network error into a short key from a small closed set, so that the
// aggregator can count hit errors by kind (k6 error_codes.go style). undici
// wraps node errors (`err.cause`), and Node's happy-eyeballs connect throws an
// AggregateError, so the code is looked for in both places. Anything not
// recognised is 'OTHER'; the full error still reaches the user's test.
import { HttpRequestError } from '../errors.ts';

/** Every key classifyError can return. */
export const ERROR_KEYS = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EMFILE',
  'TLS',
  'HTTP_PARSE',
  'CONTENT_LENGTH_MISMATCH',
  'TOO_MANY_REDIRECTS',
  'INVALID_URL',
  /** No complete response within the request's deadline (--timeout): connect, headers and body. */
  'REQUEST_TIMEOUT',
  /** The body was over --max-body-size: not kept, connection closed. */
  'BODY_TOO_LARGE',
  /**
   * The body did not decode as its content-encoding said (corrupt or
   * truncated gzip/deflate/br, or a plain body labelled compressed).
   */
  'CONTENT_DECODING',
  /** In flight when its test run passed --test-timeout: aborted with the run. */
  'TEST_TIMEOUT',
  'ABORTED',
  'OTHER',
] as const;
export type ErrorKey = (typeof ERROR_KEYS)[number];

/** Node's codes of a server certificate that failed verification: all counted as TLS. */
export const CERTIFICATE_ERROR_CODES: readonly string[] = Object.freeze([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'CERT_SIGNATURE_FAILURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_REVOKED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

const KEY_BY_CODE: ReadonlyMap<string, ErrorKey> = new Map<string, ErrorKey>([
  ['ECONNREFUSED', 'ECONNREFUSED'],
  ['ECONNRESET', 'ECONNRESET'],
  ['ETIMEDOUT', 'ETIMEDOUT'],
  ['UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT'],
  ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT'],
  ['UND_ERR_BODY_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'],
  ['UND_ERR_SOCKET', 'UND_ERR_SOCKET'],
  ['ENOTFOUND', 'ENOTFOUND'],
  ['EAI_AGAIN', 'EAI_AGAIN'],
  ['EPIPE', 'EPIPE'],
  ['EHOSTUNREACH', 'EHOSTUNREACH'],
  ['EHOSTDOWN', 'EHOSTUNREACH'],
  ['ENETUNREACH', 'ENETUNREACH'],
  ['EADDRNOTAVAIL', 'EADDRNOTAVAIL'],
  ['EMFILE', 'EMFILE'],
  ['ENFILE', 'EMFILE'],
  ['EPROTO', 'TLS'],
  ...CERTIFICATE_ERROR_CODES.map((code): [string, ErrorKey] => [code, 'TLS']),
  ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'CONTENT_LENGTH_MISMATCH'],
  ['UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'CONTENT_LENGTH_MISMATCH'],
  ['ERR_INVALID_URL', 'INVALID_URL'],
  ['LOADS_ERR_REQUEST_TIMEOUT', 'REQUEST_TIMEOUT'],
  ['LOADS_ERR_BODY_TOO_LARGE', 'BODY_TOO_LARGE'],
  ['UND_ERR_RES_EXCEEDED_MAX_SIZE', 'BODY_TOO_LARGE'],
  ['LOADS_ERR_CONTENT_DECODING', 'CONTENT_DECODING'],
  ['ABORT_ERR', 'ABORTED'],
  ['UND_ERR_ABORTED', 'ABORTED'],
  ['UND_ERR_ABORT', 'ABORTED'],
]);

/** How deep to follow `cause` chains; undici wraps at most twice. */
const MAX_CAUSE_DEPTH = 4;

/**
 * The error key of a failed request or socket: one of ERROR_KEYS.
 * Never throws, whatever `err` is.
 */
export function classifyError(err: unknown): ErrorKey {
  if (err instanceof HttpRequestError) {
    return isErrorKey(err.errorKey) ? err.errorKey : 'OTHER';
  }
  let current: unknown = err;
  for (
    let depth = 0;
    depth < MAX_CAUSE_DEPTH && typeof current === 'object' && current !== null;
    depth++
  ) {
    const key = keyOf(current);
    if (key !== undefined) {
      return key;
    }
    const errors = (current as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0) {
      const first = keyOf(errors[0]);
      if (first !== undefined) {
        return first;
      }
    }
    current = (current as { cause?: unknown }).cause;
  }
  return 'OTHER';
}

function keyOf(value: unknown): ErrorKey | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const code = (value as { code?: unknown }).code;
  if (typeof code === 'string') {
    const key = KEY_BY_CODE.get(code);
    if (key !== undefined) {
      return key;
    }
    if (code.startsWith('HPE_')) {
      return 'HTTP_PARSE';
    }
    if (isContentDecodingCode(code)) {
      return 'CONTENT_DECODING';
    }
    if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
      return 'TLS';
    }
  }
  const name = (value as { name?: unknown }).name;
  if (name === 'AbortError') {
    return 'ABORTED';
  }
  if (name === 'TimeoutError') {
    return 'ETIMEDOUT';
  }
  return undefined;
}

/**
 * zlib's codes: Z_DATA_ERROR (not that format, or corrupt), Z_BUF_ERROR
 * (truncated, or empty), Z_NEED_DICT and the rest of zlib.codes below zero;
 * brotli's ERR__ERROR_FORMAT_* and other ERR__ERROR_*; zstd's ZSTD_error_*
 * (Node 22.15+).
 */
const ZLIB_ERROR_CODES: ReadonlySet<string> = new Set([
  'Z_NEED_DICT',
  'Z_ERRNO',
  'Z_STREAM_ERROR',
  'Z_DATA_ERROR',
  'Z_MEM_ERROR',
  'Z_BUF_ERROR',
  'Z_VERSION_ERROR',
]);

/** True for the `code` of an error that Node's zlib (gzip, deflate, brotli, zstd) throws while decoding. */
export function isContentDecodingCode(code: string): boolean {
  return (
    ZLIB_ERROR_CODES.has(code) || code.startsWith('ERR__ERROR_') || code.startsWith('ZSTD_error_')
  );
}

function isErrorKey(value: string): value is ErrorKey {
  return (ERROR_KEYS as readonly string[]).includes(value);
}
