import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.ts';
import { Aggregator, type ProgressCounts } from '../../src/metrics/aggregator.ts';
import type { Snapshot } from '../../src/metrics/aggregator.ts';
import { Outcome, type HitEvent, type TestEndEvent } from '../../src/metrics/events.ts';
import {
  certainlyCrossed,
  evaluateThresholds,
  parseThreshold,
  type ThresholdResult,
} from '../../src/metrics/thresholds.ts';

const T0 = 1_800_000_000_000;

function hit(
  method: string,
  url: string,
  status: number,
  elapsedMs: number,
  cycleIndex: number,
): HitEvent {
  return {
    type: 'hit',
    method,
    url,
    name: '',
    status,
    errorKey: '',
    startedAt: T0,
    elapsedMs,
    bytes: 0,
    test: 'Foo.test_a',
    cycleIndex,
    currentUser: 1,
    currentHit: 1,
    lagMs: 0,
    protocol: 'h1',
  };
}

function testEnd(outcome: Outcome, cycleIndex: number): TestEndEvent {
  const failed = outcome !== Outcome.SUCCESS;
  return {
    type: 'test-end',
    test: 'Foo.test_a',
    startedAt: T0,
    elapsedMs: 1,
    outcome,
    errorName: failed ? 'AssertionError' : '',
    errorMessage: failed ? 'boom' : '',
    errorStack: '',
    cycleIndex,
    users: 1,
    currentUser: 1,
    currentHit: 1,
    lagMs: 0,
  };
}

/**
 * Step 1 (index 0, 1 s): 90 × GET /fast 200 in 100 ms, 10 × GET /slow 200 in 1 s;
 * runs: 98 successes, 2 failures.
 * Step 2 (index 1, 0.5 s): 5 × POST /fast 500 and 5 × GET /fast 404, 50 ms each;
 * runs: 8 successes, 1 failure, 1 error; 10 dropped.
 * Whole run: 110 hits, p50/p90 100 ms, p95 1 s, min 50 ms, avg 177 ms,
 * 4 of 110 runs failed or errored (3.64 %), 5 hits 5xx and 5 hits 4xx (4.55 % each),
 * 10 dropped of 120 (8.33 %). With a 2 s run: 55 rps.
 */
function fixture(): Snapshot {
  const a = new Aggregator();
  a.emit({
    type: 'cycle-start',
    cycleIndex: 0,
    users: 1,
    hits: 100,
    durationMs: 0,
    rate: 0,
    rampUpMs: 0,
    startedAt: T0,
  });
  for (let i = 0; i < 90; i++) {
    a.emit(hit('GET', `http://h/fast?i=${i}`, 200, 100, 0));
  }
  for (let i = 0; i < 10; i++) {
    a.emit(hit('GET', 'http://h/slow', 200, 1000, 0));
  }
  for (let i = 0; i < 98; i++) {
    a.emit(testEnd(Outcome.SUCCESS, 0));
  }
  a.emit(testEnd(Outcome.FAILURE, 0));
  a.emit(testEnd(Outcome.FAILURE, 0));
  a.emit({ type: 'cycle-end', cycleIndex: 0, elapsedMs: 1000 });
  a.emit({
    type: 'cycle-start',
    cycleIndex: 1,
    users: 1,
    hits: 10,
    durationMs: 0,
    rate: 0,
    rampUpMs: 0,
    startedAt: T0 + 1000,
  });
  for (let i = 0; i < 5; i++) {
    a.emit(hit('POST', 'http://h/fast', 500, 50, 1));
    a.emit(hit('GET', 'http://h/fast', 404, 50, 1));
  }
  for (let i = 0; i < 8; i++) {
    a.emit(testEnd(Outcome.SUCCESS, 1));
  }
  a.emit(testEnd(Outcome.FAILURE, 1));
  a.emit(testEnd(Outcome.ERROR, 1));
  a.emit({ type: 'dropped', cycleIndex: 1, count: 10 });
  a.emit({ type: 'cycle-end', cycleIndex: 1, elapsedMs: 500 });
  return a.snapshot();
}

const SNAPSHOT = fixture();
const DURATION_S = 2;

function evaluate(expression: string): ThresholdResult {
  const [result] = evaluateThresholds([parseThreshold(expression)], SNAPSHOT, DURATION_S);
  assert.ok(result);
  assert.equal(result.expression, expression.trim());
  return result;
}

function assertPasses(expression: string, display?: RegExp): void {
  const result = evaluate(expression);
  assert.equal(result.passed, true, `${expression} should pass, measured ${result.display}`);
  if (display !== undefined) {
    assert.match(result.display, display);
  }
}

function assertFails(expression: string, display?: RegExp): void {
  const result = evaluate(expression);
  assert.equal(result.passed, false, `${expression} should fail, measured ${result.display}`);
  if (display !== undefined) {
    assert.match(result.display, display);
  }
}

describe('evaluateThresholds on the whole run', () => {
  it('when a percentile bound is above the measured value then it passes, below then it fails', () => {
    assertPasses('p95<1.1s', /^1\.00s$/);
    assertFails('p95<0.9s', /^1\.00s$/);
    assertPasses('p90<150ms', /^0\.100s$/);
    assertFails('p90<90', /^0\.100s$/); // a bare number is ms
    assertPasses('p99.9<2s');
    assertFails('p99.9<999ms');
  });

  it('when med, avg, max and min are bounded then each reads its own statistic', () => {
    assertPasses('med<150ms', /^0\.100s$/);
    assertFails('med<90ms');
    assertPasses('avg<200ms', /^0\.17\ds$/);
    assertFails('avg<150ms');
    assertPasses('max<=1.1s');
    assertFails('max<999');
    assertPasses('min<60ms', /^0\.0500s$/);
    assertFails('min>60ms');
  });

  it('when the measured value is returned then it is in ms for latencies', () => {
    const result = evaluate('avg<200ms');
    assert.ok(
      result.measured !== null && Math.abs(result.measured - 19500 / 110) < 0.5,
      String(result.measured),
    );
  });

  it('when errors are bounded as a share then it is (errors + failures) / runs', () => {
    assertPasses('errors<5%', /^3\.64%$/);
    assertFails('errors<3%', /^3\.64%$/);
    assert.ok(Math.abs(evaluate('errors<5%').measured! - 400 / 110) < 1e-9);
  });

  it('when errors are bounded as a count then it is errors + failures', () => {
    assertPasses('errors<5', /^4$/);
    assertFails('errors<4', /^4$/);
    assertPasses('errors<=4');
    assertFails('errors>4');
    assertPasses('errors>=4');
  });

  it('when rps is bounded then it is hits over the run duration', () => {
    assertPasses('rps>50', /^55\/s$/);
    assertFails('rps>60', /^55\/s$/);
    assertFails('rps>500000');
  });

  it('when http_5xx and http_4xx are bounded then they count hits by status class', () => {
    assertPasses('http_5xx<5%', /^4\.55%$/);
    assertFails('http_5xx<4%');
    assertPasses('http_5xx<=5', /^5$/);
    assertFails('http_5xx<5');
    assertPasses('http_4xx<6', /^5$/);
    assertFails('http_4xx<0.1%');
  });

  it('when dropped is bounded then the share is dropped / (runs + dropped)', () => {
    assertPasses('dropped<10%', /^8\.33%$/);
    assertFails('dropped<8%');
    assertFails('dropped<10', /^10$/);
    assertPasses('dropped<11');
  });

  it('when several thresholds are given then the results keep their order', () => {
    const results = evaluateThresholds(
      ['errors<5', 'p95<0.9s', 'rps>1'].map(parseThreshold),
      SNAPSHOT,
      DURATION_S,
    );
    assert.deepEqual(
      results.map((r) => [r.expression, r.passed]),
      [
        ['errors<5', true],
        ['p95<0.9s', false],
        ['rps>1', true],
      ],
    );
  });

  it('when there were no hits then a latency threshold fails with no data, a count passes', () => {
    const empty = new Aggregator().snapshot();
    const [latency, errors] = evaluateThresholds(
      [parseThreshold('p95<1s'), parseThreshold('errors<1%')],
      empty,
      1,
    );
    assert.deepEqual(latency, {
      expression: 'p95<1s',
      passed: false,
      measured: null,
      display: 'no data',
    });
    assert.deepEqual(errors, { expression: 'errors<1%', passed: true, measured: 0, display: '0%' });
  });
});

describe('evaluateThresholds with a scope', () => {
  it('when scoped to a path then every method and query of that path is merged', () => {
    assertPasses('url:/fast p95<150ms', /^0\.100s$/);
    assertFails('url:/fast p95<60ms');
    // 10 of its 100 hits had a status ≥ 400.
    assertFails('url:/fast errors<5%', /^10%$/);
    assertPasses('url:/fast errors<=10');
  });

  it('when scoped to a full URL then it matches too, and rps uses the run duration', () => {
    assertFails('url:http://h/slow p95<900ms', /^1\.00s$/);
    assertPasses('url:/slow rps>4', /^5\/s$/);
  });

  it('when the URL never appeared then it fails with no data', () => {
    const result = evaluate('url:/nowhere p95<1s');
    assert.deepEqual(result, {
      expression: 'url:/nowhere p95<1s',
      passed: false,
      measured: null,
      display: 'no data',
    });
  });

  it('when scoped to a step then that step numbers are used, 1-based', () => {
    assertPasses('step:2 p95<60ms', /^0\.0500s$/);
    assertFails('step:2 errors<10%', /^20%$/);
    assertPasses('step:2 rps>=20', /^20\/s$/); // 10 hits in 0.5 s
    assertFails('step:2 http_5xx<5');
    assertPasses('step:2 dropped<=10');
    assertPasses('step:1 p95<1.1s');
    assertFails('step:1 p95<900ms');
    assertPasses('step:1 errors<3');
  });

  it('when the step never ran then it fails with no data', () => {
    assertFails('step:3 p95<1s', /^no data$/);
  });
});

describe('evaluateThresholds with a url: scope on a request name', () => {
  // 200 hits named '/item/:id', each to its own URL: 180 in 20 ms, 20 in 300 ms
  // (p95 300 ms), 2 of them 500s; and 5 unnamed hits to http://h/item/7 in 5 ms.
  function namedSnapshot(): Snapshot {
    const a = new Aggregator();
    for (let i = 0; i < 200; i++) {
      const named = hit('GET', `http://h/item/${i}`, i < 2 ? 500 : 200, i < 180 ? 20 : 300, 0);
      named.name = '/item/:id';
      a.emit(named);
    }
    for (let i = 0; i < 5; i++) {
      a.emit(hit('GET', 'http://h/item/7', 200, 5, 0));
    }
    return a.snapshot();
  }
  const snapshot = namedSnapshot();
  const judge = (expression: string): ThresholdResult =>
    evaluateThresholds([parseThreshold(expression)], snapshot, 1)[0]!;

  it('when the bound is above the named row p95 then it passes, below then it fails', () => {
    assert.deepEqual(
      [judge('url:/item/:id p95<500ms').passed, judge('url:/item/:id p95<500ms').display],
      [true, '0.300s'],
    );
    assert.deepEqual(
      [judge('url:/item/:id p95<200ms').passed, judge('url:/item/:id p95<200ms').display],
      [false, '0.300s'],
    );
  });

  it('when errors and rps are bounded then they are the named row hits', () => {
    assert.equal(judge('url:/item/:id errors<1%').passed, false);
    assert.equal(judge('url:/item/:id errors<=1%').display, '1%');
    assert.equal(judge('url:/item/:id rps>=200').display, '200/s');
  });

  it('when scoped to a URL a named hit went to then only the unnamed hits count there', () => {
    assert.deepEqual(
      [judge('url:/item/7 max<10ms').passed, judge('url:/item/7 rps>0').display],
      [true, '5/s'],
    );
    assert.equal(judge('url:/item/8 p95<1s').display, 'no data');
  });
});

describe('parseThreshold', () => {
  it('when written with spaces and capitals then it parses the same', () => {
    const t = parseThreshold('  URL:/fast   P95 <= 1.5 S ');
    assert.equal(t.expression, 'URL:/fast   P95 <= 1.5 S');
    assert.deepEqual(t.scope, { kind: 'url', url: '/fast' });
    assert.equal(t.metric, 'latency');
    assert.equal(t.stat, 95);
    assert.equal(t.operator, '<=');
    assert.equal(t.bound, 1500);
    assert.deepEqual(parseThreshold('step:2 Errors > 1 %').scope, { kind: 'step', step: 2 });
    assert.equal(parseThreshold('med<1').stat, 50);
    assert.equal(parseThreshold('rps>500/s').bound, 500);
    assert.equal(parseThreshold('errors<1%').percent, true);
    assert.equal(parseThreshold('errors<1').percent, false);
  });

  for (const [text, reason] of [
    ['p95<', /missing the value/],
    ['p42x<1', /unknown metric 'p42x'/],
    ['foo<1', /unknown metric 'foo'/],
    ['p95 300ms', /expected a metric, an operator/],
    ['errors<abc%', /'abc%' is not a count or a percentage/],
    ['url: p95<1s', /url: needs a path/],
    ['step:0 p95<1s', /step '0' is not a whole number ≥ 1/],
    ['step:x p95<1s', /step 'x'/],
    ['p95<3h', /'3h' is not a time/],
    ['p0<1s', /percentile 'p0'/],
    ['p101<1s', /percentile 'p101'/],
    ['errors<101%', /more than 100%/],
    ['url:/a http_5xx<1', /url: scope takes/],
    ['step:1 http_4xx<1', /step: scope takes/],
    ['', /expected a metric/],
  ] as const) {
    it(`when given '${text}' then it throws a UsageError naming it and listing the forms`, () => {
      assert.throws(
        () => parseThreshold(text),
        (err: unknown) =>
          err instanceof UsageError &&
          err.exitCode === 2 &&
          err.message.startsWith(`threshold '${text}' is not valid: `) &&
          reason.test(err.message) &&
          err.message.includes('use forms like p95<300ms') &&
          !err.message.includes('\n'),
      );
    });
  }
});

function counts(failures: number, errors: number): ProgressCounts {
  return {
    hits: 0,
    runs: failures + errors,
    successes: 0,
    failures,
    errors,
    hitErrors: 0,
    dropped: 0,
  };
}

describe('certainlyCrossed', () => {
  const errors5 = parseThreshold('errors<5');

  it('when errors + failures reach an absolute bound then it returns that threshold', () => {
    assert.equal(certainlyCrossed([errors5], counts(3, 2), null), errors5);
    assert.equal(certainlyCrossed([errors5], counts(2, 2), null), null);
    assert.equal(certainlyCrossed([parseThreshold('errors<=5')], counts(3, 2), null), null);
    assert.equal(
      certainlyCrossed([parseThreshold('errors<=5')], counts(3, 3), null)?.expression,
      'errors<=5',
    );
  });

  it('when a share is bounded then it is certain only against the planned number of runs', () => {
    const share = parseThreshold('errors<1%');
    assert.equal(certainlyCrossed([share], counts(10, 0), 1000), share);
    assert.equal(certainlyCrossed([share], counts(9, 0), 1000), null);
    // Duration mode or the open model: the total is unknown, never certain.
    assert.equal(certainlyCrossed([share], counts(500, 0), null), null);
  });

  it('when given only progress counts then thresholds needing a snapshot are not checked', () => {
    assert.equal(
      certainlyCrossed(
        [parseThreshold('http_5xx<3'), parseThreshold('max<1ms')],
        counts(0, 0),
        null,
      ),
      null,
    );
  });

  it('when given only progress counts then dropped counts are checked too', () => {
    const dropped10 = parseThreshold('dropped<10');
    assert.equal(certainlyCrossed([dropped10], { ...counts(0, 0), dropped: 10 }, null), dropped10);
    assert.equal(certainlyCrossed([dropped10], { ...counts(0, 0), dropped: 9 }, null), null);
  });

  it('when given a snapshot then 5xx, 4xx and dropped counts and max are checked', () => {
    for (const crossed of [
      'http_5xx<3',
      'http_4xx<=4',
      'dropped<10',
      'max<500ms',
      'p100<999ms',
      'errors<4',
    ]) {
      assert.equal(
        certainlyCrossed([parseThreshold(crossed)], SNAPSHOT, null)?.expression,
        crossed,
      );
    }
    for (const notYet of ['http_5xx<6', 'dropped<11', 'max<2s', 'errors<5']) {
      assert.equal(certainlyCrossed([parseThreshold(notYet)], SNAPSHOT, null), null, notYet);
    }
  });

  it('when a threshold could still recover or is scoped then it is never reported', () => {
    const never = [
      'p95<1ms',
      'avg<1ms',
      'min<1ms',
      'rps>1000000',
      'errors>1000',
      'http_5xx<1%',
      'dropped<1%',
      'step:1 errors<1',
      'url:/fast errors<1',
    ].map(parseThreshold);
    assert.equal(certainlyCrossed(never, SNAPSHOT, 110), null);
  });

  it('when several are crossed then the first in the given order is returned', () => {
    const list = ['p95<1ms', 'dropped<1', 'errors<1'].map(parseThreshold);
    assert.equal(certainlyCrossed(list, SNAPSHOT, null)?.expression, 'dropped<1');
  });
});
