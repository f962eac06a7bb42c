// The pieces under the worker protocol, in-process: Aggregator.takeDelta()
// (deltas merged in any split equal one aggregator fed every event), and the
// brand/version guards that make each side ignore messages that are not ours.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator, type Snapshot } from '../../src/metrics/aggregator.ts';
import { LatencyHistogram } from '../../src/metrics/histogram.ts';
import { Outcome, type LoadsEvent } from '../../src/metrics/events.ts';
import {
  envelope,
  isFromWorkerMessage,
  isToWorkerMessage,
  isWorkerSetup,
  WORKER_PROTOCOL,
  WORKER_PROTOCOL_VERSION,
} from '../../src/workers/messages.ts';

const T0 = 1_800_000_000_000;

function events(n: number): LoadsEvent[] {
  const list: LoadsEvent[] = [];
  for (let i = 0; i < n; i++) {
    list.push({
      type: 'hit',
      method: 'GET',
      url: `http://127.0.0.1/p${i % 3}?q=${i}`,
      name: '',
      status: i % 7 === 0 ? 500 : i % 11 === 0 ? 0 : 200,
      errorKey: i % 11 === 0 && i % 7 !== 0 ? 'ECONNREFUSED' : '',
      startedAt: T0 + i,
      elapsedMs: 1 + ((i * 37) % 250) / 3,
      bytes: 10,
      test: 'Foo.test_a',
      cycleIndex: 0,
      currentUser: 1 + (i % 4),
      currentHit: 1,
      lagMs: 0,
      protocol: 'h1',
    });
    list.push({
      type: 'test-end',
      test: i % 2 === 0 ? 'Foo.test_a' : 'Foo.test_b',
      startedAt: T0 + i,
      elapsedMs: 5,
      outcome: i % 5 === 0 ? Outcome.FAILURE : i % 13 === 0 ? Outcome.ERROR : Outcome.SUCCESS,
      errorName: i % 5 === 0 ? 'AssertionError' : i % 13 === 0 ? 'Error' : '',
      errorMessage: i % 5 === 0 ? `failed ${i % 2}` : i % 13 === 0 ? 'boom' : '',
      errorStack: i % 5 === 0 || i % 13 === 0 ? 'at x' : '',
      cycleIndex: 0,
      users: 4,
      currentUser: 1 + (i % 4),
      currentHit: 1,
      lagMs: 0,
    });
    if (i % 9 === 0) {
      list.push({ type: 'counter', name: 'pages', value: 2 });
      list.push({ type: 'socket-open', url: 'ws://127.0.0.1/ws', startedAt: T0 + i });
      list.push({ type: 'socket-message', url: 'ws://127.0.0.1/ws', bytes: 4 });
      list.push({ type: 'socket-close', url: 'ws://127.0.0.1/ws', code: 1000 });
    }
  }
  return list;
}

/** An encoded histogram as what it holds: two encodings of the same counts may differ in bytes. */
function values(encoded: string): number[] {
  const h = LatencyHistogram.decode(encoded);
  return [h.count, h.mean, ...[0, 10, 50, 90, 95, 99, 99.9, 100].map((p) => h.percentile(p))];
}

function comparable(snapshot: Snapshot) {
  return {
    ...snapshot,
    latency: values(snapshot.latency),
    serviceLatency: values(snapshot.serviceLatency),
    urls: snapshot.urls.map((u) => ({ ...u, latency: values(u.latency) })),
    steps: snapshot.steps.map((step) => ({ ...step, latency: values(step.latency) })),
  };
}

describe('Aggregator.takeDelta', () => {
  it('returns what a snapshot would, then starts again from nothing', () => {
    const aggregator = new Aggregator();
    for (const e of events(50)) {
      aggregator.emit(e);
    }
    const before = aggregator.snapshot();
    assert.deepEqual(aggregator.takeDelta(), before);
    assert.deepEqual(aggregator.snapshot(), new Aggregator().snapshot());
    assert.deepEqual(aggregator.takeDelta(), new Aggregator().snapshot());
  });

  it('deltas merged in order equal one aggregator fed every event, whatever the split', () => {
    const all = events(400);
    const whole = new Aggregator();
    for (const e of all) {
      whole.emit(e);
    }
    for (const every of [1, 7, 150, 1000]) {
      const worker = new Aggregator();
      const main = new Aggregator();
      all.forEach((e, i) => {
        worker.emit(e);
        if (i % every === 0) {
          main.merge(worker.takeDelta());
        }
      });
      main.merge(worker.takeDelta());
      assert.deepEqual(
        comparable(main.snapshot()),
        comparable(whole.snapshot()),
        `a delta every ${every} events`,
      );
    }
  });

  it('a delta survives structured cloning (what postMessage does)', () => {
    const worker = new Aggregator();
    for (const e of events(30)) {
      worker.emit(e);
    }
    const main = new Aggregator();
    const delta = worker.takeDelta();
    main.merge(structuredClone(delta));
    assert.deepEqual(comparable(main.snapshot()), comparable(delta));
  });
});

describe('worker messages', () => {
  it('carry the brand and version; anything else is ignored', () => {
    const step = { cycleIndex: 0, users: 2, hits: 1, durationMs: 0 };
    const run = envelope({
      type: 'run-step',
      step,
      userOffset: 0,
      userCount: 1,
      runIndex: 0,
      runCount: 1,
    });
    assert.equal(run.protocol, WORKER_PROTOCOL);
    assert.equal(run.version, WORKER_PROTOCOL_VERSION);
    assert.ok(isToWorkerMessage(run));
    assert.ok(isToWorkerMessage(structuredClone(run)));
    assert.ok(!isFromWorkerMessage(run), 'a message to a worker is not one from a worker');
    assert.ok(isFromWorkerMessage(envelope({ type: 'ready' })));
    for (const stray of [
      null,
      'ready',
      { type: 'ready' },
      { ...envelope({ type: 'ready' }), version: WORKER_PROTOCOL_VERSION + 1 },
      { ...envelope({ type: 'ready' }), protocol: 'someone-else' },
      envelope({ type: 'no-such-type' }),
    ]) {
      assert.ok(!isFromWorkerMessage(stray), JSON.stringify(stray));
      assert.ok(!isToWorkerMessage(stray), JSON.stringify(stray));
    }
    assert.ok(!isWorkerSetup({ fqn: 'a.B' }));
    assert.ok(
      isWorkerSetup(
        envelope({
          workerIndex: 1,
          fqn: 'a.B',
          cwd: '/',
          timeoutMs: 1,
          testTimeoutMs: 0,
          maxBodyBytes: null,
          discardBodies: false,
          serverUrl: null,
          forwardEvents: false,
        }),
      ),
    );
  });
});
