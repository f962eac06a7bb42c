// The distributed part of the summary (SPEC §10, §7): the agents' rows are
// carried as given, and a lost or failed agent, or a run stopped from
// elsewhere, makes the exit status 1, as a crashed worker does; a signal of
// this runner still decides 130/143.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from '../../src/metrics/aggregator.ts';
import {
  buildSummary,
  exitStatusOf,
  type AgentSummary,
  type DistributedSummary,
  type RunInfo,
} from '../../src/metrics/summary.ts';

const T0 = 1_800_000_000_000;

const INFO: RunInfo = {
  startedAt: T0,
  fqn: 'example.Foo.test_a',
  projectName: 'demo',
  version: '0.1.0',
  users: [2],
  hits: [3],
  durationMs: null,
  rate: null,
  maxUsers: null,
  rampUpMs: 0,
  workers: 4,
};

function agent(name: string, overrides: Partial<AgentSummary> = {}): AgentSummary {
  return {
    name,
    host: `${name}.local`,
    runs: 6,
    hits: 6,
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
  return { runId: '20261203-081500-3fa2c1', agents, stoppedBy };
}

const PASSING: Parameters<typeof exitStatusOf>[0] = {
  abortedBy: null,
  interruptedBy: null,
  errors: 0,
  failures: 0,
  thresholds: [],
  interrupted: false,
};

describe('buildSummary distributed', () => {
  it('when a run is distributed then the summary carries its id, its stop reason and a copy of each agent row', () => {
    const agents = [agent('a'), agent('b', { saturated: true })];
    const given = distributed(agents, null);
    const s = buildSummary(
      new Aggregator().snapshot(),
      INFO,
      T0 + 1000,
      false,
      null,
      [],
      null,
      null,
      { distributed: given },
    );
    assert.deepEqual(s.distributed, given);
    agents[0]!.runs = 99;
    assert.equal(s.distributed!.agents[0]!.runs, 6, 'the summary owns its rows');
    assert.equal(s.exitStatus, 0);
  });

  it('when no distributed part is given then it is null (a run on this machine)', () => {
    const s = buildSummary(new Aggregator().snapshot(), INFO, T0 + 1000, false);
    assert.equal(s.distributed, null);
  });

  it('when an agent was lost then the exit status is 1 although every run succeeded', () => {
    const s = buildSummary(
      new Aggregator().snapshot(),
      INFO,
      T0 + 1000,
      false,
      null,
      [],
      null,
      null,
      { distributed: distributed([agent('a'), agent('b', { lost: true, runsNotDone: 4 })]) },
    );
    assert.equal(s.exitStatus, 1);
  });
});

describe('exitStatusOf distributed', () => {
  it('when every agent did its part then 0', () => {
    assert.equal(exitStatusOf({ ...PASSING, distributed: distributed([agent('a')]) }), 0);
  });

  it('when an agent failed (the test did not load there) then 1', () => {
    assert.equal(
      exitStatusOf({
        ...PASSING,
        distributed: distributed([agent('a'), agent('b', { failure: 'worker 1 crashed' })]),
      }),
      1,
    );
  });

  it('when another runner stopped the run (interrupted, no signal here) then 1, never a pass', () => {
    assert.equal(
      exitStatusOf({
        ...PASSING,
        interrupted: true,
        distributed: distributed([agent('a')], 'purge-broker'),
      }),
      1,
    );
  });

  it('when this runner got SIGINT then 130 even with a lost agent', () => {
    assert.equal(
      exitStatusOf({
        ...PASSING,
        interrupted: true,
        interruptedBy: 'SIGINT',
        distributed: distributed([agent('a', { lost: true })], 'SIGINT'),
      }),
      130,
    );
  });

  it('when a run on this machine was interrupted without a signal then the rule stays as before (0)', () => {
    assert.equal(exitStatusOf({ ...PASSING, interrupted: true, distributed: null }), 0);
  });
});
