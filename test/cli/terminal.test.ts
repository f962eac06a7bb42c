// On a terminal (SPEC §5): a progress bar and colour; never colour with
// NO_COLOR or --no-color. The terminal is a real pseudo-terminal from
// util-linux `script`, so the CLI sees isTTY as a user's shell gives it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { CLI_PATH } from '../helpers/cli.ts';
import { REPO_ROOT } from '../helpers/tmp-project.ts';
import { isColorAllowed, createTerminal } from '../../src/cli/console.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';

const run = promisify(execFile);
// SGR colour sequences such as ESC[36m; cursor movement is not colour.
// eslint-disable-next-line no-control-regex -- matching escapes is the point
const COLOUR = /\x1b\[(3\d|9\d|1|2)(;\d+)*m/;
const hasScript = ((): boolean => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

let example: ExampleServer;
before(async () => {
  example = await startExampleServer();
});
after(async () => {
  await example.close();
});

async function runInTerminal(args: string[], env: Record<string, string> = {}): Promise<string> {
  const command = [process.execPath, CLI_PATH, ...args].map((a) => `'${a}'`).join(' ');
  const { stdout } = await run('script', ['-qec', command, '/dev/null'], {
    cwd: path.join(REPO_ROOT, 'examples'),
    // CI set (as on a CI runner) would swap the bar for status lines.
    env: { ...process.env, NO_COLOR: '', FORCE_COLOR: '', TERM: 'xterm-256color', CI: '', ...env },
    timeout: 60_000,
  });
  return stdout;
}

const LOAD = ['example.TestWebSite.test_es', '-u', '2', '-d', '1'];

test('on a terminal: a progress bar with percent and colour', { skip: !hasScript }, async () => {
  const out = await runInTerminal([...LOAD, '--server-url', example.url]);
  assert.match(out, /100%/);
  assert.match(out, /hits \d+/);
  assert.match(out, COLOUR);
  assert.match(out, /^Hits: \d+\r?$/m);
});

test('NO_COLOR and --no-color turn colour off on a terminal', { skip: !hasScript }, async () => {
  const noColorEnv = await runInTerminal([...LOAD, '--server-url', example.url], { NO_COLOR: '1' });
  assert.match(noColorEnv, /^Hits: \d+\r?$/m);
  assert.doesNotMatch(noColorEnv, COLOUR);
  const noColorFlag = await runInTerminal([...LOAD, '--server-url', example.url, '--no-color']);
  assert.match(noColorFlag, /^Hits: \d+\r?$/m);
  assert.doesNotMatch(noColorFlag, COLOUR);
});

test('colour needs a terminal and no NO_COLOR, --no-color or TERM=dumb', () => {
  assert.equal(isColorAllowed({}, false), true);
  assert.equal(isColorAllowed({ NO_COLOR: '1' }, false), false);
  assert.equal(isColorAllowed({ NO_COLOR: '' }, false), true);
  assert.equal(isColorAllowed({}, true), false);
  assert.equal(isColorAllowed({ TERM: 'dumb' }, false), false);
  const tty = { isTTY: true, write: () => true } as unknown as NodeJS.WriteStream;
  const pipe = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;
  const terminal = createTerminal(pipe, tty, true);
  assert.equal(terminal.stdoutColor, false);
  assert.equal(terminal.stderrColor, true);
  assert.equal(createTerminal(tty, tty, false).stdoutColor, false);
  // The bar needs stdout and stderr on a terminal, and no CI.
  assert.equal(createTerminal(tty, tty, true).progressBar, true);
  assert.equal(terminal.progressBar, false, 'stdout piped: plain status lines');
  assert.equal(createTerminal(tty, tty, true, true).progressBar, false);
  assert.equal(createTerminal(tty, pipe, true).progressBar, false);
});
