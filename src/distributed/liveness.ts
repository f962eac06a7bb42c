// Who is still there, for agents at a barrier and for runners following a
// run: HeartbeatWatch polls the agents' records and calls onLost for an
// agent whose record has not changed for the run's heartbeat timeout, by
// the watcher's own clock (no two machines' clocks are compared). Polling,
// not a KV watch, so that a broker restart cannot leave a watcher stalled on
// a consumer that is gone; and time the watcher itself could not reach the
// broker is never held against an agent (every agent gets a fresh timeout
// once the broker answers again). markLost and publishReliably write what
// every replayer must agree on.
import type { JetStreamClient } from '@nats-io/jetstream';
import {
  encodeJson,
  lostMessageId,
  PROTOCOL_VERSION,
  runKeys,
  runSubjects,
  type BrokerState,
  type LostMessage,
  type LostRecord,
} from './protocol.ts';

/** How often HeartbeatWatch reads the agents' records. */
export const POLL_INTERVAL_MS = 250;
/** How long one publish waits for the stream's acknowledgement before it is sent again. */
export const PUBLISH_ACK_TIMEOUT_MS = 2_000;
/** Pause between retries of a publish the broker did not acknowledge. */
const PUBLISH_RETRY_MS = 250;

export interface HeartbeatWatchOptions {
  state: BrokerState;
  agentIds: readonly string[];
  timeoutMs: number;
  /** Called once per agent, the first time it has been silent for timeoutMs. */
  onLost: (agentId: string, silentMs: number) => void;
  /** Local monotonic clock, ms; tests give their own. */
  now?: () => number;
}

export class HeartbeatWatch {
  readonly #options: HeartbeatWatchOptions;
  readonly #now: () => number;
  /** Per agent: the last revision seen and when it changed (local clock). */
  readonly #heard = new Map<string, { revision: number; at: number }>();
  readonly #ignored = new Set<string>();
  readonly #lost = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #brokerWasUnreachable = false;

  constructor(options: HeartbeatWatchOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    const at = this.#now();
    for (const id of options.agentIds) {
      this.#heard.set(id, { revision: -1, at });
    }
  }

  /** Starts polling; every agent has a full timeout from now. */
  start(): void {
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => void this.poll(), POLL_INTERVAL_MS);
      this.#timer.unref();
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stops judging an agent (it said its part is over, or it is known lost). */
  ignore(agentId: string): void {
    this.#ignored.add(agentId);
  }

  /** True once onLost was called for it. */
  isLost(agentId: string): boolean {
    return this.#lost.has(agentId);
  }

  /** How long the agent has been silent, ms, by this watcher's clock. */
  silentMs(agentId: string): number {
    const heard = this.#heard.get(agentId);
    return heard === undefined ? 0 : this.#now() - heard.at;
  }

  /** One round: read every judged agent's record, then call onLost for the silent ones. Exposed for tests. */
  async poll(): Promise<void> {
    if (this.#polling) {
      return;
    }
    this.#polling = true;
    try {
      const judged = [...this.#heard.keys()].filter(
        (id) => !this.#ignored.has(id) && !this.#lost.has(id),
      );
      let revisions: (number | null)[];
      try {
        revisions = await Promise.all(
          judged.map(async (id) => {
            const entry = await this.#options.state.agents.get(id);
            return entry === null || entry.operation !== 'PUT' ? null : entry.revision;
          }),
        );
      } catch {
        this.#brokerWasUnreachable = true;
        return;
      }
      const now = this.#now();
      if (this.#brokerWasUnreachable) {
        // We could not hear anyone: nobody is blamed for that time.
        this.#brokerWasUnreachable = false;
        for (const heard of this.#heard.values()) {
          heard.at = now;
        }
      }
      for (let i = 0; i < judged.length; i++) {
        const id = judged[i]!;
        const heard = this.#heard.get(id)!;
        const revision = revisions[i];
        if (revision !== null && revision !== undefined && revision !== heard.revision) {
          heard.revision = revision;
          heard.at = now;
        } else if (now - heard.at >= this.#options.timeoutMs && !this.#ignored.has(id)) {
          this.#lost.add(id);
          this.#options.onLost(id, Math.round(now - heard.at));
        }
      }
    } finally {
      this.#polling = false;
    }
  }
}

/**
 * Publishes to the stream until the broker acknowledges it (a duplicate
 * counts: the message id makes a retry harmless), or `signal` aborts.
 * Returns false when aborted before an acknowledgement.
 */
export async function publishReliably(
  js: JetStreamClient,
  subject: string,
  payload: Uint8Array,
  msgID: string,
  signal?: AbortSignal,
): Promise<boolean> {
  for (;;) {
    if (signal?.aborted === true) {
      return false;
    }
    try {
      await js.publish(subject, payload, { msgID, timeout: PUBLISH_ACK_TIMEOUT_MS });
      return true;
    } catch {
      // Disconnected, broker restarting, no acknowledgement in time: send it again.
      await new Promise((resolve) => setTimeout(resolve, PUBLISH_RETRY_MS));
    }
  }
}

/**
 * Says, for every replayer, that `agentId` is lost to the run: the lost
 * message in the stream first (what replayers count by), then the KV key
 * (what agents at barriers and the agent itself, if it comes back, read).
 * Both are idempotent; the first writer's word stays in the KV.
 */
export async function markLost(
  js: JetStreamClient,
  state: BrokerState,
  runId: string,
  agentId: string,
  by: string,
  silentMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const message: LostMessage = {
    kind: 'lost',
    protocol: PROTOCOL_VERSION,
    runId,
    agentId,
    by,
    silentMs,
  };
  const published = await publishReliably(
    js,
    runSubjects.lost(runId, agentId),
    encodeJson(message),
    lostMessageId(runId, agentId),
    signal,
  );
  if (!published) {
    return;
  }
  const record: LostRecord = { agentId, by, silentMs };
  try {
    await state.runs.create(runKeys.lost(runId, agentId), encodeJson(record));
  } catch {
    // Someone said it first (or the broker is gone again: the stream has it, which is what counts).
  }
}
