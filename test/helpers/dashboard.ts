// The dashboard's URL as a spawned CLI prints it on stderr
// ("loads-runner: dashboard at http://127.0.0.1:PORT/").
import type { ChildProcess } from 'node:child_process';

const DASHBOARD_LINE = /loads-runner: dashboard at (http:\/\/\S+\/)/;

/** Resolves with the URL once the CLI has printed it; rejects after `timeoutMs` or on exit. */
export function waitForDashboardUrl(child: ChildProcess, timeoutMs = 30_000): Promise<URL> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const stop = (): void => {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
    };
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no dashboard URL on stderr within ${timeoutMs} ms; saw:\n${seen}`));
    }, timeoutMs);
    const onData = (chunk: Buffer | string): void => {
      seen += chunk.toString();
      const match = DASHBOARD_LINE.exec(seen);
      if (match !== null) {
        stop();
        resolve(new URL(match[1]!));
      }
    };
    const onExit = (code: number | null): void => {
      stop();
      reject(new Error(`the CLI exited (${code}) before printing the dashboard URL:\n${seen}`));
    };
    child.stderr!.on('data', onData);
    child.on('exit', onExit);
  });
}
