import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Aggregator,
  MAX_ERROR_KEYS,
  MAX_URLS,
  OTHER_URLS_KEY,
} from '../../src/metrics/aggregator.ts';
import type { Snapshot } from '../../src/metrics/aggregator.ts';
import { Outcome } from '../../src/metrics/events.ts';
import type { HitEvent, LoadsEvent, TestEndEvent } from '../../src/metrics/events.ts';
import { LatencyHistogram } from '../../src/metrics/histogram.ts';

const T0 = 1_800_000_000_000;

function hit(
  method: string,
  url: string,
  status: number,
  elapsedMs: number,
  at = 0,
  errorKey = '',
): HitEvent {
  return {
    type: 'hit',
    method,
    url,
    name: '',
    status,
    errorKey,
    startedAt: T0 + at,
    elapsedMs,
    bytes: 10,
    test: 'Foo.test_a',
    cycleIndex: 0,
    currentUser: 1,
    currentHit: 1,
    lagMs: 0,
    protocol: 'h1',
  };
}

/** The hit with a request name, as a Session sends it for `{ name }`. */
function named(event: HitEvent, name: string): HitEvent {
  event.name = name;
  return event;
}

function testEnd(
  test: string,
  outcome: Outcome,
  name = '',
  message = '',
  stack = '',
): TestEndEvent {
  return {
    type: 'test-end',
    test,
    startedAt: T0,
    elapsedMs: 5,
    outcome,
    errorName: name,
    errorMessage: message,
    errorStack: stack,
    cycleIndex: 0,
    users: 1,
    currentUser: 1,
    currentHit: 1,
    lagMs: 0,
  };
}

/** A scripted run: hits of every kind, test-ends of each outcome, sockets, counters. */
function script(): LoadsEvent[] {
  return [
    {
      type: 'cycle-start',
      cycleIndex: 0,
      users: 1,
      hits: 1,
      durationMs: 0,
      rate: 0,
      rampUpMs: 0,
      startedAt: T0,
    },
    {
      type: 'test-start',
      test: 'Foo.test_a',
      startedAt: T0,
      cycleIndex: 0,
      users: 1,
      currentUser: 1,
      currentHit: 1,
    },
    hit('GET', 'http://h/a?x=1', 200, 10, 0),
    hit('GET', 'http://h/a?x=2', 200, 20, 5),
    hit('POST', 'http://h/a', 201, 30, 10),
    hit('GET', 'http://h/b', 404, 5, 20),
    hit('GET', 'http://h/b', 500, 7, 30),
    hit('GET', 'http://h/c', 0, 1, 40, 'ECONNREFUSED'),
    hit('GET', 'http://h/c', 0, 1, 50, 'ECONNREFUSED'),
    hit('GET', 'http://h/c', 0, 100, 60, 'UND_ERR_HEADERS_TIMEOUT'),
    hit('GET', 'http://h/a#frag', 302, 3, 70),
    testEnd('Foo.test_a', Outcome.SUCCESS),
    testEnd('Foo.test_a', Outcome.SUCCESS),
    testEnd('Foo.test_a', Outcome.SUCCESS),
    testEnd('Foo.test_a', Outcome.FAILURE, 'AssertionError', 'expected 200', 'stack-1'),
    testEnd('Foo.test_a', Outcome.FAILURE, 'AssertionError', 'expected 200', 'stack-2'),
    testEnd('Foo.test_b', Outcome.ERROR, 'TypeError', 'boom', 'stack-t'),
    testEnd('Foo.test_b', Outcome.ERROR, 'HttpRequestError', 'refused', 'stack-h1'),
    testEnd('Foo.test_b', Outcome.ERROR, 'HttpRequestError', 'refused', 'stack-h2'),
    { type: 'socket-open', url: 'ws://h/ws', startedAt: T0 },
    { type: 'socket-open', url: 'ws://h/ws', startedAt: T0 },
    { type: 'socket-message', url: 'ws://h/ws', bytes: 10 },
    { type: 'socket-message', url: 'ws://h/ws', bytes: 15 },
    { type: 'socket-close', url: 'ws://h/ws', code: 1000 },
    { type: 'counter', name: 'logins', value: 1 },
    { type: 'counter', name: 'logins', value: 2 },
    { type: 'counter', name: 'other', value: 5 },
    { type: 'cycle-end', cycleIndex: 0, elapsedMs: 100 },
  ];
}

function feed(events: readonly LoadsEvent[], aggregator = new Aggregator()): Aggregator {
  for (const e of events) {
    aggregator.emit(e);
  }
  return aggregator;
}

/** A snapshot with histograms replaced by comparable numbers. */
function comparable(s: Snapshot): unknown {
  const stats = (encoded: string): number[] => {
    const h = LatencyHistogram.decode(encoded);
    return [h.count, h.mean, h.max, h.percentile(50), h.percentile(95)];
  };
  return {
    ...s,
    latency: stats(s.latency),
    serviceLatency: stats(s.serviceLatency),
    urls: s.urls.map((u) => ({ ...u, latency: stats(u.latency) })),
    steps: s.steps.map((step) => ({ ...step, latency: stats(step.latency) })),
  };
}

describe('Aggregator', () => {
  it('when a scripted run is fed then progress() has the exact counts', () => {
    const a = feed(script());
    assert.deepEqual(a.progress(), {
      hits: 9,
      runs: 8,
      successes: 3,
      failures: 2,
      errors: 3,
      hitErrors: 5,
      dropped: 0,
    });
    a.emit({ type: 'dropped', cycleIndex: 0, count: 4 });
    assert.equal(a.progress().dropped, 4);
  });

  it('when a scripted run is fed then the snapshot has every count', () => {
    const s = feed(script()).snapshot();
    assert.equal(s.hits, 9);
    assert.equal(s.hitErrors, 5);
    assert.equal(s.firstHitAt, T0);
    assert.equal(s.lastHitAt, T0 + 160);
    assert.deepEqual(s.statusClasses, [3, 0, 3, 1, 1, 1]);
    assert.deepEqual(s.statusCounts, { '404': 1, '500': 1 });
    assert.deepEqual(s.hitErrorKeys, { ECONNREFUSED: 2, UND_ERR_HEADERS_TIMEOUT: 1 });
    assert.deepEqual(s.tests, { successes: 3, failures: 2, errors: 3 });
    assert.deepEqual(s.perTest, {
      'Foo.test_a': { successes: 3, failures: 2, errors: 0 },
      'Foo.test_b': { successes: 0, failures: 0, errors: 3 },
    });
    assert.deepEqual(s.counters, { logins: 3, other: 5 });
    assert.equal(s.socketsOpened, 2);
    assert.equal(s.socketsClosed, 1);
    assert.equal(s.wsMessages, 2);
    assert.equal(s.wsBytesReceived, 25);
    const overall = LatencyHistogram.decode(s.latency);
    assert.equal(overall.count, 9);
    assert.equal(overall.max, 100.031); // 100 ms rounded up to its HDR bucket (64 µs wide)
  });

  it('when URLs carry query strings or fragments then per-URL keys strip them', () => {
    const s = feed(script()).snapshot();
    assert.deepEqual(
      s.urls.map((u) => [
        u.key,
        u.method,
        u.url,
        u.hits,
        u.errors,
        LatencyHistogram.decode(u.latency).count,
      ]),
      [
        ['GET http://h/a', 'GET', 'http://h/a', 3, 0, 3],
        ['POST http://h/a', 'POST', 'http://h/a', 1, 0, 1],
        ['GET http://h/b', 'GET', 'http://h/b', 2, 2, 2],
        ['GET http://h/c', 'GET', 'http://h/c', 3, 3, 3],
      ],
    );
  });

  it('when errors repeat then each key keeps its first stack and counts occurrences', () => {
    const s = feed(script()).snapshot();
    assert.deepEqual(s.topFailures, [
      {
        test: 'Foo.test_a',
        name: 'AssertionError',
        message: 'expected 200',
        stack: 'stack-1',
        count: 2,
      },
    ]);
    assert.deepEqual(s.topErrors, [
      {
        test: 'Foo.test_b',
        name: 'HttpRequestError',
        message: 'refused',
        stack: 'stack-h1',
        count: 2,
      },
      { test: 'Foo.test_b', name: 'TypeError', message: 'boom', stack: 'stack-t', count: 1 },
    ]);
    assert.equal(s.otherErrors, 0);
    assert.equal(s.otherFailures, 0);
  });

  it('when there are more distinct errors than the cap then the rest count as other', () => {
    const a = new Aggregator();
    for (let i = 0; i < MAX_ERROR_KEYS + 5; i++) {
      a.emit(testEnd('Foo.test_a', Outcome.ERROR, 'Error', `message ${i}`, 'stack'));
    }
    a.emit(testEnd('Foo.test_a', Outcome.ERROR, 'Error', 'message 0', 'stack'));
    const s = a.snapshot();
    assert.equal(s.topErrors.length, MAX_ERROR_KEYS);
    assert.equal(s.otherErrors, 5);
    assert.deepEqual(s.topErrors[0], {
      test: 'Foo.test_a',
      name: 'Error',
      message: 'message 0',
      stack: 'stack',
      count: 2,
    });
    assert.equal(s.tests.errors, MAX_ERROR_KEYS + 6);
  });

  it('when there are more distinct URLs than the cap then the rest share one entry', () => {
    const a = new Aggregator();
    for (let i = 0; i < MAX_URLS + 3; i++) {
      a.emit(hit('GET', `http://h/item/${i}`, 200, 1));
    }
    assert.equal(a.urlCount, MAX_URLS + 1);
    const other = a.snapshot().urls.find((u) => u.key === OTHER_URLS_KEY);
    assert.equal(other?.hits, 3);
  });

  it('when 500 distinct paths carry one name then they make one row of 500 hits', () => {
    const a = new Aggregator();
    for (let i = 1; i <= 500; i++) {
      a.emit(named(hit('GET', `http://h/item/${i}?v=${i}`, i === 1 ? 500 : 200, i), '/item/:id'));
    }
    a.emit(hit('GET', 'http://h/item/1', 200, 1));
    a.emit(hit('GET', 'http://h/item/2?x=1', 200, 1));
    a.emit(named(hit('POST', 'http://h/item/3', 201, 1), '/item/:id'));
    const s = a.snapshot();
    assert.deepEqual(
      s.urls.map((u) => [u.key, u.method, u.url, u.hits, u.errors]),
      [
        ['GET /item/:id', 'GET', '/item/:id', 500, 1],
        // Unnamed hits keep their own row per URL, even to a URL a name covered.
        ['GET http://h/item/1', 'GET', 'http://h/item/1', 1, 0],
        ['GET http://h/item/2', 'GET', 'http://h/item/2', 1, 0],
        ['POST /item/:id', 'POST', '/item/:id', 1, 0],
      ],
    );
    const latency = LatencyHistogram.decode(s.urls[0]!.latency);
    assert.equal(latency.count, 500);
    assert.ok(Math.abs(latency.max - 500) < 1, `max ${latency.max}`);
  });

  it('when a name has a query string then it is kept as it is, not stripped', () => {
    const a = new Aggregator();
    a.emit(named(hit('GET', 'http://h/search?q=a', 200, 1), '/search?q=:term'));
    a.emit(named(hit('GET', 'http://h/search?q=b', 200, 1), '/search?q=:term'));
    assert.deepEqual(
      a.snapshot().urls.map((u) => [u.key, u.hits]),
      [['GET /search?q=:term', 2]],
    );
  });

  it('when one reused event alternates between named and unnamed then each goes to its row', () => {
    const a = new Aggregator();
    // The one-entry cache must tell a named hit from an unnamed one to the same URL.
    const e = hit('GET', '', 200, 1);
    for (let i = 0; i < 10; i++) {
      // Each URL twice in a row: named, then unnamed.
      e.url = `http://h/item/${Math.floor(i / 2) % 2}`;
      e.name = i % 2 === 0 ? '/item/:id' : '';
      a.emit(e);
    }
    assert.deepEqual(
      a.snapshot().urls.map((u) => [u.key, u.hits]),
      [
        ['GET /item/:id', 5],
        ['GET http://h/item/0', 3],
        ['GET http://h/item/1', 2],
      ],
    );
  });

  it('when more distinct ids than the URL cap carry one name then nothing overflows', () => {
    const a = new Aggregator();
    for (let i = 0; i < MAX_URLS + 500; i++) {
      a.emit(named(hit('GET', `http://h/item/${i}`, 200, 1), '/item/:id'));
    }
    assert.equal(a.urlCount, 1);
    assert.deepEqual(
      a.snapshot().urls.map((u) => [u.key, u.hits]),
      [['GET /item/:id', MAX_URLS + 500]],
    );
  });

  it('when snapshots with a named row are merged then the name stays one row', () => {
    const worker1 = new Aggregator();
    const worker2 = new Aggregator();
    for (let i = 0; i < 250; i++) {
      worker1.emit(named(hit('GET', `http://h/item/${i}`, 200, 1), '/item/:id'));
      worker2.emit(named(hit('GET', `http://h/item/${250 + i}`, 200, 2), '/item/:id'));
    }
    worker2.emit(hit('GET', 'http://h/item/9?a=1', 200, 1));
    const main = new Aggregator();
    main.merge(structuredClone(worker1.takeDelta()));
    main.merge(structuredClone(worker2.snapshot()));
    worker1.emit(named(hit('GET', 'http://h/item/999', 200, 1), '/item/:id'));
    main.merge(structuredClone(worker1.takeDelta()));
    assert.deepEqual(
      main.snapshot().urls.map((u) => [u.key, u.url, u.hits]),
      [
        ['GET /item/:id', '/item/:id', 501],
        ['GET http://h/item/9', 'http://h/item/9', 1],
      ],
    );
  });

  it('when 1,000,000 hits go to 3 URLs then it holds 3 URL entries', () => {
    const a = new Aggregator();
    // One reused event object, as a producer may do (contracts.md "Event reuse").
    const e = hit('GET', '', 200, 0);
    const paths = ['http://h/one', 'http://h/two', 'http://h/three'];
    for (let i = 0; i < 1_000_000; i++) {
      e.url = `${paths[i % 3]!}?i=${i}`;
      e.elapsedMs = i % 50;
      a.emit(e);
    }
    assert.equal(a.urlCount, 3);
    const s = a.snapshot();
    assert.equal(s.hits, 1_000_000);
    assert.deepEqual(
      s.urls.map((u) => [u.key, u.hits]),
      [
        ['GET http://h/one', 333_334],
        ['GET http://h/two', 333_333],
        ['GET http://h/three', 333_333],
      ],
    );
  });

  it('when more events come after a snapshot then the snapshot does not change', () => {
    const a = feed(script());
    const before = a.snapshot();
    const copy = structuredClone(before);
    feed(script(), a);
    assert.deepEqual(before, copy);
    assert.equal(a.snapshot().hits, 18);
  });

  it('when a snapshot is merged then the result equals one aggregator of all events', () => {
    const events = script();
    const half = Math.floor(events.length / 2);
    const a = feed(events.slice(0, half));
    const b = feed(events.slice(half));
    a.merge(structuredClone(b.snapshot()));
    assert.deepEqual(comparable(a.snapshot()), comparable(feed(events).snapshot()));
  });

  it('when the same error comes from two tests then each test keeps its own entry', () => {
    const a = new Aggregator();
    a.emit(testEnd('Foo.test_a', Outcome.FAILURE, 'AssertionError', 'bad', 's1'));
    a.emit(testEnd('Foo.test_b', Outcome.FAILURE, 'AssertionError', 'bad', 's2'));
    a.emit(testEnd('Foo.test_b', Outcome.FAILURE, 'AssertionError', 'bad', 's3'));
    assert.deepEqual(
      a.snapshot().topFailures.map((f) => [f.test, f.count, f.stack]),
      [
        ['Foo.test_b', 2, 's2'],
        ['Foo.test_a', 1, 's1'],
      ],
    );
  });

  it('when runs start late then response time adds the lag and service time does not', () => {
    const a = new Aggregator();
    const late = hit('GET', 'http://h/a', 200, 10);
    late.lagMs = 990;
    a.emit(late);
    a.emit(hit('GET', 'http://h/a', 200, 10));
    const s = a.snapshot();
    const response = LatencyHistogram.decode(s.latency);
    const service = LatencyHistogram.decode(s.serviceLatency);
    assert.equal(service.count, 2);
    assert.ok(Math.abs(service.max - 10) < 0.1, `service max ${service.max}`);
    assert.ok(Math.abs(response.max - 1000) < 1, `response max ${response.max}`);
    assert.ok(Math.abs(LatencyHistogram.decode(s.urls[0]!.latency).max - 1000) < 1);
  });

  it('when events come from several steps then each step has its own row', () => {
    const a = new Aggregator();
    const cycleStart = (cycleIndex: number, users: number, rate: number): LoadsEvent => ({
      type: 'cycle-start',
      cycleIndex,
      users,
      hits: rate === 0 ? 2 : 0,
      durationMs: 0,
      rate,
      rampUpMs: 0,
      startedAt: T0 + cycleIndex * 1000,
    });
    a.emit(cycleStart(0, 10, 0));
    a.emit(hit('GET', 'http://h/a', 200, 5));
    a.emit(hit('GET', 'http://h/a', 503, 7));
    a.emit(testEnd('Foo.test_a', Outcome.SUCCESS));
    a.emit(testEnd('Foo.test_a', Outcome.FAILURE, 'AssertionError', 'x'));
    a.emit({ type: 'cycle-end', cycleIndex: 0, elapsedMs: 900 });
    a.emit(cycleStart(1, 4, 50));
    const second = hit('GET', 'http://h/a', 0, 3, 0, 'ECONNREFUSED');
    second.cycleIndex = 1;
    a.emit(second);
    const end = testEnd('Foo.test_a', Outcome.ERROR, 'Error', 'y');
    end.cycleIndex = 1;
    a.emit(end);
    a.emit({ type: 'dropped', cycleIndex: 1, count: 7 });
    a.emit({ type: 'cycle-end', cycleIndex: 1, elapsedMs: 1100 });
    const s = a.snapshot();
    assert.equal(s.dropped, 7);
    assert.deepEqual(
      s.steps.map(({ latency, ...rest }) => ({
        ...rest,
        count: LatencyHistogram.decode(latency).count,
      })),
      [
        {
          cycleIndex: 0,
          users: 10,
          runsPerUser: 2,
          rate: 0,
          startedAt: T0,
          elapsedMs: 900,
          hits: 2,
          hitErrors: 1,
          hits5xx: 1,
          successes: 1,
          failures: 1,
          errors: 0,
          dropped: 0,
          count: 2,
        },
        {
          cycleIndex: 1,
          users: 4,
          runsPerUser: 0,
          rate: 50,
          startedAt: T0 + 1000,
          elapsedMs: 1100,
          hits: 1,
          hitErrors: 1,
          hits5xx: 0,
          successes: 0,
          failures: 0,
          errors: 1,
          dropped: 7,
          count: 1,
        },
      ],
    );
  });

  it('when a worker delta without step bounds is merged then the main thread keeps the bounds', () => {
    const main = new Aggregator();
    main.emit({
      type: 'cycle-start',
      cycleIndex: 0,
      users: 3,
      hits: 1,
      durationMs: 0,
      rate: 0,
      rampUpMs: 0,
      startedAt: T0,
    });
    const worker = new Aggregator();
    worker.emit(hit('GET', 'http://h/a', 200, 5));
    worker.emit(testEnd('Foo.test_a', Outcome.SUCCESS));
    main.merge(structuredClone(worker.takeDelta()));
    main.emit({ type: 'cycle-end', cycleIndex: 0, elapsedMs: 50 });
    const [step] = main.snapshot().steps;
    assert.equal(step?.users, 3);
    assert.equal(step?.startedAt, T0);
    assert.equal(step?.elapsedMs, 50);
    assert.equal(step?.hits, 1);
    assert.equal(step?.successes, 1);
    assert.deepEqual(worker.snapshot().steps, []);
  });

  it('when nothing happened then the snapshot is all zeros', () => {
    const s = new Aggregator().snapshot();
    assert.equal(s.hits, 0);
    assert.equal(s.firstHitAt, 0);
    assert.deepEqual(s.urls, []);
    assert.equal(LatencyHistogram.decode(s.latency).count, 0);
  });
});
