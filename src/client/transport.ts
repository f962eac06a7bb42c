// How the clients connect: TLS verification, extra CAs, a client
// certificate, HTTP/2 (SPEC §3.1). TransportOptions is plain data, the same
// for every virtual user of a run, so that it crosses to worker threads as it
// is. The TLS objects built from it are made once per thread and shared by
// every connection: a SecureContext with the extra CAs parses Node's ~150
// root certificates, which per connection would cost milliseconds each.
import tls from 'node:tls';

export interface TransportOptions {
  /** --insecure: accept any server certificate (as `verify: false` on every request). */
  insecure: boolean;
  /** --ca: PEM texts of certificate authorities trusted besides Node's own roots. */
  ca: readonly string[];
  /** --cert: PEM client certificate presented for mutual TLS (with `key`); null for none. */
  cert: string | null;
  /** --key: PEM private key of `cert`; null for none. */
  key: string | null;
  /** --http2: offer HTTP/2 by ALPN on https:// origins, falling back to HTTP/1.1. */
  http2: boolean;
}

export const DEFAULT_TRANSPORT: TransportOptions = Object.freeze({
  insecure: false,
  ca: Object.freeze([]),
  cert: null,
  key: null,
  http2: false,
});

/** The TLS part of tls.connect()'s options (also taken by undici's connector and ws). */
export interface TlsConnectOptions {
  rejectUnauthorized: boolean;
  secureContext?: tls.SecureContext;
}

interface TlsOptionsPair {
  verified: TlsConnectOptions;
  unverified: TlsConnectOptions;
}

const tlsOptionsByTransport = new WeakMap<TransportOptions, TlsOptionsPair>();

/**
 * The tls.connect() options of a connection that verifies the server's
 * certificate (`verify` true) or accepts any; the same objects every call.
 * The caller decides `verify` (a request's own option wins over --insecure).
 * Throws when the PEM texts are not valid (the CLI checks them first, with
 * createSecureContextFor).
 */
export function tlsConnectOptions(transport: TransportOptions, verify: boolean): TlsConnectOptions {
  let pair = tlsOptionsByTransport.get(transport);
  if (pair === undefined) {
    const secureContext =
      transport.ca.length === 0 && transport.cert === null
        ? undefined
        : createSecureContextFor(transport);
    const context = secureContext === undefined ? {} : { secureContext };
    pair = {
      verified: Object.freeze({ rejectUnauthorized: true, ...context }),
      unverified: Object.freeze({ rejectUnauthorized: false, ...context }),
    };
    tlsOptionsByTransport.set(transport, pair);
  }
  return verify ? pair.verified : pair.unverified;
}

/**
 * The SecureContext of these options: Node's roots plus the extra CAs, and
 * the client certificate. Throws Node's error for a bad PEM or a key that
 * does not match the certificate.
 */
export function createSecureContextFor(transport: TransportOptions): tls.SecureContext {
  return tls.createSecureContext({
    ...(transport.ca.length === 0 ? {} : { ca: [...tls.rootCertificates, ...transport.ca] }),
    ...(transport.cert === null ? {} : { cert: transport.cert }),
    ...(transport.key === null ? {} : { key: transport.key }),
  });
}
