import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoadsError } from '../../src/errors.ts';
import type { HitEvent, LoadsEvent } from '../../src/metrics/events.ts';
import { FileOutput } from '../../src/outputs/file.ts';
import type { OutputContext } from '../../src/outputs/output.ts';
import { numberedHit } from '../helpers/events.ts';

function context(filename: string): OutputContext {
  return {
    projectName: 'p',
    fqn: 'm.C.t',
    write: () => {},
    options: { output_file_filename: filename },
    color: false,
    quiet: false,
  };
}

describe('FileOutput', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loads-file-output-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('when onRunEnd follows the last event at once then every event is one JSON line', async () => {
    const file = path.join(dir, 'events.jsonl');
    const output = new FileOutput(context(file));
    output.onRunStart();
    const events: LoadsEvent[] = [];
    for (let i = 0; i < 2500; i++) {
      events.push(numberedHit(i));
    }
    events.push({ type: 'counter', name: 'c', value: 2 });
    events.push({ type: 'socket-message', url: 'ws://h', bytes: 9 });
    for (const e of events) {
      output.onEvent(e);
    }
    await output.onRunEnd();
    const lines = (await readFile(file, 'utf8')).split('\n');
    assert.equal(lines.pop(), '', 'ends with a newline');
    assert.equal(lines.length, 2502);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l) as unknown),
      events,
    );
  });

  it('when a hit has a name then its line carries both the URL and the name', async () => {
    const file = path.join(dir, 'named.jsonl');
    const output = new FileOutput(context(file));
    output.onRunStart();
    output.onEvent({ ...numberedHit(5), name: '/:id' });
    output.onEvent(numberedHit(6));
    await output.onRunEnd();
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => {
        const e = JSON.parse(l) as HitEvent;
        return [e.url, e.name];
      }),
      [
        ['http://h/5', '/:id'],
        ['http://h/6', ''],
      ],
    );
  });

  it('when the producer reuses the event object then each line keeps the values at emit time', async () => {
    const file = path.join(dir, 'reuse.jsonl');
    const output = new FileOutput(context(file));
    output.onRunStart();
    const e = numberedHit(0);
    for (let i = 0; i < 3; i++) {
      e.currentHit = i;
      output.onEvent(e);
    }
    await output.onRunEnd();
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as HitEvent).currentHit),
      [0, 1, 2],
    );
  });

  it('when the run goes on then lines reach the file before the end', async () => {
    const file = path.join(dir, 'streaming.jsonl');
    const output = new FileOutput(context(file), 10);
    output.onRunStart();
    output.onEvent(numberedHit(1));
    let size = 0;
    for (let i = 0; i < 200 && size === 0; i++) {
      await sleep(10);
      size = (await stat(file)).size;
    }
    assert.equal(size, JSON.stringify(numberedHit(1)).length + 1);
    await output.onRunEnd();
  });

  it('when the folder does not exist then onRunStart throws a LoadsError with exit 2', () => {
    const output = new FileOutput(context(path.join(dir, 'missing', 'x.jsonl')));
    assert.throws(
      () => output.onRunStart(),
      (err: unknown) =>
        err instanceof LoadsError &&
        err.code === 'LOADS_ERR_OUTPUT' &&
        err.exitCode === 2 &&
        err.message.startsWith(
          `the file output cannot create '${path.join(dir, 'missing', 'x.jsonl')}'`,
        ),
    );
  });

  it(
    'when a write fails then events are still accepted and onRunEnd rejects with a LoadsError',
    { skip: !existsSync('/dev/full') && 'needs /dev/full' },
    async () => {
      const output = new FileOutput(context('/dev/full'));
      output.onRunStart();
      output.onEvent(numberedHit(1));
      await assert.rejects(output.onRunEnd(), (err: unknown) => {
        assert.ok(err instanceof LoadsError);
        assert.equal(err.code, 'LOADS_ERR_OUTPUT');
        assert.equal(err.exitCode, 1);
        assert.match(err.message, /^the file output could not write '\/dev\/full': ENOSPC/);
        return true;
      });
    },
  );
});
