import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { BufferedFile } from '../../src/outputs/buffered-file.ts';
import { FileOutput } from '../../src/outputs/file.ts';
import { FunkloadOutput } from '../../src/outputs/funkload.ts';
import type { OutputContext } from '../../src/outputs/output.ts';
import { numberedHit } from '../helpers/events.ts';

const hasMkfifo = ((): boolean => {
  try {
    execFileSync('mkfifo', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Line i, long enough that a few thousand pass the 1 MiB flush threshold. */
function line(i: number): string {
  return `{"n":${i},"pad":"${'x'.repeat(400)}","é":"ü"}\n`;
}

function lines(from: number, to: number): string {
  let text = '';
  for (let i = from; i < to; i++) {
    text += line(i);
  }
  return text;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function context(options: Record<string, string>): OutputContext {
  return { projectName: 'p', fqn: 'm.C.t', write: () => {}, options, color: false, quiet: false };
}

describe('BufferedFile.flushSync', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loads-buffered-file-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('when an asynchronous write is in flight then the file holds every line once, in order', async () => {
    // 3000 lines pass the 1 MiB threshold: the next turn starts an
    // asynchronous write, which flushSync overtakes (or follows) at once.
    for (let round = 0; round < 20; round++) {
      const file = path.join(dir, `inflight-${round}.jsonl`);
      const buffered = new BufferedFile(file, 'file', 60_000);
      buffered.open();
      buffered.append(lines(0, 3000));
      await nextTurn();
      buffered.append(lines(3000, 3100));
      buffered.flushSync();
      const expected = lines(0, 3100);
      assert.equal(readFileSync(file, 'utf8'), expected, `round ${round}, right after flushSync`);
      await buffered.close();
      assert.equal(readFileSync(file, 'utf8'), expected, `round ${round}, after the late write`);
    }
  });

  it('when lines come after flushSync then close writes them after the others', async () => {
    const file = path.join(dir, 'after.jsonl');
    const buffered = new BufferedFile(file, 'file', 60_000);
    buffered.open();
    buffered.flushSync();
    assert.equal(readFileSync(file, 'utf8'), '', 'nothing buffered, nothing written');
    buffered.append(lines(0, 10));
    buffered.flushSync();
    buffered.append(lines(10, 3000));
    await nextTurn();
    buffered.append(lines(3000, 3010));
    await buffered.close();
    assert.equal(readFileSync(file, 'utf8'), lines(0, 3010));
  });

  it(
    'when the target is a FIFO then every line arrives in order',
    { skip: !hasMkfifo },
    async () => {
      const fifo = path.join(dir, 'events.fifo');
      execFileSync('mkfifo', [fifo]);
      let received = '';
      const reader = createReadStream(fifo, { encoding: 'utf8' });
      reader.on('data', (chunk) => (received += chunk as string));
      const ended = new Promise<void>((resolve) => reader.on('end', () => resolve()));
      // The reader's open (in the thread pool) must be under way, or opening the
      // FIFO for writing would block this thread for good.
      await nextTurn();
      const buffered = new BufferedFile(fifo, 'file', 5);
      buffered.open();
      buffered.append(lines(0, 50));
      await new Promise((resolve) => setTimeout(resolve, 20));
      buffered.append(lines(50, 100));
      buffered.flushSync();
      buffered.append(lines(100, 120));
      await buffered.close();
      await ended;
      assert.equal(received, lines(0, 120));
    },
  );
});

describe('onExitNow', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loads-exit-now-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('when the file output exits now then every event so far is a line of the file', () => {
    const file = path.join(dir, 'events.jsonl');
    const output = new FileOutput(context({ output_file_filename: file }), 60_000);
    output.onRunStart();
    for (let i = 0; i < 500; i++) {
      output.onEvent(numberedHit(i));
    }
    output.onExitNow();
    const written = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(written.length, 500);
    assert.deepEqual(JSON.parse(written[499]!), numberedHit(499));
  });

  it('when the funkload output exits now then the report is closed and well formed', () => {
    const file = path.join(dir, 'funkload.xml');
    const output = new FunkloadOutput(context({ output_funkload_filename: file }), 60_000);
    output.onRunStart({
      startedAt: 0,
      fqn: 'm.C.t',
      projectName: 'p',
      version: '0.1.0',
      users: [1],
      hits: [1],
      durationMs: null,
      rate: null,
      maxUsers: null,
      rampUpMs: 0,
      workers: 1,
    });
    for (let i = 0; i < 20; i++) {
      output.onEvent(numberedHit(i));
    }
    output.onExitNow();
    const xml = readFileSync(file, 'utf8');
    assert.equal(XMLValidator.validate(xml), true);
    assert.equal(xml.match(/<response /g)?.length, 20);
    assert.match(xml, /<\/funkload>\n$/);
  });
});
