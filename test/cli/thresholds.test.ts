// End to end: --threshold, --abort-on-fail and the junit output, the built
// CLI spawned against real loopback servers. Exit statuses (SPEC §7): 0 when
// every run succeeded and every threshold passed, 1 when a threshold was
// crossed (even if every run succeeded), 2 for a malformed one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { runCli } from '../helpers/cli.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { summaryNumber } from '../helpers/summary.ts';

/** /slow answers after this long, so p95 thresholds can pass and fail on purpose. */
const SLOW_MS = 150;

const MODULE = `
import { TestCase } from 'loads-runner';

export class TestTh extends TestCase {
  async test_ok() {
    await this.app.get('/ok');
  }
  async test_slow() {
    await this.app.get('/slow');
  }
  async test_fail() {
    const res = await this.session.get(this.app.serverUrl + '/fail');
    this.assertEqual(res.status, 200);
  }
  async test_mixed() {
    await this.app.get('/ok');
    await this.app.get('/fail', { status: '*' });
  }
  async test_flaky() {
    await this.app.get('/flaky');
  }
  async test_missing() {
    await this.app.get('/missing', { status: 404 });
  }
}

export class TestJ extends TestCase {
  async test_ok() {
    await this.app.get('/ok');
  }
  async test_fail() {
    await this.app.get('/fail');
  }
}
`;

let server: TestServer;
let project: TmpProject;
let flaky = 0;

before(async () => {
  server = await startHttpServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/slow') {
      setTimeout(() => res.end('slow'), SLOW_MS);
    } else if (path === '/fail') {
      // A little delay, so --abort-on-fail has a run to stop.
      setTimeout(() => {
        res.statusCode = 500;
        res.end('no');
      }, 5);
    } else if (path === '/missing') {
      res.statusCode = 404;
      res.end('none');
    } else if (path === '/flaky') {
      // Every fourth request fails: 25 % of the runs.
      flaky++;
      res.statusCode = flaky % 4 === 0 ? 500 : 200;
      res.end();
    } else {
      res.end('ok');
    }
  });
  project = await createTmpProject();
  await project.write('th.ts', MODULE);
});

after(async () => {
  await server.close();
  await project.remove();
});

function run(args: readonly string[]): ReturnType<typeof runCli> {
  return runCli([...args, '--server-url', server.url], { cwd: project.dir });
}

/** The summary line of a threshold: `  ✓ PASS  p95<2s  (measured 0.151s)`. */
function thresholdLine(stdout: string, expression: string): { passed: boolean; display: string } {
  const line = stdout
    .split('\n')
    .find((l) => l.endsWith(')') && l.includes(`  ${expression}  (measured `));
  assert.ok(line, `no threshold line for ${expression} in:\n${stdout}`);
  const match = /^ {2}(✓ PASS|✗ FAIL) {2}.* {2}\(measured (.+)\)$/.exec(line);
  assert.ok(match, line);
  return { passed: match[1] === '✓ PASS', display: match[2]! };
}

test('p95 under a bound the server meets: PASS, exit 0; json carries the results', async () => {
  const json = path.join(project.dir, 'p95.json');
  const result = await run([
    'th.TestTh.test_slow',
    '-u',
    '2',
    '--hits',
    '3',
    '--threshold',
    'p95<2s',
    '-o',
    'stdout',
    '-o',
    'json',
    '--output-json-filename',
    json,
  ]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Success'), 6);
  assert.match(result.stdout, /\nThresholds\n/);
  const line = thresholdLine(result.stdout, 'p95<2s');
  assert.equal(line.passed, true);
  const measuredS = Number(line.display.replace(/s$/, ''));
  assert.ok(measuredS >= SLOW_MS / 1000 && measuredS < 2, line.display);
  // One rule for every duration: the threshold reads exactly as the p95 line.
  assert.equal(line.display, /^ {2}p95: (.+)$/m.exec(result.stdout)?.[1]);
  const summary = JSON.parse(await readFile(json, 'utf8')) as {
    thresholds: { expression: string; passed: boolean; measured: number }[];
  };
  assert.equal(summary.thresholds.length, 1);
  assert.equal(summary.thresholds[0]?.expression, 'p95<2s');
  assert.equal(summary.thresholds[0]?.passed, true);
  assert.ok((summary.thresholds[0]?.measured ?? 0) >= SLOW_MS);
});

test('p95 under a bound the server cannot meet: FAIL, exit 1 though every run succeeded', async () => {
  const result = await run([
    'th.TestTh.test_slow',
    '-u',
    '2',
    '--hits',
    '3',
    '--threshold',
    'p95<50ms',
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Success'), 6);
  assert.equal(summaryNumber(result.stdout, 'Failures'), 0);
  assert.equal(summaryNumber(result.stdout, 'Errors'), 0);
  assert.equal(thresholdLine(result.stdout, 'p95<50ms').passed, false);
});

test('errors as a share: 2 of 8 runs failed is 25 %, under 30 % and over 20 %', async () => {
  flaky = 0;
  const result = await run([
    'th.TestTh.test_flaky',
    '-u',
    '2',
    '--hits',
    '4',
    '--threshold',
    'errors<30%',
    '--threshold',
    'errors < 20%',
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Failures'), 2);
  assert.deepEqual(thresholdLine(result.stdout, 'errors<30%'), { passed: true, display: '25%' });
  assert.deepEqual(thresholdLine(result.stdout, 'errors < 20%'), { passed: false, display: '25%' });
});

test('an impossible rps bound fails with exit 1', async () => {
  const result = await run([
    'th.TestTh.test_ok',
    '-u',
    '2',
    '--hits',
    '2',
    '--threshold',
    'rps>1000000',
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Success'), 4);
  const line = thresholdLine(result.stdout, 'rps>1000000');
  assert.equal(line.passed, false);
  assert.match(line.display, /^\d+(\.\d)?\/s$/);
});

test('http_5xx: half the hits are 500s while every run succeeds', async () => {
  const result = await run([
    'th.TestTh.test_mixed',
    '-u',
    '2',
    '--hits',
    '2',
    '--threshold',
    'http_5xx<1%',
    '--threshold',
    'http_5xx<=4',
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Hits'), 8);
  assert.equal(summaryNumber(result.stdout, 'Success'), 4);
  assert.deepEqual(thresholdLine(result.stdout, 'http_5xx<1%'), { passed: false, display: '50%' });
  assert.deepEqual(thresholdLine(result.stdout, 'http_5xx<=4'), { passed: true, display: '4' });
});

test('URL scope: /ok alone passes (exit 0), /fail alone fails, an unseen URL has no data', async () => {
  const passing = await run([
    'th.TestTh.test_mixed',
    '-u',
    '1',
    '--hits',
    '2',
    '--threshold',
    'url:/ok errors<1%',
    '--threshold',
    `url:${server.url}/ok p95<2s`,
  ]);
  assert.equal(passing.code, 0, passing.stdout + passing.stderr);
  assert.deepEqual(thresholdLine(passing.stdout, 'url:/ok errors<1%'), {
    passed: true,
    display: '0%',
  });
  assert.equal(thresholdLine(passing.stdout, `url:${server.url}/ok p95<2s`).passed, true);

  const failing = await run([
    'th.TestTh.test_mixed',
    '-u',
    '1',
    '--hits',
    '2',
    '--threshold',
    'url:/fail errors<10%',
    '--threshold',
    'url:/nowhere p95<2s',
  ]);
  assert.equal(failing.code, 1, failing.stdout + failing.stderr);
  assert.deepEqual(thresholdLine(failing.stdout, 'url:/fail errors<10%'), {
    passed: false,
    display: '100%',
  });
  assert.deepEqual(thresholdLine(failing.stdout, 'url:/nowhere p95<2s'), {
    passed: false,
    display: 'no data',
  });
});

test('step scope: -u 1:2 --hits 3, step:2 has its own numbers', async () => {
  const result = await run([
    'th.TestTh.test_ok',
    '-u',
    '1:2',
    '--hits',
    '3',
    '--threshold',
    'step:2 p95<2s',
    '--threshold',
    'step:2 errors<=0',
    '--threshold',
    'step:2 rps>1000000',
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Hits'), 9);
  assert.equal(thresholdLine(result.stdout, 'step:2 p95<2s').passed, true);
  assert.deepEqual(thresholdLine(result.stdout, 'step:2 errors<=0'), {
    passed: true,
    display: '0',
  });
  assert.equal(thresholdLine(result.stdout, 'step:2 rps>1000000').passed, false);
});

test('a step beyond the plan is exit 2 naming it and the steps, before any load', async () => {
  const before = server.requests;
  const result = await run(['th.TestTh.test_ok', '-u', '1:2', '--threshold', 'step:3 p95<2s']);
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.equal(result.stdout, '');
  assert.equal(
    result.stderr,
    "loads-runner: threshold 'step:3 p95<2s' names step 3, but the plan has 2 steps; use step:1 to step:2\n",
  );
  assert.equal(server.requests, before, 'no request was sent');
});

test('INI thresholds apply; a --threshold on the command line replaces them', async () => {
  const ini = await project.write(
    'th.ini',
    '[loads]\nthreshold[] = p95<2s\nthreshold[] = rps>1000000\n',
  );
  const fromFile = await run(['th.TestTh.test_ok', '--hits', '2', '--config', ini]);
  assert.equal(fromFile.code, 1, fromFile.stdout + fromFile.stderr);
  assert.equal(thresholdLine(fromFile.stdout, 'p95<2s').passed, true);
  assert.equal(thresholdLine(fromFile.stdout, 'rps>1000000').passed, false);

  const replaced = await run([
    'th.TestTh.test_ok',
    '--hits',
    '2',
    '--config',
    ini,
    '--threshold',
    'errors<1',
  ]);
  assert.equal(replaced.code, 0, replaced.stdout + replaced.stderr);
  assert.deepEqual(thresholdLine(replaced.stdout, 'errors<1'), { passed: true, display: '0' });
  assert.doesNotMatch(replaced.stdout, /rps>1000000/);
});

// Every form once on each side of its bound, with runs that all succeed: the
// exit status is the threshold's alone (0 when it passes, 1 when crossed).
for (const [expression, args, passes] of [
  ['avg<2s', ['th.TestTh.test_slow', '--hits', '2'], true],
  ['avg<10ms', ['th.TestTh.test_slow', '--hits', '2'], false],
  ['med<2s', ['th.TestTh.test_slow', '--hits', '2'], true],
  ['p99<1s', ['th.TestTh.test_slow', '--hits', '2'], true],
  ['p99.9<10ms', ['th.TestTh.test_slow', '--hits', '2'], false],
  ['max<=2000', ['th.TestTh.test_slow', '--hits', '2'], true],
  ['min>1s', ['th.TestTh.test_slow', '--hits', '2'], false],
  ['errors<1', ['th.TestTh.test_ok', '--hits', '2'], true],
  ['errors>=1', ['th.TestTh.test_ok', '--hits', '2'], false],
  ['http_4xx<3', ['th.TestTh.test_missing', '--hits', '2'], true],
  ['http_4xx<1%', ['th.TestTh.test_missing', '--hits', '2'], false],
  ['dropped<1', ['th.TestTh.test_ok', '--rate', '4', '-d', '1'], true],
  // One user, 150 ms a run, 40 runs due in 1 s: most wait and are dropped at the step end.
  ['dropped<1%', ['th.TestTh.test_slow', '--rate', '40', '-d', '1', '--max-users', '1'], false],
] as const) {
  test(`threshold '${expression}' ${passes ? 'passes: exit 0' : 'is crossed: exit 1'}`, async () => {
    const result = await run([...args, '--threshold', expression]);
    assert.equal(result.code, passes ? 0 : 1, result.stdout + result.stderr);
    assert.equal(
      summaryNumber(result.stdout, 'Errors') + summaryNumber(result.stdout, 'Failures'),
      0,
    );
    assert.equal(thresholdLine(result.stdout, expression).passed, passes);
  });
}

test('a malformed threshold is exit 2 with one line naming it, before any load', async () => {
  const before = server.requests;
  const result = await run(['th.TestTh.test_ok', '--hits', '5', '--threshold', 'p95 300ms']);
  assert.equal(result.code, 2);
  assert.equal(result.stdout, '');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(
    lines[0]!,
    /^loads-runner: threshold 'p95 300ms' is not valid: .*use forms like p95<300ms/,
  );
  assert.doesNotMatch(result.stderr, /\n\s+at /);
  assert.equal(server.requests, before, 'no request was sent');
});

interface JCase {
  classname: string;
  name: string;
  failure?: { message: string; type: string; '#text': string }[];
  error?: unknown[];
}
interface JSuite {
  name: string;
  tests: string;
  failures: string;
  testcase: JCase[];
  'system-out'?: string;
}

function parseJunit(xml: string): {
  testsuites: { tests: string; failures: string; testsuite: JSuite[] };
} {
  assert.equal(XMLValidator.validate(xml), true, xml);
  return new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    isArray: (name) => ['testsuite', 'testcase', 'failure', 'error'].includes(name),
  }).parse(xml) as { testsuites: { tests: string; failures: string; testsuite: JSuite[] } };
}

test('--abort-on-fail: errors<5 stops 2 users × 1000 hits early, exit 1, summary and junit written', async () => {
  const junit = path.join(project.dir, 'abort.xml');
  const result = await run([
    'th.TestTh.test_fail',
    '-u',
    '2',
    '--hits',
    '1000',
    '--threshold',
    'errors<5',
    '--abort-on-fail',
    '-o',
    'stdout',
    '-o',
    'junit',
    '--output-junit-filename',
    junit,
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(
    result.stderr,
    /^loads-runner: threshold 'errors<5' crossed; stopping \(--abort-on-fail\)$/m,
  );
  const failures = summaryNumber(result.stdout, 'Failures');
  assert.ok(failures >= 5, `at least 5 failures, got ${failures}`);
  assert.ok(failures < 500, `stopped early: ${failures} of 2000 runs`);
  assert.equal(summaryNumber(result.stdout, 'Success'), 0);
  assert.match(result.stdout, /^Aborted: threshold 'errors<5' crossed/m);
  assert.doesNotMatch(result.stdout, /Interrupted/);
  assert.equal(thresholdLine(result.stdout, 'errors<5').passed, false);
  const doc = parseJunit(await readFile(junit, 'utf8'));
  assert.match(doc.testsuites.testsuite[0]?.['system-out'] ?? '', /Aborted: threshold 'errors<5'/);
});

test('--abort-on-fail on a snapshot threshold (http_5xx<3) stops while every run succeeds, exit 1', async () => {
  const result = await run([
    'th.TestTh.test_mixed',
    '-u',
    '2',
    '--hits',
    '1000',
    '--threshold',
    'http_5xx<3',
    '--threshold',
    'p95<1ms',
    '--abort-on-fail',
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stderr, /^loads-runner: threshold 'http_5xx<3' crossed; stopping/m);
  assert.equal(summaryNumber(result.stdout, 'Failures'), 0);
  const hits = summaryNumber(result.stdout, 'Hits');
  assert.ok(hits < 4000, `stopped early: ${hits} of 4000 hits`);
  assert.match(result.stdout, /^Aborted: threshold 'http_5xx<3' crossed/m);
});

test('--abort-on-fail with only thresholds judged at the end: a warning, and the run goes on', async () => {
  const result = await run([
    'th.TestTh.test_ok',
    '--hits',
    '2',
    '--threshold',
    'p95<2s',
    '--abort-on-fail',
  ]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(
    result.stderr,
    /^loads-runner: warning: --abort-on-fail has no threshold it can judge before the end .*; the run will not stop early$/m,
  );
  assert.equal(summaryNumber(result.stdout, 'Success'), 2);
});

test('junit and json files in a missing directory: exit 2 naming the option, before any load', async () => {
  const before = server.requests;
  for (const [output, option] of [
    ['junit', '--output-junit-filename'],
    ['json', '--output-json-filename'],
  ] as const) {
    const file = path.join(project.dir, 'no-such-dir', `report.${output}`);
    const result = await run(['th.TestTh.test_ok', '--hits', '2', '-o', output, option, file]);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.equal(
      result.stderr,
      `loads-runner: the ${output} output cannot write '${file}': the directory ${path.dirname(file)} does not exist; check ${option}\n`,
    );
  }
  assert.equal(server.requests, before, 'no request was sent');
});

test('--output junit: one testcase per method, failures with counts, thresholds as a second suite', async () => {
  const junit = path.join(project.dir, 'junit.xml');
  const result = await run([
    'th.TestJ',
    '-u',
    '1',
    '--hits',
    '3',
    '--threshold',
    'p95<2s',
    '--threshold',
    'rps>1000000',
    '-o',
    'junit',
    '--output-junit-filename',
    junit,
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  // -o junit adds to the text summary (SPEC §8): the CI log still shows it.
  assert.equal(summaryNumber(result.stdout, 'Hits'), 6);
  const doc = parseJunit(await readFile(junit, 'utf8'));
  assert.equal(doc.testsuites.tests, '4');
  assert.equal(doc.testsuites.failures, '2');
  const [suite, thresholds] = doc.testsuites.testsuite;
  assert.ok(suite && thresholds);
  assert.equal(suite.name, 'th.TestJ');
  assert.deepEqual(
    suite.testcase.map((c) => [c.classname, c.name, c.failure === undefined]),
    [
      ['th.TestJ', 'test_ok', true],
      ['th.TestJ', 'test_fail', false],
    ],
  );
  const failure = suite.testcase[1]?.failure?.[0];
  assert.ok(failure);
  assert.match(
    failure.message,
    /^3 of 3 runs failed: GET http:\/\/127\.0\.0\.1:\d+\/fail returned status 500/,
  );
  assert.equal(failure.type, 'AssertionError');
  assert.match(failure['#text'], /^3x AssertionError: GET .*\/fail returned status 500/);
  assert.match(suite['system-out'] ?? '', /^Hits: 6\n/);
  assert.equal(thresholds.name, 'thresholds');
  assert.deepEqual(
    thresholds.testcase.map((c) => [c.name, c.failure === undefined]),
    [
      ['p95<2s', true],
      ['rps>1000000', false],
    ],
  );
  assert.match(
    thresholds.testcase[1]?.failure?.[0]?.message ?? '',
    /^threshold 'rps>1000000' crossed: measured \d/,
  );
});
