import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ProgressCounts } from '../../src/metrics/aggregator.ts';
import { formatBarLine, Progress, type BarFields } from '../../src/outputs/stdout/progress.ts';

// eslint-disable-next-line no-control-regex -- colour escapes are what is stripped
const ANSI = /\x1b\[\d+m/g;

const COUNTS: ProgressCounts = {
  hits: 900,
  runs: 450,
  successes: 449,
  failures: 1,
  errors: 0,
  hitErrors: 2,
  dropped: 0,
};

/** The lines cli-progress drew: each between its move to column 1 and its erase to the right. */
function frames(text: string): string[] {
  // eslint-disable-next-line no-control-regex -- the escapes cli-progress draws with
  return [...text.matchAll(/\x1b\[1G(.*?)\x1b\[0K/g)].map((m) => m[1]!);
}

function capture(stream: PassThrough): { text: () => string } {
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return { text: () => text };
}

/** Waits until `predicate` holds on data written to the stream. */
async function waitFor(stream: PassThrough, predicate: () => boolean): Promise<void> {
  // The progress timers are unref()'d: keep the loop alive while waiting.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    while (!predicate()) {
      await once(stream, 'data');
    }
  } finally {
    clearInterval(keepAlive);
  }
}

describe('Progress', () => {
  it('when not on a TTY then it writes plain lines with no control characters', async () => {
    const stream = new PassThrough();
    const out = capture(stream);
    const progress = new Progress({
      stream,
      isTTY: false,
      color: true,
      total: { kind: 'runs', runs: 1000 },
      read: () => COUNTS,
      plainIntervalMs: 10,
    });
    progress.start();
    await waitFor(stream, () => out.text().split('\n').length > 2);
    progress.stop();
    const lines = out.text().split('\n');
    assert.equal(lines.pop(), '');
    assert.ok(lines.length >= 3, `${lines.length} lines`);
    for (const line of lines) {
      assert.match(
        line,
        /^\[loads\] 0:00:00 45% runs 450\/1000 hits 900 (avg )?rps \d+ errors 0 failures 1$/,
      );
    }
    assert.ok(!out.text().includes('\u001b'), 'no escape sequence');
    assert.ok(!out.text().includes('\r'), 'no carriage return');
  });

  it('when the model is open then each line ends with the dropped runs', async () => {
    const stream = new PassThrough();
    const out = capture(stream);
    const progress = new Progress({
      stream,
      isTTY: false,
      color: false,
      total: { kind: 'duration', durationMs: 10_000 },
      read: () => ({ ...COUNTS, dropped: 37 }),
      plainIntervalMs: 10,
      showDropped: true,
    });
    progress.start();
    await waitFor(stream, () => out.text().split('\n').length > 2);
    progress.stop();
    const lines = out.text().trimEnd().split('\n');
    assert.ok(lines.length >= 2);
    for (const line of lines) {
      assert.match(line, / errors 0 failures 1 dropped 37$/);
    }
  });

  it('when stopped then it draws the final state once and writes nothing more', async () => {
    const stream = new PassThrough();
    const out = capture(stream);
    let counts = COUNTS;
    const progress = new Progress({
      stream,
      isTTY: false,
      color: false,
      total: { kind: 'runs', runs: 1000 },
      read: () => counts,
      plainIntervalMs: 60_000,
    });
    progress.start();
    counts = { ...COUNTS, runs: 1000, hits: 2000 };
    progress.stop();
    progress.stop();
    await new Promise((resolve) => setImmediate(resolve));
    assert.match(
      out.text(),
      /^\[loads\] 0:00:00 100% runs 1000\/1000 hits 2000 avg rps \d+ errors 0 failures 1\n$/,
    );
  });

  it('when the run has a duration then the percentage and time follow the clock', () => {
    const stream = new PassThrough();
    const out = capture(stream);
    const progress = new Progress({
      stream,
      isTTY: false,
      color: false,
      total: { kind: 'duration', durationMs: 3_600_000 },
      read: () => COUNTS,
    });
    progress.start();
    progress.stop();
    assert.match(
      out.text(),
      /^\[loads\] 0:00:00 0% time 0\/3600s hits 900 avg rps \d+ errors 0 failures 1\n$/,
    );
    const half = new PassThrough();
    const halfOut = capture(half);
    const short = new Progress({
      stream: half,
      isTTY: false,
      color: false,
      total: { kind: 'duration', durationMs: 2500 },
      read: () => COUNTS,
    });
    short.start();
    short.stop();
    assert.match(halfOut.text(), / time 0\/2\.5s /);
  });

  it('when hits grow between status lines then each line has the rps of its own interval', async () => {
    const stream = new PassThrough();
    const out = capture(stream);
    // 500 hits before the first line, none in the second interval.
    let hits = 500;
    const progress = new Progress({
      stream,
      isTTY: false,
      color: false,
      total: { kind: 'runs', runs: 1000 },
      read: () => ({ ...COUNTS, hits }),
      plainIntervalMs: 50,
    });
    progress.start();
    await waitFor(stream, () => out.text().split('\n').length > 2);
    hits = 1_000_000;
    progress.stop();
    const lines = out.text().trimEnd().split('\n');
    assert.match(lines[0]!, / hits 500 rps [1-9]\d* /, 'the first interval had the 500 hits');
    assert.match(lines[1]!, / hits 500 rps 0 /, 'the second had none');
    assert.match(lines.at(-1)!, / hits 1000000 avg rps [1-9]\d* /);
  });

  it('when never started then stop() writes nothing', () => {
    const stream = new PassThrough();
    const out = capture(stream);
    new Progress({
      stream,
      isTTY: false,
      color: false,
      total: { kind: 'runs', runs: 1 },
      read: () => COUNTS,
    }).stop();
    assert.equal(out.text(), '');
  });

  it('when on a TTY then a bar shows the percentage, hits and errors, and stop() ends the line', async () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 160 });
    const out = capture(stream);
    const progress = new Progress({
      stream,
      isTTY: true,
      color: false,
      total: { kind: 'runs', runs: 1000 },
      read: () => COUNTS,
    });
    progress.start();
    await waitFor(stream, () => out.text().includes('failures 1'));
    progress.stop();
    const drawn = frames(out.text());
    assert.ok(drawn.length >= 1);
    for (const line of drawn) {
      assert.match(
        line,
        /^█{14}░{16} 45% \| runs 450\/1000 \| hits 900 \| rps \d+ \| errors 0 \| failures 1$/,
      );
    }
    assert.ok(out.text().endsWith('\n'), 'stop() ends the line');
  });

  it('when the terminal is narrow or its width unknown then the line fits it', () => {
    // No hits: rps is 0 whatever the clock says.
    const counts = { ...COUNTS, hits: 0 };
    const draw = (columns: number | undefined): string => {
      const stream = Object.assign(new PassThrough(), { isTTY: true, columns });
      const out = capture(stream);
      const progress = new Progress({
        stream,
        isTTY: true,
        color: true,
        total: { kind: 'runs', runs: 1000 },
        read: () => counts,
      });
      progress.start();
      progress.stop();
      return frames(out.text())[0]!;
    };
    assert.equal(draw(40), '45% | runs 450/1000 | err 0 | fail 1');
    assert.equal(draw(60), '45% | runs 450/1000 | hits 0 | errors 0 | failures 1');
    // Unknown width: 80 columns, the bar in colour (its escapes take no room).
    const unknown = draw(undefined);
    assert.equal(
      unknown,
      `\x1b[36m${'█'.repeat(8)}${'░'.repeat(10)}\x1b[39m 45% | runs 450/1000 | hits 0 | rps 0 | errors 0 | failures 1`,
    );
    assert.equal(unknown.replace(ANSI, '').length, 79);
  });
});

describe('formatBarLine', () => {
  const fields: BarFields = {
    percent: 45,
    done: 'runs 450/1000',
    hits: 900,
    rps: 512,
    errors: 3,
    failures: 1,
    dropped: null,
  };

  it('when the terminal is 120 wide or more then every field and a 30-character bar', () => {
    assert.equal(
      formatBarLine(fields, 120),
      `${'█'.repeat(14)}${'░'.repeat(16)} 45% | runs 450/1000 | hits 900 | rps 512 | errors 3 | failures 1`,
    );
  });

  it('when it is 80 wide then every field, the bar shrunk to fill 79 columns', () => {
    const line = formatBarLine(fields, 80);
    assert.equal(
      line,
      `${'█'.repeat(6)}${'░'.repeat(8)} 45% | runs 450/1000 | hits 900 | rps 512 | errors 3 | failures 1`,
    );
    assert.equal(line.length, 79);
  });

  it('when it is 60 wide then rps and the bar go first', () => {
    assert.equal(
      formatBarLine(fields, 60),
      '45% | runs 450/1000 | hits 900 | errors 3 | failures 1',
    );
  });

  it('when it is 40 wide then hits go and the labels shorten; errors and failures stay', () => {
    assert.equal(formatBarLine(fields, 40), '45% | runs 450/1000 | err 3 | fail 1');
    assert.equal(formatBarLine(fields, 30), '45% | errors 3 | failures 1');
    assert.equal(formatBarLine(fields, 25), '45% | err 3 | fail 1');
  });

  it('when the model is open then dropped stays with the errors and failures', () => {
    const open = { ...fields, dropped: 37 };
    assert.equal(
      formatBarLine(open, 80),
      `${'█'.repeat(5)}${'░'.repeat(6)} 45% | runs 450/1000 | hits 900 | errors 3 | failures 1 | dropped 37`,
    );
    assert.equal(formatBarLine(open, 40), '45% | err 3 | fail 1 | drop 37');
  });

  it('when any width is given then the visible line is shorter than it', () => {
    for (let columns = 1; columns <= 200; columns++) {
      const line = formatBarLine(
        { ...fields, hits: 123_456_789, rps: 98_765 },
        columns,
        (bar) => `\x1b[36m${bar}\x1b[39m`,
      );
      const visible = line.replace(ANSI, '');
      assert.ok(visible.length <= Math.max(1, columns - 1), `${columns}: ${visible}`);
      if (columns >= 25) {
        assert.match(visible, /45% \| .*err(ors)? 3 \| fail(ures)? 1$/, `${columns}: ${visible}`);
      }
    }
  });
});
