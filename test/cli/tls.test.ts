// End to end: --insecure, --ca, --cert/--key and --http2 (and their INI
// keys) as a user runs them, against the example server over HTTPS and
// HTTP/2 with a CA made for the test (SPEC §3.1, §7, §8).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { runCli } from '../helpers/cli.ts';
import { createTmpProject, REPO_ROOT } from '../helpers/tmp-project.ts';
import { summaryNumber } from '../helpers/summary.ts';
import {
  createTestPki,
  startTlsSites,
  TLS_SKIP,
  type TestPki,
  type TlsSites,
} from '../helpers/tls.ts';
import type { ExampleServer } from '../../examples/server.ts';

const EXAMPLES = path.join(REPO_ROOT, 'examples');
let pki: TestPki;
let sites: TlsSites;
let site: ExampleServer;
let mutual: ExampleServer;
let h2site: ExampleServer;

before(async () => {
  if (TLS_SKIP !== false) {
    return;
  }
  pki = createTestPki();
  sites = await startTlsSites(pki);
  ({ site, mutual, h2site } = sites);
});

after(async () => {
  if (TLS_SKIP !== false) {
    return;
  }
  await sites.close();
  pki.remove();
});

const run = (args: string[]) => runCli(args, { cwd: EXAMPLES });

test(
  'a self-signed CA is refused by default: counted TLS errors, one row across 2 workers, the fix named',
  { skip: TLS_SKIP },
  async () => {
    const result = await run([
      'secure.TestSecureSite.test_page',
      '-u',
      '4',
      '--hits',
      '3',
      '--workers',
      '2',
      '--server-url',
      site.url,
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(summaryNumber(result.stdout, 'Errors'), 12);
    assert.match(result.stdout, /^ {2}TLS: 12$/m);
    // The same error from both threads is one row of the errors table.
    const rows = result.stdout.match(/^ {2}\d+x HttpRequestError: .*$/gm) ?? [];
    assert.equal(rows.length, 1, rows.join('\n'));
    assert.match(rows[0]!, /^ {2}12x .*pass --ca FILE .* or --insecure/);
  },
);

test('--insecure, --ca and the INI keys accept it; wss:// too', { skip: TLS_SKIP }, async () => {
  for (const args of [['--insecure'], ['--ca', pki.caCertPath]]) {
    const result = await run([
      'secure.TestSecureSite',
      '-u',
      '2',
      '--hits',
      '2',
      '--server-url',
      site.url,
      ...args,
    ]);
    assert.equal(result.code, 0, `${args.join(' ')}\n${result.stdout}${result.stderr}`);
    assert.equal(summaryNumber(result.stdout, 'Success'), 12);
    assert.equal(summaryNumber(result.stdout, 'Opened web sockets'), 4);
  }
  const config = path.join(pki.dir, 'loads.ini');
  await writeFile(config, `[loads]\nca = ${pki.caCertPath}\nhttp2 = true\n`);
  const result = await run([
    'secure.TestSecureSite.test_page',
    '--server-url',
    h2site.url,
    '--config',
    config,
    '-o',
    'json',
    '--output-json-filename',
    path.join(pki.dir, 'ini.json'),
  ]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const json = JSON.parse(await readFile(path.join(pki.dir, 'ini.json'), 'utf8')) as {
    protocols: Record<string, number>;
  };
  assert.deepEqual(json.protocols, { h2: 1 });
});

test(
  'mutual TLS: accepted with --cert/--key, refused without with the options named',
  { skip: TLS_SKIP },
  async () => {
    const base = [
      'secure.TestSecureSite.test_page',
      '--server-url',
      mutual.url,
      '--ca',
      pki.caCertPath,
    ];
    const accepted = await run([...base, '--cert', pki.clientCertPath, '--key', pki.clientKeyPath]);
    assert.equal(accepted.code, 0, accepted.stdout + accepted.stderr);
    const refused = await run(base);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /pass --cert FILE --key FILE/);
  },
);

test(
  '--http2: hits are h2, parallel requests share one connection per user, json counts protocols',
  { skip: TLS_SKIP },
  async () => {
    const before = h2site.connections;
    const jsonPath = path.join(pki.dir, 'h2.json');
    const result = await run([
      'secure.TestSecureSite.test_parallel',
      '-u',
      '3',
      '--hits',
      '4',
      '--workers',
      '1',
      '--http2',
      '--ca',
      pki.caCertPath,
      '--server-url',
      h2site.url,
      '-o',
      'json',
      '--output-json-filename',
      jsonPath,
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(summaryNumber(result.stdout, 'Hits'), 36);
    assert.match(result.stdout, /HTTP\/2\.0: 12/);
    // One protocol used: no per-protocol section in the text summary.
    assert.doesNotMatch(result.stdout, /Hits per protocol/);
    assert.equal(h2site.connections - before, 3, 'one h2 session per user');
    const json = JSON.parse(await readFile(jsonPath, 'utf8')) as {
      protocols: Record<string, number>;
    };
    assert.deepEqual(json.protocols, { h2: 36 });
  },
);

test(
  '--http2 against an HTTP/1.1-only server falls back; both protocols are shown when both were used',
  { skip: TLS_SKIP },
  async () => {
    const result = await run([
      'secure.TestSecureSite.test_parallel',
      '--http2',
      '--ca',
      pki.caCertPath,
      '--server-url',
      site.url,
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /HTTP\/1\.1: 1/);

    // A test that calls both servers: one h2 origin, one h1 origin.
    const project = await createTmpProject();
    const file = await project.write(
      'mixed.ts',
      `import { TestCase } from 'loads-runner';
export class TestMixed extends TestCase {
  async test_both() {
    this.assertEqual((await this.session.get(${JSON.stringify(`${h2site.url}/protocol`)})).text, '2.0');
    this.assertEqual((await this.session.get(${JSON.stringify(`${site.url}/protocol`)})).text, '1.1');
  }
}
`,
    );
    const mixed = await runCli(
      [`${file}:TestMixed.test_both`, '--hits', '3', '--http2', '--ca', pki.caCertPath],
      { cwd: project.dir },
    );
    await project.remove();
    assert.equal(mixed.code, 0, mixed.stdout + mixed.stderr);
    assert.match(mixed.stdout, /^Hits per protocol\n {2}h1: 3\n {2}h2: 3$/m);
  },
);

test(
  'bad TLS options are usage errors before any load: exit 2, one line each, no stack',
  { skip: TLS_SKIP },
  async () => {
    const notPem = path.join(pki.dir, 'not.pem');
    await writeFile(notPem, 'hello\n');
    const result = await run([
      'secure.TestSecureSite.test_page',
      '--server-url',
      site.url,
      '--ca',
      path.join(pki.dir, 'missing.crt'),
      '--ca',
      notPem,
      '--cert',
      pki.clientCertPath,
    ]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /--ca '.*missing\.crt': cannot read it \(ENOENT\); check the path/);
    assert.match(result.stderr, /--ca '.*not\.pem' is not a PEM file with a CERTIFICATE block/);
    assert.match(result.stderr, /--cert needs --key/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);

    const mismatched = await run([
      'secure.TestSecureSite.test_page',
      '--server-url',
      site.url,
      '--cert',
      pki.clientCertPath,
      '--key',
      path.join(pki.dir, 'server.key'),
    ]);
    assert.equal(mismatched.code, 2);
    assert.match(
      mismatched.stderr,
      /^loads-runner: --ca\/--cert\/--key: Node cannot use these files \(key values mismatch\): --key is not the private key of --cert$/m,
    );
  },
);
