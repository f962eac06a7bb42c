// The published artifact: `npm pack`, install the tarball into a fresh
// project, write a TypeScript test as SPEC §3 shows, type-check it against
// the packed .d.ts and run it with `npx loads-runner` (SPEC §1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/tmp-project.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';
import { summaryNumber } from '../helpers/summary.ts';

const run = promisify(execFile);
let dir: string;
let example: ExampleServer;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loads-runner-pack-'));
  example = await startExampleServer();
});

after(async () => {
  await example.close();
  await rm(dir, { recursive: true, force: true });
});

test('the packed package installs and runs a TypeScript test', { timeout: 240_000 }, async () => {
  // dist/ is built by `npm test`'s pretest; skip prepare to save a rebuild.
  await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: REPO_ROOT });
  const tarball = (await readdir(dir)).find((name) => name.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack made a tarball');
  const project = path.join(dir, 'user-project');
  await run('mkdir', ['-p', project]);
  await writeFile(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'user-project', private: true, type: 'module' }),
  );
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--save-dev',
      path.join(dir, tarball),
    ],
    { cwd: project, timeout: 180_000 },
  );
  await writeFile(
    path.join(project, 'example.ts'),
    `import { TestCase } from 'loads-runner';

export class TestWebSite extends TestCase {
  serverUrl = '${example.url}';

  async test_es(): Promise<void> {
    const res = await this.session.get('${example.url}');
    this.assertEqual(res.status, 200);
    this.incrCounter('es');
  }
}
`,
  );
  // The user's code type-checks against the packed declarations.
  await writeFile(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        noEmit: true,
        skipLibCheck: false,
        typeRoots: [path.join(REPO_ROOT, 'node_modules', '@types')],
        types: ['node'],
      },
      files: ['example.ts'],
    }),
  );
  await run(process.execPath, [
    path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    project,
  ]);

  const { stdout } = await run(
    'npx',
    ['--no-install', 'loads-runner', 'example.TestWebSite.test_es', '-u', '3', '--hits', '4'],
    { cwd: project, timeout: 60_000 },
  );
  assert.equal(summaryNumber(stdout, 'Hits'), 12);
  assert.equal(summaryNumber(stdout, 'Success'), 12);
});
