// What agents and runners keep in the broker (SPEC §10), in one place: the
// names of the JetStream resources, the keys, and the shape of every record
// and message. State lives in JetStream, not in the runner, so that a run
// goes on when its runner detaches or dies and any runner can attach to it:
//
// - KV `loads-agents`: one record per connected agent, put again every
//   HEARTBEAT_INTERVAL_MS (its heartbeat). Watchers judge liveness with their
//   own clock (liveness.ts); one-shot readers compare an entry's server
//   timestamp with the server's clock (brokerNow), so no two machines' clocks
//   are ever compared.
// - KV `loads-claims`: key = agent id, value = the run that claimed it. A
//   runner claims with create(), which fails when the key exists: two runners
//   can never claim one agent. The agent deletes its claim when its part of
//   the run is over.
// - KV `loads-clock`: scratch keys whose stored timestamps are the broker's
//   clock (brokerNow).
// - KV `loads-runs`: the run record under `<runId>`, and the run's
//   coordination keys beside it: `<runId>.ready.<agent>` and
//   `<runId>.step.<i>.<agent>` (barriers), `<runId>.stop`,
//   `<runId>.lost.<agent>`, `<runId>.final.<agent>`.
// - Object store `loads-bundles`: the test bundle and included files, one
//   object per run, named by the run id.
// - Stream `LOADS_RUNS` on `loads.run.>`: each agent's result deltas and its
//   final message on `loads.run.<runId>.<agent>.delta|final`, and the lost
//   markers on `loads.run.<runId>.<agent>.lost`. One stream gives one total
//   order: an agent's results count up to the first lost marker for it and
//   never after, for every runner that replays the run, live or later.
//   Deltas carry a per-agent sequence number and are published with a
//   message id (`Nats-Msg-Id`), so a publish retried across a broker restart
//   is stored once, and a replayer drops any sequence it has seen.
//
// Agent ids and run ids are restricted to [A-Za-z0-9_-] so that they are one
// token of a subject and of a KV key.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Snapshot } from '../metrics/aggregator.ts';
import type { LoadsEvent } from '../metrics/events.ts';
import type { LoopSample } from '../metrics/loop-monitor.ts';
import type { CycleStep } from '../runner/cycle.ts';
import type { ExternalRunReport } from '../runner/external/report.ts';
import type { TransportOptions } from '../client/transport.ts';
import type { RunInfo } from '../metrics/summary.ts';
import type { TestBundle } from './bundle.ts';
import type { IncludedFile } from './include-files.ts';
import type { BrokerConnection } from './broker.ts';
import { BrokerError } from '../errors.ts';
import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';

/** Bumped when a record or message changes shape; a peer of another protocol is refused. */
export const PROTOCOL_VERSION = 1;

export const AGENTS_BUCKET = 'loads-agents';
export const CLAIMS_BUCKET = 'loads-claims';
export const RUNS_BUCKET = 'loads-runs';
/** Scratch keys whose stored timestamps tell the broker's clock (brokerNow). */
export const CLOCK_BUCKET = 'loads-clock';
export const BUNDLES_STORE = 'loads-bundles';
export const RUNS_STREAM = 'LOADS_RUNS';
export const RUNS_SUBJECT_PREFIX = 'loads.run';

/** How often an agent puts its record again. */
export const HEARTBEAT_INTERVAL_MS = 1_000;
/** An agent not heard from for this long is lost (--heartbeat-timeout changes it per run). */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 5_000;
/** How often an agent ships a delta while it runs. */
export const DELTA_INTERVAL_MS = 1_000;
/** A scratch clock key left by a client that died before purging it goes by itself. */
const CLOCK_KEY_TTL_MS = 60_000;
/** An agent record older than this disappears from the bucket by itself. */
export const AGENT_RECORD_TTL_MS = 60_000;
/** Runs, their results and bundles are kept this long after they are written: --attach works within it. */
export const RUN_RETENTION_MS = 24 * 60 * 60 * 1000;
/** The stream's cap on stored results; the oldest runs go first past it. */
export const RUNS_STREAM_MAX_BYTES = 1024 * 1024 * 1024;
/** Publishes with the same message id within this window are stored once. */
export const DUPLICATE_WINDOW_MS = 2 * 60 * 1000;
/** A message's events are split past this many, so one message stays well under NATS's 1 MB payload. */
export const MAX_EVENTS_PER_MESSAGE = 2_000;

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** True when `id` can be an agent or run id (one subject token, one KV key token). */
export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** An agent id from a --name (or the default host-pid): unsupported characters become '-'. */
export function agentIdFrom(name: string): string {
  const id = name
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
  return id === '' ? 'agent' : id;
}

/** The default agent name: this host and the agent's pid, so that several agents on one host differ. */
export function defaultAgentName(pid: number): string {
  return `${hostname()}-${pid}`;
}

/** A new run id: sortable by creation time, unique enough (`20261203-081500-3fa2c1`). */
export function newRunId(now: Date = new Date()): string {
  const iso = now.toISOString(); // 2026-12-03T08:15:00.123Z
  const stamp = `${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}`;
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

// ---- Keys and subjects -------------------------------------------------------

export const runKeys = {
  record: (runId: string) => runId,
  ready: (runId: string, agentId: string) => `${runId}.ready.${agentId}`,
  readyPrefix: (runId: string) => `${runId}.ready.>`,
  step: (runId: string, cycleIndex: number, agentId: string) =>
    `${runId}.step.${cycleIndex}.${agentId}`,
  stepPrefix: (runId: string, cycleIndex: number) => `${runId}.step.${cycleIndex}.>`,
  stop: (runId: string) => `${runId}.stop`,
  lost: (runId: string, agentId: string) => `${runId}.lost.${agentId}`,
  final: (runId: string, agentId: string) => `${runId}.final.${agentId}`,
  /** Every key of the run, the record included. */
  all: (runId: string) => [runId, `${runId}.>`],
} as const;

export const runSubjects = {
  delta: (runId: string, agentId: string) => `${RUNS_SUBJECT_PREFIX}.${runId}.${agentId}.delta`,
  final: (runId: string, agentId: string) => `${RUNS_SUBJECT_PREFIX}.${runId}.${agentId}.final`,
  lost: (runId: string, agentId: string) => `${RUNS_SUBJECT_PREFIX}.${runId}.${agentId}.lost`,
  /** Everything of one run, for a replaying consumer. */
  ofRun: (runId: string) => `${RUNS_SUBJECT_PREFIX}.${runId}.>`,
} as const;

/** The message id of an agent's sequence-numbered message: the broker stores a retried publish once. */
export function messageId(runId: string, agentId: string, seq: number): string {
  return `${runId}.${agentId}.${seq}`;
}

export function lostMessageId(runId: string, agentId: string): string {
  return `${runId}.${agentId}.lost`;
}

// ---- Records (KV values, JSON) ---------------------------------------------

/** What an agent says about itself, put every HEARTBEAT_INTERVAL_MS under its id. */
export interface AgentRecord {
  protocol: number;
  id: string;
  name: string;
  host: string;
  pid: number;
  cores: number;
  /** The agent's loads-runner version: a run of another version is refused. */
  version: string;
  /** 'busy' from the moment it sees a claim until its part of the run is over. */
  state: 'free' | 'busy';
  runId: string | null;
  /** Epoch ms (the agent's clock) when it connected: tells a restarted agent from the old one. */
  startedAt: number;
}

/** The value of an agent's claim. */
export interface ClaimRecord {
  runId: string;
  /** Epoch ms, the runner's clock. */
  claimedAt: number;
}

/** Everything an agent needs to run its part: the run record, under `<runId>`. */
export interface RunRecord {
  protocol: number;
  id: string;
  /**
   * 'claiming' while the runner claims agents (agents wait), 'running' once
   * `agents` is final, 'cancelled' when too few could be claimed (claimed
   * agents go back to free).
   */
  state: 'claiming' | 'running' | 'cancelled';
  /** Epoch ms (runner's clock) when the runner created it. */
  createdAt: number;
  /** Where it was started from, for --ping-broker and --attach lists. */
  runnerHost: string;
  /** The ids of the agents taking part, once claimed. */
  agents: string[];
  /** Their names and hosts as they announced them, for results shown after their records expire. */
  agentHosts?: Record<string, { name: string; host: string }>;
  /** The user's test name (`example.TestWebSite.test_es`), as shown in summaries. */
  fqn: string;
  /** The loads-runner version of the runner; the bundle says it too. */
  version: string;
  /** What each agent runs: the whole plan (each agent runs the whole load). */
  plan: CycleStep[];
  /** Test methods per run (FQN of a class: all its test_ methods), for counting planned runs. */
  methodsPerRun: number;
  /** RunInfo as the runner built it, startedAt excluded (the run's start is known only once every agent is ready). */
  info: Omit<RunInfo, 'startedAt'>;
  /** Worker threads per agent, or null for all its cores (capped by the largest step's users). */
  workersPerAgent: number | null;
  timeoutMs: number;
  testTimeoutMs: number;
  maxBodyBytes: number | null;
  discardBodies: boolean;
  transport: TransportOptions | null;
  serverUrl: string | null;
  /** An output of the runner needs every event (file, funkload): agents ship copies. */
  forwardEvents: boolean;
  heartbeatTimeoutMs: number;
  /** The bundle's object name in BUNDLES_STORE. */
  bundleObject: string;
  /**
   * --test-runner (SPEC §11): each agent runs the external test by this
   * command, in the run folder holding the included files (the bundle is
   * files-only); null for a TypeScript test.
   */
  external: RunExternal | null;
}

/** The external test runner of a run: what an agent needs to start its processes. */
export interface RunExternal {
  /** --test-runner as given, for the summary. */
  command: string;
  /** Its argv template, {test} still in it (runner/external/command.ts). */
  argv: string[];
  /** --external-process-timeout in seconds; 0 for none. */
  processTimeoutS: number;
}

/** A barrier key's value: `<runId>.ready.<agent>` or `<runId>.step.<i>.<agent>`. */
export interface BarrierRecord {
  agentId: string;
  /** Ctrl-C or a stop request ended the agent's step early. */
  interrupted: boolean;
}

/** `<runId>.stop`: a runner (or --purge-broker) asks every agent to stop the run. */
export interface StopRecord {
  /** Who asked: 'SIGINT', 'SIGTERM', 'abort-on-fail', 'purge-broker'. */
  reason: string;
  /** Epoch ms, the asker's clock. */
  at: number;
}

/** `<runId>.lost.<agent>`: someone saw the agent stop heartbeating. Written with create(): the first word stays. */
export interface LostRecord {
  agentId: string;
  /** The id of the agent or 'runner' that saw it. */
  by: string;
  /** How long it had been silent, ms. */
  silentMs: number;
}

/** `<runId>.final.<agent>`: the agent's part is over (its final message is in the stream before this is put). */
export interface FinalRecord {
  agentId: string;
  interrupted: boolean;
}

// ---- Stream messages (JSON) -------------------------------------------------

/** What the agent counted since its previous delta (Aggregator.takeDelta()). */
export interface DeltaMessage {
  kind: 'delta';
  protocol: number;
  runId: string;
  agentId: string;
  /** 1, 2, 3 … per agent and run, final message included: a replayer drops any it has seen. */
  seq: number;
  snapshot: Snapshot;
  /** Copies of the events when the run record says forwardEvents (cycle-start/end left out); else []. */
  events: LoadsEvent[];
}

/** The agent's last message of the run: nothing of it counts after. */
export interface FinalMessage {
  kind: 'final';
  protocol: number;
  runId: string;
  agentId: string;
  seq: number;
  /** Stopped early (a stop request, SIGTERM on the agent). */
  interrupted: boolean;
  /** Why its part failed (the test did not load there, a worker crashed), or null. */
  failure: string | null;
  /** Its threads' event-loop samples: the Agents table's "saturated". */
  loops: LoopSample[];
  /** Worker threads it ran the load on. */
  threads: number;
  /** An external run's report (processes started and failed, messages not counted); null otherwise. */
  external: ExternalRunReport | null;
}

/** Published by whoever saw the agent go silent; the first one in the stream counts. */
export interface LostMessage {
  kind: 'lost';
  protocol: number;
  runId: string;
  agentId: string;
  by: string;
  silentMs: number;
}

export type RunMessage = DeltaMessage | FinalMessage | LostMessage;

/**
 * A snapshot's timeline rows hold their histograms as Uint32Array bucket
 * pairs, which JSON would turn into objects of numbered keys: on the wire
 * each typed array is `{ "$u32": base64 }` (little-endian, as every platform
 * Node runs on), restored by decodeRunMessage.
 */
const U32_KEY = '$u32';

export function encodeRunMessage(message: RunMessage): Uint8Array {
  return encoder.encode(
    JSON.stringify(message, (_key, value: unknown) =>
      value instanceof Uint32Array
        ? {
            [U32_KEY]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString(
              'base64',
            ),
          }
        : value,
    ),
  );
}

/** Parses a stream message; throws BrokerStateError when it is not JSON. */
export function decodeRunMessage(bytes: Uint8Array): RunMessage {
  try {
    return JSON.parse(decoder.decode(bytes), (_key, value: unknown) => {
      if (value !== null && typeof value === 'object' && U32_KEY in value) {
        const raw = Buffer.from(String((value as Record<string, unknown>)[U32_KEY]), 'base64');
        // A copy: Buffer's pool offset need not be 4-byte aligned.
        const words = new Uint32Array(raw.byteLength >>> 2);
        new Uint8Array(words.buffer).set(raw.subarray(0, words.byteLength));
        return words;
      }
      return value;
    }) as RunMessage;
  } catch (error) {
    throw new BrokerStateError(`a run message is not JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** A run's bundle and files as stored in BUNDLES_STORE (file bytes as base64). */
export interface StoredBundle {
  protocol: number;
  bundle: TestBundle;
  files: { path: string; mode: number; base64: string }[];
}

export function encodeBundle(bundle: TestBundle, files: readonly IncludedFile[]): Uint8Array {
  const stored: StoredBundle = {
    protocol: PROTOCOL_VERSION,
    bundle,
    files: files.map((f) => ({
      path: f.path,
      mode: f.mode,
      base64: Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength).toString(
        'base64',
      ),
    })),
  };
  return Buffer.from(JSON.stringify(stored));
}

/** Throws BrokerStateError when the object is not a bundle of this protocol. */
export function decodeBundle(bytes: Uint8Array): { bundle: TestBundle; files: IncludedFile[] } {
  const stored = decodeJson<StoredBundle>(bytes, 'the run bundle');
  if (stored.protocol !== PROTOCOL_VERSION || typeof stored.bundle?.code !== 'string') {
    throw new BrokerStateError(
      `the run bundle is of protocol ${String(stored.protocol)}, not ${PROTOCOL_VERSION}`,
    );
  }
  return {
    bundle: stored.bundle,
    files: stored.files.map((f) => ({
      path: f.path,
      mode: f.mode,
      bytes: new Uint8Array(Buffer.from(f.base64, 'base64')),
    })),
  };
}

/** The broker holds something this version cannot read (another protocol, a foreign key). */
export class BrokerStateError extends Error {
  override readonly name = 'BrokerStateError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses a JSON record; throws BrokerStateError naming `what` when it is not JSON. */
export function decodeJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch (error) {
    throw new BrokerStateError(`${what} is not JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

// ---- Resources ---------------------------------------------------------------

/** The broker's JetStream resources loads-runner uses, opened (and created when missing). */
export interface BrokerState {
  agents: KV;
  claims: KV;
  runs: KV;
  bundles: ObjectStore;
  /** Scratch keys for brokerNow: a bucket of its own, so no key listing of another sees them. */
  clock: KV;
}

const NANOS_PER_MS = 1_000_000;

/**
 * Opens the buckets, the object store and the stream, creating each that is
 * missing: the first agent or runner on a new broker sets it up. Idempotent;
 * concurrent callers are fine (an existing resource is opened as it is).
 */
export async function openBrokerState(connection: BrokerConnection): Promise<BrokerState> {
  try {
    return await openOrCreateResources(connection);
  } catch (err) {
    // A stream's limits are reserved at its creation: a broker with too little store says so.
    if (err instanceof Error && /insufficient storage resources/i.test(err.message)) {
      throw new BrokerError(
        `the broker at ${connection.description} has too little JetStream storage for loads-runner's streams (the results stream ${RUNS_STREAM} reserves ${RUNS_STREAM_MAX_BYTES / 2 ** 30} GiB): raise max_file_store in its jetstream block (docs/nats/loads-broker.conf uses 4GB)`,
        'other',
        { cause: err },
      );
    }
    throw err;
  }
}

async function openOrCreateResources(connection: BrokerConnection): Promise<BrokerState> {
  const { kvm, objm, jsm } = connection;
  const [agents, claims, runs, bundles, clock] = await Promise.all([
    kvm.create(AGENTS_BUCKET, { history: 1, ttl: AGENT_RECORD_TTL_MS }),
    kvm.create(CLAIMS_BUCKET, { history: 1 }),
    kvm.create(RUNS_BUCKET, { history: 1, ttl: RUN_RETENTION_MS }),
    objm.create(BUNDLES_STORE, { ttl: RUN_RETENTION_MS * NANOS_PER_MS }),
    kvm.create(CLOCK_BUCKET, { history: 1, ttl: CLOCK_KEY_TTL_MS }),
  ]);
  const stream = {
    name: RUNS_STREAM,
    subjects: [`${RUNS_SUBJECT_PREFIX}.>`],
    max_age: RUN_RETENTION_MS * NANOS_PER_MS,
    max_bytes: RUNS_STREAM_MAX_BYTES,
    duplicate_window: DUPLICATE_WINDOW_MS * NANOS_PER_MS,
  };
  try {
    await jsm.streams.info(RUNS_STREAM);
  } catch {
    try {
      await jsm.streams.add(stream);
    } catch (error) {
      // Another client created it in the meantime: fine.
      await jsm.streams.info(RUNS_STREAM).catch(() => {
        throw error;
      });
    }
  }
  return { agents, claims, runs, bundles, clock };
}

/**
 * The broker's clock now, epoch ms: put a scratch key and read its stored
 * timestamp. Comparing an entry's `created` with this needs no two machines'
 * clocks to agree.
 */
export async function brokerNow(state: BrokerState): Promise<number> {
  const key = randomBytes(4).toString('hex');
  const revision = await state.clock.put(key, encoder.encode(''));
  const entry = await state.clock.get(key, { revision });
  await state.clock.purge(key).catch(() => {});
  return entry?.created.getTime() ?? Date.now();
}

/** A key listing that delivers nothing for this long has stalled. */
const KEY_LISTING_IDLE_MS = 3_000;
const KEY_LISTING_TRIES = 3;

/**
 * The keys of a bucket, each once. A listing counts the keys when it starts
 * and ends when it has seen them; a key that expires or is replaced meanwhile
 * can leave it waiting for one that never comes (nats-server#3481), so each
 * listing is bounded by KEY_LISTING_IDLE_MS without a key, and tried again.
 */
export async function listKeys(kv: KV, bucket: string): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    const listing = await kv.keys();
    const iterator = listing[Symbol.asyncIterator]();
    const keys = new Set<string>();
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<'stalled'>((resolve) => {
        timer = setTimeout(() => resolve('stalled'), KEY_LISTING_IDLE_MS);
      });
      const next = await Promise.race([iterator.next(), stalled]);
      clearTimeout(timer);
      if (next === 'stalled') {
        listing.stop();
        break;
      }
      if (next.done === true) {
        return [...keys];
      }
      keys.add(next.value);
    }
    if (attempt === KEY_LISTING_TRIES) {
      throw new Error(
        `listing the keys of ${bucket} stalled ${KEY_LISTING_TRIES} times (${KEY_LISTING_IDLE_MS / 1000} s without a key)`,
      );
    }
  }
}

/** An agent record as read from the bucket, with how long ago (broker clock) it was put. */
export interface AgentListing {
  record: AgentRecord;
  /** Milliseconds since its last heartbeat, by the broker's clock. */
  silentMs: number;
  /** The run that has claimed it, or null. */
  claimedBy: string | null;
}

/**
 * Every agent with a record in the bucket (agents silent past
 * AGENT_RECORD_TTL_MS are gone already), sorted by name. Records of another
 * protocol are listed too (their version tells why they cannot be used).
 */
export async function listAgents(state: BrokerState): Promise<AgentListing[]> {
  const now = await brokerNow(state);
  const claims = new Map<string, string>();
  for (const key of await listKeys(state.claims, CLAIMS_BUCKET)) {
    const entry = await state.claims.get(key);
    if (entry !== null && entry.operation === 'PUT') {
      claims.set(key, decodeJson<ClaimRecord>(entry.value, `the claim of ${key}`).runId);
    }
  }
  const listings: AgentListing[] = [];
  // A key put again while the listing runs (a heartbeat) can come twice: listKeys gives each once.
  for (const key of await listKeys(state.agents, AGENTS_BUCKET)) {
    const entry = await state.agents.get(key);
    if (entry === null || entry.operation !== 'PUT') {
      continue;
    }
    let record: AgentRecord;
    try {
      record = decodeJson<AgentRecord>(entry.value, `the record of agent ${key}`);
    } catch {
      continue;
    }
    listings.push({
      record,
      silentMs: Math.max(0, now - entry.created.getTime()),
      claimedBy: claims.get(key) ?? null,
    });
  }
  return listings.sort((a, b) => a.record.name.localeCompare(b.record.name));
}

/** Reads the run record, or null when there is none (never created, or past RUN_RETENTION_MS). */
export async function readRunRecord(state: BrokerState, runId: string): Promise<RunRecord | null> {
  const entry = await state.runs.get(runKeys.record(runId));
  if (entry === null || entry.operation !== 'PUT') {
    return null;
  }
  return decodeJson<RunRecord>(entry.value, `the record of run ${runId}`);
}
