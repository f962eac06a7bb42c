// In-process checks of option validation and the INI merge: faster than the
// spawned tests and precise about each rule.
import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateOptions } from '../../src/cli/validate.ts';
import { isCI } from '../../src/cli/console.ts';
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
  // --quiet (from the file) turns the text summary off.
  assert.deepEqual(options.outputs, ['json']);
  assert.equal(options.quiet, true);
});

test('TLS keys of the config file: ca on several lines, one file each; insecure and http2 booleans', () => {
  const config = parseConfig(
    '[loads]\nca = certs/one ca.pem\nca = two.pem, three.pem\ninsecure = yes\nhttp2 = true\ncert = c.pem\nkey = k.pem\n',
    'x.ini',
  );
  // A path may hold spaces or commas: each line is one file.
  assert.deepEqual(config.ca, ['certs/one ca.pem', 'two.pem, three.pem']);
  assert.equal(config.insecure, true);
  assert.equal(config.http2, true);
  assert.equal(config.cert, 'c.pem');
  assert.equal(config.key, 'k.pem');
  // The command line's --ca replaces the file's list, as --threshold does.
  assert.throws(
    () => validateOptions('m.C.t', { ca: ['/nonexistent/ca.pem'] }, config, OUTPUTS),
    (err: Error) =>
      /--ca '\/nonexistent\/ca\.pem': cannot read it \(ENOENT\)/.test(err.message) &&
      !/one ca\.pem/.test(err.message),
  );
});

describe('output selection (SPEC §8)', () => {
  const select = (
    cli: Parameters<typeof validateOptions>[1],
    config: Parameters<typeof validateOptions>[2] = {},
  ): [string[], string] => {
    const options = validateOptions('m.C.t', cli, config, OUTPUTS);
    return [options.outputs, options.summaryStream];
  };

  it('when other outputs are given then the text summary stays on stdout beside them', () => {
    assert.deepEqual(select({}), [['stdout'], 'stdout']);
    assert.deepEqual(select({ output: ['file'] }), [['stdout', 'file'], 'stdout']);
    assert.deepEqual(select({ output: ['funkload', 'stdout', 'file', 'file'] }), [
      ['stdout', 'funkload', 'file'],
      'stdout',
    ]);
    assert.deepEqual(select({ output: ['json'], outputJsonFilename: 'x.json' }), [
      ['stdout', 'json'],
      'stdout',
    ]);
  });

  it('when json is written to stdout then stdout holds it alone', () => {
    assert.deepEqual(select({ output: ['json'] }), [['json'], 'stderr']);
    assert.deepEqual(select({ output: ['json', 'file'], outputJsonFilename: '-' }), [
      ['json', 'file'],
      'stderr',
    ]);
  });

  it('when json goes to stdout and stdout is asked for too then the text summary goes to stderr', () => {
    assert.deepEqual(select({ output: ['json', 'stdout'] }), [['stdout', 'json'], 'stderr']);
  });

  it('when --quiet or -o null is given then there is no text summary', () => {
    assert.deepEqual(select({ output: ['null'] }), [[], 'stdout']);
    assert.deepEqual(select({ output: ['null', 'file'] }), [['file'], 'stdout']);
    assert.deepEqual(select({ quiet: true }), [[], 'stdout']);
    assert.deepEqual(select({ quiet: true, output: ['stdout', 'file'] }), [['file'], 'stdout']);
  });

  it('when the config file gives the outputs then the same rules apply', () => {
    const config = parseConfig('[loads]\noutput = json\n', 'x.ini');
    assert.deepEqual(select({}, config), [['json'], 'stderr']);
    const toFile = parseConfig(
      '[loads]\noutput = json, file\noutput_json_filename = s.json\n',
      'x.ini',
    );
    assert.deepEqual(select({}, toFile), [['stdout', 'json', 'file'], 'stdout']);
    assert.deepEqual(select({ output: ['null'] }, toFile), [[], 'stdout']);
  });

  it('when null and stdout are both given then it is a usage error', () => {
    assert.throws(
      () => select({ output: ['null', 'stdout'] }),
      /--output null turns the text summary off and --output stdout asks for it; drop one/,
    );
  });
});

test('hits and duration both in the file are a usage error', () => {
  const config = parseConfig('[loads]\nhits = 3\nduration = 2\n', 'x.ini');
  assert.throws(() => validateOptions('a.B.c', {}, config, OUTPUTS), /--hits and --duration/);
});

/** The messages of the ConfigErrors that parsing `text` as x.ini throws, in order. */
function configProblems(text: string): string[] {
  try {
    parseConfig(text, 'x.ini');
  } catch (err) {
    assert.ok(err instanceof UsageErrors, String(err));
    return err.errors.map((e) => {
      assert.ok(e instanceof ConfigError);
      return e.message;
    });
  }
  assert.fail('no problem found');
}

test('config errors are ConfigErrors naming the file, key and line', () => {
  assert.deepEqual(configProblems('[loads]\nuserz = 3\n'), [
    "config file 'x.ini': unknown key 'userz' in [loads] (line 2); did you mean 'users'?",
  ]);
  assert.throws(() => parseConfig('[other]\nusers = 3\n', 'y.ini'), /no \[loads\] section/);
  assert.deepEqual(configProblems('[loads]\nquiet = maybe\n'), [
    "config file 'x.ini': 'quiet' (line 2) must be true or false, not 'maybe'",
  ]);
});

test('config: every problem of the file at once, one line each, with did-you-mean', () => {
  assert.deepEqual(
    configProblems(
      [
        '[loads]',
        'fqn = m.C.t',
        'user = 10',
        'sever-url = http://127.0.0.1:1',
        'quiet = perhaps',
        'hits = 2',
        'hits = 3',
        'no_colour = true',
        'bogus = 1',
        'users[] = 1',
        '',
      ].join('\n'),
    ),
    [
      "config file 'x.ini': 'hits' is set twice in [loads] (lines 6 and 7); keep one",
      "config file 'x.ini': unknown key 'user' in [loads] (line 3); did you mean 'users'?",
      "config file 'x.ini': unknown key 'sever-url' in [loads] (line 4); did you mean 'server_url'?",
      "config file 'x.ini': 'quiet' (line 5) must be true or false, not 'perhaps'",
      "config file 'x.ini': unknown key 'no_colour' in [loads] (line 8); did you mean 'no_color'?",
      `config file 'x.ini': unknown key 'bogus' in [loads] (line 9); known keys: fqn, users, hits, duration, rate, max_users, ramp_up, server_url, timeout, test_timeout, max_body_size, cert, key, output_file_filename, output_funkload_filename, output_json_filename, output_junit_filename, output_html_filename, project_name, workers, status_interval, agents, broker, broker_creds, broker_nkey, broker_tls_ca, broker_tls_cert, broker_tls_key, broker_token, broker_user, broker_password, heartbeat_timeout, test_runner, zmq_receiver, external_process_timeout, max_rate, capacity_precision, capacity_rest, quiet, no_color, abort_on_fail, discard_bodies, insecure, http2, find_capacity, output, threshold, ca, dashboard, include_file`,
      "config file 'x.ini': 'users' (line 10) needs a single value",
    ],
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

test('--status-interval: 10 s by default, decimals allowed, the file below the command line', () => {
  assert.equal(validateOptions('m.C.t', {}, {}, OUTPUTS).statusIntervalMs, 10_000);
  assert.equal(
    validateOptions('m.C.t', { statusInterval: '0.2' }, {}, OUTPUTS).statusIntervalMs,
    200,
  );
  const config = parseConfig('[loads]\nstatus_interval = 30\n', 'x.ini');
  assert.equal(validateOptions('m.C.t', {}, config, OUTPUTS).statusIntervalMs, 30_000);
  assert.equal(
    validateOptions('m.C.t', { statusInterval: '5' }, config, OUTPUTS).statusIntervalMs,
    5000,
  );
});

test('--status-interval that is not a positive number is a usage error', () => {
  for (const text of ['0', '-1', 'abc', '']) {
    assert.throws(
      () => validateOptions('m.C.t', { statusInterval: text }, {}, OUTPUTS),
      (err: unknown) => {
        assert.ok(err instanceof UsageErrors);
        assert.equal(err.errors.length, 1);
        assert.match(
          err.errors[0]!.message,
          /^--status-interval '.*' is not a number of seconds > 0/,
        );
        return true;
      },
      text,
    );
  }
});

test('CI is set when the variable is non-empty and not false or 0', () => {
  assert.equal(isCI({}), false);
  assert.equal(isCI({ CI: '' }), false);
  assert.equal(isCI({ CI: 'false' }), false);
  assert.equal(isCI({ CI: 'FALSE' }), false);
  assert.equal(isCI({ CI: '0' }), false);
  assert.equal(isCI({ CI: 'true' }), true);
  assert.equal(isCI({ CI: '1' }), true);
  assert.equal(isCI({ CI: 'woodpecker' }), true);
});

test('--rate, --max-users and --ramp-up convert to numbers and milliseconds', () => {
  const options = validateOptions(
    'm.C.t',
    { rate: '50:100:0.5', duration: '10', maxUsers: '20', rampUp: '2.5' },
    {},
    OUTPUTS,
  );
  assert.deepEqual(options.rate, [50, 100, 0.5]);
  assert.equal(options.maxUsers, 20);
  assert.equal(options.rampUpMs, 2500);
  assert.equal(options.durationMs, 10_000);
  assert.equal(options.hits, null);
  assert.deepEqual(options.users, [20], 'the pool bound stands for the users');
});

test('--rate defaults to 1000 max users; the closed model has no rate and no ramp-up', () => {
  const rate = validateOptions('m.C.t', { rate: '5', duration: '1' }, {}, OUTPUTS);
  assert.equal(rate.maxUsers, 1000);
  assert.equal(rate.rampUpMs, 0);
  const closed = validateOptions('m.C.t', { users: '3', rampUp: '1' }, {}, OUTPUTS);
  assert.equal(closed.rate, null);
  assert.equal(closed.maxUsers, null);
  assert.equal(closed.rampUpMs, 1000);
});

test('rate, max_users and ramp_up come from the config file; the command line wins', () => {
  const config = parseConfig(
    '[loads]\nrate = 10:20\nmax_users = 7\nramp-up = 1\nduration = 5\n',
    'x.ini',
  );
  const fromFile = validateOptions('a.B.c', {}, config, OUTPUTS);
  assert.deepEqual(fromFile.rate, [10, 20]);
  assert.equal(fromFile.maxUsers, 7);
  assert.equal(fromFile.rampUpMs, 1000);
  // -u on the command line wins over rate in the file (then max_users does not apply).
  const closed = validateOptions(
    'a.B.c',
    { users: '3' },
    parseConfig('[loads]\nrate = 10\nduration = 5\n', 'x.ini'),
    OUTPUTS,
  );
  assert.equal(closed.rate, null);
  assert.deepEqual(closed.users, [3]);
  // A file written for the open model still runs closed from the command line, max_users and all.
  const rateFile = parseConfig('[loads]\nrate = 20\nmax_users = 50\nduration = 5\n', 'x.ini');
  const fromCli = validateOptions('a.B.c', { users: '2' }, rateFile, OUTPUTS);
  assert.deepEqual([fromCli.rate, fromCli.maxUsers, fromCli.users], [null, null, [2]]);
  const withHits = validateOptions(
    'a.B.c',
    { hits: '3' },
    parseConfig('[loads]\nrate = 20\n', 'x.ini'),
    OUTPUTS,
  );
  assert.deepEqual([withHits.rate, withHits.hits], [null, [3]]);
});

for (const [raw, pattern] of [
  [
    { rate: '10', duration: '5', users: '3' },
    /^--rate and --users cannot be used together; .*--max-users/,
  ],
  [{ rate: '10', hits: '3' }, /^--rate and --hits cannot be used together/],
  [{ rate: '10' }, /^--rate needs --duration/],
  [{ rate: '0', duration: '5' }, /^--rate '0' is not a cycle of runs per second > 0/],
  [{ rate: '10:-5', duration: '5' }, /^--rate '10:-5' is not/],
  [{ rate: 'fast', duration: '5' }, /^--rate 'fast' is not/],
  [{ rate: '10', duration: '5', maxUsers: '0' }, /^--max-users '0' is not a whole number ≥ 1/],
  [{ rate: '10', duration: '5', maxUsers: '2.5' }, /^--max-users '2.5' is not/],
  [{ users: '3', maxUsers: '5' }, /^--max-users only applies with --rate/],
  [{ duration: '5', rampUp: '-1' }, /^--ramp-up '-1' is not a number of seconds ≥ 0/],
  [{ duration: '5', rampUp: '5' }, /^--ramp-up 5 is not shorter than --duration 5/],
  [{ rate: '10', duration: '2', rampUp: '3' }, /^--ramp-up 3 is not shorter than --duration 2/],
] as const) {
  test(`usage error: ${JSON.stringify(raw)}`, () => {
    assert.throws(
      () => validateOptions('m.C.t', raw, {}, OUTPUTS),
      (err: unknown) => {
        assert.ok(err instanceof UsageErrors);
        assert.equal(err.errors.length, 1, err.errors.map((e) => e.message).join('\n'));
        assert.match(err.errors[0]!.message, pattern);
        return true;
      },
    );
  });
}

test('config: repeated threshold and output lines all count; another repeated key is an error', () => {
  const config = parseConfig(
    '[loads]\nthreshold = p95<1s\nthreshold = errors<1%\nthreshold[] = rps>5\noutput = json\noutput = file\n',
    'x.ini',
  );
  assert.deepEqual(config.threshold, ['p95<1s', 'errors<1%', 'rps>5']);
  assert.deepEqual(config.output, ['json', 'file']);
  assert.deepEqual(
    validateOptions('m.C.t', {}, config, OUTPUTS).thresholds.map((t) => t.expression),
    ['p95<1s', 'errors<1%', 'rps>5'],
  );
  assert.deepEqual(configProblems('[loads]\nusers = 3\nhits = 2\nusers = 4\n'), [
    "config file 'x.ini': 'users' is set twice in [loads] (lines 2 and 4); keep one",
  ]);
  // Other sections are not ours: repeated keys there are left to the ini package.
  assert.deepEqual(parseConfig('[other]\nusers = 1\nusers = 2\n[loads]\nusers = 3\n', 'x.ini'), {
    users: '3',
  });
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
