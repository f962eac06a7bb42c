// Bad input: every case exits 2 with one line on stderr, no stack trace, and
// sends nothing (SPEC §2, §7).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { createTmpProject, REPO_ROOT, type TmpProject } from '../helpers/tmp-project.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';

let project: TmpProject;
let server: TestServer;

before(async () => {
  server = await startHttpServer((_req, res) => res.end('ok'));
  project = await createTmpProject();
  await project.write(
    'mod.ts',
    `import { TestCase } from 'loads-runner';
export class TestSite extends TestCase {
  async test_get() { await this.session.get('${server.url}/'); }
}
export class NotATest { test_x() {} }
`,
  );
});

after(async () => {
  await project.remove();
  await server.close();
});

function assertUsageError(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 2, `exit status; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^loads-runner: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

test('--version prints the package version', async () => {
  const pkg = JSON.parse(readFileSync(`${REPO_ROOT}/package.json`, 'utf8')) as { version: string };
  const result = await runCli(['--version']);
  assert.equal(result.code, 0);
  assert.equal(result.stdout.trim(), pkg.version);
});

test('--help lists the options and exits 0', async () => {
  const result = await runCli(['--help']);
  assert.equal(result.code, 0);
  for (const option of [
    '--users',
    '--hits',
    '--duration',
    '--rate',
    '--max-users',
    '--ramp-up',
    '--server-url',
    '--output',
    '--config',
  ]) {
    assert.ok(result.stdout.includes(option), `help mentions ${option}`);
  }
});

test('an unknown option', async () => {
  assertUsageError(
    await runCli(['mod.TestSite.test_get', '--bogus'], { cwd: project.dir }),
    /unknown option '--bogus'/,
  );
});

test('a bad cycle', async () => {
  assertUsageError(
    await runCli(['mod.TestSite.test_get', '-u', '10:x'], { cwd: project.dir }),
    /--users '10:x' is not a cycle/,
  );
  assertUsageError(
    await runCli(['mod.TestSite.test_get', '--hits', '0'], { cwd: project.dir }),
    /--hits '0'/,
  );
});

test('--hits with --duration', async () => {
  assertUsageError(
    await runCli(['mod.TestSite.test_get', '--hits', '5', '-d', '3'], { cwd: project.dir }),
    /--hits and --duration cannot be used together; pick one/,
  );
});

test('several problems: one line each', async () => {
  const result = await runCli(['mod.TestSite.test_get', '-u', 'x', '--timeout', '-1s'], {
    cwd: project.dir,
  });
  assert.equal(result.code, 2);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, result.stderr);
  assert.match(lines[0]!, /--users 'x'/);
  assert.match(lines[1]!, /--timeout '-1s'/);
});

test('no test named', async () => {
  assertUsageError(await runCli([], { cwd: project.dir }), /missing the test to run/);
});

test('an unknown output', async () => {
  assertUsageError(
    await runCli(['mod.TestSite.test_get', '--output', 'xml'], { cwd: project.dir }),
    /unknown output 'xml'; choose from: .*stdout/,
  );
});

test('a --status-interval that is not a positive number', async () => {
  assertUsageError(
    await runCli(['mod.TestSite.test_get', '--status-interval', '0'], { cwd: project.dir }),
    /--status-interval '0' is not a number of seconds > 0/,
  );
});

test('a bad --server-url', async () => {
  assertUsageError(
    await runCli(['mod.TestSite.test_get', '--server-url', 'localhost'], { cwd: project.dir }),
    /--server-url 'localhost'/,
  );
});

test('FQN errors name the part that failed, and nothing is sent', async () => {
  assertUsageError(
    await runCli(['nosuch.TestSite.test_get'], { cwd: project.dir }),
    /nosuch.*nosuch\.ts.*nosuch\.mjs/,
  );
  assertUsageError(
    await runCli(['mod.TestSight.test_get'], { cwd: project.dir }),
    /TestSight.*did you mean TestSite/,
  );
  assertUsageError(
    await runCli(['mod.NotATest.test_x'], { cwd: project.dir }),
    /NotATest.*TestCase/,
  );
  assertUsageError(await runCli(['mod.TestSite.test_gett'], { cwd: project.dir }), /test_gett/);
  assertUsageError(await runCli(['mod.ts:TestSite.nope'], { cwd: project.dir }), /nope/);
  assert.equal(server.requests, 0);
});

test('config errors', async () => {
  assertUsageError(
    await runCli(['--config', 'missing.ini'], { cwd: project.dir }),
    /cannot read config file 'missing.ini'/,
  );
  await project.write('bad.ini', '[loads]\nfqn = mod.TestSite.test_get\nuserz = 3\n');
  assertUsageError(
    await runCli(['--config', 'bad.ini'], { cwd: project.dir }),
    /unknown key 'userz'/,
  );
  await project.write(
    'typos.ini',
    '[loads]\nfqn = mod.TestSite.test_get\nuser = 3\nabort_on_fail = sure\nhits = 2\nhits = 4\n',
  );
  const typos = await runCli(['--config', 'typos.ini'], { cwd: project.dir });
  assert.equal(typos.code, 2, typos.stderr);
  assert.equal(typos.stdout, '');
  assert.deepEqual(typos.stderr.trimEnd().split('\n'), [
    "loads-runner: config file 'typos.ini': 'hits' is set twice in [loads] (lines 5 and 6); keep one",
    "loads-runner: config file 'typos.ini': unknown key 'user' in [loads] (line 3); did you mean 'users'?",
    "loads-runner: config file 'typos.ini': 'abort_on_fail' (line 4) must be true or false, not 'sure'",
  ]);
  await project.write('nosection.ini', 'fqn = mod.TestSite.test_get\n');
  assertUsageError(
    await runCli(['--config', 'nosection.ini'], { cwd: project.dir }),
    /no \[loads\] section/,
  );
  assert.equal(server.requests, 0);
});

// A .js ES module in a CommonJS project: the CLI runs without tsx's hooks
// for .js files, so this is Node's own behaviour (on Node ≥ 20.19 a
// package.json without "type" lets Node detect ESM, after a warning).
test('a .js ES module in a "type": "commonjs" folder: one line with the fix, exit 2', async () => {
  const cjs = await createTmpProject();
  try {
    await cjs.write('package.json', '{ "name": "legacy", "type": "commonjs" }\n');
    await cjs.write(
      'load.js',
      `import { TestCase } from 'loads-runner';
export class TestSite extends TestCase {
  async test_get() { await this.session.get('${server.url}/'); }
}
`,
    );
    assertUsageError(
      await runCli(['load.TestSite.test_get'], { cwd: cjs.dir }),
      /^loads-runner: module load failed to load: SyntaxError: Cannot use import statement outside a module; it is an ES module but Node loaded it as CommonJS: add "type": "module" to \.\/package\.json, or rename it to load\.mjs$/,
    );
    assert.equal(server.requests, 0);
  } finally {
    await cjs.remove();
  }
});

/** Node detects ES module syntax in a typeless .js file by default from 20.19 and 22.7. */
const detectsModuleSyntax = ((): boolean => {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 7) || (major === 20 && minor >= 19);
})();

test(
  'a .js ES module under a package.json without "type": one warning line, also with workers',
  {
    skip: !detectsModuleSyntax,
  },
  async () => {
    const typeless = await createTmpProject();
    try {
      await typeless.write('package.json', '{ "name": "untyped" }\n');
      await typeless.write(
        'load.js',
        `import { TestCase } from 'loads-runner';
export class TestSite extends TestCase {
  async test_get() { await this.session.get('${server.url}/'); }
}
`,
      );
      const before = server.requests;
      const result = await runCli(['load.TestSite.test_get', '-u', '2', '--workers', '2'], {
        cwd: typeless.dir,
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(server.requests - before, 2);
      const lines = result.stderr.trimEnd().split('\n');
      assert.deepEqual(
        lines.filter((line) => !line.startsWith('[loads] ')),
        [
          'loads-runner: warning: ./load.js is an ES module but ./package.json has no "type": "module", so Node parses it twice; add "type": "module" there, or rename it to load.mjs',
        ],
      );
    } finally {
      await typeless.remove();
    }
  },
);
