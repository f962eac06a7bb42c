// The status line for CI logs (SPEC §5): with CI set, or stderr not a
// terminal, no bar but one short plain line every --status-interval seconds
// (default 10), and never a control character. With CI set the bar stays off
// even on a pseudo-terminal (util-linux `script`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI_PATH, runCli } from '../helpers/cli.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';
import { summaryNumber } from '../helpers/summary.ts';

const run = promisify(execFile);
const hasScript = ((): boolean => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** A periodic status line: elapsed time, percent, done, hits, rps over the interval. */
const STATUS =
  /^\[loads\] \d+:\d\d:\d\d \d+% time \d+\/\d+(?:\.\d+)?s hits \d+ rps \d+ errors \d+ failures \d+$/;
/** The last line, drawn when the run ends, with the run's average rps. */
const FINAL =
  /^\[loads\] \d+:\d\d:\d\d 100% time \d+\/\d+(?:\.\d+)?s hits \d+ avg rps \d+ errors 0 failures 0$/;

let server: TestServer;
let project: TmpProject;

before(async () => {
  server = await startHttpServer((_req, res) => res.end('ok'));
  project = await createTmpProject();
  await project.write(
    'site.ts',
    `import { TestCase } from 'loads-runner';
export class TestSite extends TestCase {
  async test_get() {
    await this.session.get('${server.url}/');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
`,
  );
});

after(async () => {
  await project.remove();
  await server.close();
});

function statusLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('[loads]'));
}

test('with CI set and --status-interval 0.2: several short plain lines, no control characters', async () => {
  const result = await runCli(
    ['site.TestSite.test_get', '-u', '1', '-d', '1.5', '--status-interval', '0.2'],
    { cwd: project.dir, env: { CI: '1' } },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.ok(!result.stderr.includes('\u001b'), 'no escape sequence');
  assert.ok(!result.stderr.includes('\r'), 'no carriage return');
  const lines = statusLines(result.stderr);
  const periodic = lines.slice(0, -1);
  assert.ok(periodic.length >= 3, `${periodic.length} periodic lines:\n${result.stderr}`);
  for (const line of periodic) {
    assert.match(line, STATUS);
    assert.ok(line.length <= 100, `short: ${line}`);
  }
  assert.match(lines.at(-1)!, FINAL);
  assert.equal(
    Number(/ hits (\d+) /.exec(lines.at(-1)!)?.[1]),
    summaryNumber(result.stdout, 'Hits'),
  );
});

test('with CI set and no --status-interval: a 1 s run prints no periodic line, only the final one', async () => {
  const result = await runCli(['site.TestSite.test_get', '-u', '1', '-d', '1'], {
    cwd: project.dir,
    env: { CI: 'true' },
  });
  assert.equal(result.code, 0, result.stderr);
  const lines = statusLines(result.stderr);
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, FINAL);
});

test('--status-interval from the config file', async () => {
  const config = await project.write('ci.ini', '[loads]\nstatus_interval = 0.2\n');
  const result = await runCli(
    ['site.TestSite.test_get', '-u', '1', '-d', '1', '--config', config],
    { cwd: project.dir, env: { CI: '1' } },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.ok(statusLines(result.stderr).length >= 3, result.stderr);
});

test(
  'with CI set on a terminal: status lines instead of the bar',
  { skip: !hasScript },
  async () => {
    const command = [
      process.execPath,
      CLI_PATH,
      'site.TestSite.test_get',
      '-u',
      '1',
      '-d',
      '1',
      '--status-interval',
      '0.2',
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    const { stdout } = await run('script', ['-qec', command, '/dev/null'], {
      cwd: project.dir,
      env: { ...process.env, CI: '1', NO_COLOR: '', TERM: 'xterm-256color' },
      timeout: 60_000,
    });
    // The pseudo-terminal turns each \n into \r\n; nothing else may move the cursor.
    const lines = stdout.split('\r\n');
    const status = lines.filter((line) => line.startsWith('[loads]'));
    assert.ok(status.length >= 3, stdout);
    for (const line of status.slice(0, -1)) {
      assert.match(line, STATUS);
    }
    assert.match(status.at(-1)!, FINAL);
    assert.doesNotMatch(stdout, /\| hits \d+ \|/, 'no bar');
    assert.ok(!stdout.replaceAll('\r\n', '\n').includes('\r'), 'no bare carriage return');
    assert.match(stdout, /^Hits: \d+\r?$/m);
  },
);
