// Messages for the errors a tester can fix with an option: an untrusted
// server certificate (--ca, --insecure), a server that wants a client
// certificate (--cert/--key), a server that speaks only HTTP/2 (--http2).
// OpenSSL's own text starts with the id of the thread that saw it
// ("C0967F85AE7F0000:error:0A00010B:SSL routines:…:wrong version
// number:../deps/openssl/…:350:"), so the same error would make one row per
// worker thread in the summary; only its reason is kept.
import { CERTIFICATE_ERROR_CODES } from '../metrics/error-key.ts';

/** A certificate outside its validity dates: trusting its CA does not help. */
const DATED_CERT_CODES: ReadonlySet<string> = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
]);

const NAME_MISMATCH_CODES: ReadonlySet<string> = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/** The other verification failures: a CA the client does not trust (self-signed, private CA, …). */
const UNTRUSTED_CERT_CODES: ReadonlySet<string> = new Set(
  CERTIFICATE_ERROR_CODES.filter(
    (code) => !DATED_CERT_CODES.has(code) && !NAME_MISMATCH_CODES.has(code),
  ),
);

/** TLS alerts of a server that refused our client certificate, or our having none. */
const CLIENT_CERT_CODES: ReadonlySet<string> = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
]);

/** What the client was doing, for the hints. */
export interface ConnectErrorContext {
  /** --http2 was on. */
  http2: boolean;
  /** A client certificate was presented (--cert). */
  clientCert: boolean;
  /** A WebSocket handshake (always HTTP/1.1), not a request. */
  webSocket?: boolean;
}

/** OpenSSL's "[<thread id>:]error:<code>:<library>:<function>:<reason>[:<file>:<line>:<detail>]" form. */
const OPENSSL_MESSAGE = /^(?:[0-9A-F]+:)?error:[0-9A-F]+:[^:]*:[^:]*:([^:]+)(?::[^:]*:\d+:(.*))?/;

/**
 * The message of a request or handshake error, with the fix when an option
 * allows it, and without OpenSSL's thread-specific prefix. Never throws.
 */
export function describeConnectError(
  err: unknown,
  context: ConnectErrorContext,
  secure: boolean,
): string {
  const cause = findCoded(err);
  const message = errorText(err);
  const code = cause?.code ?? '';
  if (UNTRUSTED_CERT_CODES.has(code)) {
    return `${message} (${code}): the server's certificate is not trusted; pass --ca FILE with the CA that signed it, or --insecure (verify: false for one request) to accept any certificate`;
  }
  if (DATED_CERT_CODES.has(code)) {
    return `${message} (${code}): renew the server's certificate, or pass --insecure (verify: false for one request) to accept any certificate`;
  }
  if (NAME_MISMATCH_CODES.has(code)) {
    return `${message}: use the host name the certificate was issued for, or pass --insecure (verify: false for one request) to accept any certificate`;
  }
  if (CLIENT_CERT_CODES.has(code)) {
    return context.clientCert
      ? `${message} (${code}): the server refused the client certificate given with --cert; check that its CA is one the server trusts`
      : `${message} (${code}): the server wants a client certificate; pass --cert FILE --key FILE`;
  }
  if (code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
    if (context.webSocket === true) {
      return `${message} (${code}): the server does not offer HTTP/1.1, which a WebSocket handshake needs`;
    }
    return context.http2
      ? `${message} (${code}): the server offers neither HTTP/1.1 nor HTTP/2 by ALPN`
      : `${message} (${code}): the server speaks only HTTP/2; pass --http2`;
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return `${message} (${code}): the server did not answer in TLS; if it speaks plain HTTP, use an http:// URL`;
  }
  if (
    secure &&
    !context.clientCert &&
    (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') &&
    isClosedBeforeResponse(err)
  ) {
    // Over TLS 1.3 a server that requires a client certificate refuses it
    // after the handshake, and the client often sees only the close.
    return `${message}: the server closed the connection without answering; if it requires a client certificate (mutual TLS), pass --cert FILE --key FILE`;
  }
  if (code.startsWith('HPE_') && !context.http2 && message.includes('HTTP/1.1')) {
    return `${message}: if the server speaks only HTTP/2, use its https:// URL with --http2`;
  }
  return message;
}

/** undici's "other side closed" / a reset, with nothing of a response read. */
function isClosedBeforeResponse(err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  return message === 'other side closed' || message.includes('ECONNRESET');
}

interface CodedError {
  code: string;
  message: string;
  reason?: unknown;
}

/** The deepest error with a string code in the cause chain (undici wraps Node's), or undefined. */
function findCoded(err: unknown): CodedError | undefined {
  let found: CodedError | undefined;
  let current: unknown = err;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const errors = (current as { errors?: unknown }).errors;
    const candidate =
      current instanceof AggregateError && Array.isArray(errors) && errors.length > 0
        ? (errors[0] as unknown)
        : current;
    if (typeof candidate !== 'object' || candidate === null) {
      break;
    }
    if (typeof (candidate as { code?: unknown }).code === 'string') {
      found = candidate as CodedError;
    }
    current = (candidate as { cause?: unknown }).cause;
  }
  return found;
}

/**
 * An error's message for a summary row: an AggregateError's first error's,
 * the name for an empty message, OpenSSL's reduced to its reason (and its
 * alert, if any).
 */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) {
    return String(err);
  }
  if (err instanceof AggregateError && err.errors.length > 0) {
    return errorText(err.errors[0]);
  }
  const match = OPENSSL_MESSAGE.exec(err.message);
  if (match !== null) {
    const extra = match[2]?.trim() ?? '';
    return extra === '' ? match[1]! : `${match[1]!} (${extra})`;
  }
  return err.message === '' ? err.name : err.message;
}
