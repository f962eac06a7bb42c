import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.ts';
import type { Summary } from '../../src/metrics/summary.ts';
import { makeSummary } from '../helpers/summary.ts';
import type { OutputContext } from '../../src/outputs/output.ts';
import { createOutput, OUTPUT_NAMES } from '../../src/outputs/registry.ts';
import { StdoutOutput } from '../../src/outputs/stdout/stdout-output.ts';

function context(overrides: Partial<OutputContext> = {}): OutputContext {
  return {
    projectName: 'p',
    fqn: 'm.C.t',
    write: () => {},
    options: {},
    color: false,
    quiet: false,
    ...overrides,
  };
}

const SUMMARY: Summary = makeSummary({
  projectName: 'p',
  fqn: 'm.C.t',
  hits: 3,
  startedAt: 0,
  endedAt: 1000,
  durationS: 1,
  rps: 3,
  avgRequestTimeS: 0.01,
  successes: 1,
  latency: { p50: 0.01, p90: 0.01, p95: 0.01, p99: 0.01, max: 0.01 },
  serviceTime: { p50: 0.01, p90: 0.01, p95: 0.01, p99: 0.01, max: 0.01 },
});

describe('createOutput', () => {
  it('when given each known name then it returns the output of that name', () => {
    assert.deepEqual(
      [...OUTPUT_NAMES],
      ['stdout', 'null', 'file', 'json', 'funkload', 'junit', 'html'],
    );
    for (const name of OUTPUT_NAMES) {
      assert.equal(createOutput(name, context()).name, name);
    }
  });

  it('when given an unknown name then it throws a UsageError listing the names', () => {
    assert.throws(
      () => createOutput('xml', context()),
      (err: unknown) =>
        err instanceof UsageError &&
        err.exitCode === 2 &&
        err.message ===
          "unknown output 'xml'; choose one of: stdout, null, file, json, funkload, junit, html",
    );
  });

  it('when only the stdout and json outputs are created then none of them listens to events', () => {
    assert.equal(createOutput('stdout', context()).onEvent, undefined);
    assert.equal(createOutput('null', context()).onEvent, undefined);
    assert.equal(createOutput('json', context()).onEvent, undefined);
  });
});

describe('StdoutOutput', () => {
  it('when the run ends then it writes the summary text once', () => {
    const written: string[] = [];
    new StdoutOutput(context({ write: (t) => written.push(t) })).onRunEnd(SUMMARY);
    assert.equal(written.length, 1);
    assert.match(written[0]!, /^Hits: 3$/m);
    assert.match(written[0]!, /^Success: 1$/m);
  });

  it('when quiet then it writes nothing', () => {
    const written: string[] = [];
    new StdoutOutput(context({ quiet: true, write: (t) => written.push(t) })).onRunEnd(SUMMARY);
    assert.deepEqual(written, []);
  });
});
