// Runs a plan with an external test runner (SPEC §11, Loads' zmq-api): one
// process per virtual user per step, started without a shell with Loads'
// LOADS_* environment, reporting to a ZeroMQ PULL socket bound here (a
// private ipc:// address unless --zmq-receiver gives one). Its messages
// become our own events (messages.ts), so the aggregator, every output and
// every threshold treat them as in-process runs. The steps run one after
// the other; in a step the processes start over --ramp-up. A process that
// exits non-zero, is killed, or reports fewer runs than it was given is
// counted as errors carrying its exit status and the end of its stderr
// (bounded: STDERR_TAIL_BYTES). --external-process-timeout terminates a
// process past its share (hits × S, or duration + S): SIGTERM, then SIGKILL.
// Ctrl-C (the signal) terminates every process and waits for their exits,
// so none outlives the run; runs in flight then are not counted.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type * as Zeromq from 'zeromq';
import { UsageError } from '../../errors.ts';
import { now, toEpochMs } from '../../metrics/clock.ts';
import { newHitEvent, Outcome, type EventSink, type HitEvent } from '../../metrics/events.ts';
import { cycleStartEvent, type CycleStep } from '../cycle.ts';
import type { RunResult } from '../local-runner.ts';
import { commandFor } from './command.ts';
import {
  hitEventOf,
  parseMessage,
  testEndEventOf,
  testStartEventOf,
  type ExternalMessage,
  type LoadsStatus,
  type MessageProblem,
} from './messages.ts';
import type { ExternalRunReport } from './report.ts';
import { requireCjs } from '../../require-cjs.ts';

const { Pull } = requireCjs('zeromq') as typeof Zeromq;
type Pull = Zeromq.Pull;

export type { ExternalRunReport } from './report.ts';

export interface ExternalRunnerOptions {
  /** The --test-runner argv template (parseTestRunnerCommand). */
  argv: readonly string[];
  fqn: string;
  plan: readonly CycleStep[];
  sink: EventSink;
  signal: AbortSignal;
  cwd: string;
  /** The environment each process starts from (the CLI's own); LOADS_* are added. */
  env: Readonly<Record<string, string | undefined>>;
  /** LOADS_RUN_ID, and the run_id messages must carry. */
  runId: string;
  /** LOADS_AGENT_ID. */
  agentId: string;
  /** --zmq-receiver, or null for a private ipc:// address. */
  receiver: string | null;
  /** --external-process-timeout, seconds per hit (hits mode) or past the duration; 0 = none. */
  processTimeoutS: number;
  /**
   * Called after each step but the last, once its processes have exited
   * (an agent waits for its peers there: the step barrier). 'stop' ends
   * the run as interrupted.
   */
  betweenSteps?: (finishedStep: CycleStep) => Promise<'go' | 'stop'>;
}

/** How much of a process's stderr is kept: its end, for the error it becomes. */
export const STDERR_TAIL_BYTES = 4096;
export const STDERR_TAIL_LINES = 10;
/** After a process exits, how long its last messages may still be on their way. */
const DRAIN_QUIET_MS = 100;
const DRAIN_MAX_MS = 2_000;
/** SIGTERM, then SIGKILL after this long. */
export const KILL_GRACE_MS = 2_000;

/** One process: the user it plays in its step, and what it reported. */
class UserProcess {
  readonly user: number;
  /** Its hits (LOADS_TOTAL_HITS); null in duration mode. Each hit runs every test of a class. */
  readonly expectedHits: number | null;
  child: ChildProcess | undefined;
  reported = 0;
  /** When its last message arrived (monotonic ms). */
  lastMessageAt = 0;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  timedOut = false;
  /** When its exit was seen (monotonic ms). */
  exitedAt = 0;
  /** The test its last startTest named: its hits' test. */
  currentTest = '';
  spawnError: string | null = null;
  /** Tests started and not ended: name + current_hit → start (epoch ms). */
  readonly open = new Map<string, number>();
  #stderr = '';

  constructor(user: number, expectedHits: number | null) {
    this.user = user;
    this.expectedHits = expectedHits;
  }

  addStderr(chunk: string): void {
    this.#stderr += chunk;
    if (this.#stderr.length > STDERR_TAIL_BYTES * 2) {
      this.#stderr = this.#stderr.slice(-STDERR_TAIL_BYTES);
    }
  }

  stderrTail(): string {
    const lines = this.#stderr.slice(-STDERR_TAIL_BYTES).trimEnd().split('\n');
    return lines.slice(-STDERR_TAIL_LINES).join('\n');
  }
}

export class ExternalRunner {
  readonly #options: ExternalRunnerOptions;
  readonly #problems = new Map<string, { count: number; example: string }>();
  #processes = 0;
  #failedProcesses = 0;
  /** The processes of the step in progress, by current_user. */
  #current = new Map<number, UserProcess>();
  #step: CycleStep | undefined;
  readonly #hit: HitEvent = newHitEvent();
  #counting = true;
  #pull: Pull | undefined;
  #address = '';
  /** The private folder of the ipc:// address, removed at the end. */
  #folder: string | undefined;
  /** Every process started and not yet seen exiting, for killNow(). */
  readonly #live = new Set<ChildProcess>();
  /** The test names results came for: a class's methods, each a run per hit. */
  readonly #testNames = new Set<string>();

  constructor(options: ExternalRunnerOptions) {
    this.#options = options;
  }

  report(): ExternalRunReport {
    return {
      problems: [...this.#problems].map(([kind, { count, example }]) => ({ kind, count, example })),
      processes: this.#processes,
      failedProcesses: this.#failedProcesses,
    };
  }

  /**
   * Tests per hit, as learnt from the results so far (a class runs each of
   * its methods per hit; the runner cannot list them): for the progress total.
   */
  get testsPerHit(): number {
    return Math.max(1, this.#testNames.size);
  }

  /**
   * SIGKILL to every process still running, and the private folder gone,
   * at once: the CLI is exiting now (a second Ctrl-C).
   */
  killNow(): void {
    for (const child of this.#live) {
      child.kill('SIGKILL');
    }
    if (this.#folder !== undefined) {
      rmSync(this.#folder, { recursive: true, force: true });
      this.#folder = undefined;
    }
  }

  /**
   * Binds the receiver (a private ipc:// address unless --zmq-receiver gave
   * one), so that an address in use stops the run before any process
   * starts: UsageError. run() binds it itself when this was not called.
   */
  async bind(): Promise<void> {
    if (this.#pull !== undefined) {
      return;
    }
    let address = this.#options.receiver;
    if (address === null) {
      this.#folder = await mkdtemp(path.join(tmpdir(), 'loads-zmq-'));
      address = `ipc://${path.join(this.#folder, 'receiver')}`;
    }
    const pull = new Pull();
    try {
      await pull.bind(address);
    } catch (err) {
      pull.close();
      await this.#removeFolder();
      const reason = err instanceof Error ? err.message : String(err);
      throw new UsageError(
        this.#options.receiver === null
          ? `cannot bind the external runner's receiver ${address} (${reason}); give one with --zmq-receiver`
          : `--zmq-receiver '${address}': cannot bind it (${reason}); pick a free port or another path`,
        { cause: err },
      );
    }
    this.#pull = pull;
    this.#address = address;
  }

  async run(): Promise<RunResult> {
    const { signal } = this.#options;
    if (signal.aborted) {
      await this.close();
      return { interrupted: true };
    }
    await this.bind();
    const pull = this.#pull!;
    let stoppedBetweenSteps = false;
    try {
      const receiving = this.#receive(pull);
      const { plan, betweenSteps } = this.#options;
      for (let i = 0; i < plan.length; i++) {
        if (signal.aborted) {
          break;
        }
        await this.#runStep(plan[i]!, this.#address);
        if (betweenSteps !== undefined && i < plan.length - 1 && !signal.aborted) {
          if ((await betweenSteps(plan[i]!)) === 'stop') {
            stoppedBetweenSteps = true;
            break;
          }
        }
      }
      this.#counting = false;
      pull.close();
      await receiving;
    } finally {
      await this.close();
    }
    return { interrupted: signal.aborted || stoppedBetweenSteps };
  }

  /** Closes the receiver and removes its private folder: run() does it at its end; for a run that never starts. */
  async close(): Promise<void> {
    if (this.#pull !== undefined && !this.#pull.closed) {
      this.#pull.close();
    }
    await this.#removeFolder();
  }

  async #removeFolder(): Promise<void> {
    if (this.#folder !== undefined) {
      await rm(this.#folder, { recursive: true, force: true });
      this.#folder = undefined;
    }
  }

  async #receive(pull: Pull): Promise<void> {
    try {
      for await (const [frame] of pull) {
        if (frame !== undefined) {
          this.#onFrame(frame);
        }
      }
    } catch {
      // The socket was closed while a receive was pending: the run is over.
    }
  }

  #problem(p: MessageProblem): void {
    const known = this.#problems.get(p.kind);
    if (known === undefined) {
      this.#problems.set(p.kind, { count: 1, example: p.example });
    } else {
      known.count++;
    }
  }

  #onFrame(frame: Uint8Array): void {
    if (!this.#counting || this.#options.signal.aborted) {
      return;
    }
    const parsed = parseMessage(frame);
    if (!parsed.ok) {
      this.#problem(parsed.problem);
      return;
    }
    if (parsed.runId !== this.#options.runId) {
      this.#problem({ kind: 'from another run (run_id)', example: parsed.runId });
      return;
    }
    const step = this.#step;
    if (step === undefined) {
      return;
    }
    const message = parsed.message;
    const user =
      message.status === null ? undefined : this.#current.get(message.status.currentUser);
    if (message.status !== null && user === undefined) {
      this.#problem({
        kind: 'for a user not running (loads_status current_user)',
        example: String(message.status.currentUser),
      });
      return;
    }
    if (user !== undefined) {
      user.lastMessageAt = now();
    }
    this.#count(message, step, user);
  }

  #count(message: ExternalMessage, step: CycleStep, user: UserProcess | undefined): void {
    const { sink } = this.#options;
    switch (message.type) {
      case 'startTest': {
        const startedAt = Date.now();
        user!.open.set(openKey(message.test, message.status), startedAt);
        user!.currentTest = message.test;
        sink.emit(testStartEventOf(message.test, startedAt, step.cycleIndex, message.status));
        break;
      }
      case 'stopTest':
        break;
      case 'result': {
        const key = openKey(message.test, message.status);
        const endedAt = Date.now();
        let startedAt = user!.open.get(key);
        if (startedAt === undefined) {
          // A result without its startTest (some runners skip it): a run of no measured length.
          startedAt = endedAt;
          sink.emit(testStartEventOf(message.test, startedAt, step.cycleIndex, message.status));
        }
        user!.open.delete(key);
        user!.reported++;
        this.#testNames.add(message.test);
        sink.emit(
          testEndEventOf(
            message.test,
            startedAt,
            endedAt - startedAt,
            step.cycleIndex,
            message.status,
            message.outcome,
            message,
          ),
        );
        break;
      }
      case 'hit':
        sink.emit(
          hitEventOf(message, step.cycleIndex, user?.currentTest || this.#options.fqn, this.#hit),
        );
        break;
      case 'socketOpen':
        sink.emit({ type: 'socket-open', url: '', startedAt: Date.now() });
        break;
      case 'socketClose':
        sink.emit({ type: 'socket-close', url: '', code: 1000 });
        break;
      case 'socketMessage':
        sink.emit({ type: 'socket-message', url: '', bytes: message.size });
        break;
      case 'counter':
        sink.emit({ type: 'counter', name: message.name, value: 1 });
        break;
      default: {
        const unknown: never = message;
        void unknown;
      }
    }
  }

  async #runStep(step: CycleStep, address: string): Promise<void> {
    const { sink, signal } = this.#options;
    const startMs = now();
    sink.emit(cycleStartEvent(step, startMs));
    this.#step = step;
    this.#current = new Map();
    const expected = step.hits > 0 ? step.hits : null;
    const users: UserProcess[] = [];
    for (let u = 1; u <= step.users; u++) {
      const user = new UserProcess(u, expected);
      users.push(user);
      this.#current.set(u, user);
    }
    const timers: NodeJS.Timeout[] = [];
    const started = users.map(
      (user) =>
        new Promise<void>((resolve) => {
          const delay =
            step.rampUpMs > 0 ? Math.round((step.rampUpMs * (user.user - 1)) / step.users) : 0;
          const start = (): void => {
            if (!signal.aborted) {
              this.#spawn(user, step, address);
            }
            resolve();
          };
          if (delay === 0) {
            start();
          } else {
            timers.push(setTimeout(start, delay));
          }
        }),
    );
    const onAbort = (): void => {
      for (const timer of timers) {
        clearTimeout(timer);
      }
      for (const user of users) {
        terminate(user);
      }
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal.aborted) {
        onAbort();
      }
      await Promise.all(started.map((s, i) => s.then(() => this.#settle(users[i]!, step))));
    } finally {
      signal.removeEventListener('abort', onAbort);
      for (const timer of timers) {
        clearTimeout(timer);
      }
    }
    if (!signal.aborted) {
      sink.emit({ type: 'cycle-end', cycleIndex: step.cycleIndex, elapsedMs: now() - startMs });
    }
  }

  #spawn(user: UserProcess, step: CycleStep, address: string): void {
    const { argv, fqn, env, cwd } = this.#options;
    const [command, ...args] = commandFor(argv, fqn);
    this.#processes++;
    const childEnv: Record<string, string> = {};
    for (const [key, value] of Object.entries(env)) {
      if (value !== undefined) {
        childEnv[key] = value;
      }
    }
    childEnv['LOADS_AGENT_ID'] = this.#options.agentId;
    childEnv['LOADS_ZMQ_RECEIVER'] = address;
    childEnv['LOADS_RUN_ID'] = this.#options.runId;
    childEnv['LOADS_TOTAL_USERS'] = String(step.users);
    childEnv['LOADS_CURRENT_USER'] = String(user.user);
    delete childEnv['LOADS_TOTAL_HITS'];
    delete childEnv['LOADS_DURATION'];
    if (step.hits > 0) {
      childEnv['LOADS_TOTAL_HITS'] = String(step.hits);
    } else {
      childEnv['LOADS_DURATION'] = String(step.durationMs / 1000);
    }
    const child = spawn(command!, args, {
      cwd,
      env: childEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    user.child = child;
    this.#live.add(child);
    child.once('exit', () => this.#live.delete(child));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => user.addStderr(chunk));
    user.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        user.spawnError = err.message;
        resolve({ code: null, signal: null });
      });
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    const timeoutS = this.#options.processTimeoutS;
    if (timeoutS > 0) {
      const limitMs =
        step.hits > 0 ? step.hits * timeoutS * 1000 : step.durationMs + timeoutS * 1000;
      const timer = setTimeout(() => {
        user.timedOut = true;
        terminate(user);
      }, limitMs);
      void user.exited.then(() => clearTimeout(timer));
    }
  }

  /** Waits for the process's exit and its last messages, then counts what it did not report. */
  async #settle(user: UserProcess, step: CycleStep): Promise<void> {
    if (user.exited === undefined) {
      return; // never started (Ctrl-C during the ramp-up)
    }
    const { code, signal } = await user.exited;
    user.exitedAt = now();
    // Runs expected: its hits × the tests per hit (a class's methods) learnt so far.
    const expected = user.expectedHits === null ? null : user.expectedHits * this.testsPerHit;
    await drain(user, expected);
    if (this.#options.signal.aborted) {
      return;
    }
    const missing = expected === null ? 0 : Math.max(0, expected - user.reported);
    const failed =
      user.spawnError !== null ||
      user.timedOut ||
      code !== 0 ||
      missing > 0 ||
      (expected === null && user.reported === 0);
    if (!failed) {
      return;
    }
    this.#failedProcesses++;
    const [command] = commandFor(this.#options.argv, this.#options.fqn);
    let how: string;
    if (user.spawnError !== null) {
      how = `could not start: ${user.spawnError}`;
    } else if (user.timedOut) {
      how = `was still running past --external-process-timeout ${this.#options.processTimeoutS}s and was terminated`;
    } else if (signal !== null) {
      how = `was killed by ${signal}`;
    } else {
      how = `exited with status ${code}`;
    }
    const runs =
      expected === null
        ? `${user.reported} runs reported`
        : `${user.reported} of ${expected} runs reported`;
    // No user number: processes that fail the same way are one error line, counted.
    const message = `${command} ${how}; ${runs}`;
    const stack = user.stderrTail();
    const errorRuns = Math.max(1, missing);
    const status: LoadsStatus = {
      hits: step.hits,
      users: step.users,
      currentHit: user.reported + 1,
      currentUser: user.user,
    };
    const at = toEpochMs(now());
    for (let i = 0; i < errorRuns; i++) {
      this.#options.sink.emit(testStartEventOf(this.#options.fqn, at, step.cycleIndex, status));
      this.#options.sink.emit(
        testEndEventOf(this.#options.fqn, at, 0, step.cycleIndex, status, Outcome.ERROR, {
          errorName: 'ExternalProcessError',
          errorMessage: message,
          errorStack: stack === '' ? `ExternalProcessError: ${message}` : stack,
        }),
      );
    }
  }
}

function openKey(test: string, status: LoadsStatus): string {
  return `${status.currentHit}\u0000${test}`;
}

/** SIGTERM now, SIGKILL after KILL_GRACE_MS if it is still there. */
function terminate(user: UserProcess): void {
  const child = user.child;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  }, KILL_GRACE_MS);
  timer.unref();
  child.once('close', () => clearTimeout(timer));
}

/** Waits until the user's messages have been quiet for DRAIN_QUIET_MS (at most DRAIN_MAX_MS), or all its `expected` runs are in. */
async function drain(user: UserProcess, expected: number | null): Promise<void> {
  const deadline = now() + DRAIN_MAX_MS;
  for (;;) {
    if (expected !== null && user.reported >= expected) {
      return;
    }
    // Quiet since its last message or its exit, whichever is later: what it sent last may still be queued.
    const quietFor = now() - Math.max(user.lastMessageAt, user.exitedAt);
    if (quietFor >= DRAIN_QUIET_MS || now() >= deadline) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, DRAIN_QUIET_MS - quietFor));
  }
}
