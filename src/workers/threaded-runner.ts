// Runs a plan on several worker threads (--workers N), with LocalRunner's
// contract: same steps, same counts, run() resolves when the plan is done or
// Ctrl-C stopped it. Each worker loads the test module itself; the users of
// each step are split as evenly as possible across min(N, users) workers,
// numbered globally (worker k runs users offset+1 … offset+n); in a rate
// step those bound each worker's pool, and worker k of n starts the runs i
// with i % n === k, so the union is the single-thread schedule. Steps are
// synchronised: step i+1 starts on every worker once all of them finished
// step i. Workers send aggregator deltas, merged here into the main
// Aggregator (exact: counts add, histograms merge bucket by bucket), and,
// only when an output needs every event, batches of event copies, re-emitted
// to `eventSink`. Ctrl-C and a crashed worker end the run within
// ABORT_GRACE_MS + TERMINATE_WAIT_MS, even if a worker hangs; a crash then
// rejects with a LoadsError naming the worker, after the others' last deltas
// are merged.
import { Worker } from 'node:worker_threads';
import type { TransportOptions } from '../client/transport.ts';
import { ExitCode, LoadsError } from '../errors.ts';
import type { Aggregator } from '../metrics/aggregator.ts';
import { now } from '../metrics/clock.ts';
import type { CycleEndEvent, EventSink } from '../metrics/events.ts';
import type { LoopSample } from '../metrics/loop-monitor.ts';
import { cycleStartEvent, type CycleStep } from '../runner/cycle.ts';
import type { RunResult } from '../runner/local-runner.ts';
import {
  envelope,
  isFromWorkerMessage,
  type FromWorkerMessage,
  type ToWorkerBody,
  type WorkerSetup,
} from './messages.ts';

export interface ThreadedRunnerOptions {
  /** The test name; each worker resolves and loads it from `cwd`. */
  fqn: string;
  cwd: string;
  plan: readonly CycleStep[];
  /** Worker threads wanted; at most the largest step's users are started. */
  workers: number;
  /** Receives every worker's deltas (merge()); the progress display and the summary read it. */
  aggregator: Aggregator;
  /**
   * Outputs that need every event (file, funkload), or undefined when none
   * does: workers then send no events at all. Never given to the aggregator.
   */
  eventSink: EventSink | undefined;
  /** Ctrl-C: stop at once; runs in flight are not counted. */
  signal: AbortSignal;
  timeoutMs: number;
  testTimeoutMs: number;
  /** --max-body-size, bytes; default the Session's. */
  maxBodyBytes?: number | undefined;
  /** --discard-bodies. */
  discardBodies?: boolean | undefined;
  /** --insecure, --ca, --cert/--key, --http2 (plain data: sent to each worker). */
  transport?: TransportOptions | undefined;
  serverUrl: string | undefined;
  /** An error escaped a test run in a worker (the first few per worker). */
  onStrayError?: (text: string, workerIndex: number) => void;
  /**
   * Awaited after each step but the last, once every worker finished it and
   * its cycle-end was emitted (a distributed agent waits there for its
   * peers: the step barrier). 'stop' ends the run as interrupted; the
   * signal ends the wait too.
   */
  betweenSteps?: (finishedStep: CycleStep) => Promise<'go' | 'stop'>;
}

/** How long stopped workers get to send their last delta before they are terminated. */
export const ABORT_GRACE_MS = 1000;
/** How long terminate() is awaited; a thread that takes longer is left to die, unref'd. */
export const TERMINATE_WAIT_MS = 500;

const STOP = Symbol('stop');
type Stop = typeof STOP;
type Awaited = FromWorkerMessage['type'];

/**
 * The worker entry next to this file: dist/workers/worker-main.js when
 * built, started as it is (it inherits the process's execArgv, so
 * --cpu-prof profiles the workers too). When this file runs from src/ under
 * tsx (the tests), the entry is worker-main.ts, and the worker must register
 * tsx before importing it: on Node 20, `execArgv: ['--import', 'tsx']` does
 * not apply to a worker's entry ("Unknown file extension .ts"), so a small
 * evaluated script registers tsx, then imports the entry.
 */
function workerEntry(): { entry: URL | string; eval: boolean } {
  if (!import.meta.url.endsWith('.ts')) {
    return { entry: new URL('./worker-main.js', import.meta.url), eval: false };
  }
  const tsxApi = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const entry = JSON.stringify(new URL('./worker-main.ts', import.meta.url).href);
  return {
    entry: `import(${tsxApi}).then((tsx) => { tsx.register(); return import(${entry}); });`,
    eval: true,
  };
}

/** One worker thread and the messages the runner is waiting for from it. */
class WorkerThread {
  readonly index: number;
  readonly worker: Worker;
  /** It sent 'finished': nothing more will come. */
  finished = false;
  /** The thread has exited. */
  exited = false;
  readonly #waiters = new Map<Awaited, () => void>();

  constructor(index: number, worker: Worker) {
    this.index = index;
    this.worker = worker;
  }

  /** Resolves when the worker sends a message of this type ('finished' also when it exits). */
  expect(type: Awaited): Promise<void> {
    if (this.exited && type === 'finished') {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.set(type, resolve));
  }

  received(type: Awaited): void {
    const resolve = this.#waiters.get(type);
    if (resolve !== undefined) {
      this.#waiters.delete(type);
      resolve();
    }
  }

  post(body: ToWorkerBody): void {
    if (!this.exited) {
      this.worker.postMessage(envelope(body));
    }
  }
}

export class ThreadedRunner {
  readonly #options: ThreadedRunnerOptions;
  readonly #threads: WorkerThread[] = [];
  readonly #loopSamples: LoopSample[] = [];
  #stop: Promise<Stop> = new Promise(() => {});
  #resolveStop: () => void = ignore;
  #crash: LoadsError | undefined;
  #terminating = false;
  /** start(): resolves with true when Ctrl-C came before every worker was ready. */
  #starting: Promise<boolean> | undefined;
  readonly #onAbort = (): void => this.#resolveStop();
  /** The step whose cycle-end is still to be emitted. */
  #openStep: { cycleIndex: number; startMs: number } | undefined;

  constructor(options: ThreadedRunnerOptions) {
    this.#options = options;
  }

  /** The workers' event-loop samples received so far (one per worker that ran a step). */
  get loopSamples(): LoopSample[] {
    return this.#loopSamples.slice();
  }

  /**
   * Starts the workers and waits until each has loaded the test, so that
   * the caller can start its clock after (a worker takes a few hundred ms
   * of CPU to load tsx and the test module). Rejects with a LoadsError,
   * after stopping every worker, when one cannot load the test. Optional:
   * run() starts them if this was not called.
   */
  async start(): Promise<void> {
    this.#starting ??= this.#start();
    await this.#starting;
  }

  async #start(): Promise<boolean> {
    const { signal, plan } = this.#options;
    this.#stop = new Promise<Stop>((resolve) => {
      this.#resolveStop = () => resolve(STOP);
    });
    signal.addEventListener('abort', this.#onAbort, { once: true });
    if (signal.aborted) {
      this.#resolveStop();
    }
    let stopped: boolean;
    try {
      const largestStep = Math.max(1, ...plan.map((step) => step.users));
      const count = Math.max(1, Math.min(this.#options.workers, largestStep));
      for (let i = 1; i <= count; i++) {
        this.#threads.push(this.#spawn(i));
      }
      stopped = (await this.#untilStop(this.#all('ready'))) === STOP;
    } catch (err) {
      this.#crash ??= new LoadsError(
        `cannot start worker threads: ${err instanceof Error ? err.message : String(err)}`,
        'LOADS_ERR_WORKER',
        ExitCode.RUN_FAILED,
        { cause: err },
      );
    }
    if (this.#crash !== undefined) {
      signal.removeEventListener('abort', this.#onAbort);
      await this.#abortAll();
      await this.#terminateAll();
      throw this.#crash;
    }
    return stopped!;
  }

  /**
   * Runs the whole plan. Resolves when it is done or interrupted; rejects
   * with a LoadsError (exit status 1) when a worker crashed or could not
   * load the test. Either way every worker has been stopped and what it
   * sent merged. `timelineOriginMs` is the run's start (epoch ms): every
   * worker's timeline rows count from it, so that they merge exactly.
   */
  async run(timelineOriginMs: number = Date.now()): Promise<RunResult> {
    this.#timelineOriginMs = timelineOriginMs;
    const { signal, plan } = this.#options;
    if (this.#starting === undefined && (signal.aborted || plan.length === 0)) {
      return { interrupted: signal.aborted };
    }
    let stopped = await (this.#starting ??= this.#start());
    let stoppedBetweenSteps = false;
    try {
      for (let i = 0; i < plan.length; i++) {
        if (stopped) {
          break;
        }
        const step = plan[i]!;
        stopped = (await this.#runStep(step)) === STOP;
        const betweenSteps = this.#options.betweenSteps;
        if (!stopped && betweenSteps !== undefined && i < plan.length - 1) {
          const verdict = await this.#untilStop(betweenSteps(step));
          stoppedBetweenSteps = verdict === 'stop';
          stopped = verdict !== 'go';
        }
      }
      if (!stopped) {
        const finished = this.#all('finished');
        for (const thread of this.#threads) {
          thread.post({ type: 'finish' });
        }
        stopped = (await this.#untilStop(finished)) === STOP;
      }
      if (stopped) {
        await this.#abortAll();
      }
      this.#closeStep();
    } finally {
      signal.removeEventListener('abort', this.#onAbort);
      await this.#terminateAll();
    }
    if (this.#crash !== undefined) {
      throw this.#crash;
    }
    return { interrupted: signal.aborted || stoppedBetweenSteps };
  }

  #spawn(index: number): WorkerThread {
    const { entry, eval: isScript } = workerEntry();
    const setup: WorkerSetup = envelope({
      workerIndex: index,
      fqn: this.#options.fqn,
      cwd: this.#options.cwd,
      timeoutMs: this.#options.timeoutMs,
      testTimeoutMs: this.#options.testTimeoutMs,
      maxBodyBytes: this.#options.maxBodyBytes ?? null,
      discardBodies: this.#options.discardBodies ?? false,
      transport: this.#options.transport ?? null,
      serverUrl: this.#options.serverUrl ?? null,
      forwardEvents: this.#options.eventSink !== undefined,
    });
    const worker = new Worker(entry, { workerData: setup, eval: isScript });
    const thread = new WorkerThread(index, worker);
    worker.on('message', (message: unknown) => this.#onMessage(thread, message));
    worker.on('error', (err: Error) => {
      this.#fail(thread, `crashed: ${err.name}: ${firstLine(err.message)}`, err);
    });
    worker.on('messageerror', (err: Error) => {
      this.#fail(thread, `sent a message that could not be read: ${firstLine(err.message)}`, err);
    });
    worker.on('exit', (code: number) => {
      thread.exited = true;
      if (!thread.finished && !this.#terminating) {
        this.#fail(
          thread,
          `exited with code ${code} before the run ended (does the test call process.exit()?)`,
        );
      }
      thread.received('finished');
    });
    return thread;
  }

  #onMessage(thread: WorkerThread, message: unknown): void {
    if (!isFromWorkerMessage(message) || thread.finished) {
      return;
    }
    switch (message.type) {
      case 'ready':
      case 'step-done':
        thread.received(message.type);
        break;
      case 'delta': {
        this.#options.aggregator.merge(message.snapshot);
        const sink = this.#options.eventSink;
        if (sink !== undefined) {
          const events = message.events;
          for (let i = 0; i < events.length; i++) {
            sink.emit(events[i]!);
          }
        }
        break;
      }
      case 'stray-error':
        this.#options.onStrayError?.(message.text, thread.index);
        break;
      case 'failed':
        this.#fail(thread, `failed: ${firstLine(message.message)}`);
        break;
      case 'finished':
        thread.finished = true;
        if (message.loop !== null) {
          this.#loopSamples.push(message.loop);
        }
        thread.received('finished');
        break;
      default: {
        const unknown: never = message;
        void unknown;
      }
    }
  }

  /** The first failure ends the run; later ones are consequences and not reported. */
  #fail(thread: WorkerThread, what: string, cause?: unknown): void {
    if (this.#crash === undefined) {
      this.#crash = new LoadsError(
        `worker ${thread.index} of ${this.#threads.length} ${what}; the run was stopped and the summary covers what ran until then`,
        'LOADS_ERR_WORKER',
        ExitCode.RUN_FAILED,
        cause === undefined ? {} : { cause },
      );
    }
    this.#resolveStop();
  }

  #timelineOriginMs = 0;

  async #runStep(step: CycleStep): Promise<Stop | undefined> {
    const active = Math.min(this.#threads.length, step.users);
    const startMs = now();
    const cycleStart = cycleStartEvent(step, startMs);
    // Workers leave the step's bounds to this thread: the aggregator needs them for the step report.
    this.#options.aggregator.emit(cycleStart);
    this.#options.eventSink?.emit(cycleStart);
    this.#openStep = { cycleIndex: step.cycleIndex, startMs };
    const base = Math.floor(step.users / active);
    const extra = step.users % active;
    const done: Promise<void>[] = [];
    let offset = 0;
    for (let k = 0; k < active; k++) {
      const thread = this.#threads[k]!;
      const userCount = base + (k < extra ? 1 : 0);
      done.push(thread.expect('step-done'));
      thread.post({
        type: 'run-step',
        step,
        userOffset: offset,
        userCount,
        timelineOriginMs: this.#timelineOriginMs,
      });
      offset += userCount;
    }
    if ((await this.#untilStop(Promise.all(done))) === STOP) {
      return STOP;
    }
    this.#closeStep();
    return undefined;
  }

  /** Emits the cycle-end of the step in progress, after its last events. */
  #closeStep(): void {
    const open = this.#openStep;
    if (open !== undefined) {
      this.#openStep = undefined;
      const cycleEnd: CycleEndEvent = {
        type: 'cycle-end',
        cycleIndex: open.cycleIndex,
        elapsedMs: now() - open.startMs,
      };
      this.#options.aggregator.emit(cycleEnd);
      this.#options.eventSink?.emit(cycleEnd);
    }
  }

  #all(type: Awaited): Promise<void[]> {
    return Promise.all(this.#threads.map((thread) => thread.expect(type)));
  }

  #untilStop<T>(work: Promise<T>): Promise<T | Stop> {
    return Promise.race([work, this.#stop]);
  }

  /** Tells every live worker to stop and waits, bounded, for its last delta. */
  async #abortAll(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const thread of this.#threads) {
      if (!thread.finished && !thread.exited) {
        waits.push(thread.expect('finished'));
        thread.post({ type: 'abort' });
      }
    }
    await withDeadline(Promise.all(waits), ABORT_GRACE_MS);
  }

  async #terminateAll(): Promise<void> {
    this.#terminating = true;
    const ends: Promise<unknown>[] = [];
    for (const thread of this.#threads) {
      thread.worker.unref();
      if (!thread.exited) {
        ends.push(thread.worker.terminate().catch(ignore));
      }
    }
    await withDeadline(Promise.all(ends), TERMINATE_WAIT_MS);
  }
}

/** Resolves when `work` does or after `ms`, whichever is first; the timer is cleared. */
async function withDeadline(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim();
}

function ignore(): void {}
