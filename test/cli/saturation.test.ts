// End to end (issue #3 §4): a test method that burns CPU saturates the load
// generator and the summary says so; a test that only waits does not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';
import { summaryNumber, CONTROL_CHARS } from '../helpers/summary.ts';

const WARNING =
  /^Warning: the load generator was saturated \(.+\): latencies include its own delay$/m;

let project: TmpProject;

before(async () => {
  project = await createTmpProject();
  await project.write(
    'load.ts',
    `import { TestCase } from 'loads-runner';
import { setTimeout as sleep } from 'node:timers/promises';
export class TestLoad extends TestCase {
  // ~60 ms of synchronous work per test run: the generator's loop cannot keep up.
  async test_burn() {
    const until = performance.now() + 60;
    while (performance.now() < until) {}
  }
  // Waits without using the CPU.
  async test_wait() {
    await sleep(100);
  }
}
`,
  );
});

after(async () => {
  await project.remove();
});

test('the saturation warning appears when a test burns CPU', async () => {
  const result = await runCli(['load.TestLoad.test_burn', '-u', '2', '--hits', '5'], {
    cwd: project.dir,
  });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Success'), 10);
  assert.match(result.stdout, /^Warning: the load generator was saturated/m);
  assert.match(result.stdout, WARNING);
  // The SPEC §6 labels are untouched and the warning sits before the percentiles.
  assert.match(result.stdout, /^Failures: 0\n\nWarning: the load generator was saturated/m);
  assert.doesNotMatch(result.stdout + result.stderr, CONTROL_CHARS);
});

test('a light test that only waits keeps the generator idle', async () => {
  const result = await runCli(
    [
      'load.TestLoad.test_wait',
      '-u',
      '1',
      '--hits',
      '3',
      '-o',
      'stdout',
      '-o',
      'json',
      '--output-json-filename',
      'light.json',
    ],
    { cwd: project.dir },
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(summaryNumber(result.stdout, 'Success'), 3);
  // Utilization is the robust half of the check: a shared CI machine can
  // deschedule the process long enough to show event-loop delay by itself.
  const summary = JSON.parse(await readFile(path.join(project.dir, 'light.json'), 'utf8')) as {
    generator: { threads: { thread: string; utilization: number }[] };
  };
  const main = summary.generator.threads.find((sample) => sample.thread === 'main');
  assert.ok(main !== undefined);
  assert.ok(main.utilization < 0.5, `main busy ${main.utilization}`);
  assert.doesNotMatch(result.stdout, /busy \d+% of the time/);
});

test('the json output carries the generator figures of every thread', async () => {
  const result = await runCli(
    [
      'load.TestLoad.test_burn',
      '-u',
      '2',
      '--hits',
      '5',
      '--output',
      'json',
      '--output-json-filename',
      'summary.json',
      '--quiet',
    ],
    { cwd: project.dir },
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const text = await readFile(path.join(project.dir, 'summary.json'), 'utf8');
  const summary = JSON.parse(text) as {
    generator: {
      saturated: boolean;
      reason: string;
      threads: { thread: string; utilization: number }[];
    } | null;
  };
  assert.ok(summary.generator !== null, 'the CLI passes the generator load to the summary');
  assert.equal(summary.generator.saturated, true);
  assert.notEqual(summary.generator.reason, '');
  assert.ok(summary.generator.threads.length >= 1, 'one sample per monitored thread');
});
