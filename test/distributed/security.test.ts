// The broker's security (issue 11 §5) against real nats-servers: the
// least-privilege configuration of docs/nats/loads-broker.conf (copied with
// this test's port, store and passwords), where each of the runner and the
// agent users can do its part of a run and the agent user cannot make any
// agent run code (it cannot write a run record, a bundle or a stop key); its
// TLS variant with a CA made here; operator mode with creds files; and whole
// runs of real loads-agent processes as the agent user, plain and over TLS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import {
  connectBroker,
  parseBrokerOptions,
  type BrokerConnection,
  type RawBrokerOptions,
} from '../../src/distributed/broker.ts';
import { markLost, publishReliably } from '../../src/distributed/liveness.ts';
import {
  brokerNow,
  decodeBundle,
  decodeJson,
  encodeBundle,
  encodeJson,
  listAgents,
  messageId,
  newRunId,
  openBrokerState,
  readRunRecord,
  RUNS_STREAM,
  runKeys,
  runSubjects,
  type BrokerState,
  type ClaimRecord,
  type RunMessage,
} from '../../src/distributed/protocol.ts';
import type { TestBundle } from '../../src/distributed/bundle.ts';
import { listRuns, purgeRuns, RunFollower, startRun } from '../../src/distributed/run-client.ts';
import { BrokerError, ExitCode } from '../../src/errors.ts';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { buildPlan } from '../../src/runner/cycle.ts';
import { readVersion } from '../../src/cli/version.ts';
import { startAgents } from '../helpers/agents.ts';
import {
  createNatsOperator,
  NATS_SKIP,
  startNatsServer,
  type NatsServer,
} from '../helpers/nats.ts';
import { startHttpServer } from '../helpers/servers.ts';
import { createTmpProject, REPO_ROOT } from '../helpers/tmp-project.ts';
import { createTestPki, TLS_SKIP, type TestPki } from '../helpers/tls.ts';

const DOCS_NATS = path.join(REPO_ROOT, 'docs', 'nats');
const RUNNER_PASSWORD = 'runner-pw-5e1c7a';
const AGENT_PASSWORD = 'agent-pw-9b7d20';
const VIOLATION = (subject: string): RegExp =>
  new RegExp(`Permissions Violation for Publish to "${subject.replace(/[.$*>]/g, '\\$&')}`);

/** `text` with each `from` replaced; each must occur exactly once (the docs file changed otherwise). */
function substitute(text: string, file: string, pairs: [from: string, to: string][]): string {
  let result = text;
  for (const [from, to] of pairs) {
    const count = result.split(from).length - 1;
    if (count !== 1) {
      throw new Error(`${file}: expected "${from}" once, found it ${count} times`);
    }
    result = result.replace(from, () => to);
  }
  return result;
}

/** docs/nats/loads-broker.conf with this test's address, store folder and passwords. */
function docsBrokerConfig(where: { listen: string; storeDir: string }): string {
  const file = path.join(DOCS_NATS, 'loads-broker.conf');
  return substitute(readFileSync(file, 'utf8'), file, [
    ['listen: 0.0.0.0:4222', `listen: ${where.listen}`],
    ['store_dir: /var/lib/nats/jetstream', `store_dir: ${JSON.stringify(where.storeDir)}`],
    ['CHANGE-ME-runner-password', RUNNER_PASSWORD],
    ['CHANGE-ME-agent-password', AGENT_PASSWORD],
  ]);
}

/** docs/nats/loads-broker-tls.conf (and the config it includes) with the test PKI's files. */
function docsTlsBrokerConfig(
  pki: TestPki,
): (where: { listen: string; storeDir: string; dir: string }) => string {
  return (where) => {
    writeFileSync(path.join(where.dir, 'loads-broker.conf'), docsBrokerConfig(where));
    const write = (name: string, pem: string): string => {
      const target = path.join(where.dir, name);
      writeFileSync(target, pem);
      return target;
    };
    const file = path.join(DOCS_NATS, 'loads-broker-tls.conf');
    return substitute(readFileSync(file, 'utf8'), file, [
      ['/etc/nats/tls/server.crt', JSON.stringify(write('server.crt', pki.serverCert))],
      ['/etc/nats/tls/server.key', JSON.stringify(write('server.key', pki.serverKey))],
      ['/etc/nats/tls/ca.crt', JSON.stringify(write('ca.crt', pki.caCert))],
    ]);
  };
}

/** The quoted subjects of one permissions block of docs/nats/loads-broker.conf. */
function docsAllowList(
  block: 'RUNNER_PERMISSIONS' | 'AGENT_PERMISSIONS',
  kind: 'publish' | 'subscribe',
): string[] {
  const text = readFileSync(path.join(DOCS_NATS, 'loads-broker.conf'), 'utf8');
  const start = text.indexOf(`${block}: {`);
  const body = text.slice(start, text.indexOf('\n}', start));
  const list = new RegExp(`${kind}: \\{\\s*allow: \\[([^\\]]*)\\]`).exec(body)?.[1];
  assert.ok(list !== undefined, `no ${kind} allow list in ${block}`);
  return [...list.replace(/#.*$/gm, '').matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
}

function connectAs(
  server: NatsServer,
  user: 'runner' | 'agent',
  extra: Omit<RawBrokerOptions, 'broker'> = {},
): Promise<BrokerConnection> {
  const password = user === 'runner' ? RUNNER_PASSWORD : AGENT_PASSWORD;
  const [scheme, address] = server.url.split('://');
  return connectBroker(
    parseBrokerOptions({ broker: `${scheme}://${user}:${password}@${address}`, ...extra }),
  );
}

/** The error a promise rejects with, which must be a one-line BrokerError of exit status 2. */
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

function bundleBytes(code: string): Uint8Array {
  const bundle: TestBundle = {
    code,
    fileName: 'load.bundle.mjs',
    fqnInBundle: 'load.bundle.mjs:TestLoad.test_one',
    loadsRunnerVersion: '0.1.0',
    sha256: '0'.repeat(64),
    bytes: code.length,
  };
  return encodeBundle(bundle, [
    { path: 'data/users.csv', mode: 0o644, bytes: new TextEncoder().encode('alice\n') },
  ]);
}

/** Every message of the run in LOADS_RUNS, read as a follower reads it (an ordered consumer). */
async function replay(connection: BrokerConnection, runId: string): Promise<RunMessage[]> {
  const consumer = await connection.js.consumers.get(RUNS_STREAM, {
    filter_subjects: runSubjects.ofRun(runId),
  });
  const messages: RunMessage[] = [];
  for (;;) {
    const message = await consumer.next({ expires: 1_000 });
    if (message === null) {
      return messages;
    }
    messages.push(decodeJson<RunMessage>(message.data, message.subject));
  }
}

describe(
  'docs/nats/loads-broker.conf: runners and agents as least-privilege users',
  { skip: NATS_SKIP },
  () => {
    let server: NatsServer;
    let runner: BrokerConnection;
    let agent: BrokerConnection;
    let runnerState: BrokerState;
    let agentState: BrokerState;

    before(async () => {
      server = await startNatsServer({ config: docsBrokerConfig });
      runner = await connectAs(server, 'runner');
      // The runner opens (creates) the resources first: agents may not.
      runnerState = await openBrokerState(runner);
      agent = await connectAs(server, 'agent');
      agentState = await openBrokerState(agent);
    });
    after(async () => {
      await agent?.close();
      await runner?.close();
      await server?.stop();
    });

    it('when a runner and an agent do their parts of a run then the broker allows every step', async () => {
      const runId = newRunId();
      const agentId = 'agent-1';
      const code = 'export class TestLoad {}';

      // Runner: the run record, the bundle.
      await runnerState.runs.put(
        runKeys.record(runId),
        encodeJson({ id: runId, state: 'claiming' }),
      );
      await runnerState.bundles.putBlob({ name: runId }, bundleBytes(code));
      // Agent: its record (heartbeat); the runner lists it, then claims it.
      await agentState.agents.put(
        agentId,
        encodeJson({ id: agentId, name: agentId, state: 'free' }),
      );
      const listed = await listAgents(runnerState);
      assert.deepEqual(
        listed.map((l) => l.record.id),
        [agentId],
      );
      await runnerState.claims.create(agentId, encodeJson({ runId, claimedAt: Date.now() }));
      await runnerState.runs.put(
        runKeys.record(runId),
        encodeJson({ id: runId, state: 'running', agents: [agentId] }),
      );

      // Agent: its claim, the record, the bundle.
      const claim = await agentState.claims.get(agentId);
      assert.equal(decodeJson<ClaimRecord>(claim!.value, 'claim').runId, runId);
      assert.deepEqual(await readRunRecord(agentState, runId), {
        id: runId,
        state: 'running',
        agents: [agentId],
      });
      const stored = decodeBundle((await agentState.bundles.getBlob(runId))!);
      assert.equal(stored.bundle.code, code);
      assert.equal(new TextDecoder().decode(stored.files[0]!.bytes), 'alice\n');

      // Agent: ready and step barriers, the stop key, deltas, a lost peer, its final.
      await agentState.runs.put(runKeys.ready(runId, agentId), encodeJson({ agentId }));
      const ready: string[] = [];
      for await (const key of await agentState.runs.keys(runKeys.readyPrefix(runId))) {
        ready.push(key);
      }
      assert.deepEqual(ready, [runKeys.ready(runId, agentId)]);
      assert.equal(await agentState.runs.get(runKeys.stop(runId)), null);
      await agentState.runs.put(runKeys.step(runId, 0, agentId), encodeJson({ agentId }));
      const delta = encodeJson({ kind: 'delta', runId, agentId, seq: 1 });
      assert.equal(
        await publishReliably(
          agent.js,
          runSubjects.delta(runId, agentId),
          delta,
          messageId(runId, agentId, 1),
        ),
        true,
      );
      // A retried publish (same message id) is stored once.
      const retried = await agent.js.publish(runSubjects.delta(runId, agentId), delta, {
        msgID: messageId(runId, agentId, 1),
      });
      assert.equal(retried.duplicate, true);
      await markLost(agent.js, agentState, runId, 'agent-2', agentId, 6_000);
      assert.ok((await brokerNow(agentState)) > 0);
      await agent.js.publish(
        runSubjects.final(runId, agentId),
        encodeJson({ kind: 'final', runId, agentId, seq: 2 }),
        { msgID: messageId(runId, agentId, 2) },
      );
      await agentState.runs.put(runKeys.final(runId, agentId), encodeJson({ agentId }));
      // Agent: releases its claim.
      await agentState.claims.delete(agentId);

      // Runner: a lost marker of its own, the stop key, the replay of the run.
      await markLost(runner.js, runnerState, runId, 'agent-3', 'runner', 7_000);
      await runnerState.runs.put(runKeys.stop(runId), encodeJson({ reason: 'SIGINT', at: 1 }));
      const messages = await replay(runner, runId);
      assert.deepEqual(
        messages.map((m) => `${m.kind} ${m.agentId}`),
        ['delta agent-1', 'lost agent-2', 'final agent-1', 'lost agent-3'],
      );
      // The released agent can be claimed again, and is listed free of claims.
      await runnerState.claims.create(agentId, encodeJson({ runId: newRunId(), claimedAt: 1 }));
      await runnerState.claims.delete(agentId);
      assert.equal((await listAgents(runnerState))[0]?.claimedBy, null);
    });

    it('when the agent user writes a run record, a bundle or a stop key then the broker refuses each and nothing is stored', async () => {
      const runId = newRunId();
      const other = newRunId();
      const record = { id: runId, state: 'running', agents: ['victim'] };
      await runnerState.runs.put(runKeys.record(runId), encodeJson(record));

      const evil = encodeJson({ id: runId, state: 'running', agents: ['victim', 'evil'] });
      await assert.rejects(
        agentState.runs.put(runKeys.record(runId), evil),
        VIOLATION(`$KV.loads-runs.${runId}`),
      );
      await assert.rejects(
        agentState.runs.create(runKeys.record(other), evil),
        VIOLATION(`$KV.loads-runs.${other}`),
      );
      await assert.rejects(
        agentState.runs.put(runKeys.stop(runId), encodeJson({ reason: 'evil', at: 0 })),
        VIOLATION(`$KV.loads-runs.${runId}.stop`),
      );
      await assert.rejects(
        agentState.bundles.putBlob({ name: other }, bundleBytes('export const evil = 1;')),
        /Permissions Violation for Publish to "\$(O\.loads-bundles|JS\.API\.STREAM\.PURGE)/,
      );

      assert.deepEqual(await readRunRecord(runnerState, runId), record);
      assert.equal(await readRunRecord(runnerState, other), null);
      assert.equal(await runnerState.runs.get(runKeys.stop(runId)), null);
      assert.equal(await runnerState.bundles.info(other), null);
    });

    it('when either user deletes, purges or reconfigures a stream, or the agent makes a stream or reads the results, then the broker refuses it', async () => {
      for (const connection of [runner, agent]) {
        await assert.rejects(
          connection.jsm.streams.delete('KV_loads-runs'),
          VIOLATION('$JS.API.STREAM.DELETE.KV_loads-runs'),
        );
        await assert.rejects(
          connection.jsm.streams.delete(RUNS_STREAM),
          VIOLATION(`$JS.API.STREAM.DELETE.${RUNS_STREAM}`),
        );
        await assert.rejects(
          connection.jsm.streams.update(RUNS_STREAM, { max_age: 1_000_000_000 }),
          VIOLATION(`$JS.API.STREAM.UPDATE.${RUNS_STREAM}`),
        );
        await assert.rejects(
          connection.jsm.streams.purge(RUNS_STREAM),
          VIOLATION(`$JS.API.STREAM.PURGE.${RUNS_STREAM}`),
        );
      }
      await assert.rejects(
        agent.jsm.streams.add({ name: 'EVIL', subjects: ['evil.>'] }),
        VIOLATION('$JS.API.STREAM.CREATE.EVIL'),
      );
      await assert.rejects(
        replay(agent, newRunId()),
        VIOLATION(`$JS.API.CONSUMER.CREATE.${RUNS_STREAM}`),
      );
      // Runners do not speak for agents: no agent record, no delta.
      await assert.rejects(
        runnerState.agents.put('agent-x', encodeJson({ id: 'agent-x' })),
        VIOLATION('$KV.loads-agents.agent-x'),
      );
      await assert.rejects(
        runner.js.publish(runSubjects.delta('r', 'agent-x'), encodeJson({})),
        VIOLATION('loads.run.r.agent-x.delta'),
      );
      // Everything is still there.
      for (const stream of [
        'KV_loads-agents',
        'KV_loads-claims',
        'KV_loads-runs',
        'KV_loads-clock',
        'OBJ_loads-bundles',
        RUNS_STREAM,
      ]) {
        assert.equal((await runner.jsm.streams.info(stream)).config.name, stream);
      }
    });

    it('when an agent comes to a new broker before any runner then it cannot create the resources, and once a runner has it can open them', async (t) => {
      const fresh = await startNatsServer({ config: docsBrokerConfig, t });
      const early = await connectAs(fresh, 'agent');
      t.after(() => early.close());
      await assert.rejects(
        openBrokerState(early),
        /Permissions Violation for Publish to "\$JS\.API\.STREAM\.CREATE\./,
      );
      const first = await connectAs(fresh, 'runner');
      t.after(() => first.close());
      await openBrokerState(first);
      const state = await openBrokerState(early);
      await state.agents.put('agent-1', encodeJson({ id: 'agent-1' }));
    });

    it('when the password is wrong then connectBroker refuses in one line that does not hold it', async () => {
      const [, address] = server.url.split('://');
      const error = await brokerError(
        connectBroker(parseBrokerOptions({ broker: `nats://agent:${RUNNER_PASSWORD}@${address}` })),
      );
      assert.equal(error.failure, 'credentials');
      assert.match(error.message, /refused the credentials given \(user agent with a password\)/);
      assert.ok(!error.message.includes(RUNNER_PASSWORD));
    });
  },
);

describe(
  'docs/nats/loads-broker-tls.conf: TLS with client certificates',
  { skip: NATS_SKIP || TLS_SKIP },
  () => {
    let pki: TestPki;
    let server: NatsServer;

    before(async () => {
      pki = createTestPki();
      server = await startNatsServer({ config: docsTlsBrokerConfig(pki), scheme: 'tls' });
    });
    after(async () => {
      await server?.stop();
      pki?.remove();
    });

    const tlsOptions = (): Omit<RawBrokerOptions, 'broker'> => ({
      brokerTlsCa: pki.caCertPath,
      brokerTlsCert: pki.clientCertPath,
      brokerTlsKey: pki.clientKeyPath,
    });

    it('when the runner and the agent give the CA and a client certificate then both get in and the permissions hold', async (t) => {
      const runner = await connectAs(server, 'runner', tlsOptions());
      t.after(() => runner.close());
      const runnerState = await openBrokerState(runner);
      const agent = await connectAs(server, 'agent', tlsOptions());
      t.after(() => agent.close());
      const agentState = await openBrokerState(agent);
      const runId = newRunId();
      await runnerState.runs.put(runKeys.record(runId), encodeJson({ id: runId }));
      await agentState.runs.put(
        runKeys.ready(runId, 'agent-1'),
        encodeJson({ agentId: 'agent-1' }),
      );
      await assert.rejects(
        agentState.runs.put(runKeys.record(runId), encodeJson({ id: 'evil' })),
        VIOLATION(`$KV.loads-runs.${runId}`),
      );
    });

    it('when a client gives no client certificate, or does not trust the CA, then connectBroker refuses in one line', async () => {
      const noCert = await brokerError(connectAs(server, 'agent', { brokerTlsCa: pki.caCertPath }));
      assert.match(noCert.message, /--broker-tls-cert and --broker-tls-key/);
      const untrusted = await brokerError(
        connectAs(server, 'agent', {
          brokerTlsCert: pki.clientCertPath,
          brokerTlsKey: pki.clientKeyPath,
        }),
      );
      assert.equal(untrusted.failure, 'tls');
    });
  },
);

describe('operator mode: creds files', { skip: NATS_SKIP }, () => {
  let dir: string;
  let server: NatsServer;
  let credsFile: string;
  let agentCredsFile: string;
  let foreignCredsFile: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'loads-runner-creds-'));
    const operator = await createNatsOperator();
    server = await startNatsServer({ extraConfig: operator.extraConfig });
    credsFile = path.join(dir, 'runner.creds');
    writeFileSync(credsFile, await operator.userCreds('runner'));
    // The resources exist before any agent comes (see the first describe).
    const first = await connectBroker(
      parseBrokerOptions({ broker: server.url, brokerCreds: credsFile }),
    );
    await openBrokerState(first);
    await first.close();
    // The docs config's agent permissions, carried by the user JWT instead.
    agentCredsFile = path.join(dir, 'agent.creds');
    writeFileSync(
      agentCredsFile,
      await operator.userCreds('agent', {
        pub: { allow: docsAllowList('AGENT_PERMISSIONS', 'publish') },
        sub: { allow: docsAllowList('AGENT_PERMISSIONS', 'subscribe') },
      }),
    );
    const foreign = await createNatsOperator('another-operator');
    foreignCredsFile = path.join(dir, 'foreign.creds');
    writeFileSync(foreignCredsFile, await foreign.userCreds('runner'));
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('when the creds file is of a user of the trusted account then connectBroker gets in and openBrokerState works', async (t) => {
    const connection = await connectBroker(
      parseBrokerOptions({ broker: server.url, brokerCreds: credsFile }),
    );
    t.after(() => connection.close());
    const state = await openBrokerState(connection);
    const runId = newRunId();
    await state.runs.put(runKeys.record(runId), encodeJson({ id: runId }));
    assert.deepEqual(await readRunRecord(state, runId), { id: runId });
  });

  it("when an agent's user JWT carries the docs' agent permissions then it runs its part and cannot write a run record", async (t) => {
    const connection = await connectBroker(
      parseBrokerOptions({ broker: server.url, brokerCreds: agentCredsFile }),
    );
    t.after(() => connection.close());
    const state = await openBrokerState(connection);
    const runId = newRunId();
    await state.runs.put(runKeys.ready(runId, 'agent-1'), encodeJson({ agentId: 'agent-1' }));
    await assert.rejects(
      state.runs.put(runKeys.record(runId), encodeJson({ id: runId })),
      VIOLATION(`$KV.loads-runs.${runId}`),
    );
  });

  it('when the creds file is of another operator then connectBroker refuses in one line without the seed or the JWT', async () => {
    const error = await brokerError(
      connectBroker(parseBrokerOptions({ broker: server.url, brokerCreds: foreignCredsFile })),
    );
    assert.equal(error.failure, 'credentials');
    assert.equal(
      error.message,
      `the broker at ${server.url} refused the credentials given (creds file ${foreignCredsFile}): check --broker-creds / --broker-nkey / the URL's user`,
    );
    const creds = readFileSync(foreignCredsFile, 'utf8');
    const seed = /SU[A-Z0-9]{50,}/.exec(creds)?.[0];
    const jwt = /eyJ[\w-]+\.[\w-]+\.[\w-]+/.exec(creds)?.[0];
    assert.ok(seed !== undefined && jwt !== undefined);
    assert.ok(!error.message.includes(seed) && !error.message.includes(jwt));
  });
});

const E2E_MODULE = `import { TestCase } from 'loads-runner';

export class TestLoad extends TestCase {
  async test_hit(): Promise<void> {
    const res = await this.app.get('/hit');
    this.assertEqual(res.status, 200);
  }
}
`;

/**
 * A 2-step cycle (-u 1:2 --hits 2) on 2 real agents connected as the agent
 * user with `agentArgs`, started and followed by `runner` (the runner user):
 * exact counts, every agent free again, nothing refused by the broker, no
 * password on an agent's stderr.
 */
async function runAsDocsUsers(
  t: { after(fn: () => unknown): void },
  server: NatsServer,
  runner: BrokerConnection,
  agentArgs: string[],
): Promise<string> {
  const target = await startHttpServer((_req, res) => res.end('ok'));
  t.after(() => target.close());
  const project = await createTmpProject('loads-security-test-');
  t.after(() => project.remove());
  await project.write('package.json', '{ "type": "module" }\n');
  await project.write('load.ts', E2E_MODULE);

  const state = await openBrokerState(runner);
  const [scheme, address] = server.url.split('://');
  const names = [`sec-${process.pid}-a`, `sec-${process.pid}-b`];
  const { agents } = await startAgents({
    broker: `${scheme}://agent:${AGENT_PASSWORD}@${address}`,
    count: 2,
    names,
    args: ['--workers', '1', ...agentArgs],
    t,
  });

  const version = readVersion();
  const users = [1, 2];
  const hits = [2];
  const { runId, record } = await startRun(runner, state, {
    fqn: 'load.TestLoad',
    cwd: project.dir,
    version,
    agents: 2,
    includeFiles: [],
    runnerHost: hostname(),
    record: {
      plan: buildPlan(users, hits, null),
      methodsPerRun: 1,
      info: {
        fqn: 'load.TestLoad',
        projectName: 'N/A',
        version,
        users,
        hits,
        durationMs: null,
        rate: null,
        maxUsers: null,
        rampUpMs: 0,
        workers: 1,
      },
      workersPerAgent: 1,
      timeoutMs: 5_000,
      testTimeoutMs: 0,
      maxBodyBytes: null,
      discardBodies: false,
      transport: null,
      serverUrl: target.url,
      forwardEvents: false,
      heartbeatTimeoutMs: 5_000,
      external: null,
    },
  });
  assert.deepEqual([...record.agents].sort(), names);
  const aggregator = new Aggregator();
  const result = await new RunFollower({
    conn: runner,
    state,
    runId,
    aggregator,
    watchLiveness: true,
  }).follow();

  // 2 agents × (1 user × 2 hits + 2 users × 2 hits).
  const expected = 2 * (1 * 2 + 2 * 2);
  assert.equal(aggregator.snapshot().hits, expected);
  assert.equal(target.requests, expected);
  assert.deepEqual(
    result.agents.map((a) => [a.id, a.hits, a.finished, a.lost, a.failure]),
    names.map((name) => [name, expected / 2, true, false, null]),
  );
  await allFree(state, names);
  // --attach's list and --purge-broker, as the runner user.
  const listed = await listRuns(state);
  assert.deepEqual(
    listed.filter((l) => l.record.id === runId).map((l) => [l.over, l.finals]),
    [[true, 2]],
  );
  assert.deepEqual(await purgeRuns(state), []);
  // Nothing either side did was refused (a refused publish is retried or dropped quietly).
  const violations = server
    .log()
    .split('\n')
    .filter((line) => line.includes('Violation'));
  assert.deepEqual(violations, []);
  for (const agent of agents) {
    assert.ok(!agent.stderr().includes(AGENT_PASSWORD), `a password on stderr:\n${agent.stderr()}`);
  }
  return runId;
}

/** Resolves once each named agent is free and unclaimed (it released its claim). */
async function allFree(state: BrokerState, names: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const listed = await listAgents(state);
    const free = listed.filter(
      (a) => names.includes(a.record.id) && a.record.state === 'free' && a.claimedBy === null,
    );
    if (free.length === names.length) {
      return;
    }
    if (Date.now() > deadline) {
      assert.fail(`agents not free again: ${JSON.stringify(listed)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe(
  'end to end: loads-agent processes as the agent user, a runner as the runner user',
  { skip: NATS_SKIP, timeout: 150_000 },
  () => {
    it('when a 2-step cycle runs on 2 agents under docs/nats/loads-broker.conf then the counts are exact and the agents are free again', async (t) => {
      const server = await startNatsServer({ config: docsBrokerConfig, t });
      const runner = await connectAs(server, 'runner');
      t.after(() => runner.close());
      const runId = await runAsDocsUsers(t, server, runner, []);
      // Following it with the agent's password: a clear refusal, not a wait.
      const agent = await connectAs(server, 'agent');
      t.after(() => agent.close());
      const follower = new RunFollower({
        conn: agent,
        state: await openBrokerState(agent),
        runId,
        aggregator: new Aggregator(),
        watchLiveness: false,
      });
      await assert.rejects(
        follower.follow(),
        (err: unknown) =>
          err instanceof BrokerError &&
          err.failure === 'permissions' &&
          /does not let this user read the results of run/.test(err.message),
      );
    });

    it(
      'when the same run goes over docs/nats/loads-broker-tls.conf with a CA made here then the counts are exact',
      { skip: TLS_SKIP },
      async (t) => {
        const pki = createTestPki();
        t.after(() => pki.remove());
        const server = await startNatsServer({
          config: docsTlsBrokerConfig(pki),
          scheme: 'tls',
          t,
        });
        const tls = {
          brokerTlsCa: pki.caCertPath,
          brokerTlsCert: pki.clientCertPath,
          brokerTlsKey: pki.clientKeyPath,
        };
        const runner = await connectAs(server, 'runner', tls);
        t.after(() => runner.close());
        await runAsDocsUsers(t, server, runner, [
          '--broker-tls-ca',
          tls.brokerTlsCa,
          '--broker-tls-cert',
          tls.brokerTlsCert,
          '--broker-tls-key',
          tls.brokerTlsKey,
        ]);
      },
    );

    it('when the agent user forges a claim on an agent for a run that does not list it then that agent runs nothing and is free again', async (t) => {
      const server = await startNatsServer({ config: docsBrokerConfig, t });
      const runner = await connectAs(server, 'runner');
      t.after(() => runner.close());
      const runnerState = await openBrokerState(runner);
      const target = await startHttpServer((_req, res) => res.end('ok'));
      t.after(() => target.close());
      const victim = `sec-${process.pid}-victim`;
      const [scheme, address] = server.url.split('://');
      await startAgents({
        broker: `${scheme}://agent:${AGENT_PASSWORD}@${address}`,
        count: 1,
        names: [victim],
        args: ['--workers', '1'],
        t,
      });
      // A runner's run that the victim is not part of.
      const runId = newRunId();
      await runnerState.runs.put(
        runKeys.record(runId),
        encodeJson({
          id: runId,
          state: 'running',
          agents: ['someone-else'],
          serverUrl: target.url,
        }),
      );
      const attacker = await connectAs(server, 'agent');
      t.after(() => attacker.close());
      const attackerState = await openBrokerState(attacker);
      await attackerState.claims.create(victim, encodeJson({ runId, claimedAt: Date.now() }));
      await allFree(runnerState, [victim]);
      assert.equal(await runnerState.runs.get(runKeys.ready(runId, victim)), null);
      assert.equal(target.requests, 0);
    });
  },
);
