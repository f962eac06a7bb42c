// The protocol between the main thread and its worker threads (--workers).
// Every message carries a brand and a version, so that a stray message on
// the port (a user test's own postMessage, another copy of loads-runner) is
// told apart and ignored. Workers ship aggregated deltas, not events
// (STYLE.md §8.8); event copies travel only when an output needs every
// event, in the same message as the delta they are counted in, so that the
// summary and the file output always agree. Errors travel as plain text.
import type { Snapshot } from '../metrics/aggregator.ts';
import type { LoadsEvent } from '../metrics/events.ts';
import type { LoopSample } from '../metrics/loop-monitor.ts';
import type { CycleStep } from '../runner/cycle.ts';
import type { TransportOptions } from '../client/transport.ts';

export const WORKER_PROTOCOL = 'loads-runner.worker';
export const WORKER_PROTOCOL_VERSION = 1;

interface Envelope {
  protocol: typeof WORKER_PROTOCOL;
  version: typeof WORKER_PROTOCOL_VERSION;
}

/** The worker's `workerData`: what it needs to load the test and run users. */
export interface WorkerSetup extends Envelope {
  /** 1-based, as the worker is named in messages to the user. */
  workerIndex: number;
  fqn: string;
  /** Where the test module resolves from (the CLI's cwd). */
  cwd: string;
  timeoutMs: number;
  testTimeoutMs: number;
  /** --max-body-size, bytes; null for the default. */
  maxBodyBytes: number | null;
  discardBodies: boolean;
  /** TLS and HTTP/2 settings, PEM texts included; null for none. */
  transport: TransportOptions | null;
  serverUrl: string | null;
  /** Batch copies of every event and send them (an output such as file needs them). */
  forwardEvents: boolean;
}

/** Main → worker. */
export type ToWorkerMessage = Envelope &
  (
    | {
        /**
         * Run users userOffset+1 … userOffset+userCount of this step, then say
         * step-done. In a rate step these bound the worker's pool, and it
         * starts the step's runs i with userOffset ≤ i % step.users <
         * userOffset + userCount: runs in proportion to its users.
         */
        type: 'run-step';
        step: CycleStep;
        userOffset: number;
        userCount: number;
        /** The run's start, epoch ms: row 0 of every thread's timeline. */
        timelineOriginMs: number;
      }
    | {
        /** Ctrl-C or another worker's crash: stop now (runs in flight not counted), then say finished. */
        type: 'abort';
      }
    | {
        /** The plan is done: send what is left, then say finished. */
        type: 'finish';
      }
  );

/** Worker → main. */
export type FromWorkerMessage = Envelope &
  (
    | {
        /** The test module loaded; steps may start. */
        type: 'ready';
      }
    | {
        /** The test module failed to load in this worker, or the worker's own code threw. */
        type: 'failed';
        message: string;
      }
    | {
        /**
         * What happened since the last delta: an Aggregator.takeDelta(), and
         * when forwardEvents is on, copies of the same events (cycle-start
         * and cycle-end excluded: the main thread emits those once per step).
         */
        type: 'delta';
        snapshot: Snapshot;
        events: LoadsEvent[];
      }
    | {
        /** This worker's share of the step is done; its last delta was sent before. */
        type: 'step-done';
        cycleIndex: number;
        interrupted: boolean;
      }
    | {
        /** An error escaped a test run (a promise not awaited?); only the first few are sent. */
        type: 'stray-error';
        text: string;
      }
    | {
        /** The last message: nothing more will be counted. `loop` is null if no step ran. */
        type: 'finished';
        loop: LoopSample | null;
      }
  );

export type ToWorkerBody = DistributiveOmit<ToWorkerMessage, keyof Envelope>;
export type FromWorkerBody = DistributiveOmit<FromWorkerMessage, keyof Envelope>;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Adds the brand and version to a message body. */
export function envelope<T extends object>(body: T): T & Envelope {
  return { protocol: WORKER_PROTOCOL, version: WORKER_PROTOCOL_VERSION, ...body };
}

function hasEnvelope(value: unknown): value is Envelope & { type: unknown } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Partial<Envelope>).protocol === WORKER_PROTOCOL &&
    (value as Partial<Envelope>).version === WORKER_PROTOCOL_VERSION &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}

const TO_WORKER_TYPES: readonly string[] = ['run-step', 'abort', 'finish'];
const FROM_WORKER_TYPES: readonly string[] = [
  'ready',
  'failed',
  'delta',
  'step-done',
  'stray-error',
  'finished',
];

export function isToWorkerMessage(value: unknown): value is ToWorkerMessage {
  return hasEnvelope(value) && TO_WORKER_TYPES.includes(value.type as string);
}

export function isFromWorkerMessage(value: unknown): value is FromWorkerMessage {
  return hasEnvelope(value) && FROM_WORKER_TYPES.includes(value.type as string);
}

export function isWorkerSetup(value: unknown): value is WorkerSetup {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Partial<Envelope>).protocol === WORKER_PROTOCOL &&
    (value as Partial<Envelope>).version === WORKER_PROTOCOL_VERSION &&
    typeof (value as Partial<WorkerSetup>).fqn === 'string'
  );
}
