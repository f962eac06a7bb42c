// `loads-runner report` end to end: two real runs against the example
// server saved with -o json (the first from stdout, the second to a file),
// the second made slower on purpose; the report of the two fails the
// --max-regression gate naming p95 and p99, a run against itself passes,
// and the HTML file is written. Bad documents and options: exit 2, one line.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';
import { parseMaxRegression } from '../../src/cli/report-command.ts';
import { SUMMARY_SCHEMA } from '../../src/metrics/summary.ts';

const SLOW_TEST = `import { TestCase } from 'loads-runner';

export class TestSlow extends TestCase {
  async test_slow(): Promise<void> {
    // The delay the server waits before answering, so a run can be made slower on purpose.
    const res = await this.app.get('/slow', { params: { ms: process.env['SLOW_MS'] ?? '5' } });
    this.assertEqual(res.status, 200);
  }
}
`;

const FQN = 'slow.TestSlow.test_slow';
let example: ExampleServer;
let project: TmpProject;
let first: string;
let second: string;

/** A 1-second run of two users whose every request waits `delayMs` at the server. */
function runLoad(delayMs: number, json: string[]): Promise<CliResult> {
  return runCli([FQN, '-u', '2', '-d', '1', '--server-url', example.url, '-o', 'json', ...json], {
    cwd: project.dir,
    env: { SLOW_MS: String(delayMs) },
  });
}

function report(args: string[]): Promise<CliResult> {
  return runCli(['report', ...args], { cwd: project.dir });
}

before(async () => {
  example = await startExampleServer();
  project = await createTmpProject();
  await project.write('slow.ts', SLOW_TEST);
  // The baseline from stdout (-o json alone), the slower run to a file: both are the same document.
  const fast = await runLoad(5, []);
  assert.equal(fast.code, 0, fast.stderr);
  first = await project.write('first.json', fast.stdout);
  second = path.join(project.dir, 'second.json');
  const slow = await runLoad(40, ['--output-json-filename', second]);
  assert.equal(slow.code, 0, slow.stderr);
});

after(async () => {
  await example.close();
  await project.remove();
});

describe('loads-runner report with --baseline', () => {
  it('when the run got slower than the baseline by more than --max-regression then it exits 1 naming p95 and p99', async () => {
    const result = await report([second, '--baseline', first, '--max-regression', '10%']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stdout,
      /^baseline: first\.json \(slow\.TestSlow\.test_slow, started .+\)$/m,
    );
    assert.match(result.stdout, /^current: {2}second\.json /m);
    assert.match(result.stdout, /^run +p95 +\S+s +\S+s +\+\d+\.\d% +regression$/m);
    assert.match(
      result.stdout,
      /^regression: p95 of run \S+s → \S+s \(\+\d+\.\d%\) exceeds --max-regression 10%$/m,
    );
    assert.match(
      result.stdout,
      /^regression: p99 of run \S+s → \S+s \(\+\d+\.\d%\) exceeds --max-regression 10%$/m,
    );
    assert.match(result.stdout, /^run +RPS +\S+\/s +\S+\/s +-\d+\.\d%$/m, 'fewer RPS when slower');
    assert.doesNotMatch(result.stdout, /^step 1 /m, 'one step each: the step is the run');
    assert.match(result.stdout, new RegExp(`^GET ${example.url}/slow +p95 .+regression$`, 'm'));
    assert.match(
      result.stderr,
      /^loads-runner: \d+ regressions beyond --max-regression 10%: p95 of run, p99 of run, /m,
    );
    assert.match(result.stderr, /^loads-runner: wrote loads-report\.html$/m);
  });

  it('when a run is compared with itself then nothing changed and it exits 0', async () => {
    const result = await report([first, '--baseline', first, '--max-regression', '10%']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^run +p95 +(\S+s) +\1 +0\.0%$/m);
    assert.match(
      result.stdout,
      /^regressions: none \(p95, p99 and error share within --max-regression 10%\)$/m,
    );
  });

  it('when the gate is not asked for then a slower run still exits 0 and prints the table', async () => {
    const result = await report([second, '--baseline', first, '-o', 'no-gate.html']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^run +p95 +\S+s +\S+s +\+\d+\.\d%$/m);
    assert.match(result.stdout, /^regressions: not checked \(no --max-regression\)$/m);
  });
});

describe('loads-runner report: the HTML file', () => {
  it('when -o names a file then the HTML report of the run is written there and named on stderr', async () => {
    const result = await report([second, '-o', 'out.html']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '', 'no table without --baseline');
    assert.equal(result.stderr, 'loads-runner: wrote out.html\n');
    const html = await readFile(path.join(project.dir, 'out.html'), 'utf8');
    assert.match(html, /^<!doctype html>/i);
    assert.match(html, /<\/html>\s*$/i);
    assert.ok(html.includes(FQN), 'the page names the test');
  });

  it('when -o is not given then it writes loads-report.html in the current folder', async () => {
    const folder = path.join(project.dir, 'default-output');
    await mkdir(folder);
    const result = await runCli(['report', first], { cwd: folder });
    assert.equal(result.code, 0, result.stderr);
    assert.ok((await stat(path.join(folder, 'loads-report.html'))).size > 0);
  });
});

describe('loads-runner report: bad input exits 2 with one line', () => {
  it('when a document or an option is bad then each exits 2 with its one-line reason and writes nothing', async () => {
    const notJson = await project.write('not.json', 'Hits: 1000\nStarted: 2026-11-26\n');
    const theirs = await project.write('k6.json', JSON.stringify({ metrics: {}, root_group: {} }));
    const older = await project.write(
      'older.json',
      JSON.stringify({ ...JSON.parse(await readFile(first, 'utf8')), schema: 0, version: '0.0.9' }),
    );
    await mkdir(path.join(project.dir, 'a-folder'), { recursive: true });
    const cases: [string[], RegExp][] = [
      [['missing.json'], /^loads-runner: cannot read missing\.json: no such file; /],
      [['a-folder'], /^loads-runner: cannot read a-folder: it is a directory; /],
      [[notJson], /^loads-runner: \S+not\.json is not JSON \(/],
      [
        [theirs],
        /^loads-runner: \S+k6\.json is not a loads-runner summary \(it has no "tool": "loads-runner"\); /,
      ],
      [
        [first, '--baseline', older],
        new RegExp(
          `^loads-runner: \\S+older\\.json was written by loads-runner 0\\.0\\.9 \\(summary schema 0\\); this loads-runner 0\\.1\\.0 reads schema ${SUMMARY_SCHEMA}; `,
        ),
      ],
      [[first, '--max-regression', '10%'], /^loads-runner: --max-regression needs --baseline/],
      [
        [first, '--baseline', first, '--max-regression', 'ten'],
        /^loads-runner: --max-regression 'ten' is not a percent; write it like 10%, 10 or 0\.5%$/m,
      ],
      [
        [first, '-o', 'a-folder'],
        /^loads-runner: the report output cannot write 'a-folder': it is a directory; /,
      ],
      [
        [first, '-o', 'no/such/dir/r.html'],
        /^loads-runner: the report output cannot write 'no\/such\/dir\/r\.html': the directory .+ does not exist; /,
      ],
      [
        [],
        /^loads-runner: missing required argument 'run\.json'; see loads-runner report --help$/m,
      ],
      [
        [first, '--bogus'],
        /^loads-runner: unknown option '--bogus'; see loads-runner report --help$/m,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await report(['-o', 'refused.html', ...args]);
      const what = `report ${args.join(' ')}`;
      assert.equal(result.code, 2, `${what}: ${result.stderr}`);
      assert.equal(result.stdout, '', what);
      assert.match(result.stderr, message, what);
      assert.equal(result.stderr.split('\n').length, 2, `${what}: one line, got ${result.stderr}`);
    }
    await assert.rejects(stat(path.join(project.dir, 'refused.html')), { code: 'ENOENT' });
  });

  it('when a load-run option comes before report then it is refused', async () => {
    const result = await runCli(['-u', '3', 'report', first], { cwd: project.dir });
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      'loads-runner: --users is an option of a load run, not of report; see loads-runner report --help\n',
    );
  });
});

describe('loads-runner report: help and the run command beside it', () => {
  it('when --help is asked then the program lists report and report --help its options', async () => {
    const main = await runCli(['--help']);
    assert.equal(main.code, 0);
    assert.match(main.stdout, /^Commands:\n {2}report \[options\] <run\.json> /m);
    assert.match(main.stdout, /^ {2}-u, --users <cycle> /m, 'the run options are still listed');
    const help = await runCli(['report', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: loads-runner report \[options\] <run\.json>$/m);
    for (const option of [
      '-o, --output <file>',
      '--baseline <base.json>',
      '--max-regression <percent>',
    ]) {
      assert.ok(help.stdout.includes(option), option);
    }
  });

  it('when a test name is given with options after it then the load still runs as before', async () => {
    const result = await runCli([FQN, '--server-url', example.url, '-o', 'json', '--hits', '2'], {
      cwd: project.dir,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { hits: number }).hits, 2);
  });
});

describe('parseMaxRegression', () => {
  it('when given 10%, 10, 0.5% or 0 then it is the share', () => {
    assert.equal(parseMaxRegression('10%'), 0.1);
    assert.equal(parseMaxRegression('10'), 0.1);
    assert.equal(parseMaxRegression('0.5%'), 0.005);
    assert.equal(parseMaxRegression('0'), 0);
  });

  it('when given anything else then it is a usage error', () => {
    for (const text of ['', '%', '-5%', '10%%', '1e3', '.5', 'ten', '10 %', '0x10']) {
      assert.throws(() => parseMaxRegression(text), { exitCode: 2 }, text);
    }
  });
});
