import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { Summary } from '../../src/metrics/summary.ts';
import { makeSummary } from '../helpers/summary.ts';
import { JunitOutput, junitXml, moduleOf } from '../../src/outputs/junit.ts';
import { LoadsError } from '../../src/errors.ts';

const STARTED = Date.UTC(2026, 10, 26, 12, 15, 6);

function summary(overrides: Partial<Summary> = {}): Summary {
  return makeSummary({
    projectName: 'N/A',
    fqn: 'loadtests.api.TestApi',
    hits: 40,
    startedAt: STARTED,
    endedAt: STARTED + 4000,
    durationS: 4,
    rps: 10,
    avgRequestTimeS: 0.02,
    successes: 25,
    errors: 5,
    failures: 10,
    latency: { p50: 0.01, p90: 0.02, p95: 0.0314, p99: 0.05, max: 0.08 },
    serviceTime: { p50: 0.01, p90: 0.02, p95: 0.0314, p99: 0.05, max: 0.08 },
    allErrors: [
      {
        count: 5,
        test: 'TestApi.test_b',
        name: 'TypeError',
        message: 'x is undefined',
        stack: 'TypeError: x is undefined\n    at test_b (api.ts:9:3)',
      },
    ],
    allFailures: [
      {
        count: 7,
        test: 'TestApi.test_b',
        name: 'AssertionError',
        message: 'expected 200, got 500',
        stack: 'AssertionError: expected 200, got 500\n    at test_b (api.ts:7:5)',
      },
      {
        count: 3,
        test: 'TestApi.test_b',
        name: 'AssertionError',
        message: 'body <b>&"quoted"\'</b>\u0001\u0007\uFFFE end',
        stack: 'AssertionError: body\n    at test_b (api.ts:8:5)',
      },
    ],
    perTest: {
      'TestApi.test_a': { successes: 20, failures: 0, errors: 0 },
      'TestApi.test_b': { successes: 5, failures: 10, errors: 5 },
    },
    thresholds: [
      { expression: 'p95<300ms', passed: true, measured: 31.4, display: '0.031s' },
      { expression: 'errors<1%', passed: false, measured: 37.5, display: '37.5%' },
    ],
    ...overrides,
  });
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseAttributeValue: false,
  isArray: (name) => ['testsuite', 'testcase', 'failure', 'error'].includes(name),
});

interface Case {
  classname: string;
  name: string;
  time: string;
  failure?: { message: string; type: string; '#text': string }[];
  error?: { message: string; type: string; '#text': string }[];
}
interface Suite {
  name: string;
  tests: string;
  failures: string;
  errors: string;
  time: string;
  testcase: Case[];
  'system-out'?: string;
}
interface Doc {
  testsuites: {
    name: string;
    tests: string;
    failures: string;
    errors: string;
    time: string;
    testsuite: Suite[];
  };
}

function parse(xml: string): Doc {
  assert.equal(XMLValidator.validate(xml), true, xml);
  return parser.parse(xml) as Doc;
}

describe('junitXml', () => {
  it('when a run has a passing and a failing method then each is a testcase with its outcome', () => {
    const doc = parse(junitXml(summary()));
    const root = doc.testsuites;
    assert.equal(root.name, 'loads-runner loadtests.api.TestApi');
    assert.equal(root.tests, '4'); // 2 methods + 2 thresholds
    assert.equal(root.failures, '1'); // errors<1% (test_b errored: it is an error)
    assert.equal(root.errors, '1');
    assert.equal(root.time, '4.000');
    const [suite, thresholds] = root.testsuite;
    assert.ok(suite && thresholds);
    assert.equal(suite.name, 'loadtests.api.TestApi');
    assert.deepEqual([suite.tests, suite.failures, suite.errors], ['2', '0', '1']);
    const [a, b] = suite.testcase;
    assert.ok(a && b);
    assert.deepEqual(
      [a.classname, a.name, a.failure, a.error],
      ['loadtests.api.TestApi', 'test_a', undefined, undefined],
    );
    // Times are each method's share of the run: 20 and 20 of 40 runs over 4 s.
    assert.equal(a.time, '2.000');
    assert.equal(b.time, '2.000');
    assert.equal(b.classname, 'loadtests.api.TestApi');
    assert.equal(b.name, 'test_b');
    // Errors and failures together: one <error> element (readers show only the first), listing both.
    assert.equal(b.failure, undefined);
    assert.equal(b.error?.length, 1);
    const error = b.error[0]!;
    assert.equal(error.message, '5 of 20 runs errored and 10 failed: x is undefined');
    assert.equal(error.type, 'TypeError');
    assert.match(error['#text'], /^5x TypeError: x is undefined\n/);
    assert.match(
      error['#text'],
      /\n\n7x AssertionError: expected 200, got 500\nAssertionError: expected 200, got 500\n {4}at test_b \(api\.ts:7:5\)/,
    );
    assert.match(error['#text'], /\n\n3x AssertionError: body /);
    assert.equal(
      suite['system-out'],
      'Hits: 40\nDuration: 4.00 seconds\nApproximate Average RPS: 10\np95: 0.0314s\nSuccess: 25\nErrors: 5\nFailures: 10',
    );
  });

  it('when a method only failed then it has one <failure> with every distinct failure', () => {
    const doc = parse(
      junitXml(
        summary({
          errors: 0,
          allErrors: [],
          perTest: {
            'TestApi.test_a': { successes: 20, failures: 0, errors: 0 },
            'TestApi.test_b': { successes: 10, failures: 10, errors: 0 },
          },
        }),
      ),
    );
    const [suite] = doc.testsuites.testsuite;
    assert.deepEqual([suite?.failures, suite?.errors], ['1', '0']);
    const b = suite!.testcase[1]!;
    assert.equal(b.error, undefined);
    assert.equal(b.failure?.length, 1);
    assert.equal(b.failure[0]!.message, '10 of 20 runs failed: expected 200, got 500');
    assert.equal(b.failure[0]!.type, 'AssertionError');
    assert.match(
      b.failure[0]!['#text'],
      /^7x AssertionError: expected 200[^]*\n\n3x AssertionError: body /,
    );
  });

  it('when the model is open then the totals include the dropped runs', () => {
    const doc = parse(junitXml(summary({ rate: [50], maxUsers: 10, dropped: 12 })));
    assert.match(doc.testsuites.testsuite[0]!['system-out']!, /\nDropped: 12$/);
  });

  it('when thresholds are given then they form a second suite, failing with the measured value', () => {
    const thresholds = parse(junitXml(summary())).testsuites.testsuite[1];
    assert.ok(thresholds);
    assert.equal(thresholds.name, 'thresholds');
    assert.deepEqual([thresholds.tests, thresholds.failures], ['2', '1']);
    const [passed, crossed] = thresholds.testcase;
    assert.ok(passed && crossed);
    assert.deepEqual(
      [passed.classname, passed.name, passed.failure],
      ['thresholds', 'p95<300ms', undefined],
    );
    assert.equal(crossed.name, 'errors<1%');
    assert.equal(crossed.failure?.[0]?.message, "threshold 'errors<1%' crossed: measured 37.5%");
    assert.equal(crossed.failure?.[0]?.['#text'], 'measured 37.5%');
  });

  it('when there are no thresholds then there is one suite only', () => {
    const doc = parse(junitXml(summary({ thresholds: [] })));
    assert.equal(doc.testsuites.testsuite.length, 1);
    assert.equal(doc.testsuites.tests, '2');
  });

  it('when messages hold < & " \' and control characters then they are escaped or dropped', () => {
    const xml = junitXml(summary());
    // eslint-disable-next-line no-control-regex -- the characters XML 1.0 forbids are the point
    const xmlUnsafe = /[\u0001\u0007\uFFFE]/;
    assert.doesNotMatch(xml, xmlUnsafe);
    assert.ok(xml.includes('3x AssertionError: body &lt;b&gt;&amp;"quoted"\'&lt;/b&gt; end'), xml);
    const attrs = junitXml(
      summary({
        allErrors: [],
        perTest: { 'TestApi.test_b': { successes: 10, failures: 10, errors: 0 } },
        allFailures: [
          {
            count: 10,
            test: 'TestApi.test_b',
            name: 'AssertionError',
            message: 'a<b & "c" \'d\'\n\u0000e',
            stack: '',
          },
        ],
        thresholds: [
          {
            expression: 'url:/a?b=1&c="2" p95<1s',
            passed: false,
            measured: null,
            display: 'no data',
          },
        ],
      }),
    );
    assert.ok(
      attrs.includes(
        'message="10 of 20 runs failed: a&lt;b &amp; &quot;c&quot; &apos;d&apos;&#10;e"',
      ),
      attrs,
    );
    const doc = parse(attrs);
    // The parser decodes the named entities and leaves numeric ones (&#10;) as they are.
    assert.equal(
      doc.testsuites.testsuite[0]?.testcase[0]?.failure?.[0]?.message,
      `10 of 20 runs failed: a<b & "c" 'd'&#10;e`,
    );
    assert.equal(doc.testsuites.testsuite[1]?.testcase[0]?.name, 'url:/a?b=1&c="2" p95<1s');
  });

  it('when a lone surrogate is in a message then it is dropped, a pair is kept', () => {
    const xml = junitXml(
      summary({
        allErrors: [
          {
            count: 5,
            test: 'TestApi.test_b',
            name: 'Error',
            message: 'bad \uD800 good 😀',
            stack: '',
          },
        ],
      }),
    );
    assert.ok(xml.includes('bad  good 😀'));
  });

  it('when the run was aborted by a threshold then system-out says so', () => {
    const doc = parse(junitXml(summary({ abortedBy: 'errors<5', interrupted: true })));
    assert.match(
      doc.testsuites.testsuite[0]?.['system-out'] ?? '',
      /\nAborted: threshold 'errors<5' crossed \(--abort-on-fail\)$/,
    );
  });

  it('when a signal stopped the run then an error testcase says so and the counts include it', () => {
    const xml = junitXml(
      summary({
        perTest: { 'TestApi.test_a': { successes: 20, failures: 0, errors: 0 } },
        successes: 20,
        errors: 0,
        failures: 0,
        allErrors: [],
        allFailures: [],
        thresholds: [],
        interrupted: true,
        interruptedBy: 'SIGTERM',
      }),
    );
    assert.equal(XMLValidator.validate(xml), true);
    const doc = parse(xml);
    assert.equal(doc.testsuites.tests, '2');
    assert.equal(doc.testsuites.errors, '1');
    const suite = doc.testsuites.testsuite[0]!;
    assert.equal(suite.tests, '2');
    assert.equal(suite.errors, '1');
    assert.equal(suite.failures, '0');
    const stopped = suite.testcase[1]!;
    assert.equal(stopped.classname, 'loadtests.api.TestApi');
    assert.equal(stopped.name, 'interrupted by SIGTERM');
    assert.equal(stopped.error?.[0]?.type, 'Interrupted');
    assert.match(stopped.error?.[0]?.message ?? '', /^the run was stopped by SIGTERM .* 20 runs/);
    assert.match(
      suite['system-out'] ?? '',
      /\nInterrupted by SIGTERM: the results cover what ran before$/,
    );
  });

  it('when a threshold aborted the run then there is no interrupted testcase', () => {
    const doc = parse(junitXml(summary({ abortedBy: 'errors<5', interrupted: true })));
    assert.equal(doc.testsuites.testsuite[0]?.testcase.length, 2);
    assert.ok(doc.testsuites.testsuite[0]?.testcase.every((c) => !/interrupted/.test(c.name)));
  });

  it('when no run finished then the suite has no testcases and stays well-formed', () => {
    const doc = parse(
      junitXml(
        summary({
          perTest: {},
          successes: 0,
          errors: 0,
          failures: 0,
          allErrors: [],
          allFailures: [],
          thresholds: [],
          interrupted: true,
        }),
      ),
    );
    // The interrupted testcase alone.
    assert.equal(doc.testsuites.tests, '1');
    assert.equal(doc.testsuites.testsuite[0]?.testcase[0]?.name, 'interrupted by a signal');
    assert.match(doc.testsuites.testsuite[0]?.['system-out'] ?? '', /Interrupted/);
  });
});

describe('moduleOf', () => {
  it('when given each FQN form then it returns the dotted module', () => {
    assert.equal(moduleOf('example.TestWebSite.test_es'), 'example');
    assert.equal(
      moduleOf('project.tests.test_server.TestSite.test_es'),
      'project.tests.test_server',
    );
    assert.equal(moduleOf('example.TestWebSite'), 'example');
    assert.equal(moduleOf('path/to/file.ts:TestWebSite.test_es'), 'path.to.file');
    assert.equal(moduleOf('./load.mjs:T.t'), 'load');
  });
});

describe('JunitOutput', () => {
  let dir = '';
  after(async () => {
    if (dir !== '') {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('when the run ends then the file holds the document', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loads-junit-'));
    const file = path.join(dir, 'out.xml');
    const output = new JunitOutput({
      projectName: 'p',
      fqn: 'f',
      write: () => {},
      options: { output_junit_filename: file },
      color: false,
      quiet: false,
    });
    await output.onRunEnd(summary());
    assert.equal(await readFile(file, 'utf8'), junitXml(summary()));
  });

  it('when the file cannot be written then onRunEnd rejects with a LoadsError naming it', async () => {
    const file = path.join(tmpdir(), 'no-such-dir-loads', 'x', 'out.xml');
    const output = new JunitOutput({
      projectName: 'p',
      fqn: 'f',
      write: () => {},
      options: { output_junit_filename: file },
      color: false,
      quiet: false,
    });
    await assert.rejects(
      output.onRunEnd(summary()),
      (err: unknown) => err instanceof LoadsError && err.message.includes(file),
    );
  });
});
