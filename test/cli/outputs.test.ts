// Output selection end to end (SPEC §8): the text summary stays on stdout
// beside the other outputs unless --quiet, -o null, or json written to
// stdout; then stdout holds the JSON document alone (pipeable into jq), and
// a text summary asked for as well goes to stderr. The status line on
// stderr shows whatever the outputs, except with --quiet.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { runCli } from '../helpers/cli.ts';
import { createTmpProject, REPO_ROOT, type TmpProject } from '../helpers/tmp-project.ts';
import { summaryNumber } from '../helpers/summary.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';

const EXAMPLES = path.join(REPO_ROOT, 'examples');
let example: ExampleServer;
let project: TmpProject;
let load: string[];

before(async () => {
  example = await startExampleServer();
  project = await createTmpProject();
  load = ['example.TestWebSite.test_api', '-u', '2', '--hits', '3', '--server-url', example.url];
});

after(async () => {
  await example.close();
  await project.remove();
});

/** The final status line: 6 runs of test_api, 2 hits each. */
const FINAL_STATUS = /^\[loads\] \S+ 100% runs 6\/6 hits 12 avg rps \d+ errors 0 failures 0$/m;

test('-o json to a file: the text summary on stdout and the status line on stderr', async () => {
  const file = path.join(project.dir, 'to-file.json');
  const result = await runCli([...load, '-o', 'json', '--output-json-filename', file], {
    cwd: EXAMPLES,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Hits'), 12);
  assert.match(result.stderr, FINAL_STATUS);
  assert.equal((JSON.parse(await readFile(file, 'utf8')) as { hits: number }).hits, 12);
});

test('-o json: stdout is the JSON document alone', async () => {
  const result = await runCli([...load, '-o', 'json'], { cwd: EXAMPLES });
  assert.equal(result.code, 0, result.stderr);
  assert.equal((JSON.parse(result.stdout) as { hits: number }).hits, 12);
  assert.match(result.stderr, FINAL_STATUS);
  assert.doesNotMatch(result.stderr, /^Hits:/m);
});

test('-o json -o stdout: the JSON alone on stdout, the text summary on stderr', async () => {
  const result = await runCli([...load, '-o', 'json', '-o', 'stdout'], { cwd: EXAMPLES });
  assert.equal(result.code, 0, result.stderr);
  assert.equal((JSON.parse(result.stdout) as { hits: number }).hits, 12);
  assert.equal(summaryNumber(result.stderr, 'Hits'), 12);
  assert.equal(summaryNumber(result.stderr, 'Success'), 6);
});

test('output = json in the config file behaves as -o json', async () => {
  const config = await project.write('json.ini', '[loads]\noutput = json\n');
  const result = await runCli([...load, '--config', config], { cwd: EXAMPLES });
  assert.equal(result.code, 0, result.stderr);
  assert.equal((JSON.parse(result.stdout) as { hits: number }).hits, 12);
  const both = await project.write('both.ini', '[loads]\noutput = json\noutput = stdout\n');
  const fromBoth = await runCli([...load, '--config', both], { cwd: EXAMPLES });
  assert.equal((JSON.parse(fromBoth.stdout) as { hits: number }).hits, 12);
  assert.equal(summaryNumber(fromBoth.stderr, 'Hits'), 12);
});

test('-o junit or -o file: the text summary still on stdout', async () => {
  const junit = path.join(project.dir, 'junit.xml');
  const events = path.join(project.dir, 'events.jsonl');
  const result = await runCli(
    [
      ...load,
      '-o',
      'junit',
      '-o',
      'file',
      '--output-junit-filename',
      junit,
      '--output-file-filename',
      events,
    ],
    { cwd: EXAMPLES },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Hits'), 12);
  assert.match(await readFile(junit, 'utf8'), /<testsuites /);
  assert.equal((await readFile(events, 'utf8')).match(/"type":"hit"/g)?.length, 12);
});

test('-o null: nothing on stdout, the status line still on stderr; --quiet: nothing at all', async () => {
  const none = await runCli([...load, '-o', 'null'], { cwd: EXAMPLES });
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stdout, '');
  assert.match(none.stderr, FINAL_STATUS);
  const events = path.join(project.dir, 'quiet.jsonl');
  const quiet = await runCli([...load, '--quiet', '-o', 'file', '--output-file-filename', events], {
    cwd: EXAMPLES,
  });
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stdout, '');
  assert.equal(quiet.stderr, '');
  assert.equal((await readFile(events, 'utf8')).match(/"type":"hit"/g)?.length, 12);
});

test('-o null -o stdout: a usage error, one line', async () => {
  const result = await runCli([...load, '-o', 'null', '-o', 'stdout'], { cwd: EXAMPLES });
  assert.equal(result.code, 2);
  assert.equal(result.stdout, '');
  assert.equal(
    result.stderr,
    'loads-runner: --output null turns the text summary off and --output stdout asks for it; drop one\n',
  );
});
