import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import {
  connectBroker,
  describeBroker,
  parseBrokerOptions,
  BROKER_OPTION_SPECS,
  type BrokerStatus,
  type RawBrokerOptions,
} from '../../src/distributed/broker.ts';
import { listKeys, openBrokerState } from '../../src/distributed/protocol.ts';
import { BrokerError, ExitCode, UsageError } from '../../src/errors.ts';
import { NATS_SKIP, startNatsServer } from '../helpers/nats.ts';
import { createTestPki, TLS_SKIP, type TestPki } from '../helpers/tls.ts';

const TOKEN = 'tok-9f3a-secret';
const PASSWORD = 'pw-77c1-secret';

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'loads-runner-broker-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const target = path.join(dir, name);
  writeFileSync(target, content);
  return target;
}

/** A fresh user nkey pair: the seed file for the client, the public key for the server. */
function userNkey(name: string): { seedFile: string; publicKey: string; seed: string } {
  const pair = nkeys.createUser();
  const seed = new TextDecoder().decode(pair.getSeed());
  return { seedFile: file(name, `${seed}\n`), publicKey: pair.getPublicKey(), seed };
}

/** The error a promise rejects with, which must be a BrokerError. */
async function brokerError(promise: Promise<unknown>): Promise<BrokerError> {
  const error = await promise.then(
    () => assert.fail('expected the connection to fail'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof BrokerError, `not a BrokerError: ${String(error)}`);
  assert.equal(error.exitCode, ExitCode.USAGE);
  assert.doesNotMatch(error.message, /\n/);
  return error;
}

function usageError(raw: RawBrokerOptions): UsageError {
  const error = (() => {
    try {
      parseBrokerOptions(raw);
    } catch (e) {
      return e;
    }
    return assert.fail('expected a UsageError');
  })();
  assert.ok(error instanceof UsageError, `not a UsageError: ${String(error)}`);
  assert.equal(error.exitCode, ExitCode.USAGE);
  assert.doesNotMatch(error.message, /\n/);
  return error;
}

function assertNoSecret(text: string, ...secrets: string[]): void {
  for (const secret of [TOKEN, PASSWORD, ...secrets]) {
    assert.ok(!text.includes(secret), `a secret leaked into: ${text}`);
  }
}

describe('parseBrokerOptions', () => {
  it('when the URL has a user and password then they become the auth and describeBroker hides the password', () => {
    const options = parseBrokerOptions({
      broker: `nats://alice:${PASSWORD}@127.0.0.1:4222, nats://alice:${PASSWORD}@127.0.0.2:4223`,
    });
    assert.deepEqual(options.servers, ['nats://127.0.0.1:4222', 'nats://127.0.0.2:4223']);
    assert.deepEqual(options.auth, { kind: 'user', user: 'alice', password: PASSWORD });
    assert.equal(options.tls, false);
    assert.equal(
      describeBroker(options),
      'nats://alice:***@127.0.0.1:4222,nats://alice:***@127.0.0.2:4223',
    );
  });

  it('when the URL has a user alone then it is a token, shown as ***', () => {
    const options = parseBrokerOptions({ broker: `tls://${TOKEN}@broker.example:4443` });
    assert.deepEqual(options.auth, { kind: 'token', token: TOKEN });
    assert.equal(options.tls, true);
    assert.equal(describeBroker(options), 'tls://***@broker.example:4443');
  });

  it('when the scheme is not nats or tls then a usage error names it without the password', () => {
    const error = usageError({ broker: `http://alice:${PASSWORD}@127.0.0.1:4222` });
    assert.match(
      error.message,
      /^--broker http:\/\/\*\*\*@127\.0\.0\.1:4222 has the scheme http:\/\/: use nats:\/\//,
    );
    assertNoSecret(error.message);
  });

  it('when the port is missing then a usage error asks for it', () => {
    const error = usageError({ broker: `nats://alice:${PASSWORD}@127.0.0.1` });
    assert.match(error.message, /has no port: give nats:\/\/127\.0\.0\.1:PORT/);
    assertNoSecret(error.message);
  });

  it('when the value is not a URL then a usage error says so', () => {
    assert.match(usageError({ broker: '127.0.0.1:4222' }).message, /(is not a URL|has the scheme)/);
    assert.match(usageError({ broker: ' , ' }).message, /^--broker is empty/);
  });

  it('when a client certificate comes without its key (or the reverse) then a usage error pairs them', () => {
    assert.match(
      usageError({ broker: 'tls://127.0.0.1:4222', brokerTlsCert: '/x.crt' }).message,
      /^--broker-tls-cert needs --broker-tls-key/,
    );
    assert.match(
      usageError({ broker: 'tls://127.0.0.1:4222', brokerTlsKey: '/x.key' }).message,
      /^--broker-tls-key needs --broker-tls-cert/,
    );
  });

  it('when two authentication methods are given then a usage error names both', () => {
    const { seedFile } = userNkey('two.nk');
    const error = usageError({
      broker: `nats://alice:${PASSWORD}@127.0.0.1:4222`,
      brokerNkey: seedFile,
    });
    assert.equal(
      error.message,
      "the broker credentials come from the URL's user and --broker-nkey: give only one",
    );
    assertNoSecret(error.message);
  });

  it('when a named file cannot be read then a usage error names the option and the file', () => {
    const missing = path.join(dir, 'missing.creds');
    assert.equal(
      usageError({ broker: 'nats://127.0.0.1:4222', brokerCreds: missing }).message,
      `--broker-creds ${missing} cannot be read (ENOENT): give a readable file`,
    );
    assert.match(
      usageError({ broker: 'nats://127.0.0.1:4222', brokerTlsCa: dir }).message,
      /^--broker-tls-ca .* cannot be read \(EISDIR\)/,
    );
  });

  it('when the nkey or creds file holds something else then the usage error does not echo it', () => {
    const notSeed = 'SUnot-a-real-seed-but-secret';
    const nkeyError = usageError({
      broker: 'nats://127.0.0.1:4222',
      brokerNkey: file('bad.nk', `${notSeed}\n`),
    });
    assert.match(nkeyError.message, /holds no valid user nkey seed/);
    assertNoSecret(nkeyError.message, notSeed);
    const credsError = usageError({
      broker: 'nats://127.0.0.1:4222',
      brokerCreds: file('bad.creds', `${notSeed}\n`),
    });
    assert.match(credsError.message, /is not a NATS creds file/);
    assertNoSecret(credsError.message, notSeed);
    assert.match(
      usageError({ broker: 'tls://127.0.0.1:4222', brokerTlsCa: file('ca.txt', 'hello') }).message,
      /holds no PEM certificate/,
    );
  });

  it('when the option specs are listed then every --broker-* option of the parser is there', () => {
    assert.deepEqual(
      BROKER_OPTION_SPECS.map((spec) => spec.flags.split(' ')[0]),
      [
        '--broker',
        '--broker-creds',
        '--broker-nkey',
        '--broker-tls-ca',
        '--broker-tls-cert',
        '--broker-tls-key',
      ],
    );
  });
});

describe('connectBroker', { skip: NATS_SKIP }, () => {
  it('when the broker has JetStream then a KV bucket and an object store work', async (t) => {
    const server = await startNatsServer({ t });
    const broker = await connectBroker(parseBrokerOptions({ broker: server.url, name: 'test' }));
    t.after(() => broker.close());
    assert.equal(broker.description, server.url);
    const kv = await broker.kvm.create('runs');
    await kv.put('run.1', 'started');
    assert.equal((await kv.get('run.1'))?.string(), 'started');
    const store = await broker.objm.create('bundles');
    await store.putBlob({ name: 'test.mjs' }, new TextEncoder().encode('export {}'));
    assert.equal(
      new TextDecoder().decode((await store.getBlob('test.mjs')) ?? undefined),
      'export {}',
    );
  });

  it('when the broker wants a token then none is refused, a wrong one too, the right one gets in', async (t) => {
    const server = await startNatsServer({ t, auth: { token: TOKEN } });
    const without = await brokerError(connectBroker(parseBrokerOptions({ broker: server.url })));
    assert.equal(without.failure, 'credentials');
    assert.equal(
      without.message,
      `the broker at ${server.url} needs credentials: give a user in the URL (nats://USER:PASSWORD@HOST:PORT), --broker-creds or --broker-nkey`,
    );
    const wrong = await brokerError(
      connectBroker(parseBrokerOptions({ broker: server.url.replace('://', '://nope-wrong@') })),
    );
    assert.equal(
      wrong.message,
      `the broker at nats://***@127.0.0.1:${server.port} refused the credentials given (a token): check --broker-creds / --broker-nkey / the URL's user`,
    );
    assertNoSecret(wrong.message, 'nope-wrong');
    const broker = await connectBroker(
      parseBrokerOptions({ broker: server.url.replace('://', `://${TOKEN}@`) }),
    );
    assert.equal(broker.description, `nats://***@127.0.0.1:${server.port}`);
    await broker.close();
  });

  it('when the password is wrong then the user is named and the password is not', async (t) => {
    const server = await startNatsServer({
      t,
      auth: { users: [{ user: 'alice', password: PASSWORD }] },
    });
    const wrong = await brokerError(
      connectBroker(
        parseBrokerOptions({
          broker: server.url,
          brokerUser: 'alice',
          brokerPassword: 'guess-123',
        }),
      ),
    );
    assert.equal(wrong.failure, 'credentials');
    assert.match(wrong.message, /refused the credentials given \(user alice with a password\)/);
    assertNoSecret(wrong.message, 'guess-123');
    const broker = await connectBroker(
      parseBrokerOptions({ broker: server.url.replace('://', `://alice:${PASSWORD}@`) }),
    );
    await broker.close();
  });

  it('when the client has an nkey seed file then its public key lets it in and another is refused', async (t) => {
    const allowed = userNkey('allowed.nk');
    const other = userNkey('other.nk');
    const server = await startNatsServer({ t, auth: { nkeys: [allowed.publicKey] } });
    const broker = await connectBroker(
      parseBrokerOptions({ broker: server.url, brokerNkey: allowed.seedFile }),
    );
    await broker.close();
    const refused = await brokerError(
      connectBroker(parseBrokerOptions({ broker: server.url, brokerNkey: other.seedFile })),
    );
    assert.equal(
      refused.message,
      `the broker at ${server.url} refused the credentials given (nkey seed file ${other.seedFile}): check --broker-creds / --broker-nkey / the URL's user`,
    );
    assertNoSecret(refused.message, other.seed, allowed.seed);
  });

  // A creds file that a broker accepts needs an operator/account JWT setup
  // (nsc); this checks the client sends it and the refusal names the file only.
  it('when a creds file is refused then the message names the file and not its seed', async (t) => {
    const { seed } = userNkey('creds-seed.nk');
    const credsFile = file(
      'user.creds',
      `-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
    );
    const server = await startNatsServer({ t, auth: { token: TOKEN } });
    const refused = await brokerError(
      connectBroker(parseBrokerOptions({ broker: server.url, brokerCreds: credsFile })),
    );
    assert.equal(refused.failure, 'credentials');
    assert.match(
      refused.message,
      new RegExp(`\\(creds file ${credsFile.replace(/[.]/g, '\\.')}\\)`),
    );
    assertNoSecret(refused.message, seed, 'eyJ0eXAi');
  });

  it('when nothing listens on the port then the message asks whether nats-server runs', async () => {
    const server = await startNatsServer();
    await server.stop();
    const error = await brokerError(connectBroker(parseBrokerOptions({ broker: server.url })));
    assert.equal(error.failure, 'unreachable');
    assert.equal(error.message, `no broker at ${server.url}: is nats-server running?`);
  });

  it('when the broker runs without JetStream then the message says to start it with -js', async (t) => {
    const server = await startNatsServer({ t, jetstream: false });
    const error = await brokerError(connectBroker(parseBrokerOptions({ broker: server.url })));
    assert.equal(error.failure, 'no-jetstream');
    assert.match(
      error.message,
      new RegExp(`^the broker at ${server.url} has no JetStream: start nats-server with -js`),
    );
  });

  it('when keys are put again and expire while a bucket is listed then listKeys gives each live key once and ends', async (t) => {
    const server = await startNatsServer({ t });
    const broker = await connectBroker(parseBrokerOptions({ broker: server.url }));
    t.after(() => broker.close());
    const kv = await broker.kvm.create('listing', { history: 1, ttl: 1_000 });
    const names = Array.from({ length: 200 }, (_, i) => `key-${i}`);
    await Promise.all(names.map((name) => kv.put(name, 'x')));
    // Puts again, as heartbeats do, while the keys are listed; the old ones expire meanwhile.
    let beating = true;
    const beats = (async () => {
      while (beating) {
        await Promise.all(names.slice(0, 50).map((name) => kv.put(name, 'y')));
      }
    })();
    try {
      for (let i = 0; i < 5; i++) {
        const keys = await listKeys(kv, 'listing');
        assert.equal(new Set(keys).size, keys.length, 'each key once');
        // How many are still live depends on how fast the puts go on a busy machine.
        assert.ok(
          keys.every((key) => names.includes(key)),
          `only the bucket's keys: ${keys.join(' ')}`,
        );
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    } finally {
      beating = false;
      await beats;
    }
  });

  it("when the broker's JetStream store is smaller than the results stream's reservation then opening says to raise max_file_store", async (t) => {
    const server = await startNatsServer({
      t,
      config: ({ listen, storeDir }) =>
        `listen: ${listen}\njetstream { store_dir: "${storeDir}", max_file_store: 100MB }\n`,
    });
    const conn = await connectBroker(parseBrokerOptions({ broker: server.url }));
    t.after(() => conn.close());
    const error = await brokerError(openBrokerState(conn));
    assert.equal(error.failure, 'other');
    assert.match(
      error.message,
      /^the broker at nats:\/\/127\.0\.0\.1:\d+ has too little JetStream storage for loads-runner's streams \(the results stream LOADS_RUNS reserves 1 GiB\): raise max_file_store/,
    );
  });

  it('when the broker restarts then the connection comes back and a KV put succeeds', async (t) => {
    const server = await startNatsServer({ t });
    const statuses: BrokerStatus['type'][] = [];
    let onReconnected: () => void = () => undefined;
    const reconnected = new Promise<void>((resolve) => (onReconnected = resolve));
    const broker = await connectBroker(parseBrokerOptions({ broker: server.url }), {
      onStatus: (status) => {
        statuses.push(status.type);
        if (status.type === 'reconnected') {
          onReconnected();
        }
      },
    });
    t.after(() => broker.close());
    const kv = await broker.kvm.create('state');
    await kv.put('before', '1');
    await server.restart();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      reconnected,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no reconnect in 10 s: ${statuses.join(',')}`)),
          10_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    await kv.put('after', '2');
    assert.equal((await kv.get('before'))?.string(), '1', 'the store survived the restart');
    assert.equal((await kv.get('after'))?.string(), '2');
    assert.ok(statuses.includes('disconnected'), statuses.join(','));
  });
});

describe('connectBroker over TLS', { skip: NATS_SKIP || TLS_SKIP }, () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki.remove());

  it("when the broker's CA is given then it connects, and without it the message points to --broker-tls-ca", async (t) => {
    const server = await startNatsServer({ t, tls: { cert: pki.serverCert, key: pki.serverKey } });
    assert.match(server.url, /^tls:\/\//);
    const broker = await connectBroker(
      parseBrokerOptions({ broker: server.url, brokerTlsCa: pki.caCertPath }),
    );
    const kv = await broker.kvm.create('tls');
    await kv.put('k', 'v');
    await broker.close();
    const untrusted = await brokerError(connectBroker(parseBrokerOptions({ broker: server.url })));
    assert.equal(untrusted.failure, 'tls');
    assert.equal(
      untrusted.message,
      `the broker at ${server.url} presented a certificate this machine does not trust (UNABLE_TO_VERIFY_LEAF_SIGNATURE): give its CA with --broker-tls-ca FILE`,
    );
  });

  it('when the broker verifies clients then the client certificate gets in and no certificate does not', async (t) => {
    const server = await startNatsServer({
      t,
      tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert, verify: true },
    });
    const broker = await connectBroker(
      parseBrokerOptions({
        broker: server.url,
        brokerTlsCa: pki.caCertPath,
        brokerTlsCert: pki.clientCertPath,
        brokerTlsKey: pki.clientKeyPath,
      }),
    );
    await broker.close();
    const refused = await brokerError(
      connectBroker(parseBrokerOptions({ broker: server.url, brokerTlsCa: pki.caCertPath }), {
        timeoutMs: 1_500,
      }),
    );
    assert.match(refused.message, /give --broker-tls-cert and --broker-tls-key/);
  });

  it('when TLS is asked of a broker without it then the message says it does not offer TLS', async (t) => {
    const server = await startNatsServer({ t });
    const error = await brokerError(
      connectBroker(parseBrokerOptions({ broker: server.url, brokerTlsCa: pki.caCertPath })),
    );
    assert.equal(error.failure, 'tls');
    assert.match(error.message, /does not offer TLS/);
  });
});
