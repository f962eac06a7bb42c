// The connection to the NATS broker (SPEC §10), for agents and runners alike.
// parseBrokerOptions turns the --broker URL and --broker-* options into plain
// BrokerOptions, checking every file before anything connects; connectBroker
// opens the connection (unlimited reconnects with jittered waits, a bounded
// first connect), checks that JetStream is on and turns the library's errors
// into BrokerErrors that say what to fix. Secrets (tokens, passwords, seeds,
// creds) stay in the options: describeBroker and every message redact them.
// Limit: one set of credentials for all the servers of a cluster.
import { readFileSync } from 'node:fs';
import type * as NatsTransport from '@nats-io/transport-node';
import type {
  Authenticator,
  ConnectionOptions,
  NatsConnection,
  Status,
} from '@nats-io/transport-node';
import type * as Jetstream from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type * as Kv from '@nats-io/kv';
import type * as Obj from '@nats-io/obj';
import { BrokerError, UsageError, type BrokerFailure } from '../errors.ts';
import { CERTIFICATE_ERROR_CODES } from '../metrics/error-key.ts';
import { requireCjs } from '../require-cjs.ts';

const {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  nkeys,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} = requireCjs('@nats-io/transport-node') as typeof NatsTransport;
const { jetstream, jetstreamManager } = requireCjs('@nats-io/jetstream') as typeof Jetstream;
const { Kvm } = requireCjs('@nats-io/kv') as typeof Kv;
const { Objm } = requireCjs('@nats-io/obj') as typeof Obj;
type Kvm = Kv.Kvm;
type Objm = Obj.Objm;

export { BROKER_OPTION_SPECS } from './broker-options.ts';

/**
 * The raw values, named as commander names the options of BROKER_OPTION_SPECS (plus token,
 * user and password, which a config file or the environment may give).
 */
export interface RawBrokerOptions {
  broker: string;
  brokerCreds?: string | undefined;
  brokerNkey?: string | undefined;
  brokerTlsCa?: string | undefined;
  brokerTlsCert?: string | undefined;
  brokerTlsKey?: string | undefined;
  brokerToken?: string | undefined;
  brokerUser?: string | undefined;
  brokerPassword?: string | undefined;
  /** The connection's name as the broker shows it (`nats server report connections`). */
  name?: string | undefined;
}

/** How the client authenticates; files are read again at each connectBroker. */
export type BrokerAuth =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  | { kind: 'user'; user: string; password: string }
  | { kind: 'creds'; credsFile: string }
  | { kind: 'nkey'; nkeySeedFile: string };

/** Checked broker settings: plain data. */
export interface BrokerOptions {
  /** nats://HOST:PORT or tls://HOST:PORT, without credentials. */
  servers: string[];
  auth: BrokerAuth;
  /** TLS is required: a tls:// URL or any --broker-tls-* file. */
  tls: boolean;
  caFile: string | undefined;
  certFile: string | undefined;
  keyFile: string | undefined;
  name: string | undefined;
}

/** A change of the connection after it first opened, for a status line. Never holds a secret. */
export type BrokerStatus =
  | { type: 'disconnected'; server: string }
  | { type: 'reconnecting' }
  | { type: 'reconnected'; server: string }
  | { type: 'lame-duck'; server: string }
  | { type: 'error'; message: string };

export interface ConnectBrokerOptions {
  /** Called for each change of the connection; must not throw. */
  onStatus?: (status: BrokerStatus) => void;
  /** Bound on the first connect and on the JetStream check. Default 5000. */
  timeoutMs?: number;
}

/**
 * An open connection. `nc`, `js`, `jsm`, `kvm` and `objm` are the library's
 * own objects (@nats-io 3.3): KV buckets and object stores come from
 * `kvm.create(name, …)` / `objm.create(name, …)`. Their errors after connect
 * are the library's; close() ends everything.
 */
export interface BrokerConnection {
  /** describeBroker of the options: safe to print. */
  readonly description: string;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly kvm: Kvm;
  readonly objm: Objm;
  /** Closes the connection (pending requests fail). Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const RECONNECT_WAIT_MS = 1_000;
const RECONNECT_JITTER_MS = 500;
const RECONNECT_JITTER_TLS_MS = 1_000;
const PING_INTERVAL_MS = 10_000;

/** Hides the userinfo of anything that looks like a URL, for echoing a value that failed to parse. */
function redactUserinfo(text: string): string {
  return text.replace(/\/\/[^/@]*@/g, '//***@');
}

function readOptionFile(option: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(`${option} ${file} cannot be read (${code}): give a readable file`, {
      cause: error,
    });
  }
}

/** The user nkey seed of a --broker-nkey file: the first line starting with SU. */
function readNkeySeed(file: string): Uint8Array {
  const text = readOptionFile('--broker-nkey', file);
  const line = text.split(/\r?\n/).find((l) => l.trim().startsWith('SU'));
  const seed = line === undefined ? undefined : new TextEncoder().encode(line.trim());
  if (seed !== undefined) {
    try {
      nkeys.fromSeed(seed);
      return seed;
    } catch {
      // Falls through to the message below, which must not echo the seed.
    }
  }
  throw new UsageError(
    `--broker-nkey ${file} holds no valid user nkey seed: give the file with the seed (a line starting with SU), as \`nk -gen user\` writes it`,
  );
}

function readCreds(file: string): Uint8Array {
  const text = readOptionFile('--broker-creds', file);
  if (!/-----BEGIN NATS USER JWT-----/.test(text) || !/-----BEGIN USER NKEY SEED-----/.test(text)) {
    throw new UsageError(
      `--broker-creds ${file} is not a NATS creds file (a user JWT and an nkey seed block): make one with \`nsc generate creds\``,
    );
  }
  return new TextEncoder().encode(text);
}

function readPem(option: string, file: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): string {
  const text = readOptionFile(option, file);
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(text)) {
    throw new UsageError(`${option} ${file} holds no PEM ${kind.toLowerCase()}: give a PEM file`);
  }
  return text;
}

interface ParsedServer {
  url: string;
  tls: boolean;
  /** Decoded userinfo, if any. */
  user: string | undefined;
  password: string | undefined;
}

function parseServer(value: string): ParsedServer {
  const shown = redactUserinfo(value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--broker ${shown} is not a URL: give nats://HOST:PORT`);
  }
  if (url.protocol !== 'nats:' && url.protocol !== 'tls:') {
    throw new UsageError(
      `--broker ${shown} has the scheme ${url.protocol}//: use nats://HOST:PORT (or tls:// to require TLS)`,
    );
  }
  if (url.hostname === '') {
    throw new UsageError(`--broker ${shown} has no host: give nats://HOST:PORT`);
  }
  if (url.port === '') {
    throw new UsageError(
      `--broker ${shown} has no port: give nats://${url.hostname}:PORT (nats-server listens on 4222 by default)`,
    );
  }
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
    throw new UsageError(`--broker ${shown} has a path or query: give nats://HOST:PORT only`);
  }
  return {
    url: `${url.protocol}//${url.host}`,
    tls: url.protocol === 'tls:',
    user: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
  };
}

/** Checks the broker options and every file they name; throws a UsageError naming the option. */
export function parseBrokerOptions(raw: RawBrokerOptions): BrokerOptions {
  const values = raw.broker
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (values.length === 0) {
    throw new UsageError('--broker is empty: give nats://HOST:PORT');
  }
  const servers = values.map(parseServer);
  const first = servers[0]!;
  if (servers.some((s) => s.user !== first.user || s.password !== first.password)) {
    throw new UsageError(
      '--broker URLs carry different credentials: give the same user (or none) in every URL',
    );
  }

  const methods: { label: string; auth: BrokerAuth }[] = [];
  if (first.user !== undefined && first.password !== undefined) {
    methods.push({
      label: "the URL's user",
      auth: { kind: 'user', user: first.user, password: first.password },
    });
  } else if (first.user !== undefined) {
    methods.push({ label: "the URL's token", auth: { kind: 'token', token: first.user } });
  }
  if (raw.brokerToken !== undefined && raw.brokerToken !== '') {
    methods.push({ label: 'a broker token', auth: { kind: 'token', token: raw.brokerToken } });
  }
  if (raw.brokerUser !== undefined && raw.brokerUser !== '') {
    if (raw.brokerPassword === undefined || raw.brokerPassword === '') {
      throw new UsageError(`the broker user ${raw.brokerUser} has no password: give one`);
    }
    methods.push({
      label: 'a broker user',
      auth: { kind: 'user', user: raw.brokerUser, password: raw.brokerPassword },
    });
  }
  if (raw.brokerCreds !== undefined) {
    readCreds(raw.brokerCreds);
    methods.push({ label: '--broker-creds', auth: { kind: 'creds', credsFile: raw.brokerCreds } });
  }
  if (raw.brokerNkey !== undefined) {
    readNkeySeed(raw.brokerNkey);
    methods.push({ label: '--broker-nkey', auth: { kind: 'nkey', nkeySeedFile: raw.brokerNkey } });
  }
  if (methods.length > 1) {
    throw new UsageError(
      `the broker credentials come from ${methods.map((m) => m.label).join(' and ')}: give only one`,
    );
  }

  if ((raw.brokerTlsCert === undefined) !== (raw.brokerTlsKey === undefined)) {
    throw new UsageError(
      raw.brokerTlsCert === undefined
        ? '--broker-tls-key needs --broker-tls-cert: give the client certificate too'
        : '--broker-tls-cert needs --broker-tls-key: give the private key of the certificate too',
    );
  }
  if (raw.brokerTlsCa !== undefined) {
    readPem('--broker-tls-ca', raw.brokerTlsCa, 'CERTIFICATE');
  }
  if (raw.brokerTlsCert !== undefined && raw.brokerTlsKey !== undefined) {
    readPem('--broker-tls-cert', raw.brokerTlsCert, 'CERTIFICATE');
    readPem('--broker-tls-key', raw.brokerTlsKey, 'PRIVATE KEY');
  }
  return {
    servers: servers.map((s) => s.url),
    auth: methods[0]?.auth ?? { kind: 'none' },
    tls:
      servers.some((s) => s.tls) ||
      raw.brokerTlsCa !== undefined ||
      raw.brokerTlsCert !== undefined,
    caFile: raw.brokerTlsCa,
    certFile: raw.brokerTlsCert,
    keyFile: raw.brokerTlsKey,
    name: raw.name,
  };
}

/** The broker's URL(s) for people: `nats://alice:***@127.0.0.1:4222`, `nats://***@…` for a token. */
export function describeBroker(options: BrokerOptions): string {
  const userinfo =
    options.auth.kind === 'user'
      ? `${encodeURIComponent(options.auth.user)}:***@`
      : options.auth.kind === 'token'
        ? '***@'
        : '';
  return options.servers.map((url) => url.replace('://', `://${userinfo}`)).join(',');
}

/** How the credentials given are named in messages, without the secret. */
function describeCredentials(auth: BrokerAuth): string {
  switch (auth.kind) {
    case 'none':
      return 'none';
    case 'token':
      return 'a token';
    case 'user':
      return `user ${auth.user} with a password`;
    case 'creds':
      return `creds file ${auth.credsFile}`;
    case 'nkey':
      return `nkey seed file ${auth.nkeySeedFile}`;
    default: {
      const never: never = auth;
      return never;
    }
  }
}

function secretsOf(auth: BrokerAuth): string[] {
  switch (auth.kind) {
    case 'token':
      return [auth.token];
    case 'user':
      return [auth.password];
    default:
      return [];
  }
}

function createAuthenticator(auth: BrokerAuth): Authenticator | undefined {
  switch (auth.kind) {
    case 'none':
      return undefined;
    case 'token':
      return tokenAuthenticator(auth.token);
    case 'user':
      return usernamePasswordAuthenticator(auth.user, auth.password);
    case 'creds':
      return credsAuthenticator(readCreds(auth.credsFile));
    case 'nkey':
      return nkeyAuthenticator(readNkeySeed(auth.nkeySeedFile));
    default: {
      const never: never = auth;
      return never;
    }
  }
}

/** The error and its causes, outermost first (the library wraps socket errors). */
function errorChain(error: unknown): { name: string; code: string; message: string }[] {
  const chain: { name: string; code: string; message: string }[] = [];
  let current: unknown = error;
  while (current instanceof Error && chain.length < 5) {
    const code = (current as NodeJS.ErrnoException).code;
    chain.push({
      name: current.name,
      code: typeof code === 'string' ? code : '',
      message: current.message,
    });
    current = current.cause;
  }
  return chain;
}

const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
]);
const UNKNOWN_HOST_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'EAI_AGAIN']);
const CERTIFICATE_CODES: ReadonlySet<string> = new Set(CERTIFICATE_ERROR_CODES);

/** The library's connect error as a BrokerError whose message says what to do. */
function toBrokerError(error: unknown, options: BrokerOptions, timeoutMs: number): BrokerError {
  const where = describeBroker(options);
  const chain = errorChain(error);
  const codes = chain.map((e) => e.code);
  const text = chain.map((e) => `${e.name} ${e.message}`).join(' ');
  const fail = (failure: BrokerFailure, message: string): BrokerError => {
    let safe = message;
    for (const secret of secretsOf(options.auth)) {
      safe = safe.split(secret).join('***');
    }
    return new BrokerError(safe, failure, { cause: error });
  };
  const tlsCode = codes.find((c) => CERTIFICATE_CODES.has(c));

  if (/authorization violation|authentication/i.test(text)) {
    const given = describeCredentials(options.auth);
    return fail(
      'credentials',
      options.auth.kind === 'none'
        ? `the broker at ${where} needs credentials: give a user in the URL (nats://USER:PASSWORD@HOST:PORT), --broker-creds or --broker-nkey`
        : `the broker at ${where} refused the credentials given (${given}): check --broker-creds / --broker-nkey / the URL's user`,
    );
  }
  if (tlsCode === 'ERR_TLS_CERT_ALTNAME_INVALID' || tlsCode === 'HOSTNAME_MISMATCH') {
    return fail(
      'tls',
      `the broker at ${where} presented a certificate for another name (${tlsCode}): connect with a host name its certificate holds`,
    );
  }
  if (tlsCode === 'CERT_HAS_EXPIRED' || tlsCode === 'CERT_NOT_YET_VALID') {
    return fail(
      'tls',
      `the broker at ${where} presented a certificate outside its validity dates (${tlsCode}): renew the broker's certificate`,
    );
  }
  if (tlsCode !== undefined) {
    return fail(
      'tls',
      `the broker at ${where} presented a certificate this machine does not trust (${tlsCode}): give its CA with --broker-tls-ca FILE`,
    );
  }
  if (/does not support 'tls'|tls.*not available/i.test(text)) {
    return fail(
      'tls',
      `the broker at ${where} does not offer TLS: use a nats:// URL without --broker-tls-* options, or turn TLS on in the broker`,
    );
  }
  if (codes.some((c) => c.startsWith('ERR_SSL'))) {
    return fail(
      'tls',
      `the broker at ${where} ended the TLS handshake (${codes.find((c) => c.startsWith('ERR_SSL'))}): if it verifies clients, give --broker-tls-cert and --broker-tls-key signed by its CA`,
    );
  }
  const unknownHost = codes.find((c) => UNKNOWN_HOST_CODES.has(c));
  if (unknownHost !== undefined) {
    return fail(
      'unreachable',
      `no broker at ${where}: the host name does not resolve (${unknownHost})`,
    );
  }
  if (codes.some((c) => UNREACHABLE_CODES.has(c)) || /connection refused/i.test(text)) {
    return fail('unreachable', `no broker at ${where}: is nats-server running?`);
  }
  if (chain.some((e) => e.name === 'TimeoutError')) {
    const clientCertHint =
      options.tls && options.certFile === undefined
        ? '; if it verifies clients, give --broker-tls-cert and --broker-tls-key'
        : '';
    return fail(
      'timeout',
      `the broker at ${where} did not complete the connection within ${timeoutMs / 1000} s: check the address, the firewall, that it is nats-server, and that it is not at its connection limit (max_connections, or the account's)${clientCertHint}`,
    );
  }
  return fail(
    'other',
    `cannot connect to the broker at ${where}: ${chain[0]?.message ?? String(error)}`,
  );
}

/** The JetStream check's error as a BrokerError. */
function toJetStreamError(error: unknown, options: BrokerOptions, timeoutMs: number): BrokerError {
  const where = describeBroker(options);
  const chain = errorChain(error);
  const text = chain.map((e) => `${e.name} ${e.message}`).join(' ');
  if (/JetStreamNotEnabled|jetstream is not enabled|no responders/i.test(text)) {
    return new BrokerError(
      `the broker at ${where} has no JetStream: start nats-server with -js (or jetstream {} in its config)`,
      'no-jetstream',
      { cause: error },
    );
  }
  if (/permission/i.test(text)) {
    return new BrokerError(
      `the broker at ${where} denies this user the JetStream API: allow it to publish to $JS.API.> in the broker's permissions`,
      'permissions',
      { cause: error },
    );
  }
  if (chain.some((e) => e.name === 'TimeoutError')) {
    return new BrokerError(
      `the broker at ${where} did not answer the JetStream check within ${timeoutMs / 1000} s: is JetStream on and healthy (nats-server -js)?`,
      'timeout',
      { cause: error },
    );
  }
  return new BrokerError(
    `the broker at ${where} failed the JetStream check: ${chain[0]?.message ?? String(error)}`,
    'other',
    { cause: error },
  );
}

function toBrokerStatus(status: Status, secrets: string[]): BrokerStatus | undefined {
  switch (status.type) {
    case 'disconnect':
      return { type: 'disconnected', server: status.server };
    case 'reconnecting':
      return { type: 'reconnecting' };
    case 'reconnect':
      return { type: 'reconnected', server: status.server };
    case 'ldm':
      return { type: 'lame-duck', server: status.server };
    case 'error': {
      let message = status.error.message;
      for (const secret of secrets) {
        message = message.split(secret).join('***');
      }
      return { type: 'error', message };
    }
    default:
      return undefined;
  }
}

/**
 * Connects, checks JetStream, and keeps reconnecting for ever after
 * (broker restarts, network cuts) with jittered waits. Throws BrokerError
 * (nothing listening, credentials refused, TLS, timeout, no JetStream) or
 * UsageError (a named file became unreadable).
 */
export async function connectBroker(
  options: BrokerOptions,
  { onStatus, timeoutMs = DEFAULT_TIMEOUT_MS }: ConnectBrokerOptions = {},
): Promise<BrokerConnection> {
  const authenticator = createAuthenticator(options.auth);
  const connectionOptions: ConnectionOptions = {
    servers: options.servers,
    timeout: timeoutMs,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    reconnectJitter: RECONNECT_JITTER_MS,
    reconnectJitterTLS: RECONNECT_JITTER_TLS_MS,
    pingInterval: PING_INTERVAL_MS,
    // A first connect that fails is reported at once: the user is waiting.
    waitOnFirstConnect: false,
  };
  if (options.name !== undefined) {
    connectionOptions.name = options.name;
  }
  if (authenticator !== undefined) {
    connectionOptions.authenticator = authenticator;
  }
  if (options.tls) {
    connectionOptions.tls = {
      ...(options.caFile === undefined
        ? {}
        : { ca: readPem('--broker-tls-ca', options.caFile, 'CERTIFICATE') }),
      ...(options.certFile === undefined
        ? {}
        : { cert: readPem('--broker-tls-cert', options.certFile, 'CERTIFICATE') }),
      ...(options.keyFile === undefined
        ? {}
        : { key: readPem('--broker-tls-key', options.keyFile, 'PRIVATE KEY') }),
    };
  }

  let nc: NatsConnection;
  try {
    nc = await connect(connectionOptions);
  } catch (error) {
    throw toBrokerError(error, options, timeoutMs);
  }
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    await jsm.getAccountInfo();
  } catch (error) {
    await nc.close();
    throw toJetStreamError(error, options, timeoutMs);
  }

  if (onStatus !== undefined) {
    const secrets = secretsOf(options.auth);
    void (async () => {
      for await (const status of nc.status()) {
        const brokerStatus = toBrokerStatus(status, secrets);
        if (brokerStatus !== undefined) {
          onStatus(brokerStatus);
        }
      }
    })();
  }
  const js = jetstream(nc, { timeout: timeoutMs });
  return {
    description: describeBroker(options),
    nc,
    js,
    jsm,
    kvm: new Kvm(js),
    objm: new Objm(js),
    async close() {
      if (!nc.isClosed()) {
        await nc.close();
      }
    },
  };
}
