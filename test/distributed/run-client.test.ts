// The runner's side of distributed runs against a real nats-server and real
// loads-agent processes (the built package): startRun claims agents and
// RunFollower counts what they send, exactly agents × the single-box load,
// with the step barrier holding every agent at the end of a step until all
// finished it; duration mode; the refusals before any load (too few agents,
// another version); a follower that starts after the end; two runs at once;
// stop(); listRuns and purgeRuns.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import {
  connectBroker,
  parseBrokerOptions,
  type BrokerConnection,
} from '../../src/distributed/broker.ts';
import {
  encodeJson,
  HEARTBEAT_INTERVAL_MS,
  listAgents,
  openBrokerState,
  PROTOCOL_VERSION,
  runKeys,
  type AgentRecord,
  type BrokerState,
} from '../../src/distributed/protocol.ts';
import {
  listRuns,
  purgeRuns,
  RunFollower,
  startRun,
  type DistributedRunRequest,
  type FollowResult,
} from '../../src/distributed/run-client.ts';
import { ExitCode, NotEnoughAgentsError, VersionMismatchError } from '../../src/errors.ts';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { buildPlan } from '../../src/runner/cycle.ts';
import { readVersion } from '../../src/cli/version.ts';
import { startAgents, type StartedAgents } from '../helpers/agents.ts';
import { CollectSink } from '../helpers/events.ts';
import { NATS_SKIP, startNatsServer, type NatsServer } from '../helpers/nats.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';

const VERSION = readVersion();

// Step 0 (in hits mode) waits LOADS_TEST_STEP0_DELAY_MS before its hit: agents reach the
// end of step 0 at different times, and without the barrier a fast agent
// would send step 1's hits before a slow one sent step 0's.
const TEST_MODULE = `import { TestCase } from 'loads-runner';

const delayMs = Number(process.env.LOADS_TEST_STEP0_DELAY_MS ?? '0');

export class TestLoad extends TestCase {
  async test_hit(): Promise<void> {
    const { cycleIndex, hits } = this.loadsStatus;
    if (cycleIndex === 0 && hits > 0 && delayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    const res = await this.app.get('/hit?step=' + cycleIndex);
    this.assertEqual(res.status, 200);
  }
}
`;

interface Received {
  step: number;
  at: number;
}

let nats: NatsServer;
let conn: BrokerConnection;
let state: BrokerState;
let server: TestServer;
let received: Received[] = [];
let project: TmpProject;
let agents: StartedAgents;

function request(
  options: {
    users?: number[];
    hits?: number[] | null;
    durationMs?: number | null;
    agents?: number;
  } = {},
): DistributedRunRequest {
  const users = options.users ?? [2];
  const hits = options.durationMs == null ? (options.hits ?? [3]) : null;
  const durationMs = options.durationMs ?? null;
  return {
    fqn: 'load.TestLoad',
    cwd: project.dir,
    version: VERSION,
    agents: options.agents ?? 3,
    includeFiles: [],
    runnerHost: hostname(),
    record: {
      plan: buildPlan(users, hits, durationMs),
      methodsPerRun: 1,
      info: {
        fqn: 'load.TestLoad',
        projectName: 'N/A',
        version: VERSION,
        users,
        hits,
        durationMs,
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
      serverUrl: server.url,
      forwardEvents: false,
      heartbeatTimeoutMs: 5_000,
    },
  };
}

async function follow(
  runId: string,
  options: { watchLiveness?: boolean; events?: CollectSink } = {},
): Promise<{ result: FollowResult; aggregator: Aggregator; follower: RunFollower }> {
  const aggregator = new Aggregator();
  const follower = new RunFollower({
    conn,
    state,
    runId,
    aggregator,
    eventSink: options.events,
    watchLiveness: options.watchLiveness ?? true,
  });
  const result = await follower.follow();
  return { result, aggregator, follower };
}

/** Resolves when no agent of ours is claimed or busy any more (each went back to free). */
async function allFree(count: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const listed = await listAgents(state);
    const free = listed.filter((a) => a.record.state === 'free' && a.claimedBy === null);
    if (free.length >= count) {
      return;
    }
    if (Date.now() > deadline) {
      assert.fail(`agents not free again: ${JSON.stringify(listed)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe(
  'distributed runs: startRun and RunFollower',
  { skip: NATS_SKIP, timeout: 120_000 },
  () => {
    before(async () => {
      nats = await startNatsServer();
      conn = await connectBroker(parseBrokerOptions({ broker: nats.url }));
      state = await openBrokerState(conn);
      server = await startHttpServer((req, res) => {
        const step = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('step'));
        received.push({ step, at: Date.now() });
        // A little service time, so that steps overlap if the barrier fails.
        setTimeout(() => res.end('ok'), 10);
      });
      project = await createTmpProject('loads-run-client-test-');
      await project.write('package.json', '{ "type": "module" }\n');
      await project.write('load.ts', TEST_MODULE);
      agents = await startAgents({
        broker: nats.url,
        count: 3,
        names: ['rc-a', 'rc-b', 'rc-c'],
        args: ['--workers', '1'],
        env: (index) => ({ LOADS_TEST_STEP0_DELAY_MS: String(index * 300) }),
      });
    });

    after(async () => {
      await agents?.stop();
      await conn?.close();
      await nats?.stop();
      await server?.close();
      await project?.remove();
    });

    it('when 3 agents run a 2-step cycle then the counts are 3 × users × hits and step 1 starts nowhere before every agent finished step 0', async () => {
      received = [];
      const events = new CollectSink();
      const { runId, record } = await startRun(conn, state, request({ users: [2, 3], hits: [2] }));
      assert.deepEqual([...record.agents].sort(), ['rc-a', 'rc-b', 'rc-c']);
      assert.equal(record.state, 'running');
      const { result, aggregator } = await follow(runId, { events });
      const snapshot = aggregator.snapshot();
      // 3 agents × (2 users × 2 hits + 3 users × 2 hits).
      assert.equal(snapshot.hits, 3 * (2 * 2 + 3 * 2));
      assert.equal(snapshot.tests.successes, 30);
      assert.equal(received.length, 30);
      // The agents' timeline rows (typed arrays on the wire) merged too.
      assert.equal(
        snapshot.timeline.rows.reduce((sum, row) => sum + row.hits, 0),
        30,
      );
      assert.deepEqual(
        snapshot.steps.map((s) => [s.cycleIndex, s.hits, s.successes]),
        [
          [0, 12, 12],
          [1, 18, 18],
        ],
      );
      const lastOfStep0 = Math.max(...received.filter((r) => r.step === 0).map((r) => r.at));
      const firstOfStep1 = Math.min(...received.filter((r) => r.step === 1).map((r) => r.at));
      assert.ok(
        lastOfStep0 < firstOfStep1,
        `step 1 began at ${firstOfStep1}, before step 0's last hit at ${lastOfStep0}`,
      );
      assert.equal(result.agents.length, 3);
      for (const agent of result.agents) {
        assert.deepEqual(
          { runs: agent.runs, hits: agent.hits, finished: agent.finished, lost: agent.lost },
          { runs: 10, hits: 10, finished: true, lost: false },
        );
        assert.equal(agent.threads, 1);
        assert.equal(agent.failure, null);
        assert.equal(agent.host, hostname());
      }
      assert.equal(result.interrupted, false);
      assert.equal(result.stoppedBy, null);
      assert.ok(result.startedAt <= result.endedAt);
      // One cycle-start and one cycle-end per step, in order.
      assert.deepEqual(
        events.events
          .filter((e) => e.type === 'cycle-start' || e.type === 'cycle-end')
          .map((e) => `${e.type} ${e.cycleIndex}`),
        ['cycle-start 0', 'cycle-end 0', 'cycle-start 1', 'cycle-end 1'],
      );
      await allFree(3);
    });

    it('when a follower starts after the end then its replay gives the same totals', async () => {
      const { runId } = await startRun(conn, state, request({ users: [2], hits: [2] }));
      const live = await follow(runId);
      const later = await follow(runId, { watchLiveness: false });
      assert.equal(later.aggregator.snapshot().hits, 12);
      assert.deepEqual(later.aggregator.progress(), live.aggregator.progress());
      assert.deepEqual(
        later.result.agents.map((a) => [a.id, a.runs, a.finished]),
        live.result.agents.map((a) => [a.id, a.runs, a.finished]),
      );
      assert.equal(later.result.startedAt, live.result.startedAt);
      assert.equal(later.result.endedAt, live.result.endedAt);
      const runs = await listRuns(state);
      const listed = runs.find((r) => r.record.id === runId);
      assert.deepEqual(
        { over: listed?.over, finals: listed?.finals, lost: listed?.lost },
        { over: true, finals: 3, lost: 0 },
      );
      await allFree(3);
    });

    it('when the run is in duration mode then every agent loops for the duration and each hit is counted once', async () => {
      received = [];
      const { runId } = await startRun(conn, state, request({ users: [1], durationMs: 1_500 }));
      const { result, aggregator } = await follow(runId);
      const snapshot = aggregator.snapshot();
      assert.equal(snapshot.hits, received.length);
      assert.equal(snapshot.tests.errors + snapshot.tests.failures, 0);
      for (const agent of result.agents) {
        assert.ok(agent.runs > 5, `${agent.name} did ${agent.runs} runs`);
        // Unknown in advance: no "runs not done" in a closed duration run.
        assert.equal(agent.runsNotDone, null);
      }
      assert.equal(
        result.agents.reduce((sum, a) => sum + a.hits, 0),
        snapshot.hits,
      );
      await allFree(3);
    });

    it('when two runs share the broker then neither counts the other', async () => {
      const first = await startRun(conn, state, request({ agents: 1, users: [1], hits: [4] }));
      const second = await startRun(conn, state, request({ agents: 2, users: [2], hits: [3] }));
      assert.equal(
        new Set([...first.record.agents, ...second.record.agents]).size,
        3,
        'no agent in both runs',
      );
      const [a, b] = await Promise.all([follow(first.runId), follow(second.runId)]);
      assert.equal(a.aggregator.snapshot().hits, 4);
      assert.equal(b.aggregator.snapshot().hits, 2 * 2 * 3);
      assert.equal(a.result.agents.length, 1);
      assert.equal(b.result.agents.length, 2);
      await allFree(3);
    });

    it('when stop() is called mid-run then the agents end interrupted and report what they did', async () => {
      const { runId } = await startRun(conn, state, request({ users: [1], durationMs: 60_000 }));
      const aggregator = new Aggregator();
      const follower = new RunFollower({ conn, state, runId, aggregator, watchLiveness: true });
      const following = follower.follow();
      await follower.started();
      while (aggregator.progress().hits < 6) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const stoppedAt = Date.now();
      await follower.stop('SIGINT');
      const result = await following;
      assert.ok(Date.now() - stoppedAt < 10_000, 'ended soon after the stop');
      assert.equal(result.detached, false);
      assert.equal(result.interrupted, true);
      assert.equal(result.stoppedBy, 'SIGINT');
      assert.equal(
        aggregator.progress().hits,
        result.agents.reduce((sum, a) => sum + a.hits, 0),
      );
      for (const agent of result.agents) {
        assert.equal(agent.finished, true);
        assert.equal(agent.lost, false);
      }
      const listed = (await listRuns(state)).find((r) => r.record.id === runId);
      assert.equal(listed?.over, true);
      await allFree(3);
    });

    it('when more agents are asked for than are free then NotEnoughAgentsError names them, before any claim', async () => {
      let caught: unknown;
      try {
        await startRun(conn, state, request({ agents: 4 }));
      } catch (err) {
        caught = err;
      }
      assert.ok(caught instanceof NotEnoughAgentsError, String(caught));
      assert.equal(caught.exitCode, ExitCode.USAGE);
      assert.match(
        caught.message,
        /^--agents 4 needs 4 free agents; the broker has 3 free \(rc-a, rc-b, rc-c\)/,
      );
      assert.doesNotMatch(caught.message, /\n/);
      const listed = await listAgents(state);
      assert.deepEqual(
        listed.filter((a) => a.claimedBy !== null || a.record.state !== 'free'),
        [],
      );
    });

    it('when free agents run another version then VersionMismatchError names both versions and nothing is claimed', async () => {
      // A fake agent of another version, heartbeating as a real one would.
      const fake: AgentRecord = {
        protocol: PROTOCOL_VERSION,
        id: 'old-agent',
        name: 'old-agent',
        host: 'elsewhere',
        pid: 1,
        cores: 1,
        version: '0.0.1',
        state: 'free',
        runId: null,
        startedAt: Date.now(),
      };
      await state.agents.put(fake.id, encodeJson(fake));
      const beat = setInterval(() => {
        void state.agents.put(fake.id, encodeJson(fake)).catch(() => {});
      }, HEARTBEAT_INTERVAL_MS);
      try {
        let caught: unknown;
        try {
          await startRun(conn, state, request({ agents: 4 }));
        } catch (err) {
          caught = err;
        }
        assert.ok(caught instanceof VersionMismatchError, String(caught));
        assert.equal(caught.exitCode, ExitCode.USAGE);
        assert.match(caught.message, new RegExp(`loads-runner ${VERSION.replace(/\./g, '\\.')}`));
        assert.match(caught.message, /loads-runner 0\.0\.1 \(old-agent\)/);
        const claims = await listAgents(state);
        assert.deepEqual(
          claims.filter((a) => a.claimedBy !== null).map((a) => a.record.id),
          [],
        );
      } finally {
        clearInterval(beat);
        await state.agents.delete(fake.id);
      }
    });

    it('when purgeRuns is called then runs in progress get a stop request and stale claims are released', async () => {
      const { runId } = await startRun(
        conn,
        state,
        request({ agents: 1, users: [1], durationMs: 60_000 }),
      );
      // A claim left by a run that no longer exists.
      await state.claims.put('gone-agent', encodeJson({ runId: 'no-such-run', claimedAt: 0 }));
      const stopped = await purgeRuns(state);
      assert.deepEqual(stopped, [runId]);
      const stop = await state.runs.get(runKeys.stop(runId));
      assert.equal(stop?.operation, 'PUT');
      assert.equal((await state.claims.get('gone-agent'))?.operation, 'DEL');
      const { result } = await follow(runId);
      assert.equal(result.interrupted, true);
      assert.equal(result.stoppedBy, 'purge-broker');
      await allFree(3);
    });
  },
);
