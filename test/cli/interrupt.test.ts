// Ctrl-C (SPEC §7): the first SIGINT stops the load, still prints the
// summary and completes every output; the second exits at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { startCli, waitForOutput } from '../helpers/cli.ts';
import { createTmpProject, REPO_ROOT, type TmpProject } from '../helpers/tmp-project.ts';
import { summaryNumber } from '../helpers/summary.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';

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

test('SIGINT prints the summary of what ran and flushes the file outputs', async () => {
  const events = path.join(project.dir, 'events.jsonl');
  const funkload = path.join(project.dir, 'funkload.xml');
  const { child, result } = startCli(
    [
      'example.TestWebSite.test_es',
      '-u',
      '3',
      '-d',
      '60',
      '--server-url',
      example.url,
      '-o',
      'stdout',
      '-o',
      'file',
      '-o',
      'funkload',
      '--output-file-filename',
      events,
      '--output-funkload-filename',
      funkload,
    ],
    { cwd: path.join(REPO_ROOT, 'examples') },
  );
  // The first plain status line comes after a few seconds of load.
  await waitForOutput(child, /hits \d+/i);
  const sentAt = Date.now();
  child.kill('SIGINT');
  const { code, stdout, stderr } = await result;
  assert.ok(Date.now() - sentAt < 5000, 'stops at once');
  assert.equal(code, 0, stderr);
  const hits = summaryNumber(stdout, 'Hits');
  assert.ok(hits > 0);
  assert.match(stdout, /Interrupted/);
  const lines = (await readFile(events, 'utf8')).trimEnd().split('\n');
  const hitLines = lines
    .map((line) => JSON.parse(line) as { type: string })
    .filter((e) => e.type === 'hit');
  assert.equal(hitLines.length, hits, 'every hit in the summary is in the file');
  const xml = await readFile(funkload, 'utf8');
  assert.equal(xml.match(/<response /g)?.length, hits);
  assert.match(xml.trimEnd(), /<\/funkload>$/);
});
