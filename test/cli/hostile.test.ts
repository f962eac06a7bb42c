// End to end against servers that misbehave (issue 8 §1–§3): one that never
// answers, one that drip-feeds its body, an endless chunked body, one that
// resets, a WebSocket peer that never finishes the close. The runner must
// count them and stay bounded: in time (each spawn's own timeout is the
// bound), in connections, in what it records after a run has ended.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { runCli } from '../helpers/cli.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';
import {
  startHttpServer,
  startMuteWsServer,
  type TestMuteWsServer,
  type TestServer,
} from '../helpers/servers.ts';
import { summaryNumber } from '../helpers/summary.ts';
import type { Summary } from '../../src/metrics/summary.ts';

const CHUNK = Buffer.alloc(64 * 1024, 'x');

let server: TestServer;
let mute: TestMuteWsServer;
let project: TmpProject;
/** Connections open now, the most open at once, and made, since reset(). */
let open = 0;
let peak = 0;
let made = 0;
function resetConnections(): void {
  peak = open;
  made = 0;
}

before(async () => {
  server = await startHttpServer((req, res) => {
    const socket = req.socket as Socket & { counted?: boolean };
    if (socket.counted !== true) {
      socket.counted = true;
      made++;
      open++;
      peak = Math.max(peak, open);
      socket.on('close', () => open--);
    }
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname) {
      case '/never':
        return;
      case '/drip': {
        res.writeHead(200, { 'content-length': '50' });
        let sent = 0;
        const timer = setInterval(() => {
          res.write('x');
          if (++sent === 50) {
            clearInterval(timer);
            res.end();
          }
        }, 100);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case '/endless': {
        res.writeHead(200);
        const pump = (): void => {
          while (res.write(CHUNK)) {
            // until the socket pushes back
          }
        };
        res.on('drain', pump);
        res.on('close', () => res.off('drain', pump));
        pump();
        return;
      }
      case '/reset':
        res.writeHead(200, { 'content-length': '1000' });
        res.write('partial');
        setImmediate(() => req.socket.destroy());
        return;
      default:
        res.end('ok');
    }
  });
  mute = await startMuteWsServer();
  project = await createTmpProject();
  await project.write(
    'hostile.ts',
    `import { TestCase } from 'loads-runner';
const base = '${server.url}';
export class Hostile extends TestCase {
  async test_never() { await this.session.get(base + '/never', { timeout: 0 }); }
  async test_never_default() { await this.session.get(base + '/never'); }
  async test_drip() { const res = await this.session.get(base + '/drip'); this.assertEqual(res.status, 200); }
  async test_endless() { await this.session.get(base + '/endless', { timeout: 0 }); }
  async test_endless_deadline() { await this.session.get(base + '/endless'); }
  async test_reset() { await this.session.get(base + '/reset'); }
  async test_mute_ws() {
    const ws = await this.createWs('${mute.url}');
    await ws.close();
  }
}
`,
  );
});

after(async () => {
  await server.close();
  await mute.close();
  await project.remove();
});

async function jsonSummary(file: string): Promise<Summary> {
  return JSON.parse(await readFile(file, 'utf8')) as Summary;
}

/** Runs `test` with `args`, the summary on stdout and in a json file; returns both. */
async function run(
  name: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string; json: Summary }> {
  const file = path.join(project.dir, `${name}-${Math.random().toString(36).slice(2)}.json`);
  const result = await runCli(
    [
      `hostile.Hostile.${name}`,
      ...args,
      '-o',
      'stdout',
      '-o',
      'json',
      '--output-json-filename',
      file,
    ],
    { cwd: project.dir, timeoutMs },
  );
  return { ...result, json: await jsonSummary(file) };
}

test('--test-timeout ends a run whose request never gets an answer (timeout: 0), counting the request once', async () => {
  // The spawn's own timeout is the bound: before, this run never ended.
  const result = await run('test_never', ['-u', '1', '--hits', '2', '--test-timeout', '2'], 20_000);
  assert.equal(result.code, 1, result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Hits'), 2);
  assert.equal(summaryNumber(result.stdout, 'Errors'), 2);
  assert.deepEqual(result.json.hitErrorKeys, { TEST_TIMEOUT: 2 });
  assert.match(result.stdout, /TestTimeoutError: test run exceeded --test-timeout of 2 s/);
});

test('timed-out runs do not pile up connections: each user has at most the one it is closing and the one it opens', async () => {
  resetConnections();
  const result = await run(
    'test_never_default',
    ['-u', '5', '--hits', '3', '--test-timeout', '0.5', '--timeout', '20', '--workers', '1'],
    30_000,
  );
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.json.hits, 15);
  assert.deepEqual(result.json.hitErrorKeys, { TEST_TIMEOUT: 15 });
  assert.equal(made, 15, 'one connection per run');
  assert.ok(peak <= 10, `${peak} connections open at once (before: 15)`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(open, 0, 'none left open after the run');
});

test('--test-timeout bounds runs in duration mode with workers, and in the open model', async () => {
  const duration = await run(
    'test_never',
    ['-u', '2', '-d', '1', '--test-timeout', '1', '--workers', '2'],
    20_000,
  );
  assert.equal(duration.code, 1, duration.stderr);
  assert.ok(duration.json.errors >= 2, `errors ${duration.json.errors}`);
  assert.equal(duration.json.successes + duration.json.failures, 0);
  assert.deepEqual(Object.keys(duration.json.hitErrorKeys), ['TEST_TIMEOUT']);
  assert.equal(duration.json.topErrors[0]!.name, 'TestTimeoutError');

  const rate = await run(
    'test_never',
    ['--rate', '4', '-d', '1', '--max-users', '10', '--test-timeout', '1'],
    20_000,
  );
  assert.equal(rate.code, 1, rate.stderr);
  assert.equal(rate.json.errors + rate.json.dropped, 4);
  assert.equal(rate.json.hitErrorKeys['TEST_TIMEOUT'], rate.json.hits);
});

test('--timeout is a deadline for the whole body: a drip-fed body fails with REQUEST_TIMEOUT', async () => {
  const result = await run('test_drip', ['--timeout', '1'], 20_000);
  assert.equal(result.code, 1, result.stderr);
  assert.deepEqual(result.json.hitErrorKeys, { REQUEST_TIMEOUT: 1 });
  assert.match(result.stdout, /no complete response within the 1 s timeout \(reading the body/);
  // Each gap is 100 ms and the whole 5 s: only a whole-request deadline stops it at 1 s.
  assert.ok(result.json.serviceTime.max < 3, `max ${result.json.serviceTime.max} s`);
});

test('an endless body ends at --max-body-size, or at the deadline when bodies are discarded', async () => {
  const limited = await run('test_endless', ['--max-body-size', '2MB', '--hits', '2'], 20_000);
  assert.equal(limited.code, 1, limited.stderr);
  assert.deepEqual(limited.json.hitErrorKeys, { BODY_TOO_LARGE: 2 });
  assert.match(limited.stdout, /over --max-body-size \(2 MiB\)/);

  const discarded = await run(
    'test_endless_deadline',
    ['--discard-bodies', '--timeout', '1'],
    20_000,
  );
  assert.equal(discarded.code, 1, discarded.stderr);
  assert.deepEqual(discarded.json.hitErrorKeys, { REQUEST_TIMEOUT: 1 });
});

test('a server that resets mid-body is a counted error, not a crash', async () => {
  const result = await run('test_reset', ['-u', '2', '--hits', '3'], 20_000);
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.json.hits, 6);
  assert.equal(result.json.errors, 6);
  assert.equal(result.json.hitErrors, 6);
  assert.doesNotMatch(result.stderr, /internal error/);
});

test('closing a WebSocket whose peer never answers the close waits --timeout, not 30 s', async () => {
  const started = Date.now();
  const result = await run('test_mute_ws', ['-u', '2', '--timeout', '1'], 20_000);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(result.json.socketsOpened, 2);
  assert.ok(Date.now() - started < 15_000);
});

test('--max-body-size and --discard-bodies: bad values are usage errors, and the INI file takes both', async () => {
  const bad = await runCli(['hostile.Hostile.test_drip', '--max-body-size', 'lots'], {
    cwd: project.dir,
  });
  assert.equal(bad.code, 2);
  assert.equal(
    bad.stderr,
    "loads-runner: --max-body-size 'lots' is not a size of at least 1 byte; use e.g. --max-body-size 64MB, 500k or 1048576\n",
  );
  const config = await project.write(
    'limits.ini',
    '[loads]\nfqn = hostile.Hostile.test_endless\nmax_body_size = 1MB\n',
  );
  const fromFile = await runCli(['--config', config], { cwd: project.dir, timeoutMs: 20_000 });
  assert.equal(fromFile.code, 1, fromFile.stderr);
  assert.match(fromFile.stdout, /BODY_TOO_LARGE: 1/);
  assert.match(fromFile.stdout, /over --max-body-size \(1 MiB\)/);
});
