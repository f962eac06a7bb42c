// The published artifact: `npm pack`, install the tarball into a fresh
// project, write a TypeScript test as SPEC §3 shows, type-check it against
// the packed .d.ts and run it with `npx loads-runner` (SPEC §1). The pack
// runs its real lifecycle (prepack builds dist/ and strips `prepare` from
// the packed package.json, postpack restores it) in a copy of the sources,
// so that the tests running dist/ meanwhile never see a half-built one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cp, mkdtemp, readFile, rm, symlink, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/tmp-project.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';
import { summaryNumber } from '../helpers/summary.ts';
import { createTestPki, TLS_SKIP } from '../helpers/tls.ts';

const run = promisify(execFile);
let dir: string;
let example: ExampleServer;
/** The user project the packed package was installed into (by the first test). */
let project: string | undefined;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loads-runner-pack-'));
  example = await startExampleServer();
});

after(async () => {
  await example.close();
  await rm(dir, { recursive: true, force: true });
});

test('the packed package installs and runs a TypeScript test', { timeout: 240_000 }, async () => {
  const sources = path.join(dir, 'sources');
  for (const entry of [
    'package.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'README.md',
    'LICENSE',
    'src',
    'bin',
    'scripts',
  ]) {
    await cp(path.join(REPO_ROOT, entry), path.join(sources, entry), { recursive: true });
  }
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(sources, 'node_modules'), 'dir');
  const manifest = await readFile(path.join(sources, 'package.json'), 'utf8');
  assert.match(manifest, /"prepare": "npm run build"/, 'a clone builds dist/ on npm install');
  await run('npm', ['pack', '--pack-destination', dir], { cwd: sources, timeout: 120_000 });
  assert.equal(
    await readFile(path.join(sources, 'package.json'), 'utf8'),
    manifest,
    'postpack put package.json back as it was',
  );
  const tarball = (await readdir(dir)).find((name) => name.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack made a tarball');
  project = path.join(dir, 'user-project');
  await run('mkdir', ['-p', project]);
  await writeFile(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'user-project', private: true, type: 'module' }),
  );
  const installed = await run(
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
  // The packed package.json has no prepare script for npm to warn about or run.
  const packed = JSON.parse(
    await readFile(path.join(project, 'node_modules', 'loads-runner', 'package.json'), 'utf8'),
  ) as { scripts?: Record<string, string>; files: string[] };
  assert.equal(packed.scripts?.['prepare'], undefined);
  assert.doesNotMatch(installed.stdout + installed.stderr, /loads-runner@[^\n]*prepare/);
  assert.match(
    await readFile(path.join(project, 'node_modules', 'loads-runner', 'LICENSE'), 'utf8'),
    /Apache License\s+Version 2\.0/,
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
    [
      '--no-install',
      'loads-runner',
      'example.TestWebSite.test_es',
      '-u',
      '3',
      '--hits',
      '4',
      '-o',
      'html',
    ],
    { cwd: project, timeout: 60_000 },
  );
  assert.equal(summaryNumber(stdout, 'Hits'), 12);
  assert.equal(summaryNumber(stdout, 'Success'), 12);
  // The report's page script and uPlot are found from the installed package.
  const report = await readFile(path.join(project, 'loads-report.html'), 'utf8');
  assert.match(report, /var uPlot=function\(\)/);
  assert.match(report, /window\.loadsReport = \{/);
});

test(
  'from the packed package: HTTPS with --ca, HTTP/2, a gzip body and named requests',
  { skip: TLS_SKIP, timeout: 60_000 },
  async () => {
    assert.ok(project, 'the package was installed by the test before');
    const pki = createTestPki();
    const h2site = await startExampleServer(0, {
      key: pki.serverKey,
      cert: pki.serverCert,
      http2: true,
    });
    try {
      await writeFile(
        path.join(project, 'secure.ts'),
        `import { TestCase } from 'loads-runner';

export class TestSecure extends TestCase {
  async test_items(): Promise<void> {
    const items = await this.app.get('/gzip', { params: { n: 2 } });
    this.assertEqual((items.json() as unknown[]).length, 2);
    const id = this.loadsStatus.currentUser * 100 + this.loadsStatus.currentHit;
    await this.app.get(\`/item/\${id}\`, { name: '/item/:id', status: 404 });
  }
}
`,
      );
      const args = ['--no-install', 'loads-runner', 'secure.TestSecure.test_items', '-u', '2'];
      const jsonPath = path.join(dir, 'secure.json');
      const { stdout } = await run(
        'npx',
        [
          ...args,
          '--hits',
          '3',
          '--server-url',
          h2site.url,
          '--ca',
          pki.caCertPath,
          '--http2',
          '-o',
          'json',
          '--output-json-filename',
          jsonPath,
        ],
        { cwd: project, timeout: 60_000 },
      );
      assert.equal(summaryNumber(stdout, 'Success'), 6);
      const summary = JSON.parse(await readFile(jsonPath, 'utf8')) as {
        hits: number;
        protocols: Record<string, number>;
        urls: { key: string; hits: number }[];
      };
      assert.equal(summary.hits, 12);
      assert.deepEqual(summary.protocols, { h2: 12 });
      assert.deepEqual(summary.urls.map((u) => [u.key, u.hits]).sort(), [
        ['GET /item/:id', 6],
        [`GET ${h2site.url}/gzip`, 6],
      ]);
      // Without --ca the same run is refused, and the summary names the options.
      const refused = await run('npx', [...args, '--server-url', h2site.url], {
        cwd: project,
        timeout: 60_000,
      }).then(
        () => assert.fail('expected exit status 1'),
        (err: { code: number; stdout: string }) => err,
      );
      assert.equal(refused.code, 1);
      assert.match(refused.stdout, /pass --ca FILE .* or --insecure/);
    } finally {
      await h2site.close();
      pki.remove();
    }
  },
);
