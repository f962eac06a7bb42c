// loads-agent processes (the built package) under the faults SPEC §10 and
// issue 11 §4 name: SIGTERM mid-run (its part ends interrupted, exit 0),
// kill -9 mid-run (lost; the others go on past the barrier without it and
// finish, its deltas kept up to the last one, even with no runner judging),
// a broker restart mid-run (nothing lost or counted twice), a bundle of
// another version (refused by the agent with both versions named), a name
// already connected (refused), and a claim left by a dead agent of the
// same name (released at start, that agent marked lost).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  connectBroker,
  parseBrokerOptions,
  type BrokerConnection,
} from '../../src/distributed/broker.ts';
import { splitDelta } from '../../src/distributed/agent.ts';
import { bundleTest } from '../../src/distributed/bundle.ts';
import {
  encodeBundle,
  encodeJson,
  listAgents,
  openBrokerState,
  PROTOCOL_VERSION,
  runKeys,
  type BrokerState,
  type ClaimRecord,
  type LostRecord,
  type RunRecord,
} from '../../src/distributed/protocol.ts';
import {
  RunFollower,
  startRun,
  type AgentResult,
  type FollowResult,
} from '../../src/distributed/run-client.ts';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { readVersion } from '../../src/cli/version.ts';
import { distributedRequest, startAgents, type RequestOptions } from '../helpers/agents.ts';
import { NATS_SKIP, startNatsServer, type NatsServer } from '../helpers/nats.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';

const VERSION = readVersion();

const TEST_MODULE = `import { TestCase } from 'loads-runner';

export class TestLoad extends TestCase {
  async test_hit(): Promise<void> {
    const res = await this.app.get('/hit');
    this.assertEqual(res.status, 200);
  }
}
`;

let nats: NatsServer;
let conn: BrokerConnection;
let state: BrokerState;
let server: TestServer;
let project: TmpProject;

function request(options: Omit<RequestOptions, 'fqn' | 'cwd' | 'serverUrl'>) {
  return distributedRequest({
    fqn: 'load.TestLoad',
    cwd: project.dir,
    serverUrl: server.url,
    ...options,
  });
}

interface Followed {
  follower: RunFollower;
  aggregator: Aggregator;
  lost: AgentResult[];
  result: Promise<FollowResult>;
}

function followRun(runId: string, watchLiveness = true): Followed {
  const aggregator = new Aggregator();
  const lost: AgentResult[] = [];
  const follower = new RunFollower({
    conn,
    state,
    runId,
    aggregator,
    watchLiveness,
    onAgentLost: (agent) => lost.push(agent),
  });
  return { follower, aggregator, lost, result: follower.follow() };
}

/** Polls `read` until `ok` holds for its value (bounded). */
async function until<T>(read: () => T | Promise<T>, ok: (value: T) => boolean, what: string) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (ok(value)) {
      return value;
    }
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function agentHits(followed: Followed, name: string): number {
  return followed.follower.agents().find((a) => a.name === name)?.hits ?? 0;
}

describe('splitDelta', () => {
  it('when a delta has many URLs, errors and events then its messages stay small and merge to the same', () => {
    const source = new Aggregator();
    const events = [];
    for (let i = 0; i < 250; i++) {
      const hit = {
        type: 'hit' as const,
        method: 'GET',
        url: `http://127.0.0.1/item/${i}`,
        name: '',
        status: 200,
        errorKey: '',
        startedAt: Date.now(),
        elapsedMs: 1 + (i % 7),
        bytes: 10,
        test: 'T.test',
        cycleIndex: 0,
        currentUser: 1,
        currentHit: 1,
        lagMs: 0,
        protocol: 'h1' as const,
      };
      source.emit(hit);
      events.push(hit, hit, hit, hit, hit, hit, hit, hit, hit, hit);
    }
    for (let i = 0; i < 130; i++) {
      source.emit({
        type: 'test-end',
        test: 'T.test',
        startedAt: Date.now(),
        elapsedMs: 1,
        outcome: 2,
        errorName: 'Error',
        errorMessage: `boom ${i}`,
        errorStack: 'Error: boom\n    at x',
        cycleIndex: 0,
        users: 1,
        currentUser: 1,
        currentHit: 1,
        lagMs: 0,
      });
    }
    const whole = source.snapshot();
    const parts = splitDelta(whole, events);
    assert.deepEqual(
      parts.map((p) => [p.snapshot.urls.length, p.snapshot.topErrors.length, p.events.length]),
      [
        [100, 100, 2000],
        [100, 30, 500],
        [50, 0, 0],
      ],
    );
    const merged = new Aggregator();
    for (const part of parts) {
      merged.merge(part.snapshot);
    }
    // Against the whole delta merged at once (merging re-encodes the histograms).
    const once = new Aggregator();
    once.merge(whole);
    assert.deepEqual(merged.snapshot(), once.snapshot());
    assert.equal(merged.snapshot().urls.length, 250);
  });
});

describe('loads-agent under faults', { skip: NATS_SKIP, timeout: 120_000 }, () => {
  before(async () => {
    nats = await startNatsServer();
    conn = await connectBroker(parseBrokerOptions({ broker: nats.url }));
    state = await openBrokerState(conn);
    // 20 ms per hit: runs last long enough to be cut in the middle.
    server = await startHttpServer((_req, res) => {
      setTimeout(() => res.end('ok'), 20);
    });
    project = await createTmpProject('loads-agent-test-');
    await project.write('package.json', '{ "type": "module" }\n');
    await project.write('load.ts', TEST_MODULE);
  });

  after(async () => {
    await conn?.close();
    await nats?.stop();
    await server?.close();
    await project?.remove();
  });

  it('when an agent gets SIGTERM mid-run then its part ends interrupted with its results sent, it exits 0 and its record is gone', async (t) => {
    const { agents } = await startAgents({
      broker: nats.url,
      count: 2,
      names: ['term-a', 'term-b'],
      t,
    });
    const { runId } = await startRun(conn, state, request({ agents: 2, durationMs: 3_000 }));
    const followed = followRun(runId);
    await until(
      () => agentHits(followed, 'term-a'),
      (hits) => hits > 5,
      'hits of term-a',
    );
    agents[0]!.kill('SIGTERM');
    const exit = await agents[0]!.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.match(agents[0]!.stderr(), /stopping \(SIGTERM\)/);
    assert.match(agents[0]!.stderr(), new RegExp(`run ${runId} interrupted \\(\\d+ runs`));
    const result = await followed.result;
    const [a, b] = ['term-a', 'term-b'].map((name) => result.agents.find((r) => r.name === name)!);
    assert.deepEqual(
      { finished: a!.finished, lost: a!.lost, failure: a!.failure },
      { finished: true, lost: false, failure: null },
    );
    assert.ok(a!.runs > 5);
    assert.equal(b!.finished, true);
    assert.ok(b!.runs > a!.runs, 'the other agent ran its whole duration');
    assert.equal(result.interrupted, true);
    assert.equal(followed.aggregator.progress().runs, a!.runs + b!.runs);
    assert.deepEqual(
      (await listAgents(state)).map((l) => l.record.name).filter((n) => n.startsWith('term-')),
      ['term-b'],
    );
  });

  it('when an agent is killed with SIGKILL mid-step then it is lost, the others pass the barrier without it and finish, and its counted runs stay', async (t) => {
    const { agents } = await startAgents({
      broker: nats.url,
      count: 2,
      names: ['kill-a', 'kill-b'],
      t,
    });
    // Step 0 lasts about 3 s, so kill-b dies in it and kill-a waits for it
    // at the barrier; lost after 1.5 s of silence.
    const { runId } = await startRun(
      conn,
      state,
      request({ agents: 2, users: [1], hits: [150, 10], heartbeatTimeoutMs: 1_500 }),
    );
    // No runner judging: the surviving agent must find its peer lost by itself.
    const followed = followRun(runId, false);
    await until(
      () => agentHits(followed, 'kill-b'),
      (hits) => hits >= 5,
      'hits of kill-b',
    );
    agents[1]!.kill('SIGKILL');
    const result = await followed.result;
    const a = result.agents.find((r) => r.name === 'kill-a')!;
    const b = result.agents.find((r) => r.name === 'kill-b')!;
    assert.deepEqual(
      { finished: a.finished, lost: a.lost, runs: a.runs },
      { finished: true, lost: false, runs: 160 },
    );
    assert.equal(b.lost, true);
    assert.equal(b.finished, false);
    assert.ok(b.runs >= 5 && b.runs < 150, `kill-b counted ${b.runs} runs, all in step 0`);
    assert.equal(b.runsNotDone, 160 - b.runs);
    assert.deepEqual(
      followed.lost.map((l) => l.name),
      ['kill-b'],
    );
    assert.equal(followed.aggregator.progress().runs, 160 + b.runs);
    // The stream's lost marker comes first, the KV key just after.
    const lost = await until(
      () => state.runs.get(runKeys.lost(runId, 'kill-b')),
      (entry) => entry !== null,
      'the lost key of kill-b',
    );
    assert.equal((JSON.parse(new TextDecoder().decode(lost!.value)) as LostRecord).by, 'kill-a');
    assert.match(agents[0]!.stderr(), /agent kill-b silent for \d+\.\d s; reported lost/);
  });

  it('when the broker restarts mid-run then the agents reconnect and no run is lost or counted twice', async (t) => {
    const { agents } = await startAgents({
      broker: nats.url,
      count: 2,
      names: ['restart-a', 'restart-b'],
      t,
    });
    const served = server.requests;
    const { runId } = await startRun(conn, state, request({ agents: 2, users: [2], hits: [100] }));
    const followed = followRun(runId);
    await until(
      () => followed.aggregator.progress().hits,
      (hits) => hits >= 20,
      'hits before the restart',
    );
    await nats.restart();
    assert.ok(
      followed.follower.agents().every((a) => !a.finished),
      'the broker came back before the run ended',
    );
    const result = await followed.result;
    for (const agent of agents) {
      assert.match(agent.stderr(), /broker connection lost; reconnecting/);
      assert.match(agent.stderr(), /reconnected to the broker/);
    }
    assert.equal(followed.aggregator.progress().hits, 2 * 2 * 100);
    assert.equal(server.requests - served, 2 * 2 * 100);
    for (const agent of result.agents) {
      assert.deepEqual(
        { finished: agent.finished, lost: agent.lost, runs: agent.runs },
        { finished: true, lost: false, runs: 200 },
      );
    }
    // A replay after the restart counts the same.
    const replay = followRun(runId, false);
    await replay.result;
    assert.equal(replay.aggregator.progress().hits, 400);
  });

  it('when an agent receives a bundle of another loads-runner version then its final names both versions and it is free again', async (t) => {
    const { agents } = await startAgents({ broker: nats.url, count: 1, names: ['old-run'], t });
    const bundle = await bundleTest({ fqn: 'load.TestLoad', cwd: project.dir, version: '0.0.1' });
    const runId = 'version-mismatch-run';
    await state.bundles.putBlob({ name: runId }, encodeBundle(bundle, []));
    const base = request({ agents: 1 });
    const record: RunRecord = {
      ...base.record,
      protocol: PROTOCOL_VERSION,
      id: runId,
      state: 'running',
      createdAt: Date.now(),
      runnerHost: 'test',
      agents: ['old-run'],
      fqn: 'load.TestLoad',
      version: '0.0.1',
      bundleObject: runId,
    };
    await state.runs.put(runKeys.record(runId), encodeJson(record));
    const claim: ClaimRecord = { runId, claimedAt: Date.now() };
    await state.claims.create('old-run', encodeJson(claim));
    const { result } = followRun(runId);
    const { agents: results } = await result;
    assert.equal(results[0]!.finished, true);
    assert.match(
      results[0]!.failure ?? '',
      new RegExp(
        `loads-runner 0\\.0\\.1 sent this test; this agent runs ${VERSION.replace(/\./g, '\\.')}`,
      ),
    );
    await until(
      () => listAgents(state),
      (listed) =>
        listed.some(
          (l) => l.record.name === 'old-run' && l.record.state === 'free' && l.claimedBy === null,
        ),
      'old-run free again',
    );
    assert.match(
      agents[0]!.stderr(),
      /run version-mismatch-run failed here: the runner's loads-runner 0\.0\.1/,
    );
  });

  it('when an agent of that name is already connected then a second one is refused with exit 2', async (t) => {
    const { agents } = await startAgents({ broker: nats.url, count: 1, names: ['twin'], t });
    const second = await startAgents({
      broker: nats.url,
      count: 1,
      names: ['twin'],
      t,
      waitReady: false,
    });
    const exit = await second.agents[0]!.exited;
    assert.equal(exit.code, 2);
    assert.match(
      second.agents[0]!.stderr(),
      new RegExp(
        `^loads-agent: an agent named twin is already connected \\([^,]+, pid ${agents[0]!.pid}\\): give this one another --name\\n$`,
      ),
    );
    assert.equal(agents[0]!.child.exitCode, null, 'the first one runs on');
  });

  it('when loads-agent gets a bad option then it says so in one line and exits 2', async (t) => {
    for (const [args, message] of [
      [
        ['--workers', '0'],
        /^loads-agent: --workers 0 is not a whole number of at least 1; give e\.g\. 4\n$/,
      ],
      [
        ['--tmp-dir', '/no/such/folder'],
        /^loads-agent: --tmp-dir \/no\/such\/folder is not a folder/,
      ],
    ] as const) {
      const { agents } = await startAgents({
        broker: nats.url,
        count: 1,
        args: [...args],
        t,
        waitReady: false,
      });
      assert.equal((await agents[0]!.exited).code, 2);
      assert.match(agents[0]!.stderr(), message);
    }
  });

  it('when an agent starts with a claim left by a dead agent of its name then the claim is released and that agent marked lost to its run', async (t) => {
    const runId = 'dead-agent-run';
    const base = request({ agents: 1 });
    const record: RunRecord = {
      ...base.record,
      protocol: PROTOCOL_VERSION,
      id: runId,
      state: 'running',
      createdAt: Date.now(),
      runnerHost: 'test',
      agents: ['phoenix'],
      fqn: 'load.TestLoad',
      version: VERSION,
      bundleObject: runId,
    };
    await state.runs.put(runKeys.record(runId), encodeJson(record));
    await state.claims.put('phoenix', encodeJson({ runId, claimedAt: Date.now() }));
    await startAgents({ broker: nats.url, count: 1, names: ['phoenix'], t });
    assert.equal((await state.claims.get('phoenix'))?.operation, 'DEL');
    const lost = await state.runs.get(runKeys.lost(runId, 'phoenix'));
    assert.equal(lost?.operation, 'PUT');
    const { result } = followRun(runId, false);
    const { agents: results } = await result;
    assert.deepEqual(
      results.map((r) => [r.id, r.lost, r.runs]),
      [['phoenix', true, 0]],
    );
  });
});
