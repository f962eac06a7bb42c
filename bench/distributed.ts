// The distributed bench (issue 11 §4, §6): `npm run bench -- distributed`.
// A nats-server, the bench target, 8 loads-agent processes (one worker
// thread each) and the runner, all on this machine: this checkout's CLI
// with --agents 8 -o json, measured by bench/usage-reporter.mjs. For runs of
// 20k, 40k and 80k hits in total it prints the runner's CPU seconds and peak
// RSS against the hits (the runner merges deltas, whose number grows with
// the run's seconds and agents, not with its hits) and the delta bytes each
// agent sent per second, read back from the LOADS_RUNS stream; then the same
// bytes for a test with 100 distinct URLs (the per-URL part of a delta).
// Nothing is pinned: 11 processes share the cores, so the figures are the
// runner's cost beside a busy machine, not its best. Each run is bounded.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connectBroker, parseBrokerOptions } from '../src/distributed/broker.ts';
import { RUNS_STREAM, runSubjects } from '../src/distributed/protocol.ts';
import { makeTempDir, removeTempDir, runChild, spawnTracked, wrap } from './proc.ts';
import { startTarget, type TargetKind } from './target.ts';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(benchDir);
const runnerBin = path.join(root, 'bin', 'loads-runner.js');
const agentBin = path.join(root, 'bin', 'loads-agent.js');
const reporter = pathToFileURL(path.join(benchDir, 'usage-reporter.mjs')).href;

const NATS_SERVER_CANDIDATES = ['nats-server', '/usr/sbin/nats-server', '/usr/bin/nats-server'];
const READY_TIMEOUT_MS = 20_000;
/** Longest one measured run may take before it is stopped. */
const RUN_TIMEOUT_MS = 90_000;
const URLS = 100;

export interface DistributedBenchOptions {
  target: TargetKind | 'auto';
  /** Seconds of the 100-URL run (default 10). */
  durationS?: number | undefined;
  /** loads-agent processes (default 8). */
  agents?: number;
  /** Total hits of each measured run (default 20k, 40k, 80k). */
  totals?: number[];
  /** Virtual users per agent (default 10). */
  usersPerAgent?: number;
}

/** A test of 100 distinct URLs per run: each delta carries 100 URL entries. */
const URLS_MODULE = `import { TestCase } from 'loads-runner';

export class TestUrls extends TestCase {
  async test_urls(): Promise<void> {
    for (let i = 0; i < ${URLS}; i++) {
      const res = await this.session.get(this.app.serverUrl + 'item/' + i);
      this.assertEqual(res.status, 200);
    }
  }
}
`;

interface Usage {
  cpuUserUs: number;
  cpuSystemUs: number;
  maxRssKb: number;
}

interface RunMeasure {
  hits: number;
  durationS: number;
  errors: number;
  cpuS: number;
  maxRssKb: number;
  /** Delta messages and their payload bytes, per agent. */
  deltas: Map<string, { messages: number; bytes: number }>;
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

function findNatsServer(): string {
  const found = NATS_SERVER_CANDIDATES.find(
    (command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0,
  );
  if (found === undefined) {
    throw new Error('no nats-server: install it (apt-get install -y nats-server)');
  }
  return found;
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Resolves once `pattern` shows in the child's stderr; rejects when it exits or times out first. */
function waitForStderr(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`${what} was not ready within ${READY_TIMEOUT_MS} ms:\n${text}`)),
      READY_TIMEOUT_MS,
    );
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${signal ?? code}) before it was ready:\n${text}`));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Sums the payload bytes of each agent's delta messages of the run, replayed from LOADS_RUNS. */
async function readDeltas(
  brokerUrl: string,
  runId: string,
): Promise<Map<string, { messages: number; bytes: number }>> {
  const conn = await connectBroker(parseBrokerOptions({ broker: brokerUrl, name: 'bench' }));
  try {
    const consumer = await conn.js.consumers.get(RUNS_STREAM, {
      filter_subjects: runSubjects.ofRun(runId),
    });
    const perAgent = new Map<string, { messages: number; bytes: number }>();
    for (;;) {
      const message = await consumer.next({ expires: 2_000 });
      if (message === null) {
        return perAgent;
      }
      // loads.run.<run>.<agent>.delta|final|lost
      const [, , , agentId, kind] = message.subject.split('.');
      if (kind === 'delta' && agentId !== undefined) {
        const entry = perAgent.get(agentId) ?? { messages: 0, bytes: 0 };
        entry.messages += 1;
        entry.bytes += message.data.length;
        perAgent.set(agentId, entry);
      }
      if (message.info.pending === 0) {
        return perAgent;
      }
    }
  } finally {
    await conn.close();
  }
}

/** One runner run of `args` (after the FQN) from `cwd`, measured, and its deltas read back. */
async function measureRun(
  fqn: string,
  args: string[],
  cwd: string,
  brokerUrl: string,
): Promise<RunMeasure> {
  const dir = await makeTempDir('loads-bench-distributed-');
  const usageFile = path.join(dir, 'usage.json');
  try {
    const result = await runChild(
      wrap([process.execPath, '--import', reporter, runnerBin, fqn, ...args, '-o', 'json'], {}),
      {
        cwd,
        env: { ...process.env, LOADS_BENCH_USAGE_FILE: usageFile, NO_COLOR: '1' },
        timeoutMs: RUN_TIMEOUT_MS,
      },
    );
    if (result.timedOut) {
      throw new Error(`the runner did not finish within ${RUN_TIMEOUT_MS / 1000} s`);
    }
    if (!existsSync(usageFile)) {
      throw new Error(
        `the runner exited (${result.code ?? result.signal}) without a usage report:\n${result.stderr}`,
      );
    }
    const usage = JSON.parse(await readFile(usageFile, 'utf8')) as Usage;
    let summary: {
      hits: number;
      durationS: number;
      errors: number;
      failures: number;
      hitErrors: number;
      distributed?: { runId: string } | null;
    };
    try {
      summary = JSON.parse(result.stdout) as typeof summary;
    } catch {
      throw new Error(
        `the runner exited (${result.code ?? result.signal}) with unreadable output:\n${result.stdout}\n${result.stderr}`,
      );
    }
    const runId = summary.distributed?.runId;
    if (runId === undefined) {
      throw new Error(`the runner's summary names no distributed run:\n${result.stderr}`);
    }
    return {
      hits: summary.hits,
      durationS: summary.durationS,
      errors: summary.errors + summary.failures + summary.hitErrors,
      cpuS: (usage.cpuUserUs + usage.cpuSystemUs) / 1e6,
      maxRssKb: usage.maxRssKb,
      deltas: await readDeltas(brokerUrl, runId),
    };
  } finally {
    await removeTempDir(dir);
  }
}

/** Mean over agents of delta bytes per second of the run, and the largest. */
function deltaRates(m: RunMeasure): { mean: number; max: number; messages: number } {
  const rates = [...m.deltas.values()].map((d) => d.bytes / m.durationS);
  const messages = [...m.deltas.values()].reduce((sum, d) => sum + d.messages, 0);
  return {
    mean: rates.reduce((sum, r) => sum + r, 0) / Math.max(1, rates.length),
    max: Math.max(0, ...rates),
    messages: messages / Math.max(1, m.deltas.size),
  };
}

function row(cells: string[]): string {
  const widths = [12, 10, 8, 13, 14, 10, 18, 14];
  return cells.map((cell, i) => cell.padStart(widths[i] ?? 12)).join(' ');
}

export async function distributedBench(options: DistributedBenchOptions): Promise<void> {
  const agentCount = options.agents ?? 8;
  const totals = options.totals ?? [20_000, 40_000, 80_000];
  const usersPerAgent = options.usersPerAgent ?? 10;
  const urlsDurationS = options.durationS ?? 10;
  const natsServer = findNatsServer();
  if (!existsSync(path.join(root, 'dist', 'cli', 'agent-command.js'))) {
    throw new Error('no built loads-agent in dist/: run npm run build first');
  }

  const storeDir = await makeTempDir('loads-bench-nats-');
  const port = await freePort();
  const nats = spawnTracked([
    natsServer,
    '-js',
    '-sd',
    storeDir,
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
  ]);
  const agents: ChildProcess[] = [];
  const target = await startTarget({ kind: options.target, core: undefined });
  const project = await makeTempDir('loads-bench-urls-');
  try {
    await waitForStderr(nats, /Server is ready/, 'nats-server');
    const brokerUrl = `nats://127.0.0.1:${port}`;
    for (let i = 0; i < agentCount; i++) {
      agents.push(
        spawnTracked(
          [
            process.execPath,
            agentBin,
            '--broker',
            brokerUrl,
            '--name',
            `bench-${i + 1}`,
            '--workers',
            '1',
          ],
          { cwd: root, env: { ...process.env, NO_COLOR: '1' } },
        ),
      );
    }
    await Promise.all(
      agents.map((agent, i) =>
        waitForStderr(agent, /waiting for runs/, `loads-agent bench-${i + 1}`),
      ),
    );

    const cpus = os.cpus();
    process.stdout.write(
      [
        `node ${process.version} (${process.platform} ${process.arch}), ${os.type()} ${os.release()}`,
        `CPU: ${cpus[0]?.model ?? 'unknown'}, ${os.availableParallelism()} cores; load average ${os
          .loadavg()
          .map((n) => n.toFixed(2))
          .join(' ')}`,
        `broker: ${natsServer} (${spawnSync(natsServer, ['--version'], { encoding: 'utf8' }).stdout.trim()}) on ${brokerUrl}, JetStream in a temp folder`,
        `target: ${target.kind} at ${target.url}: ${target.description}`,
        `agents: ${agentCount} loads-agent processes, --workers 1 each; runner: bin/loads-runner.js --agents ${agentCount} -o json; nothing pinned`,
        `load: bench.TestBench.test_get, -u ${usersPerAgent} per agent, --hits for the total; then ${URLS} distinct URLs per run for ${urlsDurationS} s`,
        '',
        '',
      ].join('\n'),
    );

    process.stdout.write(
      `${row(['total hits', 'time s', 'errors', 'runner CPU s', 'CPU s/10k hits', 'peak RSS', 'deltas B/s/agent', 'deltas/agent'])}\n`,
    );
    const measured: RunMeasure[] = [];
    for (const total of totals) {
      const hitsPerUser = Math.max(1, Math.round(total / agentCount / usersPerAgent));
      const m = await measureRun(
        'bench.TestBench.test_get',
        [
          '-u',
          String(usersPerAgent),
          '--hits',
          String(hitsPerUser),
          '--agents',
          String(agentCount),
          '--broker',
          brokerUrl,
          '--workers',
          '1',
          '--server-url',
          target.url,
        ],
        path.join(root, 'examples'),
        brokerUrl,
      );
      measured.push(m);
      const rates = deltaRates(m);
      process.stdout.write(
        `${row([
          int(m.hits),
          m.durationS.toFixed(1),
          int(m.errors),
          m.cpuS.toFixed(2),
          (m.cpuS / (m.hits / 10_000)).toFixed(3),
          mb(m.maxRssKb),
          int(rates.mean),
          rates.messages.toFixed(1),
        ])}\n`,
      );
    }
    if (measured.length >= 2) {
      const first = measured[0]!;
      const last = measured[measured.length - 1]!;
      const perHits = (m: RunMeasure): number => m.cpuS / (m.hits / 10_000);
      process.stdout.write(
        `\nflatness, ${int(last.hits)} hits ÷ ${int(first.hits)} hits: runner CPU per 10k hits ${(perHits(last) / perHits(first)).toFixed(2)} (1.00 = grows with the hits, below = flatter), runner CPU ${(last.cpuS / first.cpuS).toFixed(2)}, peak RSS ${(last.maxRssKb / first.maxRssKb).toFixed(2)}\n`,
      );
    }

    // 100 distinct URLs: a test run is 100 hits, each delta has 100 URL entries.
    await mkdir(path.join(project, 'node_modules'));
    await symlink(root, path.join(project, 'node_modules', 'loads-runner'), 'dir');
    await writeFile(path.join(project, 'package.json'), '{ "type": "module" }\n');
    await writeFile(path.join(project, 'urls.ts'), URLS_MODULE);
    const m = await measureRun(
      'urls.TestUrls.test_urls',
      [
        '-u',
        '2',
        '-d',
        String(urlsDurationS),
        '--agents',
        String(agentCount),
        '--broker',
        brokerUrl,
        '--workers',
        '1',
        '--server-url',
        target.url,
      ],
      project,
      brokerUrl,
    );
    const rates = deltaRates(m);
    process.stdout.write(
      `\n${URLS} URLs, -u 2 -d ${urlsDurationS} per agent: ${int(m.hits)} hits in ${m.durationS.toFixed(1)} s, errors ${int(m.errors)}; deltas per agent: ${int(rates.mean)} B/s on average (${kb(rates.mean)}/s), largest ${int(rates.max)} B/s, ${rates.messages.toFixed(1)} messages; runner CPU ${m.cpuS.toFixed(2)} s, peak RSS ${mb(m.maxRssKb)}\n`,
    );
  } finally {
    // Agents first: each deletes its record from the broker as it goes.
    await Promise.all(agents.map((agent) => stopChild(agent)));
    await stopChild(nats);
    await target.close();
    await removeTempDir(project);
    await removeTempDir(storeDir);
  }
}
