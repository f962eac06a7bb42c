// parseSummaryDocument: a saved json document is accepted only when it is
// JSON, ours, of this schema, and holds the fields a report reads; every
// refusal is a one-line LoadsError with exit status 2.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ExitCode, LoadsError } from '../../src/errors.ts';
import { SUMMARY_SCHEMA } from '../../src/metrics/summary.ts';
import { parseSummaryDocument } from '../../src/report/summary-document.ts';
import { makeSummary } from '../helpers/summary.ts';

function refusal(text: string): LoadsError {
  let caught: unknown;
  try {
    parseSummaryDocument(text, 'BASE.json', '0.1.0');
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof LoadsError, `not refused: ${text.slice(0, 80)}`);
  assert.equal(caught.exitCode, ExitCode.USAGE);
  assert.doesNotMatch(caught.message, /\n/);
  return caught;
}

/** A document of ours with `edit` applied to its parsed form. */
function edited(edit: (document: Record<string, unknown>) => void): string {
  const document = JSON.parse(JSON.stringify(makeSummary())) as Record<string, unknown>;
  edit(document);
  return JSON.stringify(document);
}

describe('parseSummaryDocument', () => {
  it('when the document is one of ours then it comes back as the Summary', () => {
    const summary = makeSummary({ fqn: 'example.TestWebSite.test_es', hits: 12 });
    assert.deepEqual(parseSummaryDocument(JSON.stringify(summary), 'RUN.json', '0.1.0'), summary);
  });

  it('when the text is not JSON then one line names the file and says so', () => {
    const error = refusal('{"tool": "loads-runner",\n  oops');
    assert.match(
      error.message,
      /^BASE\.json is not JSON \(.+\); give the document a run wrote with -o json$/,
    );
  });

  it('when the JSON is not an object or has no tool "loads-runner" then it is not ours', () => {
    for (const text of ['[1, 2]', '"text"', 'null', '{"hits": 3}', '{"tool": "k6", "schema": 1}']) {
      assert.equal(
        refusal(text).message,
        'BASE.json is not a loads-runner summary (it has no "tool": "loads-runner"); give the document a run wrote with -o json',
      );
    }
  });

  it('when the schema differs then the message names both versions and both schemas', () => {
    const text = edited((d) => {
      d['schema'] = 0;
      d['version'] = '0.0.9';
    });
    assert.equal(
      refusal(text).message,
      `BASE.json was written by loads-runner 0.0.9 (summary schema 0); this loads-runner 0.1.0 reads schema ${SUMMARY_SCHEMA}; report on it with the version that wrote it, or run the load again`,
    );
  });

  it('when the schema is missing then it says so rather than inventing a number', () => {
    const text = edited((d) => {
      delete d['schema'];
      delete d['version'];
    });
    assert.match(
      refusal(text).message,
      /^BASE\.json was written by a loads-runner \(no summary schema\);/,
    );
  });

  it('when a field the report reads is missing or of the wrong type then it is named', () => {
    const cases: [string, (d: Record<string, unknown>) => void][] = [
      ['latency.p95', (d) => delete (d['latency'] as Record<string, unknown>)['p95']],
      ['rps', (d) => (d['rps'] = '100')],
      ['durationS', (d) => (d['durationS'] = null)],
      ['urls', (d) => (d['urls'] = {})],
      ['steps[0].p99S', (d) => (d['steps'] = [{ step: 1, rps: 1, p50S: 0, p95S: 0 }])],
      [
        'urls[1]',
        (d) => (d['urls'] = [{ key: 'GET /', hits: 1, avgS: 0, p95S: 0, successRate: 1 }, 7]),
      ],
      ['histograms.responseTime', (d) => (d['histograms'] = {})],
    ];
    for (const [field, edit] of cases) {
      assert.equal(
        refusal(edited(edit)).message,
        `BASE.json is a loads-runner summary of schema ${SUMMARY_SCHEMA} but its ${field} is missing or not what it should be; was it edited or cut short? give the document a run wrote with -o json`,
      );
    }
  });
});
