import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatLocalTime, formatSummary } from '../../src/outputs/stdout/summary-text.ts';
import type { StepSummary, Summary, UrlSummary } from '../../src/metrics/summary.ts';
import { makeSummary } from '../helpers/summary.ts';
import { assessGeneratorLoad } from '../../src/metrics/loop-monitor.ts';
import { Aggregator, MAX_URLS } from '../../src/metrics/aggregator.ts';
import { buildSummary, type RunInfo } from '../../src/metrics/summary.ts';
import { parseThreshold } from '../../src/metrics/thresholds.ts';
import type { HitEvent } from '../../src/metrics/events.ts';

const STARTED = new Date(2026, 10, 26, 12, 15, 6).getTime(); // local time

/** A one-step run of 1 user and `hits` runs, started at STARTED. */
function runInfo(hits: number[]): RunInfo {
  return {
    startedAt: STARTED,
    fqn: 'example.Foo.test_a',
    projectName: 'demo',
    version: '0.1.0',
    users: [1],
    hits,
    durationMs: null,
    rate: null,
    maxUsers: null,
    rampUpMs: 0,
    workers: 1,
  };
}

/** A 200 hit of Foo.test_a that took `elapsedMs`, to `url`, grouped under `name` if any. */
function hitAt(elapsedMs: number, url = 'http://h/a', name = ''): HitEvent {
  return {
    type: 'hit',
    method: 'GET',
    url,
    name,
    status: 200,
    errorKey: '',
    startedAt: STARTED,
    elapsedMs,
    bytes: 0,
    test: 'Foo.test_a',
    cycleIndex: 0,
    currentUser: 1,
    currentHit: 1,
    lagMs: 0,
    protocol: 'h1',
  };
}

function url(path: string, avgS: number, hits = 100): UrlSummary {
  return {
    key: `GET ${path}`,
    method: 'GET',
    url: path,
    hits,
    avgS,
    p95S: avgS * 2,
    successRate: 1,
  };
}

function summary(overrides: Partial<Summary> = {}): Summary {
  return makeSummary({
    projectName: 'demo',
    fqn: 'example.Foo.test_a',
    hits: 1000,
    startedAt: STARTED,
    endedAt: STARTED + 2020,
    durationS: 2.02,
    rps: 1000 / 2.02,
    avgRequestTimeS: 0.0412,
    successes: 1000,
    latency: { p50: 0.04, p90: 0.051, p95: 0.06, p99: 0.09, max: 0.12 },
    serviceTime: { p50: 0.04, p90: 0.051, p95: 0.06, p99: 0.09, max: 0.12 },
    slowestUrl: url('http://h/', 0.0412, 1000),
    urls: [url('http://h/', 0.0412, 1000)],
    ...overrides,
  });
}

function step(n: number, overrides: Partial<StepSummary> = {}): StepSummary {
  return {
    step: n,
    users: 10 * n,
    runsPerUser: 20,
    rate: null,
    durationS: 2,
    runs: 200 * n,
    successes: 200 * n,
    failures: 0,
    errors: 0,
    dropped: 0,
    hits: 400 * n,
    hitErrors: 0,
    hits5xx: 0,
    rps: 200 * n,
    p50S: 0.01 * n,
    p95S: 0.02 * n,
    p99S: 0.03 * n,
    ...overrides,
  };
}

/** The lines of the section titled `title`, up to the next blank line. */
function sectionLines(text: string, title: string): string[] {
  const lines = text.split('\n');
  const at = lines.indexOf(title);
  assert.ok(at >= 0, `no '${title}' section in:\n${text}`);
  const end = lines.indexOf('', at);
  return lines.slice(at, end === -1 ? undefined : end);
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[/;

describe('formatSummary', () => {
  it('when formatted then the SPEC §6 block comes first with its labels exactly', () => {
    const text = formatSummary(summary(), false);
    const expected = [
      'Hits: 1000',
      'Started: 2026-11-26 12:15:06',
      'Duration: 2.02 seconds',
      'Approximate Average RPS: 495',
      'Average request time: 0.0412s',
      'Opened web sockets: 0',
      'Bytes received via web sockets : 0',
      '',
      'Success: 1000',
      'Errors: 0',
      'Failures: 0',
      '',
    ].join('\n');
    assert.ok(text.startsWith(expected), text);
    assert.match(text, /^Hits: 1000$/m);
    assert.match(text, /^Started: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/m);
    assert.match(text, /^Duration: 2\.02 seconds$/m);
    assert.match(text, /^Approximate Average RPS: 495$/m);
    assert.match(text, /^Average request time: 0\.0412s$/m);
    assert.match(text, /^Opened web sockets: 0$/m);
    assert.match(text, /^Bytes received via web sockets : 0$/m);
    assert.match(text, /^Success: 1000$/m);
    assert.match(text, /^Errors: 0$/m);
    assert.match(text, /^Failures: 0$/m);
    assert.ok(text.endsWith('\n'));
  });

  it('when formatted then latency percentiles, the slowest URL and the URL table follow', () => {
    const lines = formatSummary(summary(), false).split('\n');
    const at = lines.indexOf('Latency percentiles (all hits)');
    assert.deepEqual(lines.slice(at, at + 6), [
      'Latency percentiles (all hits)',
      '  p50: 0.0400s',
      '  p90: 0.0510s',
      '  p95: 0.0600s',
      '  p99: 0.0900s',
      '  max: 0.120s',
    ]);
    assert.ok(lines.includes('Slowest URL: GET http://h/ (average 0.0412s)'));
    const table = lines.indexOf('URLs');
    assert.deepEqual(lines.slice(table, table + 3), [
      'URLs',
      '  Hits  Average  p95      Success  URL',
      '  1000  0.0412s  0.0824s  100.0%   GET http://h/',
    ]);
  });

  it('when there are hit errors, errors, failures and counters then each has its section', () => {
    const text = formatSummary(
      summary({
        errors: 5,
        failures: 2,
        hitErrors: 15,
        hitErrorKeys: { ECONNREFUSED: 12, ETIMEDOUT: 1 },
        statusCounts: { '404': 2 },
        topErrors: [
          {
            test: 'T.test_x',
            count: 4,
            name: 'TypeError',
            message: 'boom',
            stack: 'TypeError: boom\n    at a (x.ts:1:1)\n    at b (x.ts:2:2)',
          },
          { test: 'T.test_x', count: 1, name: 'Error', message: 'odd', stack: 'no frames here' },
        ],
        topFailures: [
          {
            test: 'T.test_x',
            count: 2,
            name: 'AssertionError',
            message: 'expected 200',
            stack: '',
          },
        ],
        counters: { logins: 12 },
      }),
      false,
    );
    assert.match(text, /^Errors: 5$/m);
    assert.match(text, /^Failures: 2$/m);
    assert.ok(
      text.includes('\nHits without a response\n  ECONNREFUSED: 12\n  ETIMEDOUT: 1\n'),
      text,
    );
    assert.ok(text.includes('\nResponses outside 2xx/3xx\n  404: 2\n'));
    assert.ok(
      text.includes(
        '\nMost frequent errors\n  4x TypeError: boom\n      at a (x.ts:1:1)\n      at b (x.ts:2:2)\n  1x Error: odd\n      no frames here\n',
      ),
      text,
    );
    assert.ok(text.includes('\nMost frequent failures\n  2x AssertionError: expected 200\n'));
    assert.ok(text.includes('\nCounters\n  logins: 12\n'));
    assert.doesNotMatch(text, /Interrupted/);
  });

  it('when there are more than ten URLs then the ten slowest are listed', () => {
    const urls = Array.from({ length: 12 }, (_, i) => url(`http://h/${i}`, (12 - i) / 100));
    const text = formatSummary(summary({ urls, slowestUrl: urls[0]! }), false);
    assert.match(text, /^URLs \(10 slowest of 12\)$/m);
    assert.match(text, /GET http:\/\/h\/9$/m);
    assert.doesNotMatch(text, /GET http:\/\/h\/10$/m);
    assert.equal(text.match(/^ {3}100 {2}/gm)?.length, 10);
  });

  it('when a signal interrupted the run then the last line names it', () => {
    const bySigint = formatSummary(summary({ interrupted: true, interruptedBy: 'SIGINT' }), false);
    assert.ok(
      bySigint.endsWith('\nInterrupted by SIGINT (Ctrl-C): the summary covers what ran before\n'),
      bySigint,
    );
    const bySigterm = formatSummary(
      summary({ interrupted: true, interruptedBy: 'SIGTERM' }),
      false,
    );
    assert.ok(bySigterm.endsWith('\nInterrupted by SIGTERM: the summary covers what ran before\n'));
    const unknown = formatSummary(summary({ interrupted: true }), false);
    assert.ok(unknown.endsWith('\nInterrupted: the summary covers what ran before\n'));
  });

  it('when thresholds are given then a last section lists each with its value and verdict', () => {
    const thresholds = [
      { expression: 'p95<300ms', passed: true, measured: 231, display: '0.231s' },
      { expression: 'url:/nowhere p95<1s', passed: false, measured: null, display: 'no data' },
    ];
    const text = formatSummary(summary({ thresholds, interrupted: false }), false);
    assert.ok(
      text.endsWith(
        '\nThresholds\n  ✓ PASS  p95<300ms  (measured 0.231s)\n  ✗ FAIL  url:/nowhere p95<1s  (measured no data)\n',
      ),
      text,
    );
    const coloured = formatSummary(summary({ thresholds }), true);
    assert.ok(coloured.includes('\u001b[32m✓ PASS\u001b[39m  p95<300ms'), coloured);
    assert.ok(coloured.includes('\u001b[31m✗ FAIL\u001b[39m  url:/nowhere'), coloured);
  });

  it('when an external runner ran the test then its block lists the processes and each message kind once', () => {
    const text = formatSummary(
      makeSummary({
        external: {
          command: 'python3 test_site.py {test}',
          processes: 5,
          failedProcesses: 1,
          problems: [
            { kind: 'not JSON', count: 3, example: '{oops\nmore' },
            { kind: "unknown data_type 'warp'", count: 1, example: '{"data_type":"warp"}' },
          ],
        },
      }),
      false,
    );
    assert.ok(
      text.includes(
        [
          '',
          'External runner',
          '  Command: python3 test_site.py {test}',
          '  Processes: 5 started, 1 failed',
          '  Messages not counted:',
          '    3x not JSON, e.g. "{oops\\nmore"',
          `    1x unknown data_type 'warp', e.g. "{\\"data_type\\":\\"warp\\"}"`,
          '',
        ].join('\n'),
      ),
      text,
    );
    assert.doesNotMatch(formatSummary(makeSummary(), false), /External runner/);
  });

  it('when no thresholds are given then there is no Thresholds section', () => {
    assert.doesNotMatch(formatSummary(summary(), false), /Thresholds/);
  });

  it('when a threshold aborted the run then the last line says Aborted, not Interrupted', () => {
    const text = formatSummary(summary({ interrupted: true, abortedBy: 'errors<5' }), false);
    assert.ok(
      text.endsWith(
        "\nAborted: threshold 'errors<5' crossed (--abort-on-fail); the summary covers what ran before\n",
      ),
      text,
    );
    assert.doesNotMatch(text, /Interrupted/);
  });

  it('when nothing ran then there is no latency or URL section', () => {
    const text = formatSummary(
      summary({ hits: 0, rps: 0, avgRequestTimeS: 0, slowestUrl: null, urls: [] }),
      false,
    );
    assert.match(text, /^Hits: 0$/m);
    assert.doesNotMatch(text, /Latency|URL/);
  });

  it('when color is false then there is no ANSI escape', () => {
    const text = formatSummary(
      summary({ errors: 3, failures: 1, interrupted: true, counters: { a: 1 } }),
      false,
    );
    assert.doesNotMatch(text, ANSI);
  });

  it('when color is true then labels stay plain and only values and titles are coloured', () => {
    const text = formatSummary(summary({ errors: 3, failures: 0 }), true);
    assert.match(text, ANSI);
    assert.match(text, /^Hits: 1000$/m);
    assert.match(text, /^Failures: 0$/m);
    assert.ok(text.includes('\nErrors: \u001b[31m3\u001b[39m\n'), 'the nonzero count is red');
    assert.ok(
      text.includes('\n\u001b[1mLatency percentiles (all hits)\u001b[22m\n'),
      'titles are bold',
    );
  });

  it('when the generator was saturated then a plain warning follows the Failures line, labels unchanged', () => {
    const generator = assessGeneratorLoad([
      {
        thread: 'main',
        monitoredMs: 3000,
        judgedMs: 2500,
        delayP99Ms: 83.2,
        delayMaxMs: 120,
        utilization: 0.5,
      },
    ]);
    const text = formatSummary(summary({ generator }), false);
    assert.doesNotMatch(text, ANSI);
    const lines = text.split('\n');
    assert.deepEqual(lines.slice(0, 15), [
      'Hits: 1000',
      'Started: 2026-11-26 12:15:06',
      'Duration: 2.02 seconds',
      'Approximate Average RPS: 495',
      'Average request time: 0.0412s',
      'Opened web sockets: 0',
      'Bytes received via web sockets : 0',
      '',
      'Success: 1000',
      'Errors: 0',
      'Failures: 0',
      '',
      'Warning: the load generator was saturated (event-loop delay p99 83 ms on main): latencies include its own delay',
      '',
      'Latency percentiles (all hits)',
    ]);
    assert.equal(text.match(/^Warning:/gm)?.length, 1);
  });

  it('when the generator was saturated and color is true then only the warning is coloured, labels stay plain', () => {
    const generator = assessGeneratorLoad([
      {
        thread: 'worker 2',
        monitoredMs: 3000,
        judgedMs: 2500,
        delayP99Ms: 3,
        delayMaxMs: 9,
        utilization: 0.97,
      },
    ]);
    const text = formatSummary(summary({ generator }), true);
    assert.match(text, /^Failures: 0$/m);
    assert.ok(
      text.includes(
        '\n\u001b[33mWarning: the load generator was saturated (worker 2 busy 97% of the time): latencies include its own delay\u001b[39m\n',
      ),
      text,
    );
  });

  it('when the generator had slack or was not measured then the summary says nothing of it', () => {
    const calm = assessGeneratorLoad([
      {
        thread: 'main',
        monitoredMs: 3000,
        judgedMs: 2500,
        delayP99Ms: 4,
        delayMaxMs: 12,
        utilization: 0.3,
      },
    ]);
    const expected = formatSummary(summary(), false);
    assert.equal(formatSummary(summary({ generator: calm }), false), expected);
    assert.doesNotMatch(expected, /generator|Warning/i);
  });

  it('when formatting a local time then it is YYYY-MM-DD HH:MM:SS', () => {
    assert.equal(formatLocalTime(new Date(2026, 0, 2, 3, 4, 5).getTime()), '2026-01-02 03:04:05');
  });

  it('when the plan has several steps then a Steps table has one aligned row per step', () => {
    const steps = [
      step(1),
      step(2),
      step(3, {
        runs: 600,
        successes: 540,
        failures: 15,
        errors: 45,
        rps: 612.4,
        p50S: 0.25,
        p95S: 1.5,
        p99S: 2.75,
      }),
    ];
    const text = formatSummary(summary({ steps }), false);
    assert.deepEqual(sectionLines(text, 'Steps'), [
      'Steps',
      '  Step  Users  Runs  RPS      p50      p95      p99      Errors',
      '     1     10   200  200  0.0100s  0.0200s  0.0300s    0 (0.0%)',
      '     2     20   400  400  0.0200s  0.0400s  0.0600s    0 (0.0%)',
      '     3     30   600  612   0.250s    1.50s    2.75s  60 (10.0%)',
    ]);
    // After the latency percentiles, before the URLs.
    assert.ok(text.indexOf('\nLatency percentiles') < text.indexOf('\nSteps\n'));
    assert.ok(text.indexOf('\nSteps\n') < text.indexOf('\nURLs\n'));
    assert.doesNotMatch(text, /^Dropped:/m, 'no Dropped line in the closed model');
  });

  it('when the plan has one step then there is no Steps table', () => {
    const text = formatSummary(summary({ steps: [step(1)] }), false);
    assert.doesNotMatch(text, /^Steps$/m);
  });

  it('when the model is closed then latency is one percentile block as before', () => {
    const text = formatSummary(
      summary({ serviceTime: { p50: 1, p90: 1, p95: 1, p99: 1, max: 1 } }),
      false,
    );
    assert.deepEqual(sectionLines(text, 'Latency percentiles (all hits)'), [
      'Latency percentiles (all hits)',
      '  p50: 0.0400s',
      '  p90: 0.0510s',
      '  p95: 0.0600s',
      '  p99: 0.0900s',
      '  max: 0.120s',
    ]);
    assert.doesNotMatch(text, /Service time|Response time/);
  });

  it('when the model is open then Dropped follows Failures and latency has a response-time and a service-time line', () => {
    const text = formatSummary(
      summary({
        rate: [50, 100],
        maxUsers: 40,
        dropped: 7,
        latency: { p50: 0.3, p90: 0.45, p95: 0.5, p99: 0.9, max: 1.2 },
        serviceTime: { p50: 0.02, p90: 0.03, p95: 0.04, p99: 0.05, max: 0.2 },
        steps: [
          step(1, { users: 40, rate: 50, dropped: 0, rps: 49.6 }),
          step(2, { users: 40, rate: 100, dropped: 7, runs: 193, errors: 2, rps: 97.2 }),
        ],
      }),
      false,
    );
    const lines = text.split('\n');
    assert.deepEqual(lines.slice(8, 12), [
      'Success: 1000',
      'Errors: 0',
      'Failures: 0',
      'Dropped: 7',
    ]);
    assert.deepEqual(sectionLines(text, 'Latency percentiles (all hits)'), [
      'Latency percentiles (all hits)',
      '  p50: 0.300s',
      '  p90: 0.450s',
      '  p95: 0.500s',
      '  p99: 0.900s',
      '  max: 1.20s',
      "  (response time, from each run's intended start)",
      "  Service time, from the request's actual start: p50 0.0200s  p90 0.0300s  p95 0.0400s  p99 0.0500s  max 0.200s",
    ]);
    assert.deepEqual(sectionLines(text, 'Steps'), [
      'Steps',
      '  Step   Rate  Runs  RPS      p50      p95      p99    Errors  Dropped',
      '     1   50/s   200   50  0.0100s  0.0200s  0.0300s  0 (0.0%)        0',
      '     2  100/s   193   97  0.0200s  0.0400s  0.0600s  2 (1.0%)        7',
    ]);
  });

  it('when the model is open and color is true then the Dropped label stays plain and a nonzero count is red', () => {
    const text = formatSummary(summary({ rate: [50], maxUsers: 10, dropped: 3 }), true);
    assert.ok(text.includes('\nDropped: \u001b[31m3\u001b[39m\n'), text);
    const none = formatSummary(summary({ rate: [50], maxUsers: 10, dropped: 0 }), true);
    assert.match(none, /^Dropped: 0$/m);
  });
});

describe('dropped runs in the open model', () => {
  const DROPPED_WARNING =
    'Warning: 86 of 100 scheduled test runs were dropped because every virtual user was busy (--max-users 2); raise --max-users or lower --rate';

  it('when runs were dropped then a warning after Dropped gives the real counts and the knob', () => {
    const text = formatSummary(
      summary({ rate: [50], maxUsers: 2, successes: 10, failures: 3, errors: 1, dropped: 86 }),
      false,
    );
    const lines = text.split('\n');
    assert.deepEqual(lines.slice(8, 16), [
      'Success: 10',
      'Errors: 1',
      'Failures: 3',
      'Dropped: 86',
      '',
      DROPPED_WARNING,
      '',
      'Latency percentiles (all hits)',
    ]);
    assert.equal(text.match(/^Warning:/gm)?.length, 1);
  });

  it('when one run of one user was dropped then the warning is in the singular', () => {
    const text = formatSummary(
      summary({ rate: [5], maxUsers: 1, successes: 49, dropped: 1 }),
      false,
    );
    assert.match(
      text,
      /^Warning: 1 of 50 scheduled test runs was dropped because every virtual user was busy \(--max-users 1\); raise --max-users or lower --rate$/m,
    );
  });

  it('when the generator was saturated too then both warnings share one block, saturation first', () => {
    const generator = assessGeneratorLoad([
      {
        thread: 'main',
        monitoredMs: 3000,
        judgedMs: 2500,
        delayP99Ms: 3,
        delayMaxMs: 9,
        utilization: 0.97,
      },
    ]);
    const text = formatSummary(
      summary({
        rate: [50],
        maxUsers: 2,
        successes: 10,
        failures: 3,
        errors: 1,
        dropped: 86,
        generator,
      }),
      true,
    );
    assert.ok(
      text.includes(
        '\nDropped: \u001b[31m86\u001b[39m\n\n\u001b[33mWarning: the load generator was saturated (main busy 97% of the time): latencies include its own delay\u001b[39m\n' +
          `\u001b[33m${DROPPED_WARNING}\u001b[39m\n\n`,
      ),
      text,
    );
  });

  it('when nothing was dropped, or the model is closed, then there is no dropped warning', () => {
    assert.doesNotMatch(
      formatSummary(summary({ rate: [50], maxUsers: 2, dropped: 0 }), false),
      /Warning/,
    );
    assert.doesNotMatch(formatSummary(summary({ dropped: 0 }), false), /Warning|Dropped/);
  });
});

describe('one precision rule for every duration (SPEC §6)', () => {
  const info = runInfo([100]);
  const hit = (elapsedMs: number): HitEvent => hitAt(elapsedMs);

  /** The text after `label` on its line. */
  function valueAfter(text: string, label: string): string {
    const line = text.split('\n').find((l) => l.startsWith(label));
    assert.ok(line !== undefined, `no line starting with '${label}' in:\n${text}`);
    return line.slice(label.length);
  }

  function measured(text: string, expression: string): string {
    const match = new RegExp(
      `  ${expression.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}  \\(measured (.+)\\)$`,
      'm',
    ).exec(text);
    assert.ok(match, `no threshold line for ${expression} in:\n${text}`);
    return match[1]!;
  }

  it('when the p99 is 9.6 ms then the p99 line and the threshold measured on it read the same', () => {
    const aggregator = new Aggregator();
    for (let i = 0; i < 100; i++) {
      aggregator.emit(hit(9.6));
    }
    const thresholds = ['p99<10ms', 'max<10ms', 'p95<10ms', 'avg<10ms'].map(parseThreshold);
    const text = formatSummary(
      buildSummary(aggregator.snapshot(), info, STARTED + 2000, false, null, thresholds),
      false,
    );
    // Before one rule: "p99: 0.0096s" beside "p99<10ms  (measured 0.010s)".
    assert.equal(valueAfter(text, '  p99: '), '0.00961s');
    assert.equal(measured(text, 'p99<10ms'), valueAfter(text, '  p99: '));
    assert.equal(measured(text, 'max<10ms'), valueAfter(text, '  max: '));
    assert.equal(measured(text, 'p95<10ms'), valueAfter(text, '  p95: '));
    // Closed model: the average response time is the average request time.
    assert.equal(measured(text, 'avg<10ms'), valueAfter(text, 'Average request time: '));
    assert.equal(
      valueAfter(text, 'Slowest URL: GET http://h/a (average '),
      `${valueAfter(text, 'Average request time: ')})`,
    );
  });

  it('when hits take half a millisecond then the average shows it as the percentiles do, not 0.00s', () => {
    const aggregator = new Aggregator();
    for (let i = 0; i < 10; i++) {
      aggregator.emit(hit(0.5));
    }
    const text = formatSummary(
      buildSummary(aggregator.snapshot(), info, STARTED + 2000, false),
      false,
    );
    assert.match(text, /^Average request time: 0\.000500s$/m);
    assert.match(text, /^ {2}p50: 0\.000500s$/m);
    assert.match(text, /^Duration: 2\.00 seconds$/m);
  });

  it('when the run is long or short then Duration follows the same rule, label unchanged', () => {
    assert.match(formatSummary(summary({ durationS: 3725.4 }), false), /^Duration: 3725 seconds$/m);
    assert.match(
      formatSummary(summary({ durationS: 0.0483 }), false),
      /^Duration: 0\.0483 seconds$/m,
    );
    assert.match(
      formatSummary(summary({ durationS: 12.345 }), false),
      /^Duration: 12\.3 seconds$/m,
    );
  });

  it('when a figure is zero then it reads 0s everywhere', () => {
    const text = formatSummary(
      summary({
        avgRequestTimeS: 0,
        steps: [step(1), step(2, { hits: 0, p50S: 0, p95S: 0, p99S: 0 })],
      }),
      false,
    );
    assert.match(text, /^Average request time: 0s$/m);
    assert.match(sectionLines(text, 'Steps').at(-1)!, / {2}0s {2,}0s {2,}0s {2}/);
  });
});

describe('named requests and the per-URL cap in the summary', () => {
  const info = runInfo([1]);
  const hit = (url: string, name: string, elapsedMs: number): HitEvent =>
    hitAt(elapsedMs, url, name);

  function textOf(aggregator: Aggregator): { text: string; summary: Summary } {
    const built = buildSummary(aggregator.snapshot(), info, STARTED + 1000, false);
    return { text: formatSummary(built, false), summary: built };
  }

  const CAP_NOTE =
    /^ {2}Per-URL stats keep at most 1000 distinct URLs: (\d+) hits? to later ones (?:is|are) counted under '\* \(other URLs\)'\.\n {2}Group URLs that carry ids with the request option name, e\.g\. session\.get\(url, \{ name: '\/item\/:id' \}\)\.$/gm;

  it('when 500 ids share a name then the table and the slowest URL show one row of 500 hits', () => {
    const aggregator = new Aggregator();
    for (let i = 1; i <= 500; i++) {
      aggregator.emit(hit(`http://h/item/${i}`, '/item/:id', 40));
    }
    aggregator.emit(hit('http://h/', '', 1));
    const { text } = textOf(aggregator);
    assert.match(text, /^Slowest URL: GET \/item\/:id \(average 0\.0400s\)$/m);
    const rows = sectionLines(text, 'URLs').slice(2);
    assert.equal(rows.length, 2);
    assert.match(rows[0]!, /^ {3}500 {2}.*GET \/item\/:id$/);
    assert.match(rows[1]!, /^ {5}1 {2}.*GET http:\/\/h\/$/);
    assert.doesNotMatch(text, /Per-URL stats keep at most/);
  });

  it('when more than 1000 distinct URLs came then the note says so once, with the count and the fix', () => {
    const aggregator = new Aggregator();
    for (let i = 0; i < MAX_URLS + 7; i++) {
      aggregator.emit(hit(`http://h/item/${i}`, '', i < MAX_URLS ? 1 : 5));
    }
    // A URL past the cap seen again still counts under the other row.
    aggregator.emit(hit(`http://h/item/${MAX_URLS}`, '', 5));
    const { text, summary: built } = textOf(aggregator);
    assert.equal(built.otherUrlHits, 8);
    const notes = [...text.matchAll(CAP_NOTE)];
    assert.equal(notes.length, 1, text);
    assert.equal(notes[0]![1], '8');
    // Under the URL table, which lists the ten slowest of the 1001 rows: the
    // other row (5 ms hits) first.
    const urls = sectionLines(text, `URLs (10 slowest of ${MAX_URLS + 1})`);
    assert.equal(urls.length, 1 + 1 + 10 + 2);
    assert.match(urls[2]!, /^ {5}8 {2}.* {2}\* \(other URLs\)$/);
    assert.match(urls.at(-2)!, /^ {2}Per-URL stats keep at most 1000 distinct URLs: 8 hits /);
    assert.match(urls.at(-1)!, /^ {2}Group URLs that carry ids with the request option name/);
    assert.equal(text.split('request option name').length - 1, 1);
  });

  it('when the cap was not reached then otherUrlHits is 0 and there is no note', () => {
    const aggregator = new Aggregator();
    for (let i = 0; i < MAX_URLS; i++) {
      aggregator.emit(hit(`http://h/item/${i}`, '', 1));
    }
    const { text, summary: built } = textOf(aggregator);
    assert.equal(built.otherUrlHits, 0);
    assert.equal([...text.matchAll(CAP_NOTE)].length, 0);
  });
});
