// In-process checks of option validation and the INI merge: faster than the
// spawned tests and precise about each rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateOptions } from '../../src/cli/validate.ts';
import { parseConfig } from '../../src/cli/config.ts';
import { UsageErrors, ConfigError } from '../../src/errors.ts';

const OUTPUTS = ['stdout', 'null', 'file', 'json', 'funkload'];

test('defaults: 1 user, 1 hit, stdout, 30 s request timeout, 60 s test timeout', () => {
  const options = validateOptions('m.C.t', {}, {}, OUTPUTS);
  assert.deepEqual(options.users, [1]);
  assert.deepEqual(options.hits, [1]);
  assert.equal(options.durationMs, null);
  assert.deepEqual(options.outputs, ['stdout']);
  assert.equal(options.timeoutMs, 30_000);
  assert.equal(options.testTimeoutMs, 60_000);
  assert.equal(options.quiet, false);
  assert.equal(options.noColor, false);
});

test('cycles and seconds convert to numbers and milliseconds', () => {
  const options = validateOptions(
    'm.C.t',
    { users: '10:20:30', duration: '1.5', timeout: '2', testTimeout: '0', color: false },
    {},
    OUTPUTS,
  );
  assert.deepEqual(options.users, [10, 20, 30]);
  assert.equal(options.hits, null);
  assert.equal(options.durationMs, 1500);
  assert.equal(options.timeoutMs, 2000);
  assert.equal(options.testTimeoutMs, 0);
  assert.equal(options.noColor, true);
});

test('every problem is reported, one error each', () => {
  assert.throws(
    () =>
      validateOptions(
        undefined,
        { users: '10:x', hits: '5', duration: '3', timeout: '0', output: ['xml'] },
        {},
        OUTPUTS,
      ),
    (err: unknown) => {
      assert.ok(err instanceof UsageErrors);
      assert.deepEqual(
        err.errors.map((e) => e.message.split(' ')[0]),
        ['missing', '--users', '--hits', '--timeout', 'unknown'],
      );
      return true;
    },
  );
});

test('the command line wins over the config file, also --duration over hits', () => {
  const config = parseConfig(
    '[loads]\nfqn = a.B.c\nusers = 5\nhits = 3\nserver-url = http://127.0.0.1:1\noutput = stdout, json\noutput_json_filename = s.json\nquiet = true\n',
    'x.ini',
  );
  const options = validateOptions(undefined, { users: '2', duration: '4' }, config, OUTPUTS);
  assert.equal(options.fqn, 'a.B.c');
  assert.deepEqual(options.users, [2]);
  assert.equal(options.hits, null);
  assert.equal(options.durationMs, 4000);
  assert.equal(options.serverUrl, 'http://127.0.0.1:1');
  assert.deepEqual(options.outputs, ['stdout', 'json']);
  assert.equal(options.quiet, true);
});

test('hits and duration both in the file are a usage error', () => {
  const config = parseConfig('[loads]\nhits = 3\nduration = 2\n', 'x.ini');
  assert.throws(() => validateOptions('a.B.c', {}, config, OUTPUTS), /--hits and --duration/);
});

test('config errors are ConfigErrors naming the file and key', () => {
  assert.throws(
    () => parseConfig('[loads]\nuserz = 3\n', 'x.ini'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /x\.ini.*unknown key 'userz'/);
      return true;
    },
  );
  assert.throws(() => parseConfig('[other]\nusers = 3\n', 'y.ini'), /no \[loads\] section/);
  assert.throws(
    () => parseConfig('[loads]\nquiet = maybe\n', 'z.ini'),
    /'quiet' must be true or false/,
  );
});

test('--quiet with the json output on stdout is a usage error; to a file it is fine', () => {
  assert.throws(
    () => validateOptions('a.B.c', { quiet: true, output: ['json'] }, {}, OUTPUTS),
    /--quiet prints nothing on stdout, so --output json needs --output-json-filename FILE/,
  );
  const options = validateOptions(
    'a.B.c',
    { quiet: true, output: ['json'], outputJsonFilename: 'summary.json' },
    {},
    OUTPUTS,
  );
  assert.equal(options.outputOptions['output_json_filename'], 'summary.json');
});

test('thresholds: repeatable, comma-separated, parsed; the command line replaces the file', () => {
  const config = parseConfig(
    '[loads]\nthreshold[] = p95<300ms\nthreshold[] = errors<1%, rps>10\nabort_on_fail = true\noutput_junit_filename = j.xml\n',
    'x.ini',
  );
  const fromFile = validateOptions('a.B.c', {}, config, OUTPUTS);
  assert.deepEqual(
    fromFile.thresholds.map((t) => t.expression),
    ['p95<300ms', 'errors<1%', 'rps>10'],
  );
  assert.equal(fromFile.abortOnFail, true);
  assert.equal(fromFile.outputOptions['output_junit_filename'], 'j.xml');
  const single = parseConfig('[loads]\nthreshold = max<2s,errors<5\n', 'x.ini');
  assert.deepEqual(
    validateOptions('a.B.c', {}, single, OUTPUTS).thresholds.map((t) => t.expression),
    ['max<2s', 'errors<5'],
  );
  const cli = validateOptions(
    'a.B.c',
    { threshold: ['url:/a p99<1s', 'step:2 avg<1s'] },
    config,
    OUTPUTS,
  );
  assert.deepEqual(
    cli.thresholds.map((t) => t.expression),
    ['url:/a p99<1s', 'step:2 avg<1s'],
  );
  assert.deepEqual(validateOptions('a.B.c', {}, {}, OUTPUTS).thresholds, []);
});

test('a malformed threshold is one usage error naming it, beside the others', () => {
  assert.throws(
    () =>
      validateOptions(
        'a.B.c',
        { threshold: ['p95<', 'errors<1%', 'foo<1'], users: 'x' },
        {},
        OUTPUTS,
      ),
    (err: unknown) => {
      assert.ok(err instanceof UsageErrors);
      assert.deepEqual(
        err.errors.map((e) => e.message.split(' is ')[0]),
        ["--users 'x'", "threshold 'p95<'", "threshold 'foo<1'"],
      );
      return true;
    },
  );
});

test('--abort-on-fail without a threshold is a usage error', () => {
  assert.throws(
    () => validateOptions('a.B.c', { abortOnFail: true }, {}, OUTPUTS),
    /--abort-on-fail needs at least one --threshold/,
  );
});
