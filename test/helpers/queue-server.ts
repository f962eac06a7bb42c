// The example queue server (examples/queue-server.ts) in a child process of
// its own: capacity searches measure its latency, and in the test's process
// it shared one event loop with the test's load and other work, so a busy
// machine moved the knee it is meant to hold fixed.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import readline from 'node:readline';
import { REPO_ROOT } from './tmp-project.ts';

export interface QueueServerProcess {
  url: string;
  close(): Promise<void>;
}

const SCRIPT = path.join(REPO_ROOT, 'examples', 'queue-server.ts');

export async function spawnQueueServer(serviceMs: number): Promise<QueueServerProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', SCRIPT, '--service-ms', String(serviceMs), '--port', '0'],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`queue server exited (${String(code)}) before it listened`);
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const listening = (async () => {
    for await (const line of lines) {
      const match = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (match) {
        return match[1]!;
      }
    }
    throw new Error('queue server closed its output before it listened');
  })();
  let url: string;
  try {
    url = await Promise.race([listening, exited]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  exited.catch(() => {});
  // Warm its HTTP path (and the test's): a cold start on a busy machine made
  // the first 10/s probe's p95 235 ms against a 10 ms service on CI.
  for (let i = 0; i < 30; i++) {
    await (await fetch(url)).text();
  }
  return {
    url,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = once(child, 'exit');
        child.kill('SIGTERM');
        await gone;
      }
    },
  };
}
