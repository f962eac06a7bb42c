// Child processes of the bench: spawn them (optionally pinned to a core with
// taskset and with a raised open-files limit), bound their time, and kill
// every one still running when the bench exits or is interrupted.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** A new folder under the system temp folder, removed at the latest when the bench exits. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  tempDirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

/** Kills every child still running (SIGTERM, or the given signal). */
export function killChildren(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
    }
  }
}

let cleanupInstalled = false;
let interruptedBy: NodeJS.Signals | undefined;

/** The signal that interrupted the bench, if one did. */
export function interruption(): NodeJS.Signals | undefined {
  return interruptedBy;
}

/** Kill the children on exit, Ctrl-C and SIGTERM; a second Ctrl-C kills them at once. */
export function installCleanup(): void {
  if (cleanupInstalled) {
    return;
  }
  cleanupInstalled = true;
  process.on('exit', () => {
    killChildren('SIGKILL');
    for (const dir of tempDirs) {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${signal}, stopping the child processes\n`);
    killChildren(interruptedBy === undefined ? 'SIGTERM' : 'SIGKILL');
    interruptedBy = signal;
    // The bench unwinds by itself (see interruption()); this is the backstop.
    setTimeout(() => {
      killChildren('SIGKILL');
      process.exit(130);
    }, 10_000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export interface WrapOptions {
  /** Pin to this core with `taskset -c`. */
  core?: number | undefined;
  /** Raise `ulimit -n` (to 65536, else to the hard limit) first. */
  raiseNofile?: boolean | undefined;
}

/**
 * The command line that runs argv pinned and/or with more open files. Both
 * wrappers exec, so the child's pid is the pid of the final program.
 */
export function wrap(argv: string[], options: WrapOptions): string[] {
  let cmd = argv;
  if (options.core !== undefined) {
    cmd = ['taskset', '-c', String(options.core), ...cmd];
  }
  if (options.raiseNofile === true) {
    cmd = [
      'bash',
      '-c',
      'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"',
      'bench',
      ...cmd,
    ];
  }
  return cmd;
}

export interface SpawnOptions {
  cwd?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  stdio?: StdioOptions | undefined;
}

/** Spawns a tracked child: it is killed when the bench exits. */
export function spawnTracked(cmd: string[], options: SpawnOptions = {}): ChildProcess {
  const [file, ...args] = cmd;
  if (file === undefined) {
    throw new Error('empty command');
  }
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.on('error', () => children.delete(child));
  return child;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions extends SpawnOptions {
  /** SIGTERM after this long, SIGKILL 5 s later. */
  timeoutMs: number;
  /** Called with the pid once the child is started. */
  onStart?: ((child: ChildProcess) => void) | undefined;
  /** Called with each chunk of stderr. */
  onStderr?: ((text: string) => void) | undefined;
}

/** Runs a tracked child to its end (bounded by timeoutMs), collecting its output. */
export function runChild(cmd: string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(cmd, options);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      options.onStderr?.(text);
    });
    const term = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(term);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(term);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    options.onStart?.(child);
  });
}
