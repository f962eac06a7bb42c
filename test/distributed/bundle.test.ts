// Shipping the test (issue 11 §2): a test module with a local helper, a
// CommonJS and an ES npm package that exist only in its project, and a data
// file, bundled on the "runner" side, the project then deleted, and the
// bundle materialized in a folder with no node_modules of its own and run
// for real by the built CLI against the example server, as an agent will.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, stat, truncate } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  bundleTest,
  checkBundleVersion,
  filesOnlyBundle,
  LOADS_RUNNER_ROOT,
  materializeBundle,
  type MaterializedBundle,
  type TestBundle,
} from '../../src/distributed/bundle.ts';
import {
  MAX_INCLUDED_BYTES,
  resolveIncludeFiles,
  type IncludedFile,
} from '../../src/distributed/include-files.ts';
import { decodeBundle, encodeBundle } from '../../src/distributed/protocol.ts';
import {
  BundleError,
  ExitCode,
  FqnError,
  UsageError,
  VersionMismatchError,
} from '../../src/errors.ts';
import { loadTest } from '../../src/runner/loader.ts';
import { isTestCaseClass } from '../../src/runner/test-case.ts';
import { runCli } from '../helpers/cli.ts';
import { summaryNumber } from '../helpers/summary.ts';
import { createTmpProject, REPO_ROOT, type TmpProject } from '../helpers/tmp-project.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';

const VERSION = '0.1.0-test';
const IMPORT = "import { TestCase } from 'loads-runner';";

// The line of `throw` in tests/load.ts below: the stack must name it.
const FAIL_LINE = 21;
const TEST_MODULE = `${IMPORT}
import { readFileSync } from 'node:fs';
import { greet } from 'cjs-greeting';
import { itemsPath } from 'esm-paths';
import { expectedStatus } from '../lib/expect.ts';

// Relative to this module: data/users.csv beside tests/, on any agent.
const users = readFileSync(new URL('../data/users.csv', import.meta.url), 'utf8')
  .trim()
  .split('\\n');

export class TestShipped extends TestCase {
  async test_page(): Promise<void> {
    const res = await this.app.get(itemsPath(2));
    this.assertEqual(res.status, expectedStatus());
    this.assertEqual(greet('agent'), 'hello, agent');
    for (const _user of users) this.incrCounter('users');
  }
  async test_fail(): Promise<void> {
    await Promise.resolve();
    throw new Error('shipped failure');
  }
}
`;

let example: ExampleServer;
let agentTmp: string;
let bundle: TestBundle;
let included: IncludedFile[];
let run: MaterializedBundle;

/** A project holding `files` besides its node_modules/loads-runner link. */
async function projectWith(files: Record<string, string>): Promise<TmpProject> {
  const project = await createTmpProject('loads-bundle-test-');
  await project.write('package.json', '{ "type": "module" }\n');
  for (const [name, content] of Object.entries(files)) {
    await project.write(name, content);
  }
  return project;
}

/** Runs `action`, expecting it to throw `type` with a one-line message matching `pattern`. */
async function assertOneLine(
  action: () => Promise<unknown> | unknown,
  type: new (...args: never[]) => Error,
  pattern: RegExp,
): Promise<Error> {
  let caught: unknown;
  try {
    await action();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof type, `expected a ${type.name}, got ${String(caught)}`);
  assert.doesNotMatch(caught.message, /\n/, 'one line');
  assert.match(caught.message, pattern);
  return caught;
}

before(async () => {
  example = await startExampleServer();
  const project = await projectWith({
    // A top-level `require` of the user's own must not clash with the banner's.
    'lib/expect.ts': [
      "import { createRequire } from 'node:module';",
      'const require = createRequire(import.meta.url);',
      'export function expectedStatus(): number {',
      "  return require('node:http').STATUS_CODES[200] === 'OK' ? 200 : 0;",
      '}',
      '',
    ].join('\n'),
    'tests/load.ts': TEST_MODULE,
    'data/users.csv': 'ann\nbob\ncid\n',
    // CommonJS, with a require of its own: needs the createRequire banner.
    'node_modules/cjs-greeting/package.json': '{ "name": "cjs-greeting", "main": "index.js" }\n',
    'node_modules/cjs-greeting/index.js':
      "const { format } = require('node:util');\nexports.greet = (name) => format('hello, %s', name);\n",
    'node_modules/esm-paths/package.json':
      '{ "name": "esm-paths", "type": "module", "exports": "./index.js" }\n',
    'node_modules/esm-paths/index.js': 'export const itemsPath = (n) => `/api/items?n=${n}`;\n',
  });
  try {
    await chmod(path.join(project.dir, 'data/users.csv'), 0o640);
    bundle = await bundleTest({
      fqn: 'tests.load.TestShipped',
      cwd: project.dir,
      version: VERSION,
    });
    included = await resolveIncludeFiles(['data/*.csv'], project.dir);
  } finally {
    // Nothing of the project is left for the run to lean on.
    await project.remove();
  }
  agentTmp = await mkdtemp(path.join(tmpdir(), 'loads-agent-tmp-'));
  run = await materializeBundle(bundle, included, {
    loadsRunnerRoot: LOADS_RUNNER_ROOT,
    tmpDir: agentTmp,
  });
});

after(async () => {
  await run?.remove();
  await rm(agentTmp, { recursive: true, force: true });
  await example?.close();
});

describe('bundleTest and materializeBundle', () => {
  it('when a dotted name is bundled then the bundle sits where the module did, named by the file form', () => {
    assert.equal(bundle.fileName, 'tests/load.bundle.mjs');
    assert.equal(bundle.fqnInBundle, 'tests/load.bundle.mjs:TestShipped');
    assert.equal(bundle.loadsRunnerVersion, VERSION);
    assert.equal(bundle.bytes, Buffer.byteLength(bundle.code));
    assert.match(bundle.sha256, /^[0-9a-f]{64}$/);
    assert.match(bundle.code, /from ['"]loads-runner['"]/, 'loads-runner stays external');
    assert.match(bundle.code, /sourceMappingURL=data:application\/json;base64,/);
    assert.deepEqual(
      included.map((file) => [file.path, Buffer.from(file.bytes).toString(), file.mode]),
      [['data/users.csv', 'ann\nbob\ncid\n', 0o640]],
    );
  });

  it('when materialized then the folder is private and holds the bundle, the data and only the loads-runner link', async () => {
    assert.equal(path.dirname(run.dir), agentTmp);
    assert.equal((await stat(run.dir)).mode & 0o777, 0o700);
    assert.equal(run.fqn, bundle.fqnInBundle);
    assert.equal(await readFile(path.join(run.dir, 'tests/load.bundle.mjs'), 'utf8'), bundle.code);
    assert.equal(await readFile(path.join(run.dir, 'data/users.csv'), 'utf8'), 'ann\nbob\ncid\n');
    assert.equal((await stat(path.join(run.dir, 'data/users.csv'))).mode & 0o777, 0o640);
    assert.deepEqual(await readdir(path.join(run.dir, 'node_modules')), ['loads-runner']);
  });

  it('when the built CLI runs the bundle from the run folder then the counts are exact and the data file was read', async () => {
    const result = await runCli(
      [`${run.fqn}.test_page`, '-u', '2', '--hits', '3', '--server-url', example.url],
      { cwd: run.dir },
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(summaryNumber(result.stdout, 'Hits'), 6);
    assert.equal(summaryNumber(result.stdout, 'Success'), 6);
    // 2 users × 3 hits × 3 lines of data/users.csv.
    assert.match(result.stdout, /users\D+18\b/);
  });

  it('when a bundled test fails then its stack names the original source file and line', async () => {
    const result = await runCli(
      [`${bundle.fileName}:TestShipped.test_fail`, '-u', '2', '--hits', '1', '--workers', '2'],
      { cwd: run.dir, env: { NODE_OPTIONS: '--enable-source-maps' } },
    );
    assert.equal(result.code, ExitCode.RUN_FAILED, result.stdout + result.stderr);
    assert.match(result.stdout, /shipped failure/);
    assert.match(result.stdout, new RegExp(`tests/load\\.ts:${FAIL_LINE}:\\d+`));
    assert.doesNotMatch(result.stdout, /load\.bundle\.mjs:\d+/);
  });

  it('when the loader runs from a source checkout then the bundle loads against the same package', async () => {
    assert.equal(LOADS_RUNNER_ROOT, REPO_ROOT);
    const built = (await import(
      pathToFileURL(path.join(REPO_ROOT, 'dist/distributed/bundle.js')).href
    )) as { LOADS_RUNNER_ROOT: string };
    assert.equal(built.LOADS_RUNNER_ROOT, REPO_ROOT, 'dist/ names the same root');
    const loaded = await loadTest(run.fqn, run.dir);
    assert.ok(isTestCaseClass(loaded.testClass));
    assert.deepEqual(loaded.methods, ['test_page', 'test_fail']);
  });

  it('when removed then the run folder is gone and the agent package it linked to is not', async () => {
    const other = await materializeBundle(bundle, [], {
      loadsRunnerRoot: LOADS_RUNNER_ROOT,
      tmpDir: agentTmp,
    });
    await other.remove();
    assert.equal(existsSync(other.dir), false);
    assert.equal(existsSync(path.join(REPO_ROOT, 'package.json')), true);
  });
});

describe('bundle errors, one line each', () => {
  let project: TmpProject;
  before(async () => {
    project = await projectWith({
      'unresolved.ts': `${IMPORT}\nimport { x } from './nope.ts';\nexport class T extends TestCase { test_a() { return x; } }\n`,
      'no-package.ts': `${IMPORT}\nimport leftPad from 'left-pad-not-installed';\nexport class T extends TestCase { test_a() { return leftPad; } }\n`,
      'broken.ts': `${IMPORT}\nexport class T extends TestCase {\n  test_a() { return 1 +; }\n}\n`,
    });
  });
  after(() => project.remove());

  it('when a local import does not resolve then BundleError names the module, the import and its place', async () => {
    const err = await assertOneLine(
      () => bundleTest({ fqn: 'unresolved.T', cwd: project.dir, version: VERSION }),
      BundleError,
      /^cannot bundle the test module \.\/unresolved\.ts: unresolved\.ts:2:18: Could not resolve "\.\/nope\.ts"; check the import path$/,
    );
    assert.equal((err as BundleError).exitCode, ExitCode.USAGE);
  });

  it('when an npm package is not installed on the runner then the fix says to install it', async () => {
    await assertOneLine(
      () => bundleTest({ fqn: 'no-package.T', cwd: project.dir, version: VERSION }),
      BundleError,
      /: no-package\.ts:2:\d+: Could not resolve "left-pad-not-installed"; install it where the test is: npm install left-pad-not-installed \(in /,
    );
  });

  it('when the module has a syntax error then the message names its file and line', async () => {
    await assertOneLine(
      () => bundleTest({ fqn: 'broken.T', cwd: project.dir, version: VERSION }),
      BundleError,
      /^cannot bundle the test module \.\/broken\.ts: broken\.ts:3:\d+: Unexpected ";"; fix the error in broken\.ts$/,
    );
  });

  it('when the name resolves to no module then the loader’s FqnError comes through', async () => {
    await assertOneLine(
      () => bundleTest({ fqn: 'missing.T', cwd: project.dir, version: VERSION }),
      FqnError,
      /^no such module 'missing'/,
    );
  });
});

describe('resolveIncludeFiles refusals', () => {
  let project: TmpProject;
  before(async () => {
    project = await projectWith({ 'data/a.csv': 'a\n', 'data/sub/b.txt': 'b\n' });
  });
  after(() => project.remove());

  it('when globs overlap then each file comes once, relative, sorted', async () => {
    const files = await resolveIncludeFiles(['data/**', 'data/a.csv', 'data'], project.dir);
    assert.deepEqual(
      files.map((file) => file.path),
      ['data/a.csv', 'data/sub/b.txt'],
    );
  });

  it('when a glob leaves cwd then UsageError names it', async () => {
    for (const glob of ['../x', 'data/../../x/*', path.join(tmpdir(), '*')]) {
      await assertOneLine(
        () => resolveIncludeFiles([glob], project.dir),
        UsageError,
        new RegExp(`^--include-file '${glob.replace(/[.*]/g, '\\$&')}' reaches outside `),
      );
    }
  });

  it('when a glob matches nothing then UsageError names it', async () => {
    await assertOneLine(
      () => resolveIncludeFiles(['data/a.csv', 'data/*.json'], project.dir),
      UsageError,
      /^--include-file 'data\/\*\.json' matches no file in /,
    );
  });

  it('when the files weigh more than the bound then UsageError says so before reading them', async () => {
    const big = path.join(project.dir, 'big/huge.bin');
    await project.write('big/huge.bin', '');
    await truncate(big, MAX_INCLUDED_BYTES + 1); // sparse: nothing is really written
    await assertOneLine(
      () => resolveIncludeFiles(['big/*'], project.dir),
      UsageError,
      /^--include-file matches 1 files of 64 MiB in all; at most 64 MiB are shipped to agents: narrow the globs$/,
    );
  });
});

describe('materializeBundle and checkBundleVersion refusals', () => {
  const root = { loadsRunnerRoot: LOADS_RUNNER_ROOT };
  const file = (name: string): IncludedFile => ({
    path: name,
    bytes: new TextEncoder().encode('x'),
    mode: 0o644,
  });

  async function assertRefused(action: () => Promise<unknown>, pattern: RegExp): Promise<void> {
    const before = await readdir(agentTmp);
    await assertOneLine(action, BundleError, pattern);
    assert.deepEqual(await readdir(agentTmp), before, 'nothing left behind');
  }

  it('when an included file name leaves the folder then it is refused and nothing is written', async () => {
    for (const name of ['../evil.txt', 'data/../../evil.txt', '/etc/evil', 'a\\..\\b', '']) {
      await assertRefused(
        () => materializeBundle(bundle, [file(name)], { ...root, tmpDir: agentTmp }),
        /^refusing an included file named '.*': a name must be a relative path inside the run folder$/,
      );
    }
    await assertRefused(
      () =>
        materializeBundle({ ...bundle, fileName: '../x.mjs' }, [], { ...root, tmpDir: agentTmp }),
      /^refusing the test bundle named '\.\.\/x\.mjs'/,
    );
    await assertRefused(
      () =>
        materializeBundle(bundle, [file('node_modules/loads-runner/package.json')], {
          ...root,
          tmpDir: agentTmp,
        }),
      /would replace the agent's own loads-runner/,
    );
  });

  it('when the code does not match its SHA-256 then it is refused', async () => {
    await assertRefused(
      () =>
        materializeBundle({ ...bundle, code: `${bundle.code} ` }, [], {
          ...root,
          tmpDir: agentTmp,
        }),
      /^the test bundle tests\/load\.bundle\.mjs arrived damaged: \d+ bytes with SHA-256 [0-9a-f]{12}…, sent as \d+ bytes with [0-9a-f]{12}…; run it again$/,
    );
  });

  it('when the package root is not loads-runner then it is refused', async () => {
    await assertRefused(
      () => materializeBundle(bundle, [], { loadsRunnerRoot: agentTmp, tmpDir: agentTmp }),
      /is not the loads-runner package/,
    );
  });

  it('when a files-only bundle (an external test) is materialized then the folder holds the included files at their paths and nothing else', async () => {
    const external = filesOnlyBundle({ fqn: 'test_site.TestSite', version: VERSION });
    const script = {
      path: 'scripts/run.sh',
      bytes: new TextEncoder().encode('#!/bin/sh\n'),
      mode: 0o755,
    };
    const decoded = decodeBundle(encodeBundle(external, [script, file('test_site.py')]));
    const made = await materializeBundle(decoded.bundle, decoded.files, {
      ...root,
      tmpDir: agentTmp,
    });
    try {
      assert.equal(made.fqn, 'test_site.TestSite');
      assert.deepEqual((await readdir(made.dir, { recursive: true })).sort(), [
        'scripts',
        'scripts/run.sh',
        'test_site.py',
      ]);
      assert.equal((await stat(path.join(made.dir, 'scripts/run.sh'))).mode & 0o777, 0o755);
    } finally {
      await made.remove();
    }
    assert.doesNotThrow(() => checkBundleVersion(external, VERSION));
    assert.throws(() => checkBundleVersion(external, '0.0.1'), VersionMismatchError);
    await assertRefused(
      () =>
        materializeBundle({ ...external, code: 'export {}', bytes: 9 }, [], {
          ...root,
          tmpDir: agentTmp,
        }),
      /^the test bundle has 9 bytes of code but no file name; run it again$/,
    );
    await assertRefused(
      () => materializeBundle(external, [file('../evil.txt')], { ...root, tmpDir: agentTmp }),
      /^refusing an included file named '\.\.\/evil\.txt'/,
    );
  });

  it('when versions differ then VersionMismatchError names both', async () => {
    assert.doesNotThrow(() => checkBundleVersion(bundle, VERSION));
    const err = await assertOneLine(
      () => checkBundleVersion({ ...bundle, loadsRunnerVersion: '0.2.0' }, '0.1.0'),
      VersionMismatchError,
      /^the runner's loads-runner 0\.2\.0 sent this test; this agent runs 0\.1\.0: install the same version on both$/,
    );
    assert.equal((err as VersionMismatchError).exitCode, ExitCode.USAGE);
  });
});
