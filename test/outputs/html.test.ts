// The html output: the report written at the end to its file, its path
// checked when the run starts, a failed write a LoadsError like json's.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LoadsError } from '../../src/errors.ts';
import { DEFAULT_HTML_FILENAME, HtmlOutput } from '../../src/outputs/html.ts';
import type { OutputContext } from '../../src/outputs/output.ts';
import { syntheticSummary } from '../helpers/report.ts';

let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loads-html-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function context(options: Record<string, string | undefined>): OutputContext {
  return { projectName: 'p', fqn: 'm.C.t', write: () => {}, options, color: false, quiet: false };
}

describe('HtmlOutput', () => {
  it('when the run ends then the report is written to --output-html-filename', async () => {
    const file = path.join(dir, 'report.html');
    const output = new HtmlOutput(context({ output_html_filename: file }));
    output.onRunStart();
    await output.onRunEnd(syntheticSummary(5));
    const html = await readFile(file, 'utf8');
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<title>loads-runner report: example\.TestWebSite\.test_es<\/title>/);
    assert.match(html, /"rows":5/);
  });

  it('when no file name is given then the default is loads-report.html', () => {
    assert.equal(DEFAULT_HTML_FILENAME, 'loads-report.html');
  });

  it('when the directory does not exist then the run start fails with exit status 2, naming the option', () => {
    const output = new HtmlOutput(
      context({ output_html_filename: path.join(dir, 'nope', 'r.html') }),
    );
    assert.throws(
      () => output.onRunStart(),
      (err: unknown) =>
        err instanceof LoadsError &&
        err.exitCode === 2 &&
        /^the html output cannot write '.*r\.html': the directory .* does not exist; check --output-html-filename$/.test(
          err.message,
        ),
    );
  });

  it('when the file cannot be written at the end then onRunEnd rejects with a LoadsError (exit 1)', async () => {
    const file = path.join(dir, 'taken.html');
    const output = new HtmlOutput(context({ output_html_filename: file }));
    output.onRunStart();
    await mkdir(file); // became a directory during the run
    await assert.rejects(
      output.onRunEnd(syntheticSummary(2)),
      (err: unknown) =>
        err instanceof LoadsError &&
        err.exitCode === 1 &&
        err.code === 'LOADS_ERR_OUTPUT' &&
        err.message.startsWith(`the html output could not write '${file}': `),
    );
  });
});
