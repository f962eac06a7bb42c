// compareRuns and formatComparison on hand-built Summaries: which rows
// there are (run, steps and URLs, matched and not), which went the bad
// way, and the --max-regression rule at its edges (latency: relative rise
// strictly beyond the limit; error share: that and a rise of at least 0.1
// percentage point).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareRuns, ERROR_SHARE_FLOOR, formatComparison } from '../../src/report/compare.ts';
import type { StepSummary, Summary, UrlSummary } from '../../src/metrics/summary.ts';
import type { Comparison, ComparisonRow } from '../../src/report/types.ts';
import { makeSummary } from '../helpers/summary.ts';

const LABELS = { currentLabel: 'today.json', baselineLabel: 'last-week.json' };

function makeStep(step: number, overrides: Partial<StepSummary> = {}): StepSummary {
  return {
    step,
    users: 10,
    runsPerUser: 0,
    rate: null,
    durationS: 10,
    runs: 1000,
    successes: 1000,
    failures: 0,
    errors: 0,
    dropped: 0,
    hits: 1000,
    hitErrors: 0,
    hits5xx: 0,
    rps: 100,
    p50S: 0.01,
    p95S: 0.05,
    p99S: 0.1,
    ...overrides,
  };
}

function makeUrl(key: string, overrides: Partial<UrlSummary> = {}): UrlSummary {
  const [method = 'GET', url = key] = key.split(' ');
  return { key, method, url, hits: 1000, avgS: 0.02, p95S: 0.05, successRate: 1, ...overrides };
}

/** A 10-second run of 1000 successful runs and hits, with `overrides` on top. */
function makeRun(overrides: Partial<Summary> = {}): Summary {
  return makeSummary({
    hits: 1000,
    durationS: 10,
    rps: 100,
    successes: 1000,
    latency: { p50: 0.01, p90: 0.04, p95: 0.05, p99: 0.1, max: 0.2 },
    ...overrides,
  });
}

function rowOf(comparison: Comparison, scope: string, metric: ComparisonRow['metric']) {
  const row = comparison.rows.find((r) => r.scope === scope && r.metric === metric);
  assert.ok(row, `no ${metric} row of ${scope}`);
  return row;
}

function gate(current: Summary, baseline: Summary, maxRegression: number | null = 0.1) {
  return compareRuns(current, baseline, { maxRegression, ...LABELS });
}

/** Run-wide error share from failed/errored runs out of 1000. */
function withRunErrors(errors: number, failures = 0): Summary {
  return makeRun({ successes: 1000 - errors - failures, errors, failures });
}

describe('compareRuns', () => {
  it('when two runs are compared then the run-wide rows come first, in metric order, with their values', () => {
    const comparison = gate(makeRun({ rps: 90 }), makeRun());
    const run = comparison.rows.filter((r) => r.scope === 'run');
    assert.deepEqual(
      run.map((r) => r.metric),
      ['rps', 'p50', 'p95', 'p99', 'errorShare'],
    );
    assert.deepEqual(comparison.rows.slice(0, 5), run);
    const rps = rowOf(comparison, 'run', 'rps');
    assert.equal(rps.baseline, 100);
    assert.equal(rps.current, 90);
    assert.ok(Math.abs(rps.change! - -0.1) < 1e-12);
    assert.equal(rps.worse, true, 'fewer requests per second is worse');
    assert.equal(rps.regression, false, 'RPS never gates the build');
    assert.equal(comparison.baselineLabel, 'last-week.json');
    assert.equal(comparison.currentLabel, 'today.json');
    assert.equal(comparison.maxRegression, 0.1);
  });

  it('when latency falls, RPS rises and errors fall then nothing is worse', () => {
    const comparison = gate(
      makeRun({
        rps: 120,
        successes: 999,
        errors: 1,
        latency: { p50: 0.005, p90: 0.02, p95: 0.03, p99: 0.05, max: 0.1 },
      }),
      withRunErrors(5),
    );
    assert.deepEqual(
      comparison.rows.filter((r) => r.worse),
      [],
    );
    assert.deepEqual(comparison.regressions, []);
  });

  it('when the error share is computed then it is failed and errored runs over runs, not hit errors', () => {
    const comparison = gate(
      makeRun({ successes: 970, errors: 10, failures: 20, hitErrors: 500 }),
      makeRun({ hitErrors: 900 }),
    );
    const share = rowOf(comparison, 'run', 'errorShare');
    assert.equal(share.baseline, 0);
    assert.equal(share.current, 0.03);
    assert.equal(share.change, null, 'a baseline of 0 has no relative change');
    assert.equal(share.worse, true);
    assert.equal(share.regression, true);
  });

  it('when a run has no test runs then its error share is 0', () => {
    const comparison = gate(makeRun({ successes: 0 }), makeRun({ successes: 0 }));
    assert.equal(rowOf(comparison, 'run', 'errorShare').current, 0);
  });

  it('when steps are matched by number then each has five rows; a step only one run has gets nulls on the other side', () => {
    const current = makeRun({
      steps: [makeStep(1), makeStep(2, { p95S: 0.08, rps: 150 }), makeStep(3)],
    });
    const baseline = makeRun({ steps: [makeStep(2, { p95S: 0.05, rps: 200 }), makeStep(4)] });
    const comparison = gate(current, baseline);
    const scopes = [...new Set(comparison.rows.map((r) => r.scope))];
    assert.deepEqual(scopes, ['run', 'step 1', 'step 2', 'step 3', 'step 4']);
    assert.equal(comparison.rows.filter((r) => r.scope === 'step 2').length, 5);
    const p95 = rowOf(comparison, 'step 2', 'p95');
    assert.equal(p95.baseline, 0.05);
    assert.equal(p95.current, 0.08);
    assert.ok(Math.abs(p95.change! - 0.6) < 1e-12);
    assert.equal(p95.regression, true);
    assert.equal(rowOf(comparison, 'step 2', 'rps').worse, true);
    for (const [scope, side] of [
      ['step 1', 'baseline'],
      ['step 3', 'baseline'],
      ['step 4', 'current'],
    ] as const) {
      for (const row of comparison.rows.filter((r) => r.scope === scope)) {
        assert.equal(row[side], null, `${scope} ${row.metric} ${side}`);
        assert.notEqual(row[side === 'baseline' ? 'current' : 'baseline'], null);
        assert.equal(row.change, null);
        assert.equal(row.worse, false);
        assert.equal(row.regression, false);
      }
    }
  });

  it('when both runs had a single step then there are no step rows (they would repeat the run)', () => {
    const comparison = gate(
      makeRun({ steps: [makeStep(1, { p95S: 1 })] }),
      makeRun({ steps: [makeStep(1)] }),
    );
    assert.deepEqual([...new Set(comparison.rows.map((r) => r.scope))], ['run']);
    assert.deepEqual(comparison.regressions, []);
  });

  it("when a step's runs fail then its error share is its own failed and errored runs over its runs", () => {
    const comparison = gate(
      makeRun({ steps: [makeStep(1, { successes: 990, failures: 4, errors: 6 }), makeStep(2)] }),
      makeRun({ steps: [makeStep(1), makeStep(2)] }),
    );
    const share = rowOf(comparison, 'step 1', 'errorShare');
    assert.equal(share.current, 0.01);
    assert.equal(share.regression, true);
  });

  it('when URLs are matched by key then each has rps, p95 and error share only; rps is hits over the run', () => {
    const current = makeRun({
      durationS: 20,
      urls: [
        makeUrl('GET /slow', { hits: 400, p95S: 0.5, successRate: 0.75 }),
        makeUrl('GET /new'),
      ],
    });
    const baseline = makeRun({
      durationS: 10,
      urls: [makeUrl('GET /gone'), makeUrl('GET /slow', { hits: 400, p95S: 0.4 })],
    });
    const comparison = gate(current, baseline);
    const urlScopes = [...new Set(comparison.rows.map((r) => r.scope))].slice(1);
    assert.deepEqual(urlScopes, ['GET /slow', 'GET /new', 'GET /gone']);
    assert.deepEqual(
      comparison.rows.filter((r) => r.scope === 'GET /slow').map((r) => r.metric),
      ['rps', 'p95', 'errorShare'],
    );
    const rps = rowOf(comparison, 'GET /slow', 'rps');
    assert.equal(rps.baseline, 40);
    assert.equal(rps.current, 20);
    assert.equal(rowOf(comparison, 'GET /slow', 'errorShare').current, 0.25);
    assert.equal(rowOf(comparison, 'GET /slow', 'p95').regression, true);
    assert.equal(rowOf(comparison, 'GET /new', 'p95').baseline, null);
    assert.equal(rowOf(comparison, 'GET /gone', 'errorShare').current, null);
    assert.equal(rowOf(comparison, 'GET /gone', 'errorShare').regression, false);
  });

  it('when the baseline is 0 then change is null; a latency from 0 is worse but never a regression', () => {
    const comparison = gate(makeRun(), makeRun({ rps: 0, latency: makeSummary().latency }));
    const p95 = rowOf(comparison, 'run', 'p95');
    assert.equal(p95.baseline, 0);
    assert.equal(p95.change, null);
    assert.equal(p95.worse, true);
    assert.equal(p95.regression, false);
    assert.equal(rowOf(comparison, 'run', 'rps').change, null);
  });

  it('when --max-regression is not given then nothing is a regression, however much worse', () => {
    const comparison = gate(
      makeRun({ latency: { p50: 1, p90: 1, p95: 1, p99: 1, max: 1 }, successes: 0, errors: 1000 }),
      makeRun(),
      null,
    );
    assert.equal(comparison.maxRegression, null);
    assert.ok(comparison.rows.some((r) => r.worse));
    assert.deepEqual(comparison.regressions, []);
  });

  it('when regressions exist then regressions lists exactly the flagged rows, in row order', () => {
    const comparison = gate(
      makeRun({ latency: { p50: 0.5, p90: 0.5, p95: 0.06, p99: 0.2, max: 1 } }),
      makeRun(),
    );
    assert.deepEqual(
      comparison.regressions.map((r) => `${r.scope} ${r.metric}`),
      ['run p95', 'run p99'],
    );
    assert.equal(rowOf(comparison, 'run', 'p50').worse, true);
    assert.equal(rowOf(comparison, 'run', 'p50').regression, false, 'p50 never gates');
  });
});

describe('compareRuns: the latency rule', () => {
  const p95 = (value: number): Summary =>
    makeRun({ latency: { p50: 0.01, p90: 0.04, p95: value, p99: 0.1, max: 0.2 } });

  it('when p95 rises by exactly --max-regression then it is worse but not a regression', () => {
    // 0.2 → 0.22 is 10.000000000000009 % in floating point: still "exactly 10 %".
    const row = rowOf(gate(p95(0.22), p95(0.2)), 'run', 'p95');
    assert.equal(row.worse, true);
    assert.equal(row.regression, false);
  });

  it('when p95 rises by a hair more than --max-regression then it is a regression', () => {
    assert.equal(rowOf(gate(p95(0.2202), p95(0.2)), 'run', 'p95').regression, true);
  });

  it('when --max-regression is 0 then any rise is a regression and no change is not', () => {
    assert.equal(rowOf(gate(p95(0.201), p95(0.2), 0), 'run', 'p95').regression, true);
    assert.equal(rowOf(gate(p95(0.2), p95(0.2), 0), 'run', 'p95').regression, false);
  });
});

describe('compareRuns: the error-share rule (relative rise beyond the limit, and at least 0.1 point)', () => {
  const share = (current: Summary, baseline: Summary, maxRegression = 0.1): ComparisonRow =>
    rowOf(gate(current, baseline, maxRegression), 'run', 'errorShare');

  it('when the floor is 0.1 percentage point then ERROR_SHARE_FLOOR is 0.001', () => {
    assert.equal(ERROR_SHARE_FLOOR, 0.001);
  });

  it('when 0 errors become 1 in 1000 runs (0.1 point) then it is a regression', () => {
    assert.equal(share(withRunErrors(1), withRunErrors(0)).regression, true);
  });

  it('when 0 errors become a handful in a million then it is worse but not a regression', () => {
    const row = share(
      makeRun({ successes: 999_990, errors: 10 }),
      makeRun({ successes: 1_000_000 }),
    );
    assert.equal(row.current, 0.00001);
    assert.equal(row.worse, true);
    assert.equal(row.regression, false);
  });

  it('when the share rises just under 0.1 point then it is not a regression, however large relatively', () => {
    // 0.01 % → 0.109 %: +990 %, but a rise of 0.099 point.
    const row = share(
      makeRun({ successes: 998_910, errors: 1090 }),
      makeRun({ successes: 999_900, errors: 100 }),
    );
    assert.equal(row.regression, false);
  });

  it('when 1.0 % becomes 1.1 % then the rise is 0.1 point but exactly +10 %: not a regression at 10 %', () => {
    assert.equal(share(withRunErrors(11), withRunErrors(10)).regression, false);
  });

  it('when 1.0 % becomes 1.2 % then the rise is 0.2 point and +20 %: a regression at 10 %, not at 20 %', () => {
    assert.equal(share(withRunErrors(12), withRunErrors(10)).regression, true);
    assert.equal(share(withRunErrors(12), withRunErrors(10), 0.2).regression, false);
  });

  it('when 10 % becomes 10.5 % then the rise is 0.5 point but +5 %: not a regression at 10 %', () => {
    assert.equal(share(withRunErrors(105), withRunErrors(100)).regression, false);
  });

  it('when failures and errors both rise then they add up', () => {
    const row = share(withRunErrors(1, 1), withRunErrors(0));
    assert.equal(row.current, 0.002);
    assert.equal(row.regression, true);
  });
});

describe('formatComparison', () => {
  const current = makeRun({
    rps: 80,
    successes: 990,
    errors: 10,
    latency: { p50: 0.012, p90: 0.1, p95: 0.15, p99: 0.3, max: 0.5 },
    steps: [makeStep(1)],
    urls: [makeUrl('GET http://127.0.0.1:9200/api/items', { p95S: 0.15 })],
  });
  const baseline = makeRun({
    latency: { p50: 0.01, p90: 0.1, p95: 0.12, p99: 0.3, max: 0.5 },
    steps: [makeStep(1), makeStep(2)],
    urls: [makeUrl('GET http://127.0.0.1:9200/api/items', { p95S: 0.12 })],
  });

  it('when formatted then it names both runs and has one aligned line per row under a header', () => {
    const comparison = gate(current, baseline);
    const lines = formatComparison(comparison).split('\n');
    assert.equal(lines[0], 'baseline: last-week.json');
    assert.equal(lines[1], 'current:  today.json');
    const header = lines[3]!;
    assert.match(header, /^scope +metric +baseline +current +change$/);
    const table = lines.slice(4, 4 + comparison.rows.length);
    assert.equal(table.length, comparison.rows.length);
    assert.equal(lines[4 + comparison.rows.length], '', 'a blank line after the table');
    // Right-aligned figures: every baseline, current and change cell ends under its header's end.
    for (const title of ['baseline', 'current', 'change']) {
      const columnEnd = header.indexOf(title) + title.length;
      for (const line of table) {
        assert.notEqual(line[columnEnd - 1], ' ', `${title} column of: ${line}`);
        assert.ok(
          line.length === columnEnd || line[columnEnd] === ' ',
          `${title} column of: ${line}`,
        );
      }
    }
  });

  it('when formatted then durations use the summary rule, shares are percent and RPS has a unit', () => {
    const text = formatComparison(gate(current, baseline));
    assert.match(text, /^run +RPS +100\/s +80\.0\/s +-20\.0%$/m);
    assert.match(text, /^run +p50 +0\.0100s +0\.0120s +\+20\.0%$/m);
    assert.match(text, /^run +p95 +0\.120s +0\.150s +\+25\.0% +regression$/m);
    assert.match(text, /^run +p99 +0\.300s +0\.300s +0\.0%$/m);
    assert.match(text, /^run +error share +0% +1\.00% +new +regression$/m);
    assert.match(text, /^step 1 +p95 +0\.0500s +0\.0500s +0\.0%$/m);
    assert.match(text, /^step 1 +error share +0% +0% +0\.0%$/m);
    assert.match(text, /^step 2 +RPS +100\/s +– +–$/m);
    assert.match(
      text,
      /^GET http:\/\/127\.0\.0\.1:9200\/api\/items +p95 +0\.120s +0\.150s +\+25\.0% +regression$/m,
    );
  });

  it('when there are regressions then it ends with one line naming each', () => {
    const lines = formatComparison(gate(current, baseline)).trimEnd().split('\n');
    assert.deepEqual(lines.slice(-3), [
      'regression: p95 of run 0.120s → 0.150s (+25.0%) exceeds --max-regression 10%',
      'regression: error share of run 0% → 1.00% (from 0) exceeds --max-regression 10%',
      'regression: p95 of GET http://127.0.0.1:9200/api/items 0.120s → 0.150s (+25.0%) exceeds --max-regression 10%',
    ]);
  });

  it('when nothing regressed then it ends saying so with the limit', () => {
    const text = formatComparison(gate(baseline, baseline, 0.005));
    assert.equal(
      text.trimEnd().split('\n').at(-1),
      'regressions: none (p95, p99 and error share within --max-regression 0.5%)',
    );
    assert.doesNotMatch(text, /regression$/m);
  });

  it('when --max-regression is not given then it ends saying nothing was checked', () => {
    const text = formatComparison(gate(current, baseline, null));
    assert.equal(
      text.trimEnd().split('\n').at(-1),
      'regressions: not checked (no --max-regression)',
    );
  });
});
