// ThreadedRunner in this process (its workers run src/workers/worker-main.ts
// under tsx), against LocalRunner on the same test module: the same counts,
// the same events, percentiles merged exactly from the workers' deltas,
// global user numbering, and the ways a run ends early (Ctrl-C, a crash).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoadsError } from '../../src/errors.ts';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { buildSummary, type RunInfo } from '../../src/metrics/summary.ts';
import { buildPlan } from '../../src/runner/cycle.ts';
import { loadTest } from '../../src/runner/loader.ts';
import { LocalRunner } from '../../src/runner/local-runner.ts';
import { ThreadedRunner, type ThreadedRunnerOptions } from '../../src/workers/threaded-runner.ts';
import { createFanoutSink } from '../../src/metrics/events.ts';
import { CollectSink } from '../helpers/events.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';

const MODULE = `import { TestCase } from 'loads-runner';

export class TestMix extends TestCase {
  async test_page() {
    const res = await this.app.get('/slow?ms=' + (this.loadsStatus.currentUser % 3) * 5);
    this.assertEqual(res.status, 200);
    this.incrCounter('pages');
  }

  async test_ws() {
    const ws = await this.createWs(this.app.serverUrl.replace('http', 'ws') + '/ws');
    ws.send('ping');
    await ws.receive(5);
  }

  async test_outcomes() {
    const { currentUser, currentHit } = this.loadsStatus;
    if (currentHit === 2) {
      this.fail('user ' + currentUser + ' fails its second run');
    }
    if (currentUser === 3) {
      throw new Error('user 3 errors');
    }
  }
}

export class TestExit extends TestCase {
  async test_exit() {
    await this.app.get('/');
    // Late enough that worker 1 has sent deltas (every 200 ms) before this one dies.
    if (this.loadsStatus.currentUser === 2 && this.loadsStatus.currentHit === 3) {
      await new Promise((resolve) => setTimeout(resolve, 700));
      process.exit(3);
    }
  }
}

export class TestHang extends TestCase {
  async test_hang() {
    await this.app.get('/');
    await new Promise(() => {});
  }
}

export class TestBlock extends TestCase {
  async test_block() {
    await this.app.get('/');
    if (this.loadsStatus.currentUser === 2) {
      // Blocks this thread as a busy loop would, without burning a core.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
    }
  }
}

export class TestStray extends TestCase {
  async test_stray() {
    Promise.reject(new Error('nobody awaits me'));
    await this.app.get('/');
  }
}
`;

let example: ExampleServer;
let project: TmpProject;

before(async () => {
  example = await startExampleServer();
  project = await createTmpProject();
  await project.write('mix.ts', MODULE);
});

after(async () => {
  await example.close();
  await project.remove();
});

interface Run {
  fqn: string;
  users: number[];
  hits?: number[];
  durationMs?: number;
  workers: number;
  signal?: AbortSignal;
  withEvents?: boolean;
  onStrayError?: ThreadedRunnerOptions['onStrayError'];
  betweenSteps?: ThreadedRunnerOptions['betweenSteps'];
}

function plan(run: Run) {
  return buildPlan(
    run.users,
    run.durationMs === undefined ? (run.hits ?? null) : null,
    run.durationMs ?? null,
  );
}

async function threaded(run: Run) {
  const aggregator = new Aggregator();
  const events = new CollectSink();
  const runner = new ThreadedRunner({
    fqn: run.fqn,
    cwd: project.dir,
    plan: plan(run),
    workers: run.workers,
    aggregator,
    eventSink: run.withEvents === false ? undefined : events,
    signal: run.signal ?? new AbortController().signal,
    timeoutMs: 5000,
    testTimeoutMs: 0,
    serverUrl: example.url,
    ...(run.onStrayError === undefined ? {} : { onStrayError: run.onStrayError }),
    ...(run.betweenSteps === undefined ? {} : { betweenSteps: run.betweenSteps }),
  });
  return { runner, aggregator, events };
}

async function local(run: Run) {
  const aggregator = new Aggregator();
  const events = new CollectSink();
  const runner = new LocalRunner({
    test: await loadTest(run.fqn, project.dir),
    plan: plan(run),
    sink: createFanoutSink([aggregator, events]),
    signal: new AbortController().signal,
    timeoutMs: 5000,
    testTimeoutMs: 0,
    serverUrl: example.url,
  });
  return { runner, aggregator, events };
}

const INFO: RunInfo = {
  startedAt: 0,
  fqn: 'mix.TestMix',
  projectName: 'N/A',
  version: '0.1.0',
  users: [],
  hits: [],
  durationMs: null,
  rate: null,
  maxUsers: null,
  rampUpMs: 0,
  workers: 1,
};

/** The numbers that do not depend on timing. */
function counts(aggregator: Aggregator) {
  const s = aggregator.snapshot();
  return {
    hits: s.hits,
    hitErrors: s.hitErrors,
    tests: s.tests,
    perTest: s.perTest,
    counters: s.counters,
    socketsOpened: s.socketsOpened,
    socketsClosed: s.socketsClosed,
    wsMessages: s.wsMessages,
    wsBytesReceived: s.wsBytesReceived,
    urls: s.urls.map((u) => `${u.key} ${u.hits}`).sort(),
    topErrors: s.topErrors.map((e) => `${e.count} ${e.name}: ${e.message}`).sort(),
    topFailures: s.topFailures.map((e) => `${e.count} ${e.name}: ${e.message}`).sort(),
  };
}

/** (cycle, user) → runs ended, from test-end events. */
function runsPerUser(events: CollectSink): Map<string, number> {
  const runs = new Map<string, number>();
  for (const e of events.ofType('test-end')) {
    const key = `${e.cycleIndex}/${e.currentUser}/${e.users}`;
    runs.set(key, (runs.get(key) ?? 0) + 1);
  }
  return runs;
}

describe('ThreadedRunner', () => {
  it('gives the counts of one thread for users × hits cycles: tests, outcomes, counters, sockets, URLs', async () => {
    const run: Run = { fqn: 'mix.TestMix', users: [3, 5], hits: [2, 1], workers: 2 };
    const one = await local(run);
    const two = await threaded(run);
    assert.deepEqual(await one.runner.run(), { interrupted: false });
    assert.deepEqual(await two.runner.run(), { interrupted: false });
    assert.deepEqual(counts(two.aggregator), counts(one.aggregator));
    // (3 + 5) users × (2 + 1) runs × 3 methods
    assert.equal(
      counts(two.aggregator).tests.successes +
        counts(two.aggregator).tests.failures +
        counts(two.aggregator).tests.errors,
      72,
    );
    assert.equal(counts(two.aggregator).counters['pages'], 24);
    assert.equal(counts(two.aggregator).socketsOpened, 24);
    // Every user of every step ran its runs, numbered 1…users across the workers.
    assert.deepEqual(runsPerUser(two.events), runsPerUser(one.events));
    // One loop sample per worker, named after it.
    assert.deepEqual(two.runner.loopSamples.map((s) => s.thread).sort(), ['worker 1', 'worker 2']);
  });

  it('splits each step across min(N, users) workers, users numbered globally and each once', async () => {
    const { runner, events } = await threaded({
      fqn: 'mix.TestMix.test_page',
      users: [1, 7],
      hits: [2],
      workers: 3,
    });
    await runner.run();
    for (const [cycle, users] of [
      [0, 1],
      [1, 7],
    ] as const) {
      const ends = events.ofType('test-end').filter((e) => e.cycleIndex === cycle);
      const perUser = new Map<number, number>();
      for (const e of ends) {
        assert.equal(e.users, users, 'loadsStatus.users is the step total');
        perUser.set(e.currentUser, (perUser.get(e.currentUser) ?? 0) + 1);
      }
      assert.deepEqual(
        [...perUser.keys()].sort((a, b) => a - b),
        Array.from({ length: users }, (_, i) => i + 1),
      );
      assert.ok([...perUser.values()].every((runs) => runs === 2));
    }
    // One cycle-start and one cycle-end per step, in order, around the step's events.
    const marks = events.events.flatMap((e) =>
      e.type === 'cycle-start' || e.type === 'cycle-end' ? [`${e.type} ${e.cycleIndex}`] : [],
    );
    assert.deepEqual(marks, ['cycle-start 0', 'cycle-end 0', 'cycle-start 1', 'cycle-end 1']);
    const step1 = events.events.findIndex((e) => e.type === 'cycle-start' && e.cycleIndex === 1);
    assert.ok(
      events.events.every((e, i) =>
        e.type === 'test-end' ? (e.cycleIndex === 1) === i > step1 : true,
      ),
    );
    assert.equal(runner.loopSamples.length, 3);
  });

  it('merges percentiles exactly: the merged histogram equals one built from every hit', async () => {
    const { runner, aggregator, events } = await threaded({
      fqn: 'mix.TestMix.test_page',
      users: [6],
      hits: [10],
      workers: 2,
    });
    await runner.run();
    const direct = new Aggregator();
    for (const e of events.events) {
      direct.emit(e);
    }
    const merged = buildSummary(aggregator.snapshot(), INFO, 1000, false);
    const single = buildSummary(direct.snapshot(), INFO, 1000, false);
    assert.equal(merged.hits, 60);
    assert.deepEqual(merged.latency, single.latency);
    assert.equal(merged.avgRequestTimeS, single.avgRequestTimeS);
    assert.deepEqual(
      merged.urls.map((u) => [u.key, u.hits, u.p95S]).sort(),
      single.urls.map((u) => [u.key, u.hits, u.p95S]).sort(),
    );
  });

  it('sends no events without an event sink, and still counts everything', async () => {
    const { runner, aggregator } = await threaded({
      fqn: 'mix.TestMix.test_page',
      users: [4],
      hits: [3],
      workers: 2,
      withEvents: false,
    });
    await runner.run();
    assert.equal(aggregator.snapshot().hits, 12);
    assert.equal(aggregator.snapshot().tests.successes, 12);
  });

  it('duration mode: every worker runs the step for its duration, then the run ends', async () => {
    const { runner, aggregator, events } = await threaded({
      fqn: 'mix.TestMix.test_page',
      users: [2, 3],
      durationMs: 300,
      workers: 2,
    });
    assert.deepEqual(await runner.run(), { interrupted: false });
    const s = aggregator.snapshot();
    assert.ok(s.tests.successes > 0);
    assert.equal(s.tests.errors + s.tests.failures, 0);
    assert.equal(events.ofType('hit').length, s.hits);
    assert.equal(events.ofType('cycle-end').length, 2);
  });

  it('when betweenSteps is given then it is awaited after each step but the last, the next step waits for it, and stop ends the run interrupted', async () => {
    const seen: { step: number; hits: number; hitsAfterWait: number; cycleEnds: number }[] = [];
    // Filled once threaded() returns, before run() calls the hook.
    const made: { aggregator?: Aggregator; events?: CollectSink } = {};
    const { runner, aggregator, events } = await threaded({
      fqn: 'mix.TestMix.test_page',
      users: [2],
      hits: [1, 1, 1, 1],
      workers: 2,
      betweenSteps: async (finished) => {
        const hits = made.aggregator!.snapshot().hits;
        await new Promise((resolve) => setTimeout(resolve, 150));
        seen.push({
          step: finished.cycleIndex,
          hits,
          hitsAfterWait: made.aggregator!.snapshot().hits,
          cycleEnds: made.events!.ofType('cycle-end').length,
        });
        return finished.cycleIndex === 1 ? 'stop' : 'go';
      },
    });
    Object.assign(made, { aggregator, events });
    assert.deepEqual(await runner.run(), { interrupted: true });
    // Steps 0 and 1 ran; nothing of step 2 started while the hook waited.
    assert.deepEqual(seen, [
      { step: 0, hits: 2, hitsAfterWait: 2, cycleEnds: 1 },
      { step: 1, hits: 4, hitsAfterWait: 4, cycleEnds: 2 },
    ]);
    assert.equal(aggregator.snapshot().hits, 4);
    assert.equal(events.ofType('cycle-start').length, 2);
  });

  it('when betweenSteps is given and the signal aborts during it then run() resolves interrupted without the next step', async () => {
    const controller = new AbortController();
    const { runner, aggregator } = await threaded({
      fqn: 'mix.TestMix.test_page',
      users: [2],
      hits: [1, 1],
      workers: 2,
      signal: controller.signal,
      betweenSteps: () => {
        setTimeout(() => controller.abort(), 50);
        return new Promise(() => {});
      },
    });
    assert.deepEqual(await runner.run(), { interrupted: true });
    assert.equal(aggregator.snapshot().hits, 2);
  });

  it('Ctrl-C: resolves interrupted, with the last deltas merged and every counted hit forwarded', async () => {
    const controller = new AbortController();
    const { runner, aggregator, events } = await threaded({
      fqn: 'mix.TestMix.test_page',
      users: [4],
      durationMs: 60_000,
      workers: 2,
      signal: controller.signal,
    });
    await runner.start();
    const done = runner.run();
    // Wait for load to flow, then stop.
    while (aggregator.snapshot().hits < 20) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    controller.abort();
    assert.deepEqual(await done, { interrupted: true });
    const s = aggregator.snapshot();
    assert.equal(events.ofType('hit').length, s.hits);
    assert.equal(events.ofType('test-end').length, s.tests.successes);
    assert.equal(events.ofType('cycle-end').length, 1);
  });

  it('Ctrl-C: a worker whose thread is blocked is terminated; run() still resolves', async () => {
    const controller = new AbortController();
    const { runner } = await threaded({
      fqn: 'mix.TestBlock',
      users: [2],
      hits: [1],
      workers: 2,
      signal: controller.signal,
    });
    await runner.start();
    const done = runner.run();
    setTimeout(() => controller.abort(), 300);
    assert.deepEqual(await done, { interrupted: true });
  });

  it('a worker that exits mid-run rejects with a LoadsError naming it and the cause', async () => {
    const { runner, aggregator } = await threaded({
      fqn: 'mix.TestExit',
      users: [2],
      hits: [200],
      workers: 2,
    });
    await assert.rejects(runner.run(), (err: unknown) => {
      assert.ok(err instanceof LoadsError);
      assert.equal(err.code, 'LOADS_ERR_WORKER');
      assert.equal(err.exitCode, 1);
      assert.match(err.message, /^worker 2 of 2 exited with code 3 before the run ended/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    // Worker 1 was stopped, and what it sent merged.
    assert.ok(aggregator.snapshot().hits >= 3, `hits: ${aggregator.snapshot().hits}`);
  });

  it('a hung worker does not hang the run on Ctrl-C', async () => {
    const controller = new AbortController();
    const { runner } = await threaded({
      fqn: 'mix.TestHang',
      users: [2],
      hits: [1],
      workers: 2,
      signal: controller.signal,
    });
    await runner.start();
    const done = runner.run();
    setTimeout(() => controller.abort(), 200);
    assert.deepEqual(await done, { interrupted: true });
  });

  it('a worker that cannot load the test makes start() reject before any load', async () => {
    const { runner } = await threaded({
      fqn: 'mix.NoSuchClass',
      users: [2],
      workers: 2,
    });
    await assert.rejects(
      runner.start(),
      /^LoadsError: worker \d of 2 failed: module mix has no export 'NoSuchClass'/,
    );
  });

  it('reports stray errors from the workers and keeps running', async () => {
    const strays: string[] = [];
    const { runner, aggregator } = await threaded({
      fqn: 'mix.TestStray',
      users: [2],
      hits: [2],
      workers: 2,
      onStrayError: (text, worker) => strays.push(`${worker}: ${text}`),
    });
    assert.deepEqual(await runner.run(), { interrupted: false });
    assert.equal(aggregator.snapshot().tests.successes, 4);
    assert.ok(strays.length >= 2, strays.join('\n'));
    assert.ok(
      strays.every((s) => /^[12]: Error: nobody awaits me$/.test(s)),
      strays.join('\n'),
    );
  });
});
