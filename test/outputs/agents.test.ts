// The outputs of a distributed run (SPEC §10): the text summary's Agents
// table after the steps table, with a line naming the lost agents and the
// runs they did not do; the json document carries the distributed part;
// junit makes each agent a testcase, failing when it was lost or failed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JsonOutput } from '../../src/outputs/json.ts';
import { junitXml } from '../../src/outputs/junit.ts';
import { agentNotes, agentTable, formatSummary } from '../../src/outputs/stdout/summary-text.ts';
import type { AgentSummary, DistributedSummary, StepSummary } from '../../src/metrics/summary.ts';
import { makeSummary } from '../helpers/summary.ts';

const RUN_ID = '20261203-081500-3fa2c1';

function agent(name: string, overrides: Partial<AgentSummary> = {}): AgentSummary {
  return {
    name,
    host: `host-${name}`,
    runs: 24,
    hits: 48,
    errors: 0,
    hitErrors: 0,
    threads: 2,
    saturated: false,
    lost: false,
    runsNotDone: null,
    failure: null,
    ...overrides,
  };
}

function distributed(agents: AgentSummary[], stoppedBy: string | null = null): DistributedSummary {
  return { runId: RUN_ID, agents, stoppedBy };
}

function step(n: number): StepSummary {
  return {
    step: n,
    users: n,
    runsPerUser: 4,
    rate: null,
    durationS: 1,
    runs: 4 * n,
    successes: 4 * n,
    failures: 0,
    errors: 0,
    dropped: 0,
    hits: 4 * n,
    hitErrors: 0,
    hits5xx: 0,
    rps: 4 * n,
    p50S: 0.01,
    p95S: 0.02,
    p99S: 0.03,
  };
}

describe('agentTable', () => {
  it('when three agents ran then one aligned row each: name, host, runs, hits, errors, saturated, lost', () => {
    const lines = agentTable(
      distributed([
        agent('alpha'),
        agent('b', { runs: 7, hits: 1400, errors: 3, saturated: true }),
        agent('c', { lost: true, runs: 10, hits: 20, runsNotDone: 14 }),
      ]),
    );
    assert.deepEqual(lines, [
      '  Agent  Host        Runs  Hits  Errors  Saturated  Lost',
      '  alpha  host-alpha    24    48       0  no         no',
      '  b      host-b         7  1400       3  yes        no',
      '  c      host-c        10    20       0  no         yes',
    ]);
  });
});

describe('agentNotes', () => {
  it('when all is well then no note', () => {
    assert.deepEqual(agentNotes(distributed([agent('a'), agent('b')])), []);
  });

  it('when one agent was lost then one line names it and its runs not done', () => {
    assert.deepEqual(
      agentNotes(distributed([agent('a'), agent('b', { lost: true, runsNotDone: 1 })])),
      ['  Lost: b (1 planned run not done); its results count up to its last delta'],
    );
  });

  it('when two were lost, one in a duration run, and one failed then the lost line names both and a line names the failure', () => {
    assert.deepEqual(
      agentNotes(
        distributed([
          agent('a', { lost: true, runsNotDone: 12 }),
          agent('b', { lost: true }),
          agent('c', { failure: "no such module 'helpers'" }),
        ]),
      ),
      [
        '  Lost: a (12 planned runs not done), b; their results count up to their last delta',
        "  Failed: c: no such module 'helpers'",
      ],
    );
  });
});

describe('formatSummary distributed', () => {
  it('when a run is distributed then the Agents section, titled with the run id, follows the Steps table', () => {
    const text = formatSummary(
      makeSummary({
        steps: [step(1), step(2)],
        distributed: distributed([agent('a'), agent('b', { lost: true, runsNotDone: 8 })]),
      }),
      false,
    );
    const steps = text.indexOf('\nSteps\n');
    const agents = text.indexOf(`\nAgents (run ${RUN_ID})\n`);
    assert.ok(steps > 0 && agents > steps, text);
    assert.ok(text.includes('\n  b      host-b    24    48       0  no         yes\n'), text);
    assert.match(
      text,
      /^ {2}Lost: b \(8 planned runs not done\); its results count up to its last delta$/m,
    );
  });

  it('when a run is not distributed then there is no Agents section', () => {
    assert.doesNotMatch(formatSummary(makeSummary(), false), /Agents/);
  });

  it('when another runner stopped the run then the interruption line says who', () => {
    const text = formatSummary(
      makeSummary({ interrupted: true, distributed: distributed([agent('a')], 'purge-broker') }),
      false,
    );
    assert.match(
      text,
      /^Interrupted \(stopped by purge-broker\): the summary covers what ran before$/m,
    );
  });
});

describe('json output distributed', () => {
  it('when a run is distributed then the document carries distributed with every agent field', async () => {
    let written = '';
    const output = new JsonOutput({
      projectName: 'p',
      fqn: 'f',
      write: (text) => (written += text),
      options: {},
      color: false,
      quiet: false,
    });
    const given = distributed([agent('a'), agent('b', { lost: true, runsNotDone: 3 })], null);
    await output.onRunEnd(makeSummary({ distributed: given }));
    const parsed = JSON.parse(written) as { distributed: DistributedSummary };
    assert.deepEqual(parsed.distributed, given);
  });
});

describe('junitXml distributed', () => {
  it('when an agent was lost then the agents suite has one testcase per agent and the lost one fails', () => {
    const xml = junitXml(
      makeSummary({
        distributed: distributed([
          agent('a'),
          agent('b', { lost: true, runs: 10, runsNotDone: 14 }),
        ]),
      }),
    );
    assert.match(xml, /<testsuite name="agents" tests="2" failures="1" errors="0"/);
    assert.match(xml, /<testcase classname="agents" name="a \(host-a\)" time="0.000"\/>/);
    assert.match(
      xml,
      /<testcase classname="agents" name="b \(host-b\)" time="0.000">\n {6}<failure message="agent b stopped heartbeating and was lost after 10 runs; 14 planned runs not done" type="AgentLost">/,
    );
    assert.match(xml, /<system-out>Run: 20261203-081500-3fa2c1<\/system-out>/);
    // The totals of <testsuites> count the agents too.
    assert.match(xml, /<testsuites name="loads-runner m\.C\.t" tests="2" failures="1"/);
  });

  it('when an agent failed then its testcase fails with the reason', () => {
    const xml = junitXml(
      makeSummary({ distributed: distributed([agent('a', { failure: 'worker 2 crashed' })]) }),
    );
    assert.match(xml, /<failure message="agent a failed: worker 2 crashed" type="AgentFailed">/);
  });

  it('when a run is not distributed then there is no agents suite', () => {
    assert.doesNotMatch(junitXml(makeSummary()), /name="agents"/);
  });
});
