// --find-capacity with --agents: each probe is a distributed run of its own
// (one rate step, the rate per agent as everywhere), started on the agents,
// followed to its end into the probe's aggregator, then judged like a local
// probe. The test is bundled and shipped once per probe: a probe lasts
// seconds, the bundle takes milliseconds. An agent lost during a probe
// leaves it short of load: the probe is not trusted and the search stops.
import { hostname } from 'node:os';
import type { BrokerConnection } from '../distributed/broker.ts';
import type { IncludedFile } from '../distributed/include-files.ts';
import type { BrokerState } from '../distributed/protocol.ts';
import { RunFollower, startRun } from '../distributed/run-client.ts';
import type { Aggregator } from '../metrics/aggregator.ts';
import type { EventSink } from '../metrics/events.ts';
import type { CycleStep } from '../runner/cycle.ts';
import type { ProbeOutcome, ProbeRunner } from './capacity-run.ts';
import { recordSettings } from './distributed-run.ts';
import type { RunOptions } from './validate.ts';
import { readVersion } from './version.ts';

export interface AgentsProbeOptions {
  options: RunOptions;
  conn: BrokerConnection;
  state: BrokerState;
  agents: number;
  includeFiles: IncludedFile[];
  methodsPerRun: number;
  eventSink: EventSink | undefined;
  signal: AbortSignal;
  /** One line for the user (an agent lost, the broker's news). */
  say: (text: string) => void;
}

/** A ProbeRunner that runs each probe on `agents` agents. */
export function agentsProbeRunner(probe: AgentsProbeOptions): ProbeRunner {
  const { options, conn, state, signal, say } = probe;
  const version = readVersion();
  return async (step: CycleStep, probeAggregator: Aggregator): Promise<ProbeOutcome> => {
    const { runId, record } = await startRun(conn, state, {
      fqn: options.fqn,
      cwd: process.cwd(),
      version,
      agents: probe.agents,
      includeFiles: probe.includeFiles,
      runnerHost: hostname(),
      record: {
        plan: [step],
        methodsPerRun: probe.methodsPerRun,
        info: {
          fqn: options.fqn,
          projectName: options.projectName,
          version,
          users: [step.users],
          hits: null,
          durationMs: step.durationMs,
          rate: [step.rate],
          maxUsers: step.users,
          rampUpMs: step.rampUpMs,
          workers: probe.agents * (options.workers ?? 1),
        },
        workersPerAgent: options.workers,
        ...recordSettings(options),
        forwardEvents: probe.eventSink !== undefined,
        external: null,
      },
    });
    const lost: string[] = [];
    const follower = new RunFollower({
      conn,
      state,
      runId,
      aggregator: probeAggregator,
      eventSink: probe.eventSink,
      watchLiveness: true,
      onAgentLost: (agent) => {
        lost.push(agent.name);
        say(`agent ${agent.name} (${agent.host}) stopped heartbeating during run ${runId}: lost`);
      },
      onStatus: say,
    });
    const onAbort = (): void => {
      follower.stop('SIGINT').catch(() => {});
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await follower.follow();
      const names = new Map(record.agents.map((id) => [id, record.agentHosts?.[id]?.name ?? id]));
      const failed = result.agents.filter((agent) => agent.failure !== null);
      const untrusted = [
        ...lost.map((name) => `agent ${name} was lost`),
        ...failed.map((agent) => `agent ${agent.name} failed: ${agent.failure!}`),
      ].join('; ');
      return {
        snapshot: probeAggregator.snapshot(),
        interrupted: result.interrupted && signal.aborted,
        // Each agent's threads, named by the agent, for the saturation verdict.
        loops: result.agents.flatMap((agent) =>
          agent.loops.map((sample) => ({
            ...sample,
            thread: `${names.get(agent.id) ?? agent.name} ${sample.thread}`,
          })),
        ),
        merged: false,
        ...(untrusted === '' ? {} : { untrusted }),
      };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  };
}
