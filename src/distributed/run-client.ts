// The runner's side of a distributed run (SPEC §10): startRun bundles the
// test (an external test: its included files only), stores it and the run
// record in the broker and claims the agents;
// RunFollower replays the run's stream from its start and follows it live
// into the runner's Aggregator, so that the runner that started the run and
// any runner attaching later (--attach, even after the end) count exactly
// the same: per agent, messages whose seq is above the last one seen, up to
// its final message or the first lost marker for it in the stream, never
// after. Cycle steps are re-announced once for all agents (cycle-start when
// the first agent shows a step, cycle-end once every agent still in the run
// is past it). listRuns and purgeRuns serve --attach lists, --ping-broker
// and --purge-broker. Limit: a run whose agents all died with nobody
// following it is never marked over (nobody judged them lost); purgeRuns
// stops it, and a follower attaching marks them lost.
import type * as Jetstream from '@nats-io/jetstream';
import type { JsMsg } from '@nats-io/jetstream';
import type { Status } from '@nats-io/transport-node';
import {
  BrokerError,
  isLoadsError,
  NotEnoughAgentsError,
  UsageError,
  VersionMismatchError,
} from '../errors.ts';
import type { Aggregator, Snapshot } from '../metrics/aggregator.ts';
import type { CycleStartEvent, EventSink } from '../metrics/events.ts';
import { assessGeneratorLoad, type LoopSample } from '../metrics/loop-monitor.ts';
import { countRuns } from '../runner/cycle.ts';
import type { ExternalRunReport } from '../runner/external/report.ts';
import type { BrokerConnection } from './broker.ts';
import { bundleTest, filesOnlyBundle } from './bundle.ts';
import type { IncludedFile } from './include-files.ts';
import { HeartbeatWatch, markLost, POLL_INTERVAL_MS } from './liveness.ts';
import {
  brokerNow,
  CLAIMS_BUCKET,
  decodeJson,
  decodeRunMessage,
  encodeBundle,
  encodeJson,
  listAgents,
  listKeys,
  newRunId,
  PROTOCOL_VERSION,
  readRunRecord,
  runKeys,
  runSubjects,
  RUNS_BUCKET,
  RUNS_STREAM,
  type AgentListing,
  type BrokerState,
  type ClaimRecord,
  type FinalMessage,
  type RunMessage,
  type RunRecord,
  type StopRecord,
} from './protocol.ts';
import { requireCjs } from '../require-cjs.ts';

const { DeliverPolicy } = requireCjs('@nats-io/jetstream') as typeof Jetstream;

/**
 * How long agents wait for a run record still 'claiming' before they give
 * up on it (its runner died while claiming); listRuns counts such a run as
 * over past this age.
 */
export const CLAIMING_WAIT_MS = 30_000;
/** How long stop() keeps trying to reach the broker. */
const STOP_RETRY_MS = 30_000;
/** Names listed at most in a message about agents. */
const MAX_NAMES_SHOWN = 5;

/** What the CLI hands over to start a distributed run (RunRecord minus what the engine fills in). */
export interface DistributedRunRequest {
  /** The user's FQN. */
  fqn: string;
  /** Where it resolves from (bundleTest). */
  cwd: string;
  /** loads-runner version (readVersion()). */
  version: string;
  /** --agents N. */
  agents: number;
  record: Omit<
    RunRecord,
    | 'protocol'
    | 'id'
    | 'state'
    | 'createdAt'
    | 'runnerHost'
    | 'agents'
    | 'fqn'
    | 'version'
    | 'bundleObject'
    | 'agentHosts'
  >;
  includeFiles: IncludedFile[];
  /** os.hostname() from the CLI. */
  runnerHost: string;
}

/**
 * Bundles, uploads, writes the record, claims `agents` free agents of the
 * same version. Throws NotEnoughAgentsError (exit 2) before any load,
 * releasing what it claimed; VersionMismatchError (exit 2) when enough
 * agents are free but not enough of this version (naming both versions);
 * BundleError, FqnError; BrokerError when the broker fails meanwhile.
 */
export async function startRun(
  conn: BrokerConnection,
  state: BrokerState,
  request: DistributedRunRequest,
): Promise<{ runId: string; record: RunRecord }> {
  void conn;
  // An external test is the command's to find: only the included files travel.
  const bundle =
    request.record.external === null
      ? await bundleTest({ fqn: request.fqn, cwd: request.cwd, version: request.version })
      : filesOnlyBundle({ fqn: request.fqn, version: request.version });
  return brokerCall('starting the run', async () => {
    const timeoutMs = request.record.heartbeatTimeoutMs;
    const usable = chooseAgents(await listAgents(state), request, timeoutMs);

    const runId = newRunId();
    await state.bundles.putBlob({ name: runId }, encodeBundle(bundle, request.includeFiles));
    const record: RunRecord = {
      ...request.record,
      protocol: PROTOCOL_VERSION,
      id: runId,
      state: 'claiming',
      createdAt: Date.now(),
      runnerHost: request.runnerHost,
      agents: [],
      fqn: request.fqn,
      version: request.version,
      bundleObject: runId,
      agentHosts: {},
    };
    await state.runs.put(runKeys.record(runId), encodeJson(record));

    const claim: ClaimRecord = { runId, claimedAt: Date.now() };
    const claimed: AgentListing[] = [];
    let failure: unknown;
    for (const candidate of usable) {
      if (claimed.length === request.agents) {
        break;
      }
      try {
        await state.claims.create(candidate.record.id, encodeJson(claim));
        claimed.push(candidate);
      } catch (err) {
        if (!isKeyExists(err)) {
          failure = err;
          break;
        }
        // Another runner claimed it since we listed it: try the next one.
      }
    }
    if (claimed.length < request.agents) {
      await state.runs.put(runKeys.record(runId), encodeJson({ ...record, state: 'cancelled' }));
      await Promise.all(claimed.map((a) => state.claims.delete(a.record.id).catch(() => {})));
      await state.bundles.delete(runId).catch(() => {});
      if (failure !== undefined) {
        throw failure;
      }
      // Described as the broker is now: the agents another runner took are busy.
      chooseAgents(await listAgents(state), request, timeoutMs);
      throw new NotEnoughAgentsError(
        `--agents ${request.agents} needs ${request.agents} free agents; another runner claimed some of them meanwhile: try again`,
        request.agents,
        claimed.length,
      );
    }
    const running: RunRecord = {
      ...record,
      state: 'running',
      agents: claimed.map((a) => a.record.id),
      agentHosts: Object.fromEntries(
        claimed.map((a) => [a.record.id, { name: a.record.name, host: a.record.host }]),
      ),
    };
    await state.runs.put(runKeys.record(runId), encodeJson(running));
    return { runId, record: running };
  });
}

/** The free agents of this version, best first; throws when there are too few. */
function chooseAgents(
  listings: readonly AgentListing[],
  request: DistributedRunRequest,
  heartbeatTimeoutMs: number,
): AgentListing[] {
  const free: AgentListing[] = [];
  const busy: AgentListing[] = [];
  const silent: AgentListing[] = [];
  const otherProtocol: AgentListing[] = [];
  for (const listing of listings) {
    if (listing.silentMs >= heartbeatTimeoutMs) {
      silent.push(listing);
    } else if (listing.record.protocol !== PROTOCOL_VERSION) {
      otherProtocol.push(listing);
    } else if (listing.record.state === 'free' && listing.claimedBy === null) {
      free.push(listing);
    } else {
      busy.push(listing);
    }
  }
  if (free.length < request.agents) {
    throw notEnoughAgents(request.agents, free, [
      { label: 'busy', agents: busy },
      { label: 'of another protocol', agents: otherProtocol },
      { label: 'silent', agents: silent },
    ]);
  }
  const same = free.filter((a) => a.record.version === request.version);
  if (same.length < request.agents) {
    const others = free.filter((a) => a.record.version !== request.version);
    const otherVersion = others[0]!.record.version;
    const ofThat = others.filter((a) => a.record.version === otherVersion);
    throw new VersionMismatchError(
      request.version,
      otherVersion,
      `--agents ${request.agents} needs ${request.agents} free agents of loads-runner ${request.version}, this runner's version; the broker has ${same.length}${namesOf(same)}, and ${ofThat.length} of loads-runner ${otherVersion}${namesOf(ofThat)}: install the same version on both`,
    );
  }
  // Quietest first would favour idle machines; by name keeps runs reproducible.
  return same.sort((a, b) => a.record.name.localeCompare(b.record.name));
}

function namesOf(agents: readonly AgentListing[]): string {
  if (agents.length === 0) {
    return '';
  }
  const names = agents.slice(0, MAX_NAMES_SHOWN).map((a) => a.record.name);
  return ` (${names.join(', ')}${agents.length > MAX_NAMES_SHOWN ? ', …' : ''})`;
}

function notEnoughAgents(
  needed: number,
  free: readonly AgentListing[],
  others: readonly { label: string; agents: readonly AgentListing[] }[],
): NotEnoughAgentsError {
  const parts = [`${free.length} free${namesOf(free)}`];
  for (const { label, agents } of others) {
    if (agents.length > 0) {
      parts.push(`${agents.length} ${label}${namesOf(agents)}`);
    }
  }
  const has = free.length === 0 && parts.length === 1 ? 'no agent' : parts.join(', ');
  return new NotEnoughAgentsError(
    `--agents ${needed} needs ${needed} free agents; the broker has ${has}: start more loads-agent processes (loads-agent --broker URL) or ask for fewer`,
    needed,
    free.length,
  );
}

/** KV create() refused because the key exists. */
function isKeyExists(err: unknown): boolean {
  return err instanceof Error && /wrong last sequence|key exists/i.test(err.message);
}

/** Runs `work`; an error of the library (not ours) becomes a one-line BrokerError. */
async function brokerCall<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isLoadsError(err)) {
      throw err;
    }
    throw new BrokerError(
      `the broker failed while ${what}: ${err instanceof Error ? err.message : String(err)}; check that it is up and try again`,
      'other',
      { cause: err },
    );
  }
}

// ---- Following a run --------------------------------------------------------

/** Per agent, for the Agents table and the json. */
export interface AgentResult {
  id: string;
  name: string;
  host: string;
  /** Test runs done (successes + failures + errors) counted from its deltas. */
  runs: number;
  hits: number;
  /** Test runs that failed or errored. */
  errors: number;
  /** Hits with no response or a status ≥ 400. */
  hitErrors: number;
  /** Worker threads it ran the load on; 0 until its final message. */
  threads: number;
  /** assessGeneratorLoad of its final message's loops. */
  saturated: boolean;
  saturationReason: string;
  /** Its threads' event-loop samples, from its final message ([] before it). */
  loops: LoopSample[];
  lost: boolean;
  /**
   * Planned runs it did not do: countRuns(plan, methodsPerRun) − runs, when
   * it was lost, interrupted or failed in a plan whose count is known; null otherwise.
   */
  runsNotDone: number | null;
  /** From its final message. */
  failure: string | null;
  /** Its final message was received. */
  finished: boolean;
  /** An external run's report, from its final message; null otherwise. */
  external: ExternalRunReport | null;
}

export interface FollowOptions {
  conn: BrokerConnection;
  state: BrokerState;
  runId: string;
  /** Every counted delta is merge()d into it. */
  aggregator: Aggregator;
  /** Gets forwarded events (forwardEvents runs) and cycle-start/cycle-end once per step. */
  eventSink?: EventSink | undefined;
  /** Live: judge liveness and markLost (true for the runner and --attach while running). */
  watchLiveness: boolean;
  /** Called once per agent when its lost marker is counted. */
  onAgentLost?: (agent: AgentResult) => void;
  /** A line for stderr about the follower itself ("broker connection lost; reconnecting…"). */
  onStatus?: (text: string) => void;
}

export interface FollowResult {
  record: RunRecord;
  /** Epoch ms: the run's start (the timeline origin agents used); RunInfo.startedAt. */
  startedAt: number;
  /** Epoch ms: when the last agent's final (or lost) message was stored. */
  endedAt: number;
  agents: AgentResult[];
  /** Some agent stopped early (a stop request) — also true when stop() was called. */
  interrupted: boolean;
  /** The run's stop record reason, if any ('SIGINT' | 'SIGTERM' | 'abort-on-fail' | 'purge-broker' | …). */
  stoppedBy: string | null;
}

interface AgentTrack {
  result: AgentResult;
  lastSeq: number;
  /** Highest cycle step its deltas showed; -1 before any. */
  maxStep: number;
  /** Its step barrier keys seen, by cycle index. */
  barriers: Set<number>;
  interrupted: boolean;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Replays the run from the stream's start and follows it live until every agent is final or lost. */
export class RunFollower {
  readonly #options: FollowOptions;
  #record: RunRecord | undefined;
  readonly #agents = new Map<string, AgentTrack>();
  readonly #started = deferred<{ record: RunRecord; startedAt: number }>();
  readonly #done = deferred<FollowResult & { detached: boolean }>();
  #following = false;
  #ended = false;
  #startedAt: number | undefined;
  /** Ready keys seen: agent → their server time, ms. */
  readonly #readyAt = new Map<string, number>();
  #endedAt = 0;
  #lastStreamSeq = 0;
  #stopRequested = false;
  #stoppedBy: string | null = null;
  #watch: HeartbeatWatch | undefined;
  #caughtUp = false;
  #messages: { stop(): void } | undefined;
  #status: { stop?: () => void } | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #polling = false;
  /** Aborts markLost publishes once the follower is done. */
  readonly #abort = new AbortController();
  /** The next step whose cycle-start is due, and the step announced but not ended. */
  #nextStep = 0;
  #openStep: { cycleIndex: number; startedAt: number } | undefined;
  readonly #stepElapsedMs = new Map<number, number>();
  readonly #stepStartedAt = new Map<number, number>();

  constructor(options: FollowOptions) {
    this.#options = options;
  }

  /**
   * Resolves at the end of the run, or when detach() is called (then
   * `detached: true`). Rejects with a UsageError when there is no such run
   * or it was cancelled before it started.
   */
  follow(): Promise<FollowResult & { detached: boolean }> {
    if (!this.#following) {
      this.#following = true;
      this.#begin().catch((err: unknown) => this.#fail(err));
    }
    return this.#done.promise;
  }

  /** Current per-agent figures (for a live Agents display). */
  agents(): AgentResult[] {
    return [...this.#agents.values()].map((track) => ({ ...track.result }));
  }

  /** Resolves once the record is read and startedAt known (agents all ready); the CLI starts its progress then. */
  started(): Promise<{ record: RunRecord; startedAt: number }> {
    return this.#started.promise;
  }

  /** Puts `<run>.stop` (idempotent, the first reason stays); follow() then ends when agents report their finals. */
  async stop(reason: string): Promise<void> {
    this.#stopRequested = true;
    const { state, runId } = this.#options;
    const record: StopRecord = { reason, at: Date.now() };
    const deadline = Date.now() + STOP_RETRY_MS;
    for (;;) {
      try {
        await state.runs.create(runKeys.stop(runId), encodeJson(record));
        this.#stoppedBy ??= reason;
        return;
      } catch (err) {
        if (isKeyExists(err)) {
          return;
        }
        if (Date.now() > deadline) {
          throw new BrokerError(
            `cannot ask the agents to stop run ${runId}: the broker did not answer for ${STOP_RETRY_MS / 1000} s`,
            'timeout',
            { cause: err },
          );
        }
        await sleep(POLL_INTERVAL_MS);
      }
    }
  }

  /** Stops following (the run goes on); follow() resolves with detached: true. */
  detach(): void {
    this.#finish(true);
  }

  async #begin(): Promise<void> {
    const record = await this.#readRecord();
    if (this.#ended) {
      return;
    }
    this.#record = record;
    for (const id of record.agents) {
      const known = record.agentHosts?.[id];
      this.#agents.set(id, {
        result: {
          id,
          name: known?.name ?? id,
          host: known?.host ?? '',
          runs: 0,
          hits: 0,
          errors: 0,
          hitErrors: 0,
          threads: 0,
          saturated: false,
          saturationReason: '',
          loops: [],
          lost: false,
          runsNotDone: null,
          failure: null,
          finished: false,
          external: null,
        },
        lastSeq: 0,
        maxStep: -1,
        barriers: new Set(),
        interrupted: false,
      });
    }
    this.#watchConnection();
    this.#pollTimer = setInterval(() => void this.#poll(), POLL_INTERVAL_MS);
    void this.#poll();
    void this.#consume();
  }

  /** The run record once it is past 'claiming'; UsageError when there is none or it was cancelled. */
  async #readRecord(): Promise<RunRecord> {
    const { state, runId } = this.#options;
    const since = Date.now();
    for (;;) {
      let record: RunRecord | null;
      try {
        record = await readRunRecord(state, runId);
      } catch (err) {
        if (Date.now() - since > STOP_RETRY_MS) {
          throw err;
        }
        await sleep(POLL_INTERVAL_MS);
        continue;
      }
      if (record === null) {
        throw new UsageError(
          `no run ${runId} on the broker (runs are kept 24 h): see loads-runner --ping-broker for the runs it has`,
        );
      }
      if (record.protocol !== PROTOCOL_VERSION) {
        throw new UsageError(
          `run ${runId} was started by loads-runner ${record.version} (protocol ${record.protocol}); this runner speaks protocol ${PROTOCOL_VERSION}: attach with that version`,
        );
      }
      if (
        record.state === 'cancelled' ||
        (record.state === 'claiming' && Date.now() - since > CLAIMING_WAIT_MS)
      ) {
        throw new UsageError(
          `run ${runId} was cancelled before it started (too few agents could be claimed); start it again`,
        );
      }
      if (record.state === 'running') {
        return record;
      }
      await sleep(POLL_INTERVAL_MS);
    }
  }

  #watchConnection(): void {
    const onStatus = this.#options.onStatus;
    if (onStatus === undefined) {
      return;
    }
    const status = this.#options.conn.nc.status() as AsyncIterable<Status> & {
      stop?: () => void;
    };
    this.#status = status;
    void (async () => {
      try {
        for await (const s of status) {
          if (s.type === 'disconnect') {
            onStatus('broker connection lost; reconnecting…');
          } else if (s.type === 'reconnect') {
            onStatus('broker connection back; catching up');
          }
        }
      } catch {
        // The connection closed: nothing more to say.
      }
    })();
  }

  /** The ordered consumer on the run's subjects, from its start; created again after any failure. */
  async #consume(): Promise<void> {
    const { conn, runId } = this.#options;
    const subject = runSubjects.ofRun(runId);
    let readFailureSaid = false;
    while (!this.#ended) {
      try {
        const consumer = await conn.js.consumers.get(
          RUNS_STREAM,
          this.#lastStreamSeq === 0
            ? { filter_subjects: subject, deliver_policy: DeliverPolicy.All }
            : {
                filter_subjects: subject,
                deliver_policy: DeliverPolicy.StartSequence,
                opt_start_seq: this.#lastStreamSeq + 1,
              },
        );
        if (!this.#caughtUp && (await consumer.info(true)).num_pending === 0) {
          this.#onCaughtUp();
        }
        const messages = await consumer.consume({ max_messages: 256, expires: 5_000 });
        this.#messages = messages;
        if (this.#ended) {
          messages.stop();
          return;
        }
        for await (const message of messages) {
          if (this.#startedAt === undefined && message.subject.endsWith('.delta')) {
            await this.#startBeforeDeltas();
          }
          this.#onMessage(message);
          if (this.#ended) {
            return;
          }
        }
      } catch (err) {
        const text = err instanceof Error ? err.message : String(err);
        // Retrying cannot help a user the broker does not allow to read results.
        if (/permissions violation/i.test(text)) {
          this.#fail(
            new BrokerError(
              `the broker does not let this user read the results of run ${runId} (${text}): use the runner's credentials`,
              'permissions',
            ),
          );
          return;
        }
        // The broker is restarting or the consumer is gone: make another one,
        // and say once what else is wrong, so a follower never waits in silence.
        if (!readFailureSaid && !/disconnect|closed|timeout|no responders/i.test(text)) {
          readFailureSaid = true;
          this.#options.onStatus?.(`reading the results of run ${runId}: ${text}; retrying`);
        }
      }
      if (!this.#ended) {
        await sleep(POLL_INTERVAL_MS);
      }
    }
  }

  /**
   * A delta means every agent passed the ready barrier: the start is read
   * now, and the caller of started() runs (its outputs' onRunStart) before
   * the first delta's events reach them.
   */
  async #startBeforeDeltas(): Promise<void> {
    await this.#pollReady().catch(() => {});
    this.#setStartedAt();
    await new Promise((resolve) => setImmediate(resolve));
  }

  #onCaughtUp(): void {
    if (this.#caughtUp) {
      return;
    }
    this.#caughtUp = true;
    const record = this.#record!;
    if (!this.#options.watchLiveness || this.#ended) {
      return;
    }
    const { conn, state, runId } = this.#options;
    const watch = new HeartbeatWatch({
      state,
      agentIds: record.agents,
      timeoutMs: record.heartbeatTimeoutMs,
      onLost: (agentId, silentMs) => {
        void markLost(conn.js, state, runId, agentId, 'runner', silentMs, this.#abort.signal);
      },
    });
    for (const [id, track] of this.#agents) {
      if (track.result.finished || track.result.lost) {
        watch.ignore(id);
      }
    }
    this.#watch = watch;
    watch.start();
  }

  #onMessage(message: JsMsg): void {
    if (message.seq <= this.#lastStreamSeq) {
      return;
    }
    this.#lastStreamSeq = message.seq;
    const pending = message.info.pending;
    try {
      this.#count(decodeRunMessage(message.data), message.time.getTime());
    } catch (err) {
      // Another version's or a damaged message: skipped (counted by nobody), and said.
      this.#options.onStatus?.(
        `skipped a message of run ${this.#options.runId} that cannot be read (${message.subject}): ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (pending === 0) {
      this.#onCaughtUp();
    }
  }

  #count(message: RunMessage, storedAt: number): void {
    const track = this.#agents.get(message.agentId);
    if (
      track === undefined ||
      message.runId !== this.#options.runId ||
      message.protocol !== PROTOCOL_VERSION ||
      track.result.finished ||
      track.result.lost
    ) {
      return;
    }
    const result = track.result;
    switch (message.kind) {
      case 'delta': {
        if (message.seq <= track.lastSeq) {
          return;
        }
        track.lastSeq = message.seq;
        this.#countDelta(track, message.snapshot);
        const sink = this.#options.eventSink;
        if (sink !== undefined) {
          for (const event of message.events) {
            sink.emit(event);
          }
        }
        this.#closeStepIfPast();
        break;
      }
      case 'final': {
        if (message.seq <= track.lastSeq) {
          return;
        }
        track.lastSeq = message.seq;
        this.#countFinal(track, message);
        this.#endedAt = Math.max(this.#endedAt, storedAt);
        this.#watch?.ignore(message.agentId);
        this.#closeStepIfPast();
        break;
      }
      case 'lost': {
        result.lost = true;
        result.runsNotDone = this.#runsNotDone(result.runs);
        this.#endedAt = Math.max(this.#endedAt, storedAt);
        this.#watch?.ignore(message.agentId);
        this.#options.onAgentLost?.({ ...result });
        this.#closeStepIfPast();
        break;
      }
      default: {
        const unknown: never = message;
        void unknown;
        return;
      }
    }
    if ([...this.#agents.values()].every((t) => t.result.finished || t.result.lost)) {
      this.#finish(false);
    }
  }

  #countDelta(track: AgentTrack, snapshot: Snapshot): void {
    let maxStep = track.maxStep;
    for (const step of snapshot.steps) {
      maxStep = Math.max(maxStep, step.cycleIndex);
      if (step.startedAt !== 0 && !this.#stepStartedAt.has(step.cycleIndex)) {
        this.#stepStartedAt.set(step.cycleIndex, step.startedAt);
      }
      if (step.elapsedMs > (this.#stepElapsedMs.get(step.cycleIndex) ?? 0)) {
        this.#stepElapsedMs.set(step.cycleIndex, step.elapsedMs);
      }
    }
    track.maxStep = maxStep;
    // Steps before the one shown are over on every agent still in the run (the barrier).
    this.#announceSteps(maxStep);
    this.#options.aggregator.merge(snapshot);
    const result = track.result;
    const runs = snapshot.tests.successes + snapshot.tests.failures + snapshot.tests.errors;
    result.runs += runs;
    result.hits += snapshot.hits;
    result.errors += snapshot.tests.failures + snapshot.tests.errors;
    result.hitErrors += snapshot.hitErrors;
  }

  #countFinal(track: AgentTrack, message: FinalMessage): void {
    const result = track.result;
    result.finished = true;
    result.threads = message.threads;
    result.failure = message.failure;
    result.external = message.external ?? null;
    result.loops = message.loops;
    const load = assessGeneratorLoad(message.loops);
    result.saturated = load.saturated;
    result.saturationReason = load.reason;
    track.interrupted = message.interrupted;
    if (message.interrupted || message.failure !== null) {
      result.runsNotDone = this.#runsNotDone(result.runs);
    }
  }

  #runsNotDone(runs: number): number | null {
    const record = this.#record!;
    if (record.plan.some((step) => step.rate === 0 && step.hits === 0)) {
      return null; // closed-model duration steps: not known in advance
    }
    if ((record.external ?? null) !== null) {
      return null; // an external class's tests per hit are its processes' to say
    }
    return Math.max(0, countRuns(record.plan, record.methodsPerRun) - runs);
  }

  /** cycle-start (and the cycle-end before it) of every step up to `cycleIndex` not yet announced. */
  #announceSteps(cycleIndex: number): void {
    const plan = this.#record!.plan;
    while (this.#nextStep <= cycleIndex && this.#nextStep < plan.length) {
      this.#closeStep();
      const step = plan[this.#nextStep]!;
      const startedAt = this.#stepStartedAt.get(step.cycleIndex) ?? Date.now();
      const event: CycleStartEvent = {
        type: 'cycle-start',
        cycleIndex: step.cycleIndex,
        users: step.users,
        hits: step.hits,
        durationMs: step.durationMs,
        rate: step.rate,
        rampUpMs: step.rampUpMs,
        startedAt,
      };
      this.#options.eventSink?.emit(event);
      this.#openStep = { cycleIndex: step.cycleIndex, startedAt };
      this.#nextStep++;
    }
  }

  #closeStep(): void {
    const open = this.#openStep;
    if (open === undefined) {
      return;
    }
    this.#openStep = undefined;
    this.#options.eventSink?.emit({
      type: 'cycle-end',
      cycleIndex: open.cycleIndex,
      elapsedMs:
        this.#stepElapsedMs.get(open.cycleIndex) ?? Math.max(0, Date.now() - open.startedAt),
    });
  }

  /** The open step ends once every agent still in the run is past it (final, barrier key, or a later step). */
  #closeStepIfPast(): void {
    const open = this.#openStep;
    if (open === undefined) {
      return;
    }
    for (const track of this.#agents.values()) {
      if (this.#isBefore(track, open.cycleIndex)) {
        return;
      }
    }
    this.#closeStep();
  }

  #isBefore(track: AgentTrack, cycleIndex: number): boolean {
    return (
      !track.result.finished &&
      !track.result.lost &&
      track.maxStep <= cycleIndex &&
      !track.barriers.has(cycleIndex)
    );
  }

  /** Every POLL_INTERVAL_MS: ready keys (the start), the open step's barrier keys, the stop key. */
  async #poll(): Promise<void> {
    if (this.#polling || this.#ended || this.#record === undefined) {
      return;
    }
    this.#polling = true;
    const { state, runId } = this.#options;
    try {
      if (this.#startedAt === undefined) {
        await this.#pollReady();
      }
      const open = this.#openStep;
      if (open !== undefined) {
        const waiting = [...this.#agents.values()].filter((t) =>
          this.#isBefore(t, open.cycleIndex),
        );
        await Promise.all(
          waiting.map(async (track) => {
            const entry = await state.runs.get(
              runKeys.step(runId, open.cycleIndex, track.result.id),
            );
            if (entry !== null && entry.operation === 'PUT') {
              track.barriers.add(open.cycleIndex);
            }
          }),
        );
        this.#closeStepIfPast();
      }
      if (this.#stoppedBy === null) {
        this.#stoppedBy = await readStopReason(state, runId);
      }
    } catch {
      // The broker is away: the next round asks again.
    } finally {
      this.#polling = false;
    }
  }

  async #pollReady(): Promise<void> {
    const { state, runId } = this.#options;
    const missing = [...this.#agents.keys()].filter((id) => !this.#readyAt.has(id));
    await Promise.all(
      missing.map(async (id) => {
        const entry = await state.runs.get(runKeys.ready(runId, id));
        if (entry !== null && entry.operation === 'PUT') {
          this.#readyAt.set(id, entry.created.getTime());
        }
      }),
    );
    const all = [...this.#agents.values()].every(
      (t) => this.#readyAt.has(t.result.id) || t.result.finished || t.result.lost,
    );
    if (all) {
      this.#setStartedAt();
    }
  }

  #setStartedAt(): void {
    if (this.#startedAt !== undefined) {
      return;
    }
    const times = [...this.#readyAt.values()];
    this.#startedAt = times.length === 0 ? this.#endedAt || Date.now() : Math.max(...times);
    this.#started.resolve({ record: this.#record!, startedAt: this.#startedAt });
  }

  #fail(err: unknown): void {
    if (this.#ended) {
      return;
    }
    this.#cleanUp();
    this.#started.reject(err);
    // started() may have no listener: that rejection is reported by follow().
    this.#started.promise.catch(() => {});
    this.#done.reject(err);
  }

  #cleanUp(): void {
    this.#ended = true;
    clearInterval(this.#pollTimer);
    this.#watch?.stop();
    this.#messages?.stop();
    this.#status?.stop?.();
    this.#abort.abort();
  }

  #finish(detached: boolean): void {
    if (this.#ended) {
      return;
    }
    this.#cleanUp();
    const record = this.#record;
    if (record === undefined) {
      // Detached before the record was read.
      this.#started.promise.catch(() => {});
      this.#started.reject(
        new UsageError(`detached from run ${this.#options.runId} before it started`),
      );
      this.#done.resolve({
        record: undefined as unknown as RunRecord,
        startedAt: 0,
        endedAt: 0,
        agents: [],
        interrupted: false,
        stoppedBy: null,
        detached: true,
      });
      return;
    }
    if (!detached) {
      this.#closeStep();
    }
    const finish = async (): Promise<void> => {
      if (this.#startedAt === undefined) {
        await this.#pollReady().catch(() => {});
        this.#setStartedAt();
      }
      if (this.#stoppedBy === null) {
        this.#stoppedBy = await readStopReason(this.#options.state, this.#options.runId).catch(
          () => null,
        );
      }
      const agents = this.agents();
      this.#done.resolve({
        record,
        startedAt: this.#startedAt!,
        endedAt: this.#endedAt || Date.now(),
        agents,
        interrupted:
          this.#stopRequested ||
          this.#stoppedBy !== null ||
          [...this.#agents.values()].some((t) => t.interrupted),
        stoppedBy: this.#stoppedBy,
        detached,
      });
    };
    void finish();
  }
}

async function readStopReason(state: BrokerState, runId: string): Promise<string | null> {
  const entry = await state.runs.get(runKeys.stop(runId));
  if (entry === null || entry.operation !== 'PUT') {
    return null;
  }
  try {
    return decodeJson<StopRecord>(entry.value, `the stop request of run ${runId}`).reason;
  } catch {
    return 'unknown';
  }
}

// ---- Runs on the broker -----------------------------------------------------

/** Runs on the broker: record + whether it is over (every agent final or lost) — for --attach lists and --ping-broker. */
export interface RunListing {
  record: RunRecord;
  over: boolean;
  finals: number;
  lost: number;
}

/** Every run the broker keeps, oldest first. */
export async function listRuns(state: BrokerState): Promise<RunListing[]> {
  return brokerCall('listing the runs', async () => {
    const ids: string[] = [];
    for (const key of await listKeys(state.runs, RUNS_BUCKET)) {
      if (!key.includes('.')) {
        ids.push(key);
      }
    }
    const now = await brokerNow(state);
    const listings: RunListing[] = [];
    for (const id of ids.sort()) {
      const entry = await state.runs.get(runKeys.record(id));
      if (entry === null || entry.operation !== 'PUT') {
        continue;
      }
      let record: RunRecord;
      try {
        record = decodeJson<RunRecord>(entry.value, `the record of run ${id}`);
      } catch {
        continue;
      }
      let finals = 0;
      let lost = 0;
      await Promise.all(
        record.agents.map(async (agentId) => {
          const [final, gone] = await Promise.all([
            state.runs.get(runKeys.final(id, agentId)),
            state.runs.get(runKeys.lost(id, agentId)),
          ]);
          if (final !== null && final.operation === 'PUT') {
            finals++;
          } else if (gone !== null && gone.operation === 'PUT') {
            lost++;
          }
        }),
      );
      const over =
        record.state === 'cancelled' ||
        (record.state === 'claiming' && now - entry.created.getTime() > CLAIMING_WAIT_MS) ||
        (record.state === 'running' && finals + lost === record.agents.length);
      listings.push({ record, over, finals, lost });
    }
    return listings;
  });
}

/** --purge-broker: stop every run not over (stop keys), and delete claims of runs that are over or unknown. Returns the runs it stopped. */
export async function purgeRuns(state: BrokerState): Promise<string[]> {
  const runs = await listRuns(state);
  return brokerCall('purging the runs', async () => {
    const stopped: string[] = [];
    const stop: StopRecord = { reason: 'purge-broker', at: Date.now() };
    for (const run of runs) {
      if (!run.over) {
        await state.runs.create(runKeys.stop(run.record.id), encodeJson(stop)).catch((err) => {
          if (!isKeyExists(err)) {
            throw err;
          }
        });
        stopped.push(run.record.id);
      }
    }
    const over = new Set(runs.filter((r) => r.over).map((r) => r.record.id));
    const going = new Set(runs.filter((r) => !r.over).map((r) => r.record.id));
    for (const key of await listKeys(state.claims, CLAIMS_BUCKET)) {
      const entry = await state.claims.get(key);
      if (entry === null || entry.operation !== 'PUT') {
        continue;
      }
      let runId: string;
      try {
        runId = decodeJson<ClaimRecord>(entry.value, `the claim of ${key}`).runId;
      } catch {
        await state.claims.delete(key);
        continue;
      }
      // A run created since we listed is unknown above: read it before releasing its agents.
      if (over.has(runId) || (!going.has(runId) && (await readRunRecord(state, runId)) === null)) {
        await state.claims.delete(key);
      }
    }
    return stopped;
  });
}
