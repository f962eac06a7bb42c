// Summarises V8 CPU profiles (`node --cpu-prof`): self time aggregated by
// function name + url (+ line), across every .cpuprofile given (a file or a
// folder of them, one per thread).
//   node --import tsx bench/profile-summary.ts /tmp/prof [--top 15]
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeRow {
  name: string;
  location: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  files: string[];
  /** Sampled time of all the threads, idle included. */
  totalMs: number;
  /** Of which (idle): a thread waiting for I/O. */
  idleMs: number;
  /** By self time, (idle) left out; percent is of the busy (non-idle) time. */
  rows: SelfTimeRow[];
}

/** The .cpuprofile files at a path (the file itself, or those in the folder). */
async function profileFiles(target: string): Promise<string[]> {
  if (!(await stat(target)).isDirectory()) {
    return [target];
  }
  const names = (await readdir(target)).filter((name) => name.endsWith('.cpuprofile'));
  return names.sort().map((name) => path.join(target, name));
}

function shortUrl(url: string): string {
  if (url === '') {
    return '';
  }
  const file = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nodeModules = file.lastIndexOf('/node_modules/');
  if (nodeModules >= 0) {
    return file.slice(nodeModules + 1);
  }
  return path.isAbsolute(file) ? path.relative(process.cwd(), file) : file;
}

/** Aggregates self time by function + url + line over all the profiles at the paths. */
export async function summarise(paths: string[]): Promise<ProfileSummary> {
  const files = (await Promise.all(paths.map(profileFiles))).flat();
  const selfUs = new Map<string, { name: string; location: string; us: number }>();
  let totalUs = 0;
  for (const file of files) {
    const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    // Sample i lasts until sample i + 1 (the last one until endTime).
    const { samples, timeDeltas } = profile;
    let at = profile.startTime;
    const times = timeDeltas.map((delta) => (at += delta));
    for (let i = 0; i < samples.length; i++) {
      const node = byId.get(samples[i]!);
      const until = i + 1 < times.length ? times[i + 1]! : profile.endTime;
      const us = Math.max(0, until - times[i]!);
      if (node === undefined) {
        continue;
      }
      const { functionName, url, lineNumber } = node.callFrame;
      const name = functionName === '' ? '(anonymous)' : functionName;
      const location = url === '' ? '' : `${shortUrl(url)}:${lineNumber + 1}`;
      const key = `${name}\u0000${location}`;
      const row = selfUs.get(key);
      if (row) {
        row.us += us;
      } else {
        selfUs.set(key, { name, location, us });
      }
      totalUs += us;
    }
  }
  const idleUs = [...selfUs.values()]
    .filter((row) => row.name === '(idle)')
    .reduce((sum, row) => sum + row.us, 0);
  const busyUs = totalUs - idleUs;
  const rows = [...selfUs.values()]
    .filter((row) => row.name !== '(idle)')
    .sort((a, b) => b.us - a.us)
    .map((row) => ({
      name: row.name,
      location: row.location,
      selfMs: row.us / 1000,
      percent: busyUs === 0 ? 0 : (100 * row.us) / busyUs,
    }));
  return { files, totalMs: totalUs / 1000, idleMs: idleUs / 1000, rows };
}

/** The top rows as a text table. */
export function formatSummary(summary: ProfileSummary, top: number): string {
  const rows = summary.rows.slice(0, top);
  const lines = [
    `${summary.files.length} profile(s) (one per thread), ${summary.totalMs.toFixed(0)} ms sampled, ` +
      `${summary.idleMs.toFixed(0)} ms idle, ${(summary.totalMs - summary.idleMs).toFixed(0)} ms busy`,
    `top ${rows.length} functions by self time (% of busy time):`,
    `${'self ms'.padStart(9)}  ${'self %'.padStart(6)}  function  (location)`,
  ];
  for (const row of rows) {
    const where = row.location === '' ? '' : `  (${row.location})`;
    lines.push(
      `${row.selfMs.toFixed(1).padStart(9)}  ${row.percent.toFixed(1).padStart(5)}%  ${row.name}${where}`,
    );
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '15' } },
  });
  if (positionals.length === 0) {
    process.stderr.write('usage: profile-summary.ts <file.cpuprofile | folder>... [--top 15]\n');
    process.exitCode = 2;
  } else {
    const summary = await summarise(positionals);
    process.stdout.write(`${formatSummary(summary, Number(values.top))}\n`);
  }
}
