// The agent (`loads-agent`, SPEC §10): announces itself in the broker and
// heartbeats, polls its claim key, and runs each run it is claimed for on
// its own worker threads (ThreadedRunner), from the bundle materialized in a
// private folder; a run of an external test (--test-runner) runs its
// processes there instead (ExternalRunner, the included files its scripts),
// and none outlives the agent. Peers synchronise through KV keys: everyone
// ready, then the run's start is the latest ready key's server time (every
// agent computes the same origin); a barrier key per step, where no agent
// waits for a peer that is lost or final. Results leave as Aggregator deltas
// numbered 1, 2, 3… with a message id, one publish in flight at a time (the
// aggregator keeps counting meanwhile), so a broker restart loses and
// doubles nothing; then the final message, the final key, and the agent is
// free again. The agent judges its peers' heartbeats while it runs, so a
// run goes on to its end with no runner present. Broker calls that fail
// while it reconnects are retried on the next tick; nothing here ends the
// process.
import { availableParallelism } from 'node:os';
import { BrokerError, BundleError, isLoadsError, UsageError } from '../errors.ts';
import { Aggregator, type Snapshot } from '../metrics/aggregator.ts';
import { createFanoutSink, type EventSink, type LoadsEvent } from '../metrics/events.ts';
import type { LoopSample } from '../metrics/loop-monitor.ts';
import type { CycleStep } from '../runner/cycle.ts';
import type { ExternalRunner, ExternalRunnerOptions } from '../runner/external/external-runner.ts';
import type { RunResult } from '../runner/local-runner.ts';
import { ThreadedRunner } from '../workers/threaded-runner.ts';
import type { BrokerConnection } from './broker.ts';
import {
  checkBundleVersion,
  isFilesOnly,
  LOADS_RUNNER_ROOT,
  materializeBundle,
  type MaterializedBundle,
} from './bundle.ts';
import { HeartbeatWatch, markLost, POLL_INTERVAL_MS, publishReliably } from './liveness.ts';
import {
  agentIdFrom,
  brokerNow,
  decodeBundle,
  decodeJson,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DELTA_INTERVAL_MS,
  encodeJson,
  encodeRunMessage,
  HEARTBEAT_INTERVAL_MS,
  MAX_EVENTS_PER_MESSAGE,
  messageId,
  openBrokerState,
  PROTOCOL_VERSION,
  readRunRecord,
  runKeys,
  runSubjects,
  type AgentRecord,
  type BarrierRecord,
  type BrokerState,
  type ClaimRecord,
  type DeltaMessage,
  type FinalMessage,
  type FinalRecord,
  type RunExternal,
  type RunRecord,
} from './protocol.ts';
import { CLAIMING_WAIT_MS } from './run-client.ts';

export interface AgentOptions {
  connection: BrokerConnection;
  /** --name; the id is agentIdFrom(name). */
  name: string;
  host: string;
  pid: number;
  /** loads-runner's version: runs bundled by another version are refused. */
  version: string;
  /** --workers: threads per run, or null for every core (a run record's workersPerAgent wins). */
  workers: number | null;
  /** Where run folders are made (--tmp-dir); default the OS's. */
  tmpDir?: string | undefined;
  /** The environment external test processes start from (the agent's own, from loads-agent); LOADS_* are added. Default: none. */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** The loads-runner package the bundles import (default this one). */
  loadsRunnerRoot?: string | undefined;
  /** What the agent does, for its log lines; must not throw. */
  onEvent?: (event: AgentEvent) => void;
}

/** What an agent reports to whoever started it (the CLI prints one line each). */
export type AgentEvent =
  | { type: 'run-start'; runId: string; fqn: string; steps: number; agents: number }
  | {
      type: 'run-end';
      runId: string;
      runs: number;
      hits: number;
      interrupted: boolean;
      failure: string | null;
      /** Someone marked this agent lost: nothing more of it counts in the run. */
      lost: boolean;
    }
  | { type: 'peer-lost'; runId: string; agentId: string; silentMs: number }
  | { type: 'warning'; message: string };

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function messageOf(err: unknown): string {
  if (isLoadsError(err)) {
    return err.message;
  }
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** An Aggregator that says whether anything reached it since the last delta. */
class TrackedAggregator extends Aggregator {
  changed = false;

  override merge(snapshot: Snapshot): void {
    super.merge(snapshot);
    this.changed = true;
  }

  override emit(event: LoadsEvent): void {
    super.emit(event);
    this.changed = true;
  }

  override takeDelta(): Snapshot {
    this.changed = false;
    return super.takeDelta();
  }
}

/** How long marking a dead namesake lost may take at start. */
const STALE_CLAIM_LOST_TIMEOUT_MS = 10_000;

let emptySnapshot: Snapshot | undefined;

/** Ships one agent's deltas of one run: seq 1, 2, 3…, one publish in flight at a time. */
class DeltaShipper {
  readonly #connection: BrokerConnection;
  readonly #runId: string;
  readonly #agentId: string;
  readonly #aggregator: TrackedAggregator;
  readonly #events: LoadsEvent[];
  /** Aborted when nothing more may be published (the agent is lost, or closing hard). */
  readonly #signal: AbortSignal;
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  runs = 0;
  hits = 0;

  constructor(
    connection: BrokerConnection,
    runId: string,
    agentId: string,
    aggregator: TrackedAggregator,
    events: LoadsEvent[],
    signal: AbortSignal,
  ) {
    this.#connection = connection;
    this.#runId = runId;
    this.#agentId = agentId;
    this.#aggregator = aggregator;
    this.#events = events;
    this.#signal = signal;
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      if (this.#inFlight === undefined && this.#hasNews()) {
        this.#inFlight = this.#ship().finally(() => {
          this.#inFlight = undefined;
        });
      }
    }, DELTA_INTERVAL_MS);
  }

  /** Stops the timer, waits for the publish in flight, ships what is left. */
  async finish(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
    if (this.#hasNews()) {
      await this.#ship();
    }
  }

  /** The next sequence number (the final message's). */
  nextSeq(): number {
    return ++this.#seq;
  }

  #hasNews(): boolean {
    return this.#aggregator.changed || this.#events.length > 0;
  }

  async #ship(): Promise<void> {
    if (this.#signal.aborted) {
      return;
    }
    const snapshot = this.#aggregator.takeDelta();
    this.runs += snapshot.tests.successes + snapshot.tests.failures + snapshot.tests.errors;
    this.hits += snapshot.hits;
    const events = this.#events.splice(0, this.#events.length);
    for (const part of splitDelta(snapshot, events)) {
      const message: DeltaMessage = {
        kind: 'delta',
        protocol: PROTOCOL_VERSION,
        runId: this.#runId,
        agentId: this.#agentId,
        seq: this.nextSeq(),
        snapshot: part.snapshot,
        events: part.events,
      };
      const published = await publishReliably(
        this.#connection.js,
        runSubjects.delta(this.#runId, this.#agentId),
        encodeRunMessage(message),
        messageId(this.#runId, this.#agentId, message.seq),
        this.#signal,
      );
      if (!published) {
        return;
      }
    }
  }
}

/** URLs, errors or failures per message past the first: a delta stays far below NATS's 1 MB payload. */
const MAX_ENTRIES_PER_MESSAGE = 100;

/**
 * One delta as messages that merge to the same: the first holds the counts
 * and up to MAX_ENTRIES_PER_MESSAGE URLs, errors and failures (their stacks
 * weigh) and MAX_EVENTS_PER_MESSAGE events; the next ones hold the rest of
 * those lists on an empty snapshot. Merging adds, so the split is exact.
 */
export function splitDelta(
  snapshot: Snapshot,
  events: readonly LoadsEvent[],
): { snapshot: Snapshot; events: LoadsEvent[] }[] {
  const n = MAX_ENTRIES_PER_MESSAGE;
  const parts: { snapshot: Snapshot; events: LoadsEvent[] }[] = [
    {
      snapshot: {
        ...snapshot,
        urls: snapshot.urls.slice(0, n),
        topErrors: snapshot.topErrors.slice(0, n),
        topFailures: snapshot.topFailures.slice(0, n),
      },
      events: events.slice(0, MAX_EVENTS_PER_MESSAGE),
    },
  ];
  const rest = (k: number) => ({
    urls: snapshot.urls.slice(k * n, (k + 1) * n),
    topErrors: snapshot.topErrors.slice(k * n, (k + 1) * n),
    topFailures: snapshot.topFailures.slice(k * n, (k + 1) * n),
    events: events.slice(k * MAX_EVENTS_PER_MESSAGE, (k + 1) * MAX_EVENTS_PER_MESSAGE),
  });
  for (let k = 1; ; k++) {
    const { urls, topErrors, topFailures, events: more } = rest(k);
    if (urls.length + topErrors.length + topFailures.length + more.length === 0) {
      break;
    }
    emptySnapshot ??= new Aggregator().snapshot();
    parts.push({ snapshot: { ...emptySnapshot, urls, topErrors, topFailures }, events: more });
  }
  return parts;
}

/** The run in progress and the handles that end it. */
interface CurrentRun {
  runId: string;
  /** Stops the load: the run ends interrupted, its final is sent. */
  stop: AbortController;
  /** Nothing more is published (lost, or closing hard). */
  silence: AbortController;
  done: Promise<void>;
}

export class Agent {
  readonly id: string;
  readonly #options: AgentOptions;
  readonly #state: BrokerState;
  readonly #record: AgentRecord;
  #heartbeat: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  #current: CurrentRun | undefined;
  #closing = false;
  readonly #closed = new AbortController();
  #loop: Promise<void> | undefined;
  /** Watches of runs whose other agents are still going (see #linger). */
  readonly #lingering = new Set<Promise<void>>();
  /** Kills the external processes of the run in progress (killNow), while there are any. */
  #killExternal: (() => void) | undefined;

  private constructor(options: AgentOptions, state: BrokerState, startedAt: number) {
    this.#options = options;
    this.#state = state;
    this.id = agentIdFrom(options.name);
    this.#record = {
      protocol: PROTOCOL_VERSION,
      id: this.id,
      name: options.name,
      host: options.host,
      pid: options.pid,
      cores: availableParallelism(),
      version: options.version,
      state: 'free',
      runId: null,
      startedAt,
    };
  }

  /**
   * Opens the broker's resources, refuses a name another live agent has
   * (UsageError), releases a claim a previous agent of this name left,
   * announces itself and starts waiting for runs.
   */
  static async start(options: AgentOptions): Promise<Agent> {
    let agent: Agent;
    try {
      const state = await openBrokerState(options.connection);
      agent = new Agent(options, state, Date.now());
      await agent.#checkName();
      await agent.#releaseStaleClaim();
      await state.agents.put(agent.id, encodeJson(agent.#record));
    } catch (err) {
      if (isLoadsError(err)) {
        throw err;
      }
      const message = err instanceof Error ? err.message : String(err);
      const denied = /permission/i.test(message);
      throw new BrokerError(
        denied
          ? `the broker at ${options.connection.description} denies this agent what it needs (${message}): allow its user the loads-* buckets, the LOADS_RUNS stream and $JS.API.> (see the README's broker configuration)`
          : `cannot set up the agent on the broker at ${options.connection.description}: ${message}`,
        denied ? 'permissions' : 'other',
        { cause: err },
      );
    }
    agent.#heartbeat = setInterval(() => void agent.#beat(), HEARTBEAT_INTERVAL_MS);
    agent.#loop = agent.#waitForRuns();
    return agent;
  }

  /**
   * SIGKILL to every external test process of the run in progress, at once:
   * the agent is exiting now (a second signal), and none may outlive it.
   */
  killNow(): void {
    this.#killExternal?.();
  }

  get cores(): number {
    return this.#record.cores;
  }

  /** The run it is taking part in, or null. */
  get runId(): string | null {
    return this.#record.runId;
  }

  /**
   * Stops: a run in progress ends as interrupted with its final sent
   * (graceful), or at once with nothing more sent; then the agent's record
   * is deleted. The connection is the caller's to close.
   */
  async close(options: { graceful: boolean }): Promise<void> {
    this.#closing = true;
    this.#closed.abort();
    const current = this.#current;
    if (current !== undefined) {
      if (!options.graceful) {
        current.silence.abort();
      }
      current.stop.abort();
      await current.done;
    }
    await this.#loop;
    await Promise.all(this.#lingering);
    clearInterval(this.#heartbeat);
    await this.#beating;
    await this.#state.agents.delete(this.id).catch(() => {});
  }

  async #checkName(): Promise<void> {
    const entry = await this.#state.agents.get(this.id);
    if (entry === null || entry.operation !== 'PUT') {
      return;
    }
    let other: AgentRecord;
    try {
      other = decodeJson<AgentRecord>(entry.value, `the record of agent ${this.id}`);
    } catch {
      return;
    }
    const silentMs = (await brokerNow(this.#state)) - entry.created.getTime();
    if (
      silentMs < DEFAULT_HEARTBEAT_TIMEOUT_MS &&
      (other.pid !== this.#record.pid || other.startedAt !== this.#record.startedAt)
    ) {
      throw new UsageError(
        `an agent named ${this.#options.name} is already connected (${other.host}, pid ${other.pid}): give this one another --name`,
      );
    }
  }

  /**
   * A claim under this id is a previous agent's of this name (this one has
   * not announced itself yet): released, and when its run is still going
   * that agent is marked lost to it, since the watchers would take this
   * one's heartbeats for its.
   */
  async #releaseStaleClaim(): Promise<void> {
    const state = this.#state;
    const entry = await state.claims.get(this.id);
    if (entry === null || entry.operation !== 'PUT') {
      return;
    }
    let runId: string | undefined;
    try {
      runId = decodeJson<ClaimRecord>(entry.value, `the claim of ${this.id}`).runId;
    } catch {
      runId = undefined;
    }
    if (runId !== undefined) {
      const record = await readRunRecord(state, runId).catch(() => null);
      const final = await state.runs.get(runKeys.final(runId, this.id));
      if (
        record !== null &&
        record.state !== 'cancelled' &&
        (final === null || final.operation !== 'PUT')
      ) {
        // Bounded: a broker that takes no publish must not hold the start forever.
        await markLost(
          this.#options.connection.js,
          state,
          runId,
          this.id,
          this.id,
          0,
          AbortSignal.timeout(STALE_CLAIM_LOST_TIMEOUT_MS),
        );
      }
    }
    await state.claims.delete(this.id);
  }

  #beat(): void {
    if (this.#beating !== undefined) {
      return;
    }
    // A put sent just before a broker restart gets no answer: bounded to one
    // interval, so that the next beat goes out as soon as the broker is back.
    this.#beating = this.#state.agents
      .put(this.id, encodeJson(this.#record), { timeout: HEARTBEAT_INTERVAL_MS })
      .then(
        () => {},
        () => {
          // Disconnected: the next tick puts it again.
        },
      )
      .finally(() => {
        this.#beating = undefined;
      });
  }

  #setState(state: AgentRecord['state'], runId: string | null): void {
    this.#record.state = state;
    this.#record.runId = runId;
    this.#beat();
  }

  #emit(event: AgentEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // The contract says never throw; a log line is not worth a run.
    }
  }

  async #waitForRuns(): Promise<void> {
    while (!this.#closing) {
      await sleep(POLL_INTERVAL_MS, this.#closed.signal);
      if (this.#closing) {
        return;
      }
      let claim: ClaimRecord | undefined;
      try {
        const entry = await this.#state.claims.get(this.id);
        if (entry !== null && entry.operation === 'PUT') {
          claim = decodeJson<ClaimRecord>(entry.value, `the claim of ${this.id}`);
        }
      } catch {
        continue; // disconnected, or a foreign value: asked again next tick
      }
      if (claim !== undefined && !this.#closing) {
        const current: CurrentRun = {
          runId: claim.runId,
          stop: new AbortController(),
          silence: new AbortController(),
          done: Promise.resolve(),
        };
        current.done = this.#takePart(current);
        this.#current = current;
        await current.done;
        this.#current = undefined;
      }
    }
  }

  /** One run, from the claim to free again; never rejects. */
  async #takePart(current: CurrentRun): Promise<void> {
    const { runId } = current;
    this.#setState('busy', runId);
    try {
      const record = await this.#awaitRunning(current);
      if (record !== null) {
        await this.#run(record, current);
      }
    } catch (err) {
      this.#emit({ type: 'warning', message: `run ${runId}: ${messageOf(err)}` });
    } finally {
      await this.#retry(() => this.#state.claims.delete(this.id), current.silence.signal);
      this.#setState('free', null);
    }
  }

  /** The run record once it is 'running' with this agent in it; null when this agent has no part in it. */
  async #awaitRunning(current: CurrentRun): Promise<RunRecord | null> {
    const { runId } = current;
    const since = performance.now();
    for (;;) {
      if (current.stop.signal.aborted) {
        return null;
      }
      let record: RunRecord | null | undefined;
      try {
        record = await readRunRecord(this.#state, runId);
      } catch {
        record = undefined; // disconnected: ask again
      }
      if (record === null || record?.state === 'cancelled') {
        return null;
      }
      if (record?.state === 'running') {
        if (!record.agents.includes(this.id)) {
          return null;
        }
        const [lost, final] = await Promise.all([
          this.#state.runs.get(runKeys.lost(runId, this.id)),
          this.#state.runs.get(runKeys.final(runId, this.id)),
        ]);
        // A claim this agent already answered (or was lost to) is not run twice.
        return lost?.operation === 'PUT' || final?.operation === 'PUT' ? null : record;
      }
      if (performance.now() - since > CLAIMING_WAIT_MS || (await this.#stopRequested(runId))) {
        return null;
      }
      await sleep(POLL_INTERVAL_MS, current.stop.signal);
    }
  }

  async #stopRequested(runId: string): Promise<boolean> {
    try {
      const entry = await this.#state.runs.get(runKeys.stop(runId));
      return entry !== null && entry.operation === 'PUT';
    } catch {
      return false;
    }
  }

  /** Retries `work` every POLL_INTERVAL_MS until it succeeds or `signal` aborts; true when it succeeded. */
  async #retry(work: () => Promise<unknown>, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      try {
        await work();
        return true;
      } catch {
        if (signal.aborted) {
          return false;
        }
        await sleep(POLL_INTERVAL_MS);
      }
    }
  }

  async #run(record: RunRecord, current: CurrentRun): Promise<void> {
    const { connection } = this.#options;
    const state = this.#state;
    const runId = record.id;
    const silence = current.silence.signal;
    const stop = current.stop;
    const peers = record.agents.filter((id) => id !== this.id);
    this.#emit({
      type: 'run-start',
      runId,
      fqn: record.fqn,
      steps: record.plan.length,
      agents: record.agents.length,
    });

    const aggregator = new TrackedAggregator();
    const events: LoadsEvent[] = [];
    const shipper = new DeltaShipper(connection, runId, this.id, aggregator, events, silence);
    const watch = new HeartbeatWatch({
      state,
      agentIds: peers,
      timeoutMs: record.heartbeatTimeoutMs,
      onLost: (agentId, silentMs) => {
        this.#emit({ type: 'peer-lost', runId, agentId, silentMs });
        void markLost(connection.js, state, runId, agentId, this.id, silentMs, silence);
      },
    });
    watch.start();
    let lostSelf = false;
    let monitoring = false;
    // The stop request and this agent's own lost key, polled while it runs.
    const monitor = setInterval(() => {
      if (monitoring) {
        return;
      }
      monitoring = true;
      void (async () => {
        try {
          const [stopKey, lostKey] = await Promise.all([
            state.runs.get(runKeys.stop(runId)),
            state.runs.get(runKeys.lost(runId, this.id)),
          ]);
          if (lostKey !== null && lostKey.operation === 'PUT') {
            lostSelf = true;
            current.silence.abort();
            stop.abort();
          } else if (stopKey !== null && stopKey.operation === 'PUT') {
            stop.abort();
          }
        } catch {
          // Disconnected: asked again next tick.
        } finally {
          monitoring = false;
        }
      })();
    }, POLL_INTERVAL_MS);

    let failure: string | null = null;
    let interrupted = false;
    let loops: LoopSample[] = [];
    let threads = 0;
    let materialized: MaterializedBundle | undefined;
    let external: ExternalRunner | undefined;
    try {
      const bytes = await this.#fetchBundle(record, silence);
      const { bundle, files } = decodeBundle(bytes);
      checkBundleVersion(bundle, this.#options.version);
      materialized = await materializeBundle(bundle, files, {
        loadsRunnerRoot: this.#options.loadsRunnerRoot ?? LOADS_RUNNER_ROOT,
        ...(this.#options.tmpDir === undefined ? {} : { tmpDir: this.#options.tmpDir }),
      });
      const forwarded: EventSink | undefined = record.forwardEvents
        ? {
            emit: (event) => {
              if (event.type !== 'cycle-start' && event.type !== 'cycle-end') {
                events.push(event);
              }
            },
          }
        : undefined;
      const betweenSteps = async (step: CycleStep): Promise<'go' | 'stop'> => {
        const key = runKeys.step(runId, step.cycleIndex, this.id);
        const barrier: BarrierRecord = { agentId: this.id, interrupted: false };
        if (!(await this.#retry(() => state.runs.put(key, encodeJson(barrier)), stop.signal))) {
          return 'stop';
        }
        return this.#awaitPeers(record, peers, watch, stop.signal, (peer) =>
          runKeys.step(runId, step.cycleIndex, peer),
        );
      };
      let runLoad: (origin: number) => Promise<RunResult>;
      const externalSpec = record.external ?? null;
      if (externalSpec !== null) {
        if (!isFilesOnly(bundle)) {
          throw new BundleError(
            `run ${runId} names an external test runner but ships a test module; run it again`,
          );
        }
        external = await this.#externalRunner(record, externalSpec, materialized, {
          sink: forwarded === undefined ? aggregator : createFanoutSink([aggregator, forwarded]),
          signal: stop.signal,
          betweenSteps,
        });
        const runner = external;
        // The processes are the parallelism; this thread only counts.
        threads = 1;
        // No loop samples: the processes time their own requests, so this
        // thread's delay says nothing about the latencies (not judged).
        runLoad = () => runner.run();
      } else {
        if (isFilesOnly(bundle)) {
          throw new BundleError(`run ${runId} ships no test module; run it again`);
        }
        const workers = record.workersPerAgent ?? this.#options.workers ?? this.cores;
        const largestStep = Math.max(1, ...record.plan.map((step) => step.users));
        threads = Math.max(1, Math.min(workers, largestStep));
        const runner = new ThreadedRunner({
          fqn: materialized.fqn,
          cwd: materialized.dir,
          plan: record.plan,
          workers,
          aggregator,
          eventSink: forwarded,
          signal: stop.signal,
          timeoutMs: record.timeoutMs,
          testTimeoutMs: record.testTimeoutMs,
          maxBodyBytes: record.maxBodyBytes ?? undefined,
          discardBodies: record.discardBodies,
          transport: record.transport ?? undefined,
          serverUrl: record.serverUrl ?? undefined,
          onStrayError: (text, workerIndex) =>
            this.#emit({
              type: 'warning',
              message: `run ${runId}: an error escaped a test run (a promise not awaited?): ${text} (worker ${workerIndex})`,
            }),
          betweenSteps,
        });
        await runner.start();
        runLoad = async (origin) => {
          try {
            return await runner.run(origin);
          } finally {
            loops = runner.loopSamples;
          }
        };
      }
      const ready: BarrierRecord = { agentId: this.id, interrupted: false };
      const readyKey = runKeys.ready(runId, this.id);
      await this.#retry(() => state.runs.put(readyKey, encodeJson(ready)), stop.signal);
      const verdict = await this.#awaitPeers(record, peers, watch, stop.signal, (peer) =>
        runKeys.ready(runId, peer),
      );
      if (verdict === 'stop') {
        stop.abort();
      }
      const origin = verdict === 'go' ? await this.#origin(record, stop.signal) : Date.now();
      aggregator.startTimeline(origin);
      shipper.start();
      interrupted = (await runLoad(origin)).interrupted;
    } catch (err) {
      failure = messageOf(err);
      interrupted = stop.signal.aborted;
    } finally {
      clearInterval(monitor);
      // Its processes have all exited by now (run() waits for them); this frees the receiver if run() never ran.
      await external?.close();
      this.#killExternal = undefined;
    }
    if (lostSelf || this.#closing) {
      watch.stop();
    } else {
      this.#linger(record, peers, watch);
    }

    await shipper.finish();
    if (!lostSelf && !silence.aborted) {
      const final: FinalMessage = {
        kind: 'final',
        protocol: PROTOCOL_VERSION,
        runId,
        agentId: this.id,
        seq: shipper.nextSeq(),
        interrupted,
        failure,
        loops,
        threads,
        external: external?.report() ?? null,
      };
      const sent = await publishReliably(
        connection.js,
        runSubjects.final(runId, this.id),
        encodeRunMessage(final),
        messageId(runId, this.id, final.seq),
        silence,
      );
      if (sent) {
        const finalRecord: FinalRecord = { agentId: this.id, interrupted };
        await this.#retry(
          () => state.runs.put(runKeys.final(runId, this.id), encodeJson(finalRecord)),
          silence,
        );
      }
    }
    await materialized?.remove().catch(() => {});
    this.#emit({
      type: 'run-end',
      runId,
      runs: shipper.runs,
      hits: shipper.hits,
      interrupted,
      failure,
      lost: lostSelf,
    });
  }

  /**
   * The ExternalRunner of an external run, bound (an address that cannot be
   * bound fails the agent's part before the ready barrier): one process per
   * user per step, in the run folder that holds the included files, with
   * the agent's environment (+ LOADS_SERVER_URL when the run has a target).
   * zeromq's native module is loaded only for such a run.
   */
  async #externalRunner(
    record: RunRecord,
    external: RunExternal,
    materialized: MaterializedBundle,
    wiring: Pick<ExternalRunnerOptions, 'sink' | 'signal' | 'betweenSteps'>,
  ): Promise<ExternalRunner> {
    const { ExternalRunner } = await import('../runner/external/external-runner.ts');
    const env: Record<string, string | undefined> = { ...this.#options.env };
    if (record.serverUrl !== null) {
      env['LOADS_SERVER_URL'] = record.serverUrl;
    }
    const runner = new ExternalRunner({
      ...wiring,
      argv: external.argv,
      fqn: materialized.fqn,
      plan: record.plan,
      cwd: materialized.dir,
      env,
      runId: record.id,
      agentId: this.id,
      receiver: null,
      processTimeoutS: external.processTimeoutS,
    });
    this.#killExternal = () => runner.killNow();
    await runner.bind();
    return runner;
  }

  async #fetchBundle(record: RunRecord, signal: AbortSignal): Promise<Uint8Array> {
    for (;;) {
      try {
        const bytes = await this.#state.bundles.getBlob(record.bundleObject);
        if (bytes === null) {
          throw new UsageError(
            `the bundle of run ${record.id} is not on the broker (deleted, or past its 24 h); start the run again`,
          );
        }
        return bytes;
      } catch (err) {
        if (isLoadsError(err) || signal.aborted) {
          throw err;
        }
        await sleep(POLL_INTERVAL_MS); // disconnected: ask again
      }
    }
  }

  /**
   * Waits until every peer has the key `keyOf(peer)`, or is final or lost
   * (by its key, or by this agent's own watch). 'stop' when `signal` aborts.
   */
  async #awaitPeers(
    record: RunRecord,
    peers: readonly string[],
    watch: HeartbeatWatch,
    signal: AbortSignal,
    keyOf: (peer: string) => string,
  ): Promise<'go' | 'stop'> {
    const { runs } = this.#state;
    const waiting = new Set(peers);
    while (waiting.size > 0) {
      if (signal.aborted) {
        return 'stop';
      }
      try {
        await Promise.all(
          [...waiting].map(async (peer) => {
            if (watch.isLost(peer)) {
              waiting.delete(peer);
              return;
            }
            const [reached, final, lost] = await Promise.all([
              runs.get(keyOf(peer)),
              runs.get(runKeys.final(record.id, peer)),
              runs.get(runKeys.lost(record.id, peer)),
            ]);
            if (final?.operation === 'PUT' || lost?.operation === 'PUT') {
              watch.ignore(peer);
              waiting.delete(peer);
            } else if (reached?.operation === 'PUT') {
              waiting.delete(peer);
            }
          }),
        );
      } catch {
        // Disconnected: asked again next tick.
      }
      if (waiting.size > 0) {
        await sleep(POLL_INTERVAL_MS, signal);
      }
    }
    return signal.aborted ? 'stop' : 'go';
  }

  /**
   * Keeps judging the peers of a run this agent's part of is over, until
   * each is final or lost: when this agent was the last one up, a peer that
   * died late is marked lost by nobody else, and followers would wait for it
   * forever. The agent is free meanwhile; close() ends it.
   */
  #linger(record: RunRecord, peers: readonly string[], watch: HeartbeatWatch): void {
    const lingering = this.#awaitPeers(record, peers, watch, this.#closed.signal, (peer) =>
      runKeys.final(record.id, peer),
    ).then(
      () => {
        watch.stop();
        this.#lingering.delete(lingering);
      },
      () => {
        watch.stop();
        this.#lingering.delete(lingering);
      },
    );
    this.#lingering.add(lingering);
  }

  /** The run's start: the latest server time of its ready keys (the same for every agent once all are ready). */
  async #origin(record: RunRecord, signal: AbortSignal): Promise<number> {
    for (;;) {
      try {
        const entries = await Promise.all(
          record.agents.map((id) => this.#state.runs.get(runKeys.ready(record.id, id))),
        );
        let origin = 0;
        for (const entry of entries) {
          if (entry !== null && entry.operation === 'PUT') {
            origin = Math.max(origin, entry.created.getTime());
          }
        }
        return origin === 0 ? Date.now() : origin;
      } catch {
        if (signal.aborted) {
          return Date.now();
        }
        await sleep(POLL_INTERVAL_MS);
      }
    }
  }
}
