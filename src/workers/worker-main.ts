// The entry of one worker thread (--workers N): a composition root of its
// own. It loads the test module itself, runs the share of each step's users
// the main thread gives it with a LocalRunner, and ships an aggregator delta
// every FLUSH_INTERVAL_MS and at each step end (plus event copies when an
// output needs every event). After its last message nothing more is counted,
// so what the main thread merged and what the outputs got always agree.
// process is used for two things: an error escaping a test run must not end
// the thread (as in cli/main.ts), so it is reported instead; and Node's
// warning about a .js test module's type, which the main thread already
// said once in its own words, is not printed again by every worker.
import { parentPort, workerData } from 'node:worker_threads';
import { Aggregator } from '../metrics/aggregator.ts';
import type { EventSink, LoadsEvent } from '../metrics/events.ts';
import { LoopMonitor, type LoopSample } from '../metrics/loop-monitor.ts';
import { loadTest, type LoadedTest } from '../runner/loader.ts';
import { LocalRunner } from '../runner/local-runner.ts';
import { filterModuleTypeWarnings } from '../runner/module-type-warning.ts';
import {
  envelope,
  isToWorkerMessage,
  isWorkerSetup,
  type FromWorkerBody,
  type ToWorkerMessage,
  type WorkerSetup,
} from './messages.ts';

/** How often deltas go to the main thread while a step runs. */
export const FLUSH_INTERVAL_MS = 200;
/** Stray errors reported per worker; the main thread prints at most a few in all. */
const MAX_STRAY_REPORTS = 3;

const port = parentPort;
if (port === null || !isWorkerSetup(workerData)) {
  throw new Error('worker-main.ts runs only as a loads-runner worker thread');
}
const setup: WorkerSetup = workerData;

function post(body: FromWorkerBody): void {
  port!.postMessage(envelope(body));
}

const aggregator = new Aggregator();
let events: LoadsEvent[] = [];
/** Something was emitted since the last delta. */
let dirty = false;
/** The last message went out: later events are dropped, from the counts and the outputs alike. */
let closed = false;

const sink: EventSink = setup.forwardEvents
  ? {
      emit(event) {
        if (closed) {
          return;
        }
        aggregator.emit(event);
        dirty = true;
        // The main thread emits cycle-start/cycle-end once per step for all workers.
        if (event.type !== 'cycle-start' && event.type !== 'cycle-end') {
          // The producer reuses its event objects: keep a copy.
          events.push({ ...event });
        }
      },
    }
  : {
      emit(event) {
        if (closed) {
          return;
        }
        aggregator.emit(event);
        dirty = true;
      },
    };

function flush(): void {
  if (!dirty) {
    return;
  }
  dirty = false;
  const batch = events;
  events = [];
  post({ type: 'delta', snapshot: aggregator.takeDelta(), events: batch });
}

const controller = new AbortController();
const monitor = new LoopMonitor(`worker ${setup.workerIndex}`);
let monitoring = false;
let test: LoadedTest | undefined;
let currentStep: Promise<void> | undefined;
let finishing = false;
const flushTimer = setInterval(flush, FLUSH_INTERVAL_MS);
flushTimer.unref();

let strays = 0;
const onStray = (reason: unknown): void => {
  strays++;
  if (strays <= MAX_STRAY_REPORTS && !closed) {
    const text = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
    post({ type: 'stray-error', text });
  }
};
// eslint-disable-next-line no-restricted-globals -- see the header: a worker entry is a composition root
filterModuleTypeWarnings(process, () => {});
// eslint-disable-next-line no-restricted-globals -- as above
process.on('unhandledRejection', onStray);
// eslint-disable-next-line no-restricted-globals -- as above
process.on('uncaughtException', onStray);

async function runStep(message: Extract<ToWorkerMessage, { type: 'run-step' }>): Promise<void> {
  aggregator.startTimeline(message.timelineOriginMs);
  if (!monitoring) {
    monitor.start();
    monitoring = true;
  }
  const result = await new LocalRunner({
    test: test!,
    plan: [message.step],
    sink,
    signal: controller.signal,
    timeoutMs: setup.timeoutMs,
    testTimeoutMs: setup.testTimeoutMs,
    maxBodyBytes: setup.maxBodyBytes ?? undefined,
    discardBodies: setup.discardBodies,
    transport: setup.transport ?? undefined,
    serverUrl: setup.serverUrl ?? undefined,
    userShare: { offset: message.userOffset, count: message.userCount },
    // Runs in proportion to this worker's share of the pool (see RunShare).
    runShare: { offset: message.userOffset, count: message.userCount, period: message.step.users },
  }).run();
  flush();
  post({ type: 'step-done', cycleIndex: message.step.cycleIndex, interrupted: result.interrupted });
}

/** Waits for the step in flight (it returns at once once aborted), sends the rest, then the last message. */
async function finish(): Promise<void> {
  if (finishing) {
    return;
  }
  finishing = true;
  await currentStep;
  clearInterval(flushTimer);
  const loop: LoopSample | null = monitoring ? monitor.stop() : null;
  flush();
  closed = true;
  post({ type: 'finished', loop });
}

port.on('message', (message: unknown) => {
  if (!isToWorkerMessage(message)) {
    return; // not ours (a test's own messages, another version)
  }
  switch (message.type) {
    case 'run-step':
      if (!finishing && test !== undefined) {
        currentStep = runStep(message).catch(reportFailure);
      }
      break;
    case 'abort':
      controller.abort();
      void finish();
      break;
    case 'finish':
      void finish();
      break;
    default: {
      const unknown: never = message;
      void unknown;
    }
  }
});

try {
  test = await loadTest(setup.fqn, setup.cwd);
  post({ type: 'ready' });
} catch (err) {
  reportFailure(err);
}

function reportFailure(err: unknown): void {
  post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
}
