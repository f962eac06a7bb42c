// A scripted external test runner (SPEC §11) for the tests: a Node process
// that sends the messages of its plan.json to LOADS_ZMQ_RECEIVER as Loads'
// runners do, and then does what a broken runner does (writes stderr,
// exits non-zero, hangs, ignores SIGTERM). With dumpEnv it first writes
// env-<LOADS_CURRENT_USER>.json: its pid, argv and LOADS_* environment.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, type TmpProject } from './tmp-project.ts';

export interface ScriptedPlan {
  /** Sent in order: an object gets agent_id, run_id and loads_status added; a string is sent as is. */
  messages: (string | Record<string, unknown>)[];
  dumpEnv?: boolean;
  stderr?: string;
  exit?: number;
  hang?: boolean;
  /** Ignore SIGTERM (only SIGKILL ends it). */
  ignoreTerm?: boolean;
}

const SCRIPTED_RUNNER = `
import { readFileSync, writeFileSync } from 'node:fs';
import { Push } from ${JSON.stringify(path.join(REPO_ROOT, 'node_modules', 'zeromq', 'lib', 'index.js'))};
const plan = JSON.parse(readFileSync(new URL('./plan.json', import.meta.url), 'utf8'));
const env = process.env;
if (plan.ignoreTerm) process.on('SIGTERM', () => {});
if (plan.dumpEnv) {
  const loads = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('LOADS_')));
  writeFileSync(new URL('./env-' + env.LOADS_CURRENT_USER + '.json', import.meta.url), JSON.stringify({ pid: process.pid, argv: process.argv.slice(2), env: loads }));
}
const socket = new Push({ linger: 5000 });
socket.connect(env.LOADS_ZMQ_RECEIVER);
const status = [Number(env.LOADS_TOTAL_HITS ?? 0), Number(env.LOADS_TOTAL_USERS), 1, Number(env.LOADS_CURRENT_USER)];
for (const message of plan.messages) {
  if (typeof message === 'string') { await socket.send(message); continue; }
  await socket.send(JSON.stringify({ agent_id: env.LOADS_AGENT_ID, run_id: env.LOADS_RUN_ID, loads_status: status, ...message }));
}
socket.close();
if (plan.stderr) process.stderr.write(plan.stderr);
if (plan.hang) setInterval(() => {}, 1000);
else process.exitCode = plan.exit ?? 0;
`;

/** Writes the runner and its plan into `project`; returns the --test-runner command. */
export async function scriptedRunner(project: TmpProject, plan: ScriptedPlan): Promise<string> {
  await project.write('runner.mjs', SCRIPTED_RUNNER);
  await project.write('plan.json', JSON.stringify(plan));
  return `node ${path.join(project.dir, 'runner.mjs')} {test}`;
}

/** What a dumpEnv runner wrote for `user` (1-based). */
export function readDumpedEnv(
  project: TmpProject,
  user: number,
): { pid: number; argv: string[]; env: Record<string, string> } {
  return JSON.parse(readFileSync(path.join(project.dir, `env-${user}.json`), 'utf8'));
}

/** Whether `pid` is gone: no such process, or a zombie no one has reaped yet (it runs nothing). */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    // /proc/PID/stat: "pid (comm) S …"; the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}
