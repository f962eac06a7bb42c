import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import { Outcome, type LoadsEvent } from '../../src/metrics/events.ts';
import { bucketPairsPercentiles, RowHistogram } from '../../src/metrics/histogram.ts';
import { buildSummary, type RunInfo } from '../../src/metrics/summary.ts';
import {
  MAX_TIMELINE_ROWS,
  Timeline,
  type TimelineRowSnapshot,
} from '../../src/metrics/timeline.ts';

const T0 = 1_800_000_000_000;

/** A run's events over `seconds` seconds: hits (some failing), runs of every outcome, WebSocket traffic. */
function script(seconds: number): LoadsEvent[] {
  const events: LoadsEvent[] = [];
  for (let ms = 0; ms < seconds * 1000; ms += 37) {
    const i = events.length;
    const outcome = i % 11 === 0 ? Outcome.ERROR : i % 7 === 0 ? Outcome.FAILURE : Outcome.SUCCESS;
    events.push({
      type: 'test-start',
      test: 'C.t',
      startedAt: T0 + ms,
      cycleIndex: 0,
      users: 3,
      currentUser: 1 + (i % 3),
      currentHit: 1,
    });
    events.push({
      type: 'hit',
      method: 'GET',
      url: `http://h/${i % 4}`,
      name: '',
      status: i % 13 === 0 ? 503 : i % 17 === 0 ? 0 : 200,
      errorKey: i % 17 === 0 && i % 13 !== 0 ? 'ECONNRESET' : '',
      startedAt: T0 + ms,
      elapsedMs: 1 + (i % 50),
      bytes: 100 + (i % 9),
      test: 'C.t',
      cycleIndex: 0,
      currentUser: 1 + (i % 3),
      currentHit: 1,
      lagMs: i % 5,
      protocol: 'h1',
    });
    events.push({
      type: 'test-end',
      test: 'C.t',
      startedAt: T0 + ms,
      elapsedMs: 30,
      outcome,
      errorName: outcome === Outcome.SUCCESS ? '' : 'Error',
      errorMessage: outcome === Outcome.SUCCESS ? '' : 'boom',
      errorStack: '',
      cycleIndex: 0,
      users: 3,
      currentUser: 1 + (i % 3),
      currentHit: 1,
      lagMs: 0,
    });
    if (i % 10 === 0) {
      events.push({ type: 'socket-open', url: 'ws://h/ws', startedAt: T0 + ms });
    }
  }
  return events;
}

function sum(rows: readonly TimelineRowSnapshot[], field: keyof TimelineRowSnapshot): number {
  return rows.reduce((total, row) => total + (row[field] as number), 0);
}

describe('Timeline', () => {
  it('when a run is recorded then its rows add up to the totals', () => {
    const aggregator = new Aggregator();
    aggregator.startTimeline(T0);
    for (const event of script(5)) {
      aggregator.emit(event);
    }
    aggregator.emit({ type: 'dropped', cycleIndex: 0, count: 4 });
    aggregator.emit({ type: 'socket-message', url: 'ws://h/ws', bytes: 12 });
    const snapshot = aggregator.snapshot();
    const rows = snapshot.timeline.rows;
    assert.equal(snapshot.timeline.widthS, 1);
    // The last runs end just after 5 s.
    assert.deepEqual(
      rows.map((row) => row.index),
      [0, 1, 2, 3, 4, 5],
    );
    assert.equal(sum(rows, 'hits'), snapshot.hits);
    assert.equal(sum(rows, 'hitErrors'), snapshot.hitErrors);
    assert.equal(sum(rows, 'hits5xx'), snapshot.statusClasses[5]);
    assert.equal(sum(rows, 'bytes'), snapshot.bytesReceived);
    assert.equal(sum(rows, 'started'), snapshot.hits);
    assert.equal(sum(rows, 'successes'), snapshot.tests.successes);
    assert.equal(sum(rows, 'failures'), snapshot.tests.failures);
    assert.equal(sum(rows, 'errors'), snapshot.tests.errors);
    assert.equal(sum(rows, 'dropped'), 4);
    assert.equal(sum(rows, 'wsOpened'), snapshot.socketsOpened);
    assert.equal(sum(rows, 'wsMessages'), 1);
    assert.equal(sum(rows, 'wsBytes'), 12);
    // Each run lasts 30 ms and they never overlap: busy time is 30 ms per run.
    assert.equal(sum(rows, 'busyMs'), snapshot.hits * 30);
    for (const row of rows) {
      assert.ok(row.p50 > 0 && row.p50 <= row.p90 && row.p95 <= row.p99 && row.p99 <= row.max);
      assert.ok(row.serviceP99 <= row.p99, 'service time never exceeds response time');
    }
  });

  it('when three threads record parts of a run then their deltas merge into the rows of one', () => {
    const events = script(4);
    const whole = new Aggregator();
    whole.startTimeline(T0);
    const workers = [new Aggregator(), new Aggregator(), new Aggregator()];
    const main = new Aggregator();
    for (const a of [...workers, main]) {
      a.startTimeline(T0);
    }
    // Each run's events go to one worker, as a virtual user lives in one thread.
    let run = 0;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      whole.emit(event);
      if (event.type === 'test-start') {
        run++;
      }
      workers[run % 3]!.emit(event);
      if (i % 97 === 0) {
        main.merge(structuredClone(workers[i % 3]!.takeDelta()));
      }
    }
    for (const worker of workers) {
      main.merge(structuredClone(worker.takeDelta()));
    }
    assert.deepEqual(main.snapshot().timeline, whole.snapshot().timeline);
  });

  it('when the run outgrows the row limit then rows double in width and lose nothing', () => {
    const timeline = new Timeline();
    timeline.setOrigin(0);
    const seconds = 9000; // over 2 × 3600: rows of 4 s
    for (let s = 0; s < seconds; s++) {
      timeline.runStarted(s * 1000);
      timeline.hit(s * 1000 + 10, s % 10 === 0 ? 500 : 200, 7, 1 + (s % 100), 1);
      timeline.runEnded(s * 1000 + 10, Outcome.SUCCESS);
    }
    const snapshot = timeline.snapshot(seconds * 1000);
    assert.equal(snapshot.widthS, 4);
    assert.ok(timeline.rowCount <= MAX_TIMELINE_ROWS);
    assert.equal(snapshot.rows.length, seconds / 4);
    assert.equal(sum(snapshot.rows, 'hits'), seconds);
    assert.equal(sum(snapshot.rows, 'hits5xx'), seconds / 10);
    assert.equal(sum(snapshot.rows, 'bytes'), seconds * 7);
    assert.equal(sum(snapshot.rows, 'busyMs'), seconds * 10);
    // A coarse row holds exactly the latencies of its four seconds.
    for (const index of [0, 1, 1000, 2249]) {
      const expected = new RowHistogram();
      for (let s = index * 4; s < index * 4 + 4; s++) {
        expected.record(1 + (s % 100));
      }
      const row = snapshot.rows[index]!;
      assert.equal(row.index, index);
      assert.deepEqual(row.latency, expected.toPairs());
      const [p50, p99, max] = bucketPairsPercentiles(expected.toPairs(), [50, 99, 100]);
      assert.deepEqual([row.p50, row.p99, row.max], [p50, p99, max]);
    }
  });

  it('when a run stays in flight across rows then each row gets its share of busy time', () => {
    const timeline = new Timeline();
    timeline.setOrigin(0);
    timeline.runStarted(500);
    timeline.runStarted(2200);
    // Mid-run, the runs in flight count up to the snapshot's time.
    assert.deepEqual(
      timeline.snapshot(2500).rows.map((row) => row.busyMs),
      [500, 1000, 200 + 2 * 300],
    );
    timeline.runEnded(3000, Outcome.SUCCESS);
    timeline.runEnded(3000, Outcome.ERROR);
    assert.deepEqual(
      timeline.snapshot(4000).rows.map((row) => [row.index, row.busyMs]),
      [
        [0, 500],
        [1, 1000],
        [2, 200 + 2 * 800],
        [3, 0],
      ],
    );
  });

  it('when data comes late for a sealed row then it is merged exactly', () => {
    const worker = new Timeline();
    worker.setOrigin(0);
    const main = new Timeline();
    main.setOrigin(0);
    for (let s = 0; s < 20; s++) {
      worker.hit(s * 1000, 200, 1, 10, 10);
      main.merge(worker.snapshot(s * 1000));
      worker.clear();
    }
    worker.hit(1500, 200, 1, 300, 300); // second 1, long sealed
    main.merge(worker.snapshot(20_000));
    const row = main.snapshot(20_000).rows[1]!;
    assert.equal(row.hits, 2);
    assert.equal(row.max, bucketPairsPercentiles(row.latency, [100])[0]);
    assert.ok(row.max >= 300 && row.max < 303, `max ${row.max}`);
  });

  it('when a coarser timeline is merged into a finer one then the finer one coarsens first', () => {
    const coarse = new Timeline();
    coarse.setOrigin(0);
    for (let s = 0; s < 2 * MAX_TIMELINE_ROWS; s++) {
      coarse.hit(s * 1000, 200, 1, 5, 5);
    }
    const fine = new Timeline();
    fine.setOrigin(0);
    fine.hit(0, 200, 1, 5, 5);
    fine.hit(3000, 200, 1, 5, 5);
    fine.merge(coarse.snapshot(0));
    const snapshot = fine.snapshot(0);
    assert.equal(snapshot.widthS, 2);
    assert.equal(sum(snapshot.rows, 'hits'), 2 * MAX_TIMELINE_ROWS + 2);
    assert.deepEqual(
      snapshot.rows.slice(0, 2).map((row) => row.hits),
      [3, 3],
    );
  });
});

describe('buildSummary timeline', () => {
  it('gives rows in seconds since the start, the last one ending with the run', () => {
    const aggregator = new Aggregator();
    aggregator.startTimeline(T0);
    for (const event of script(3)) {
      aggregator.emit(event);
    }
    const info: RunInfo = {
      startedAt: T0,
      fqn: 'm.C.t',
      projectName: 'p',
      version: '0.0.0',
      users: [3],
      hits: null,
      durationMs: 3000,
      rate: null,
      maxUsers: null,
      rampUpMs: 0,
      workers: 1,
    };
    const summary = buildSummary(aggregator.snapshot(), info, T0 + 3100, false);
    assert.deepEqual(
      summary.timeline.map((row) => [row.t, row.durationS]),
      [
        [0, 1],
        [1, 1],
        [2, 1],
        [3, 0.1],
      ],
    );
    const last = summary.timeline[3]!;
    assert.equal(last.rps, last.hits / 0.1);
    assert.equal(
      summary.timeline.reduce((total, row) => total + row.hits, 0),
      summary.hits,
    );
    const first = summary.timeline[0]!;
    // Runs of 30 ms every 37 ms: 28 start in the first second, the last at 999 ms,
    // so it holds 27 × 30 + 1 ms of busy time: 0.811 users busy on average.
    assert.equal(first.started, 28);
    assert.ok(Math.abs(first.users - 0.811) < 1e-9, `users ${first.users}`);
    assert.ok(first.p99S > 0 && first.p99S < 1);
    assert.equal(summary.histograms.responseTime, aggregator.snapshot().latency);
  });
});
