// A closed stdout or stderr (`loads-runner --help | head -1`, a log reader
// that went away): the CLI exits quietly with its own status, no EPIPE stack
// and no "internal error", and a run still writes its file outputs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { CLI_PATH } from '../helpers/cli.ts';
import { createTmpProject, REPO_ROOT, type TmpProject } from '../helpers/tmp-project.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';

const run = promisify(execFile);
const EXAMPLES = path.join(REPO_ROOT, 'examples');
let example: ExampleServer;
let project: TmpProject;

before(async () => {
  example = await startExampleServer();
  project = await createTmpProject();
});

after(async () => {
  await example.close();
  await project.remove();
});

/** Runs the CLI with stdout (and maybe stderr) closed by the reader before it writes anything. */
function runClosed(
  args: readonly string[],
  close: { stderr: boolean },
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    cwd: EXAMPLES,
    env: { ...process.env, CI: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.destroy();
  let stderr = '';
  if (close.stderr) {
    child.stderr.destroy();
  } else {
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`loads-runner ${args.join(' ')} did not exit; stderr:\n${stderr}`));
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test('--help | head -1: the first line, exit 0, nothing on stderr', async () => {
  const { stdout, stderr } = await run(
    'bash',
    ['-c', `set -o pipefail; '${process.execPath}' '${CLI_PATH}' --help | head -1`],
    { timeout: 30_000 },
  );
  assert.equal(stdout, 'Usage: loads-runner [options] [fqn]\n');
  assert.equal(stderr, '');
});

test('--help to a closed stdout: exit 0, no EPIPE on stderr', async () => {
  const { code, stderr } = await runClosed(['--help'], { stderr: false });
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '');
});

test('a run whose stdout is closed ends normally and writes its file outputs', async () => {
  const events = path.join(project.dir, 'closed-stdout.jsonl');
  const { code, stderr } = await runClosed(
    [
      'example.TestWebSite.test_api',
      '-u',
      '2',
      '--hits',
      '3',
      '--server-url',
      example.url,
      '-o',
      'file',
      '--output-file-filename',
      events,
    ],
    { stderr: false },
  );
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /internal error|EPIPE|^\s+at /m);
  assert.match(stderr, /^\[loads\] .* 100% runs 6\/6 hits 12 /m, 'stderr still works');
  assert.equal((await readFile(events, 'utf8')).match(/"type":"hit"/g)?.length, 12);
});

test('a run whose stdout and stderr are closed still exits with its status and writes its files', async () => {
  const events = path.join(project.dir, 'closed-both.jsonl');
  const { code } = await runClosed(
    [
      'example.TestWebSite.test_api',
      '-u',
      '2',
      '--hits',
      '3',
      '--server-url',
      example.url,
      '-o',
      'json',
      '-o',
      'file',
      '--output-file-filename',
      events,
    ],
    { stderr: true },
  );
  assert.equal(code, 0);
  assert.equal((await readFile(events, 'utf8')).match(/"type":"hit"/g)?.length, 12);
});
