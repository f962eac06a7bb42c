// The loads-runner benchmark (STYLE.md §9, issue 3). `npm run bench -- --help`.
//
//   npm run bench                       throughput: loads-runner vs the dispatch ceiling, autocannon, a bare undici loop
//   npm run bench -- ws                 WebSocket runs: loads-runner vs a bare ws loop
//   npm run bench -- per-hit            V8 heap bytes and promises per hit: loads-runner vs the bare loops
//   npm run bench -- aggregator         CPU ns per test run of the metrics side (no network), vs --baseline
//   npm run bench -- memory             peak RSS of 1,000 and 10,000 idle virtual users
//   npm run bench -- soak --minutes 10  one long run, RSS every 30 s
//   npm run bench -- profile            a --cpu-prof run of loads-runner, top self-time functions
//   npm run bench -- hostile            peak RSS with 200 MB and endless response bodies
//   npm run bench -- distributed        8 agents and a runner on a local nats-server: runner CPU/RSS, delta bytes
//
// Every generator runs as its own child process (pinned with taskset to core
// 1, the target to core 0, when there are 2+ cores), measured by
// bench/usage-reporter.mjs: CPU time of all its threads, peak RSS.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { distributedBench } from './distributed.ts';
import { formatSummary, summarise } from './profile-summary.ts';
import {
  installCleanup,
  interruption,
  makeTempDir,
  removeTempDir,
  runChild,
  wrap,
} from './proc.ts';
import {
  startHostileTarget,
  startTarget,
  startWsEchoTarget,
  type Target,
  type TargetKind,
} from './target.ts';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(benchDir);
/** The bin and examples of the loads-runner checkout in `dir` (this one, or --baseline). */
const binOf = (dir: string): string => path.join(dir, 'bin', 'loads-runner.js');
const examplesOf = (dir: string): string => path.join(dir, 'examples');
const reporter = pathToFileURL(path.join(benchDir, 'usage-reporter.mjs')).href;
const probeHref = pathToFileURL(path.join(benchDir, 'per-hit-probe.mjs')).href;
const require = createRequire(import.meta.url);
const autocannonBin = path.join(
  path.dirname(require.resolve('autocannon/package.json')),
  'autocannon.js',
);

const HELP = `Usage: npm run bench -- [mode] [options]

Modes:
  throughput (default)  loads-runner (examples/bench.ts TestBench.test_get), the dispatch
                        ceiling (bench/dispatch-ceiling.ts: one undici Client per connection
                        looping Client.dispatch with a handler that only counts bytes),
                        autocannon and a bare undici request() loop against the same
                        target, same connections and duration, interleaved over --reps
                        repetitions; prints requests/s, CPU seconds, requests per
                        CPU-second, peak RSS, medians and the ratios loads-runner / each
                        peer (÷ dispatch ceiling and ÷ autocannon are issue 14's targets)
  ws                    WebSocket runs: loads-runner (examples/bench.ts TestBench.test_ws:
                        open, 10 echoes awaited one after another, close) against
                        bench/bare-ws.ts (a bare \`ws\` loop doing the same), --connections
                        users / loops, against bench/ws-echo-target.mjs (pinned like the
                        HTTP target), interleaved over --reps; runs/s, runs per
                        CPU-second, medians and loads-runner ÷ bare ws
  per-hit               what one hit costs the generator's main thread, for loads-runner
                        (TestBench.test_get), the dispatch ceiling and the bare undici
                        loop, each for --duration (default: 5) s, in the same run: bytes
                        allocated on the V8 heap per hit (v8.GCProfiler: used heap before
                        and after every GC) and promises created per hit (one per
                        promise and per await: v8.promiseHooks, in a run of its own),
                        with a startup run's figures (1 request) subtracted;
                        bench/per-hit-probe.mjs explains the method
  aggregator            the metrics side of one run without the network: bench/aggregator-
                        probe.mjs feeds a real Aggregator (counters, histograms, timeline)
                        the events of 2,000,000 runs (test-start, hit, test-end over 10
                        URLs), each rep in its own process pinned like a generator, the
                        --baseline build interleaved; CPU ns per run, medians, and
                        loads-runner ÷ baseline
  memory                loads-runner with 1,000 then 10,000 idle users (TestBench.test_idle:
                        one hit a second each, own keep-alive connection, started over
                        --ramp-up); peak RSS, errors, KB per user, and whether the
                        generator was saturated (then the figure measures its backlog)
  soak                  one long loads-runner run at full speed; its RSS every 30 s
  profile               one loads-runner run under --cpu-prof against the node target;
                        the top self-time functions (bench/profile-summary.ts)
  hostile               peak RSS of loads-runner with 20 users (TestBench.test_get, which
                        reads only the status) against bench/hostile-target.mjs: 200 MB
                        bodies with a content-length, chunked, chunked with --discard-bodies,
                        and an endless chunked body for --duration; each must stay under
                        1.5 GB (--max-body-size bounds memory by users × its 64 MiB).
                        VmRSS is also sampled, and a run over --rss-cap MB is killed
  distributed           a nats-server, 8 loads-agent processes (--workers 1) and the
                        runner (--agents 8 -o json) on this machine: runs of 20k, 40k
                        and 80k hits in total (TestBench.test_get, -u 10 per agent);
                        runner CPU seconds and peak RSS against the hits, delta bytes
                        per agent per second (read back from the stream); then a test
                        of 100 distinct URLs for --duration (default 10) s

Options:
  --duration S       seconds per run (default: 10; memory: 15; profile: 10; per-hit: 5)
  --connections N    connections / virtual users (throughput, ws, per-hit, profile, soak;
                     default: 50)
  --reps R           repetitions of each generator (default: 3; aggregator: 5)
  --users A,B        memory: the user counts (default: 1000,10000)
  --minutes M        soak: length of the run (default: 10)
  --ramp-up S        memory: users start over S seconds, not all at once (default: 5; 0 for none)
  --target KIND      auto (nginx when installed, else node), node or nginx (default: auto)
  --pin, --no-pin    target on core 0 and generator on core 1 with taskset
                     (default: on with 2+ cores and taskset installed)
  --prof-dir DIR     profile: where the .cpuprofile goes (default: a new temp folder)
  --top N            profile: rows to print (default: 15)
  --rss-cap MB       hostile: kill a run whose RSS passes this (default: 8192)
  --baseline DIR     throughput, ws, per-hit, aggregator, hostile: also run the loads-runner
                     built in DIR (another checkout, e.g. a git worktree of main, npm ci done),
                     interleaved, and print loads-runner ÷ baseline: a change's before and
                     after in one run (ws: DIR's examples/bench.ts needs TestBench.test_ws)
  -h, --help         this help

The target is on 127.0.0.1 only; nothing is downloaded. Benchmarks are not tests: they
never run in npm test.
`;

interface Options {
  mode:
    | 'throughput'
    | 'ws'
    | 'per-hit'
    | 'aggregator'
    | 'memory'
    | 'soak'
    | 'profile'
    | 'hostile'
    | 'distributed';
  /** --reps as given; undefined for the mode's default. */
  repsGiven: number | undefined;
  duration: number | undefined;
  connections: number;
  reps: number;
  users: number[];
  minutes: number;
  rampUp: number;
  target: TargetKind | 'auto';
  pin: boolean;
  profDir: string | undefined;
  top: number;
  rssCapMb: number;
  /** --baseline: another loads-runner checkout to compare with. */
  baseline: string | undefined;
}

function positiveNumber(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) {
    return fallback;
  }
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name}: expected a positive number, got ${JSON.stringify(text)}`);
  }
  return value;
}

function parseOptions(argv: string[]): Options | undefined {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      reps: { type: 'string' },
      users: { type: 'string' },
      minutes: { type: 'string' },
      'ramp-up': { type: 'string' },
      target: { type: 'string' },
      pin: { type: 'boolean' },
      'no-pin': { type: 'boolean' },
      'prof-dir': { type: 'string' },
      top: { type: 'string' },
      'rss-cap': { type: 'string' },
      baseline: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(HELP);
    return undefined;
  }
  const mode = positionals[0] ?? 'throughput';
  if (
    mode !== 'throughput' &&
    mode !== 'ws' &&
    mode !== 'per-hit' &&
    mode !== 'aggregator' &&
    mode !== 'memory' &&
    mode !== 'soak' &&
    mode !== 'profile' &&
    mode !== 'hostile' &&
    mode !== 'distributed'
  ) {
    throw new Error(`unknown mode ${JSON.stringify(mode)}`);
  }
  const target = values.target ?? 'auto';
  if (target !== 'auto' && target !== 'node' && target !== 'nginx') {
    throw new Error(`--target: auto, node or nginx, not ${JSON.stringify(target)}`);
  }
  const canPin = os.availableParallelism() >= 2 && commandExists('taskset');
  const pin = values['no-pin'] === true ? false : (values.pin ?? canPin);
  if (pin && !canPin) {
    throw new Error('--pin needs 2+ cores and taskset');
  }
  return {
    mode,
    duration:
      values.duration === undefined ? undefined : positiveNumber('--duration', values.duration, 0),
    connections: Math.round(positiveNumber('--connections', values.connections, 50)),
    reps: Math.round(positiveNumber('--reps', values.reps, 3)),
    repsGiven:
      values.reps === undefined ? undefined : Math.round(positiveNumber('--reps', values.reps, 3)),
    users: (values.users ?? '1000,10000')
      .split(',')
      .map((n) => Math.round(positiveNumber('--users', n, 0))),
    minutes: positiveNumber('--minutes', values.minutes, 10),
    rampUp: values['ramp-up'] === '0' ? 0 : positiveNumber('--ramp-up', values['ramp-up'], 5),
    target,
    pin,
    profDir: values['prof-dir'],
    top: Math.round(positiveNumber('--top', values.top, 15)),
    rssCapMb: positiveNumber('--rss-cap', values['rss-cap'], 8192),
    baseline: values.baseline === undefined ? undefined : checkBaseline(values.baseline),
  };
}

function checkBaseline(dir: string): string {
  const absolute = path.resolve(dir);
  if (!existsSync(binOf(absolute)) || !existsSync(path.join(absolute, 'dist'))) {
    throw new Error(
      `--baseline ${dir}: no built loads-runner there (bin/loads-runner.js and dist/); run npm ci in it`,
    );
  }
  return absolute;
}

function commandExists(name: string): boolean {
  return spawnSync('which', [name], { encoding: 'utf8' }).status === 0;
}

/** The cores of the target and of the generator, when pinning. */
const cores = (pin: boolean): { target: number | undefined; generator: number | undefined } =>
  pin ? { target: 0, generator: 1 } : { target: undefined, generator: undefined };

function loadsRunnerHasWorkers(dir = root): boolean {
  return loadsRunnerHasOption('--workers', dir);
}

/** Whether the loads-runner under test has this option (the bench also runs older builds). */
function loadsRunnerHasOption(option: string, dir = root): boolean {
  const help = spawnSync(process.execPath, [binOf(dir), '--help'], { encoding: 'utf8' });
  return new RegExp(`${option}\\b`).test(help.stdout);
}

function printHeader(target: Target, options: Options, extra: string[] = []): void {
  const cpus = os.cpus();
  const load = os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
  const lines = [
    `node ${process.version} (${process.platform} ${process.arch}), ${os.type()} ${os.release()}`,
    `CPU: ${cpus[0]?.model ?? 'unknown'}, ${os.availableParallelism()} cores; load average ${load}`,
    `target: ${target.kind} at ${target.url}: ${target.description}`,
    `pinning: ${options.pin ? 'on (taskset: target core 0, generator core 1)' : 'off'}`,
    ...extra,
  ];
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

// ---------------------------------------------------------------- measuring

interface Usage {
  cpuUserUs: number;
  cpuSystemUs: number;
  maxRssKb: number;
  requests?: number;
}

interface Measurement {
  requests: number;
  durationS: number;
  errors: number;
  cpuS: number;
  maxRssKb: number;
  /** loads-runner's own verdict: why its event loop was saturated, '' when it was not, undefined for peers. */
  saturated?: string;
}

interface Generator {
  name: string;
  cwd: string;
  /** The node arguments (after `node --import usage-reporter`). */
  args: string[];
  /** Requests, duration and errors from the child's stdout. */
  parse(stdout: string, usage: Usage): Omit<Measurement, 'cpuS' | 'maxRssKb'>;
}

interface LoadsSummary {
  hits: number;
  successes: number;
  durationS: number;
  errors: number;
  failures: number;
  hitErrors: number;
  generator?: { saturated: boolean; reason: string } | null;
}

/**
 * A load: users (connections) for a duration, started over rampUpS seconds
 * (loads-runner only), or `startup`: the smallest run (one request).
 */
type Load = { users: number; durationS: number; rampUpS?: number } | 'startup';

/**
 * loads-runner with `-o json` (the summary on stdout), or, given jsonFile,
 * `-o stdout -o json` with the summary in that file, for the status line on
 * stderr every 5 s.
 */
function loadsRunner(
  test: string,
  url: string,
  load: Load,
  workers: boolean,
  jsonFile?: string,
  dir = root,
): Generator {
  const outputs =
    jsonFile === undefined
      ? ['-o', 'json']
      : ['-o', 'stdout', '-o', 'json', '--output-json-filename', jsonFile];
  const amount =
    load === 'startup'
      ? ['-u', '1', '--hits', '1']
      : [
          '-u',
          String(load.users),
          '-d',
          String(load.durationS),
          ...(load.rampUpS === undefined || load.rampUpS === 0
            ? []
            : ['--ramp-up', String(load.rampUpS)]),
        ];
  return {
    name: dir === root ? 'loads-runner' : 'baseline',
    cwd: examplesOf(dir),
    args: [
      binOf(dir),
      test,
      ...amount,
      '--server-url',
      url,
      ...outputs,
      ...(workers ? ['--workers', '1'] : []),
    ],
    parse(stdout) {
      const json = jsonFile === undefined ? stdout : readFileSync(jsonFile, 'utf8');
      const summary = JSON.parse(json) as LoadsSummary;
      return {
        requests: summary.hits,
        durationS: summary.durationS,
        errors: summary.errors + summary.failures + summary.hitErrors,
        saturated: summary.generator?.saturated === true ? summary.generator.reason : '',
      };
    },
  };
}

function autocannon(url: string, load: Load): Generator {
  const amount =
    load === 'startup'
      ? ['-c', '1', '-a', '1']
      : ['-c', String(load.users), '-d', String(load.durationS)];
  return {
    name: 'autocannon',
    cwd: root,
    args: [autocannonBin, ...amount, '--json', url],
    parse(stdout) {
      const result = JSON.parse(stdout) as {
        requests: { total: number };
        duration: number;
        errors: number;
        timeouts: number;
        non2xx: number;
      };
      return {
        requests: result.requests.total,
        durationS: result.duration,
        errors: result.errors + result.timeouts + result.non2xx,
      };
    },
  };
}

/** The ceiling: undici's Client.dispatch with a handler that only counts bytes (bench/dispatch-ceiling.ts). */
function dispatchCeiling(url: string, load: Load): Generator {
  const amount =
    load === 'startup'
      ? ['--connections', '1', '--duration', '0.001']
      : ['--connections', String(load.users), '--duration', String(load.durationS)];
  return {
    name: 'dispatch ceiling',
    cwd: root,
    args: ['--import', 'tsx', path.join(benchDir, 'dispatch-ceiling.ts'), '--url', url, ...amount],
    parse(stdout) {
      const result = JSON.parse(stdout) as { requests: number; errors: number; durationS: number };
      return { requests: result.requests, errors: result.errors, durationS: result.durationS };
    },
  };
}

/** Echoes per run of TestBench.test_ws and of bench/bare-ws.ts. */
const WS_ECHOES = 10;

/** loads-runner's TestBench.test_ws; what it counts is test runs, not hits. */
function loadsRunnerWsRuns(url: string, load: Load, workers: boolean, dir = root): Generator {
  // --server-url takes http(s) only; the test turns it into ws://.
  const generator = loadsRunner(
    'bench.TestBench.test_ws',
    url.replace(/^ws:/, 'http:'),
    load,
    workers,
    undefined,
    dir,
  );
  return {
    ...generator,
    parse(stdout) {
      const summary = JSON.parse(stdout) as LoadsSummary;
      return {
        requests: summary.successes,
        durationS: summary.durationS,
        errors: summary.errors + summary.failures,
        saturated: summary.generator?.saturated === true ? summary.generator.reason : '',
      };
    },
  };
}

function bareWs(url: string, load: Load): Generator {
  const amount =
    load === 'startup'
      ? ['--connections', '1', '--duration', '0.001']
      : ['--connections', String(load.users), '--duration', String(load.durationS)];
  return {
    name: 'bare ws',
    cwd: root,
    args: [
      '--import',
      'tsx',
      path.join(benchDir, 'bare-ws.ts'),
      '--url',
      url,
      '--echoes',
      String(WS_ECHOES),
      ...amount,
    ],
    parse(stdout) {
      const result = JSON.parse(stdout) as { requests: number; errors: number; durationS: number };
      return { requests: result.requests, errors: result.errors, durationS: result.durationS };
    },
  };
}

function bareUndici(url: string, load: Load): Generator {
  const amount =
    load === 'startup'
      ? ['--connections', '1', '--duration', '0.001']
      : ['--connections', String(load.users), '--duration', String(load.durationS)];
  return {
    name: 'bare undici',
    cwd: root,
    args: ['--import', 'tsx', path.join(benchDir, 'bare-undici.ts'), '--url', url, ...amount],
    parse(stdout) {
      const result = JSON.parse(stdout) as { requests: number; errors: number; durationS: number };
      return result;
    },
  };
}

interface MeasureOptions {
  core: number | undefined;
  raiseNofile: boolean;
  timeoutMs: number;
  onPid?: ((pid: number) => void) | undefined;
  onStderr?: ((text: string) => void) | undefined;
  /** More environment for the child (per-hit: its probe). */
  env?: NodeJS.ProcessEnv | undefined;
}

async function measure(generator: Generator, options: MeasureOptions): Promise<Measurement> {
  if (interruption() !== undefined) {
    throw new Error('interrupted');
  }
  const dir = await makeTempDir('loads-bench-');
  const usageFile = path.join(dir, 'usage.json');
  try {
    const cmd = wrap([process.execPath, '--import', reporter, ...generator.args], {
      core: options.core,
      raiseNofile: options.raiseNofile,
    });
    const result = await runChild(cmd, {
      cwd: generator.cwd,
      env: { ...process.env, ...options.env, LOADS_BENCH_USAGE_FILE: usageFile, NO_COLOR: '1' },
      timeoutMs: options.timeoutMs,
      onStart: (child) => options.onPid?.(child.pid ?? 0),
      onStderr: options.onStderr,
    });
    if (result.timedOut) {
      throw new Error(`${generator.name} did not stop within ${options.timeoutMs / 1000} s`);
    }
    if (!existsSync(usageFile)) {
      throw new Error(
        `${generator.name} exited (${result.code ?? result.signal}) without a usage report:\n${result.stderr}`,
      );
    }
    const usage = JSON.parse(await readFile(usageFile, 'utf8')) as Usage;
    let parsed;
    try {
      parsed = generator.parse(result.stdout, usage);
    } catch {
      throw new Error(
        `${generator.name} exited (${result.code ?? result.signal}) with unreadable output:\n${result.stdout}\n${result.stderr}`,
      );
    }
    return {
      ...parsed,
      cpuS: (usage.cpuUserUs + usage.cpuSystemUs) / 1e6,
      maxRssKb: usage.maxRssKb,
    };
  } finally {
    await removeTempDir(dir);
  }
}

// ------------------------------------------------------------------ printing

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const COLUMNS = ['requests', 'req/s', 'CPU s', 'req/CPU-s', 'peak RSS', 'errors'];

function row(label: string, cells: string[]): string {
  return `${label.padEnd(22)}${cells.map((cell) => cell.padStart(14)).join('')}`;
}

function cellsOf(m: Measurement): string[] {
  return [
    int(m.requests),
    int(m.requests / m.durationS),
    m.cpuS.toFixed(2),
    int(m.requests / m.cpuS),
    mb(m.maxRssKb),
    int(m.errors),
  ];
}

// ---------------------------------------------------------------- the modes

interface Rates {
  rps: number;
  perCpu: number;
  perNetCpu: number;
}

/**
 * Runs the generators `makers` make for `load`, interleaved over `reps`
 * repetitions after one startup run each, and prints each run, the medians
 * and loads-runner ÷ each of `peers`. `unit` names what is counted
 * (requests, runs). Returns the median rates by generator name.
 */
async function interleaved(
  makers: ((l: Load) => Generator)[],
  load: Load,
  options: Options,
  unit: { one: string; many: string; startup: string },
  peers: string[],
): Promise<Map<string, Rates>> {
  const durationS = load === 'startup' ? 0 : load.durationS;
  const core = cores(options.pin);
  const columns = [unit.many, `${unit.one}/s`, 'CPU s', `${unit.one}/CPU-s`, 'peak RSS', 'errors'];
  const cells = (m: Measurement): string[] => [
    int(m.requests),
    int(m.requests / m.durationS),
    m.cpuS.toFixed(2),
    int(m.requests / m.cpuS),
    mb(m.maxRssKb),
    int(m.errors),
  ];
  const generators = makers.map((make) => make(load));
  const measureOptions = {
    core: core.generator,
    raiseNofile: false,
    timeoutMs: (durationS + 60) * 1000,
  };
  // What each process costs before its first request and after its last
  // (node, modules, tsx): one run of a single request each.
  const startupCpu = new Map<string, number>();
  for (const make of makers) {
    const startup = make('startup');
    startupCpu.set(startup.name, (await measure(startup, measureOptions)).cpuS);
  }
  process.stdout.write(
    `startup CPU s (${unit.startup}): ${generators
      .map((g) => `${g.name} ${startupCpu.get(g.name)!.toFixed(2)}`)
      .join(', ')}\n\n`,
  );
  const results = new Map<string, Measurement[]>(generators.map((g) => [g.name, []]));
  process.stdout.write(`${row('run', columns)}\n`);
  for (let rep = 1; rep <= options.reps; rep++) {
    for (const generator of generators) {
      const m = await measure(generator, measureOptions);
      results.get(generator.name)!.push(m);
      process.stdout.write(`${row(`${rep} ${generator.name}`, cells(m))}\n`);
    }
  }
  const rates = new Map<string, Rates>();
  process.stdout.write(
    `\nmedians over ${options.reps} reps\n${row('generator', [...columns, `net ${unit.one}/CPU-s`])}\n`,
  );
  for (const generator of generators) {
    const runs = results.get(generator.name)!;
    const startup = startupCpu.get(generator.name)!;
    // The rates are medians of each run's rate, not rates of the medians.
    const rps = median(runs.map((r) => r.requests / r.durationS));
    const perCpu = median(runs.map((r) => r.requests / r.cpuS));
    const perNetCpu = median(runs.map((r) => r.requests / Math.max(r.cpuS - startup, 1e-3)));
    rates.set(generator.name, { rps, perCpu, perNetCpu });
    const medianCells = [
      int(median(runs.map((r) => r.requests))),
      int(rps),
      median(runs.map((r) => r.cpuS)).toFixed(2),
      int(perCpu),
      mb(median(runs.map((r) => r.maxRssKb))),
      int(median(runs.map((r) => r.errors))),
      int(perNetCpu),
    ];
    process.stdout.write(`${row(generator.name, medianCells)}\n`);
  }
  process.stdout.write(
    `\n${'ratios (medians)'.padEnd(30)}${[`${unit.one}/CPU-s`, `${unit.one}/s`, `net ${unit.one}/CPU-s`].map((h) => h.padStart(15)).join('')}\n`,
  );
  for (const peer of peers) {
    process.stdout.write(ratioRow('loads-runner', peer, rates));
  }
  return rates;
}

/** One line of ratios: a ÷ b of each median rate. */
function ratioRow(a: string, b: string, rates: Map<string, Rates>): string {
  const x = rates.get(a)!;
  const y = rates.get(b)!;
  const ratios = [x.perCpu / y.perCpu, x.rps / y.rps, x.perNetCpu / y.perNetCpu];
  return `${`${a} ÷ ${b}`.padEnd(30)}${ratios.map((r) => r.toFixed(2).padStart(15)).join('')}\n`;
}

async function throughput(options: Options): Promise<void> {
  const durationS = options.duration ?? 10;
  const core = cores(options.pin);
  const workers = loadsRunnerHasWorkers();
  const target = await startTarget({ kind: options.target, core: core.target });
  try {
    printHeader(target, options, [
      `load: ${options.connections} connections / virtual users, ${durationS} s per run, ${options.reps} reps interleaved`,
      `loads-runner: examples/bench.ts TestBench.test_get, -o json${workers ? ', --workers 1' : ' (no --workers option yet: one thread)'}`,
    ]);
    const load = { users: options.connections, durationS };
    const baseline = options.baseline;
    const makers = [
      (l: Load) => loadsRunner('bench.TestBench.test_get', target.url, l, workers),
      ...(baseline === undefined
        ? []
        : [
            (l: Load) =>
              loadsRunner(
                'bench.TestBench.test_get',
                target.url,
                l,
                loadsRunnerHasWorkers(baseline),
                undefined,
                baseline,
              ),
          ]),
      (l: Load) => dispatchCeiling(target.url, l),
      (l: Load) => autocannon(target.url, l),
      (l: Load) => bareUndici(target.url, l),
    ];
    const rates = await interleaved(
      makers,
      load,
      options,
      { one: 'req', many: 'requests', startup: 'a run of 1 request' },
      [
        ...(baseline === undefined ? [] : ['baseline']),
        'dispatch ceiling',
        'autocannon',
        'bare undici',
      ],
    );
    // How close the ceiling itself is to autocannon: when it is far below,
    // the machine (not loads-runner) is what the ratios above measure.
    process.stdout.write(ratioRow('dispatch ceiling', 'autocannon', rates));
    process.stdout.write(
      (baseline === undefined ? '' : `\nbaseline: the loads-runner built in ${baseline}`) +
        '\nreq/CPU-s: requests ÷ CPU time (user+sys, all threads) of the whole generator process;' +
        '\nnet req/CPU-s: the same without the startup CPU measured above.\n',
    );
  } finally {
    await target.close();
  }
}

/** WebSocket runs: loads-runner's TestBench.test_ws against bench/bare-ws.ts, same echo target. */
async function ws(options: Options): Promise<void> {
  const durationS = options.duration ?? 10;
  const core = cores(options.pin);
  const workers = loadsRunnerHasWorkers();
  const baseline = options.baseline;
  if (
    baseline !== undefined &&
    !readFileSync(path.join(examplesOf(baseline), 'bench.ts'), 'utf8').includes('test_ws')
  ) {
    throw new Error(`--baseline ${baseline}: its examples/bench.ts has no TestBench.test_ws`);
  }
  const target = await startWsEchoTarget(core.target);
  try {
    printHeader(target, options, [
      `load: ${options.connections} virtual users / loops, ${durationS} s per run, ${options.reps} reps interleaved; a run: open, ${WS_ECHOES} echoes awaited one after another, close`,
      `loads-runner: examples/bench.ts TestBench.test_ws, -o json${workers ? ', --workers 1' : ''}; bare ws: bench/bare-ws.ts`,
    ]);
    await interleaved(
      [
        (l: Load) => loadsRunnerWsRuns(target.url, l, workers),
        ...(baseline === undefined
          ? []
          : [
              (l: Load) =>
                loadsRunnerWsRuns(target.url, l, loadsRunnerHasWorkers(baseline), baseline),
            ]),
        (l: Load) => bareWs(target.url, l),
      ],
      { users: options.connections, durationS },
      options,
      { one: 'run', many: 'runs', startup: 'a run of 1 test run' },
      [...(baseline === undefined ? [] : ['baseline']), 'bare ws'],
    );
    process.stdout.write(
      '\nruns: test runs that succeeded (loads-runner) / completed (bare ws);' +
        '\nrun/CPU-s: runs ÷ CPU time (user+sys, all threads) of the whole generator process;' +
        '\nnet run/CPU-s: the same without the startup CPU measured above.\n',
    );
  } finally {
    await target.close();
  }
}

type Probe = 'alloc' | 'promises';

/** One generator's run under bench/per-hit-probe.mjs: its hits and the probe's figure. */
async function probed(
  generator: Generator,
  probe: Probe,
  options: MeasureOptions,
): Promise<{ hits: number; value: number; errors: number }> {
  const dir = await makeTempDir('loads-bench-probe-');
  const file = path.join(dir, 'probe.json');
  try {
    const m = await measure(
      { ...generator, args: ['--import', probeHref, ...generator.args] },
      { ...options, env: { LOADS_BENCH_PROBE: probe, LOADS_BENCH_PROBE_FILE: file } },
    );
    const result = JSON.parse(await readFile(file, 'utf8')) as {
      allocatedBytes?: number;
      promises?: number;
    };
    return {
      hits: m.requests,
      value: (probe === 'alloc' ? result.allocatedBytes : result.promises) ?? NaN,
      errors: m.errors,
    };
  } finally {
    await removeTempDir(dir);
  }
}

/** V8 heap bytes and promises per hit: loads-runner, the dispatch ceiling and bare undici. */
async function perHit(options: Options): Promise<void> {
  const durationS = options.duration ?? 5;
  const core = cores(options.pin);
  const workers = loadsRunnerHasWorkers();
  const target = await startTarget({ kind: options.target, core: core.target });
  try {
    printHeader(target, options, [
      `load: ${options.connections} connections / virtual users, ${durationS} s per run; per generator and figure: a startup run (1 request) and a full run`,
      `loads-runner: examples/bench.ts TestBench.test_get, -o json${workers ? ', --workers 1 (the main thread, where the probe is)' : ''}`,
      'probe: bench/per-hit-probe.mjs in the generator process (main thread); figure = (full − startup) ÷ (hits full − hits startup)',
    ]);
    const baseline = options.baseline;
    const makers = [
      (l: Load) => loadsRunner('bench.TestBench.test_get', target.url, l, workers),
      ...(baseline === undefined
        ? []
        : [
            (l: Load) =>
              loadsRunner(
                'bench.TestBench.test_get',
                target.url,
                l,
                loadsRunnerHasWorkers(baseline),
                undefined,
                baseline,
              ),
          ]),
      (l: Load) => dispatchCeiling(target.url, l),
      (l: Load) => bareUndici(target.url, l),
    ];
    const measureOptions = {
      core: core.generator,
      raiseNofile: false,
      timeoutMs: (durationS + 60) * 1000,
    };
    const load = { users: options.connections, durationS };
    const perHitOf = new Map<string, Record<Probe, number>>();
    process.stdout.write(
      `${row('generator', ['hits (alloc)', 'bytes/hit', 'hits (prom.)', 'promises/hit', 'errors'])}\n`,
    );
    for (const make of makers) {
      const figures = { alloc: NaN, promises: NaN };
      const hits: number[] = [];
      let errors = 0;
      for (const probe of ['alloc', 'promises'] as const) {
        const startup = await probed(make('startup'), probe, measureOptions);
        const full = await probed(make(load), probe, measureOptions);
        figures[probe] = (full.value - startup.value) / Math.max(full.hits - startup.hits, 1);
        hits.push(full.hits);
        errors += full.errors;
      }
      const name = make(load).name;
      perHitOf.set(name, figures);
      process.stdout.write(
        `${row(name, [
          int(hits[0]!),
          int(figures.alloc),
          int(hits[1]!),
          figures.promises.toFixed(1),
          int(errors),
        ])}\n`,
      );
    }
    const lr = perHitOf.get('loads-runner')!;
    const ratio = (a: number, b: number): string => (b >= 0.5 ? (a / b).toFixed(2) : 'n/a');
    process.stdout.write(
      `\n${'ratios'.padEnd(32)}${['bytes/hit', 'promises/hit'].map((h) => h.padStart(14)).join('')}\n`,
    );
    for (const peer of [
      ...(baseline === undefined ? [] : ['baseline']),
      'dispatch ceiling',
      'bare undici',
    ]) {
      const p = perHitOf.get(peer)!;
      const cells = [ratio(lr.alloc, p.alloc), ratio(lr.promises, p.promises)];
      process.stdout.write(
        `${`loads-runner ÷ ${peer}`.padEnd(32)}${cells.map((c) => c.padStart(14)).join('')}\n`,
      );
    }
    process.stdout.write(
      "\nbytes/hit: allocated on the main thread's V8 heap (not ArrayBuffer backing stores);" +
        '\npromises/hit: promises created, one per await included (a run of its own: hooks cost CPU);' +
        '\nthe dispatch ceiling makes none (callbacks only): n/a.\n',
    );
  } finally {
    await target.close();
  }
}

/** The metrics side alone: bench/aggregator-probe.mjs, CPU ns per run, this build and --baseline's, interleaved. */
async function aggregator(options: Options): Promise<void> {
  const reps = options.repsGiven ?? 5;
  const core = cores(options.pin);
  const builds = [
    { name: 'loads-runner', dist: path.join(root, 'dist') },
    ...(options.baseline === undefined
      ? []
      : [{ name: 'baseline', dist: path.join(options.baseline, 'dist') }]),
  ];
  process.stdout.write(
    [
      `node ${process.version} (${process.platform} ${process.arch}); load average ${os
        .loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')}`,
      `probe: bench/aggregator-probe.mjs, 2,000,000 runs after 200,000 of warm-up, ${reps} reps${core.generator === undefined ? '' : `, pinned to core ${core.generator}`}`,
      '',
      `${'rep build'.padEnd(22)}${'ns/run'.padStart(14)}`,
      '',
    ].join('\n'),
  );
  const nsOf = new Map<string, number[]>(builds.map((b) => [b.name, []]));
  for (let rep = 1; rep <= reps; rep++) {
    for (const build of builds) {
      const result = await runChild(
        wrap([process.execPath, path.join(benchDir, 'aggregator-probe.mjs'), build.dist], {
          core: core.generator,
        }),
        { timeoutMs: 120_000 },
      );
      if (result.code !== 0) {
        throw new Error(`aggregator probe of ${build.dist} failed: ${result.stderr.trim()}`);
      }
      const { nsPerRun } = JSON.parse(result.stdout) as { nsPerRun: number };
      nsOf.get(build.name)!.push(nsPerRun);
      process.stdout.write(
        `${`${rep} ${build.name}`.padEnd(22)}${nsPerRun.toFixed(1).padStart(14)}\n`,
      );
    }
  }
  process.stdout.write('\nmedians\n');
  for (const build of builds) {
    process.stdout.write(
      `${build.name.padEnd(22)}${median(nsOf.get(build.name)!).toFixed(1).padStart(14)}\n`,
    );
  }
  if (options.baseline !== undefined) {
    const ratio = median(nsOf.get('loads-runner')!) / median(nsOf.get('baseline')!);
    process.stdout.write(
      `${'loads-runner ÷ baseline'.padEnd(22)}${ratio.toFixed(2).padStart(14)}\n`,
    );
  }
  process.stdout.write(
    '\nns/run: CPU time (user+sys) of the probe process per run (three events); lower is better.\n',
  );
}

async function memory(options: Options): Promise<void> {
  const durationS = options.duration ?? 15;
  const core = cores(options.pin);
  const workers = loadsRunnerHasWorkers();
  // An older loads-runner without --ramp-up starts every user at once.
  const rampUpS =
    loadsRunnerHasOption('--ramp-up') && options.rampUp < durationS ? options.rampUp : 0;
  const target = await startTarget({ kind: options.target, core: core.target });
  try {
    printHeader(target, options, [
      `load: ${options.users.map(int).join(' then ')} virtual users, ${durationS} s each${rampUpS > 0 ? `, started over ${rampUpS} s (--ramp-up)` : ', all at once'}, TestBench.test_idle (one hit a second per user, own keep-alive connection)`,
      `loads-runner: -o json${workers ? ', --workers 1' : ''}; ulimit -n raised in the child (65536, else the hard limit ${hardNofile()})`,
    ]);
    const cols = ['hits', 'hits/user/s', 'errors', 'CPU s', 'peak RSS', 'RSS/user'];
    process.stdout.write(`${row('users', cols)}   saturated\n`);
    const rss: number[] = [];
    const saturation: string[] = [];
    for (const users of options.users) {
      const m = await measure(
        loadsRunner(
          'bench.TestBench.test_idle',
          target.url,
          { users, durationS, rampUpS },
          workers,
        ),
        { core: core.generator, raiseNofile: true, timeoutMs: (durationS + 90) * 1000 },
      );
      rss.push(m.maxRssKb);
      if (m.saturated !== undefined && m.saturated !== '') {
        saturation.push(`${int(users)} users: ${m.saturated}`);
      }
      process.stdout.write(
        `${row(int(users), [
          int(m.requests),
          (m.requests / users / m.durationS).toFixed(2),
          int(m.errors),
          m.cpuS.toFixed(2),
          mb(m.maxRssKb),
          `${(m.maxRssKb / users).toFixed(1)} KB`,
        ])}   ${m.saturated === undefined ? '?' : m.saturated === '' ? 'no' : 'YES'}\n`,
      );
    }
    if (saturation.length > 0) {
      // A saturated generator falls behind: its runs live longer and their
      // garbage reaches the old generation, so peak RSS then measures the
      // backlog and the GC's lag rather than what an idle user costs.
      process.stdout.write(
        `\nThe generator was saturated (${saturation.join('; ')}): its peak RSS includes its backlog.\n`,
      );
    }
    const first = options.users[0]!;
    const last = options.users[options.users.length - 1]!;
    if (options.users.length >= 2 && last !== first) {
      const perUser = (rss[rss.length - 1]! - rss[0]!) / (last - first);
      process.stdout.write(
        `\nKB per user = (RSS(${int(last)}) − RSS(${int(first)})) / ${int(last - first)} = ${perUser.toFixed(1)} KB` +
          `\nRSS(${int(last)}) / ${int(last)} = ${(rss[rss.length - 1]! / last).toFixed(1)} KB\n`,
      );
    }
  } finally {
    await target.close();
  }
}

function hardNofile(): string {
  return spawnSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
}

async function readRssKb(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function soak(options: Options): Promise<void> {
  const durationS = options.duration ?? Math.round(options.minutes * 60);
  const core = cores(options.pin);
  const workers = loadsRunnerHasWorkers();
  const target = await startTarget({ kind: options.target, core: core.target });
  try {
    printHeader(target, options, [
      `load: loads-runner TestBench.test_get, ${options.connections} virtual users at full speed for ${durationS} s; RSS (VmRSS) every 30 s${workers ? '; --workers 1' : ''}`,
    ]);
    let pid = 0;
    let lastHits = '?';
    const samples: number[] = [];
    const started = performance.now();
    const sampler = setInterval(() => {
      void readRssKb(pid).then((kb) => {
        if (kb === undefined) {
          return;
        }
        samples.push(kb);
        const t = Math.round((performance.now() - started) / 1000);
        process.stdout.write(
          `${`t=${t}s`.padEnd(8)} RSS ${mb(kb).padStart(9)}   hits ${lastHits} (its last status line)\n`,
        );
      });
    }, 30_000);
    let m: Measurement;
    const dir = await makeTempDir('loads-bench-soak-');
    try {
      m = await measure(
        loadsRunner(
          'bench.TestBench.test_get',
          target.url,
          { users: options.connections, durationS },
          workers,
          path.join(dir, 'summary.json'),
        ),
        {
          core: core.generator,
          raiseNofile: false,
          timeoutMs: (durationS + 90) * 1000,
          onPid: (childPid) => (pid = childPid),
          // The plain status line loads-runner writes to stderr every few seconds.
          onStderr: (text) => {
            const hits = [...text.matchAll(/hits (\d+)/g)].pop();
            if (hits) {
              lastHits = int(Number(hits[1]));
            }
          },
        },
      );
    } finally {
      clearInterval(sampler);
      await removeTempDir(dir);
    }
    const max = samples.length > 0 ? Math.max(...samples) : 0;
    process.stdout.write(
      samples.length === 0
        ? '\nno RSS sample (the run was shorter than 30 s)\n'
        : `\nRSS first ${mb(samples[0]!)}, last ${mb(samples[samples.length - 1]!)}, max ${mb(max)} (${samples.length} samples); peak RSS ${mb(m.maxRssKb)}\n`,
    );
    process.stdout.write(
      `hits ${int(m.requests)} in ${m.durationS.toFixed(1)} s (${int(m.requests / m.durationS)} req/s), errors ${int(m.errors)}, CPU ${m.cpuS.toFixed(1)} s\n`,
    );
  } finally {
    await target.close();
  }
}

async function profile(options: Options): Promise<void> {
  const durationS = options.duration ?? 10;
  const core = cores(options.pin);
  const workers = loadsRunnerHasWorkers();
  const dir = options.profDir ?? (await mkdtemp(path.join(os.tmpdir(), 'loads-bench-prof-')));
  const target = await startTarget({ kind: 'node', core: core.target });
  try {
    printHeader(target, options, [
      `load: loads-runner TestBench.test_get under --cpu-prof, ${options.connections} virtual users, ${durationS} s${workers ? ', --workers 1' : ''}`,
    ]);
    const generator = loadsRunner(
      'bench.TestBench.test_get',
      target.url,
      { users: options.connections, durationS },
      workers,
    );
    generator.args.unshift('--cpu-prof', `--cpu-prof-dir=${dir}`);
    const m = await measure(generator, {
      core: core.generator,
      raiseNofile: false,
      timeoutMs: (durationS + 60) * 1000,
    });
    process.stdout.write(
      `${row('', COLUMNS)}\n${row('loads-runner (profiled)', cellsOf(m))}\n\nprofiles in ${dir}\n`,
    );
  } finally {
    await target.close();
  }
  process.stdout.write(`${formatSummary(await summarise([dir]), options.top)}\n`);
}

/** The memory bound the issue sets for each hostile case. */
const HOSTILE_LIMIT_KB = 1.5 * 1024 * 1024;
const HOSTILE_USERS = 20;

async function hostile(options: Options): Promise<void> {
  const durationS = options.duration ?? 10;
  const core = cores(options.pin);
  const workers = loadsRunnerHasWorkers();
  const canDiscard = loadsRunnerHasOption('--discard-bodies');
  const target = await startHostileTarget(core.target);
  const base = target.url.replace(/\/$/, '');
  try {
    printHeader(target, options, [
      `load: ${HOSTILE_USERS} virtual users, TestBench.test_get (reads only the status), -o json${workers ? ', --workers 1' : ''}; VmRSS sampled every 100 ms, a run over ${int(options.rssCapMb)} MB is killed`,
    ]);
    const cases: { label: string; path: string; args: string[] }[] = [
      { label: '200 MB, content-length', path: '/big?mb=200', args: ['--hits', '2'] },
      { label: '200 MB, chunked', path: '/big?mb=200&chunked=1', args: ['--hits', '2'] },
      ...(canDiscard
        ? [
            {
              label: '200 MB chunked, discard',
              path: '/big?mb=200&chunked=1',
              args: ['--hits', '2', '--discard-bodies'],
            },
          ]
        : []),
      { label: `endless, -d ${durationS}`, path: '/endless', args: ['-d', String(durationS)] },
    ];
    process.stdout.write(
      `${row('case', ['peak RSS', 'time s', 'hits', 'runs ok', 'errors'])}   under 1.5 GB   hit errors
`,
    );
    let failed = 0;
    const builds = [root, ...(options.baseline === undefined ? [] : [options.baseline])];
    for (const c of cases) {
      for (const dir of builds) {
        if (
          dir !== root &&
          c.args.includes('--discard-bodies') &&
          !loadsRunnerHasOption('--discard-bodies', dir)
        ) {
          continue;
        }
        const m = await measureHostile(
          [
            binOf(dir),
            'bench.TestBench.test_get',
            '-u',
            String(HOSTILE_USERS),
            ...c.args,
            '--server-url',
            base + c.path,
            '-o',
            'json',
            ...(workers ? ['--workers', '1'] : []),
          ],
          {
            core: core.generator,
            timeoutMs: (durationS + 120) * 1000,
            rssCapKb: options.rssCapMb * 1024,
            cwd: examplesOf(dir),
          },
        );
        const under = m.peakKb < HOSTILE_LIMIT_KB && !m.killed;
        if (dir === root) {
          failed += under ? 0 : 1;
        }
        process.stdout.write(
          `${row(dir === root ? c.label : '  baseline', [
            `${m.killed ? '> ' : ''}${mb(m.peakKb)}`,
            m.seconds.toFixed(1),
            m.summary === undefined ? '?' : int(m.summary.hits),
            m.summary === undefined ? '?' : int(m.summary.successes),
            m.summary === undefined ? '?' : int(m.summary.errors + m.summary.failures),
          ])}   ${(under ? 'yes' : 'NO').padEnd(12)}   ${m.note}\n`,
        );
      }
    }
    process.stdout.write(
      `\npeak RSS: the larger of getrusage's maxRSS and the VmRSS samples.${failed > 0 ? `\n${failed} case(s) went over 1.5 GB.` : ''}\n`,
    );
    if (failed > 0) {
      process.exitCode = 1;
    }
  } finally {
    await target.close();
  }
}

interface HostileSummary {
  hits: number;
  successes: number;
  errors: number;
  failures: number;
  hitErrorKeys?: Record<string, number>;
}

/** One loads-runner run, its RSS sampled from /proc while it runs and killed past the cap. */
async function measureHostile(
  args: string[],
  options: { core: number | undefined; timeoutMs: number; rssCapKb: number; cwd: string },
): Promise<{
  peakKb: number;
  seconds: number;
  killed: boolean;
  summary: HostileSummary | undefined;
  note: string;
}> {
  const dir = await makeTempDir('loads-bench-hostile-');
  const usageFile = path.join(dir, 'usage.json');
  let pid = 0;
  let sampledKb = 0;
  let killed = false;
  const sampler = setInterval(() => {
    void readRssKb(pid).then((kb) => {
      if (kb === undefined) {
        return;
      }
      sampledKb = Math.max(sampledKb, kb);
      if (kb > options.rssCapKb && !killed) {
        killed = true;
        process.kill(pid, 'SIGKILL');
      }
    });
  }, 100);
  const started = performance.now();
  try {
    const result = await runChild(
      wrap([process.execPath, '--import', reporter, ...args], {
        core: options.core,
        raiseNofile: false,
      }),
      {
        cwd: options.cwd,
        env: { ...process.env, LOADS_BENCH_USAGE_FILE: usageFile, NO_COLOR: '1' },
        timeoutMs: options.timeoutMs,
        onStart: (child) => (pid = child.pid ?? 0),
      },
    );
    const seconds = (performance.now() - started) / 1000;
    const usage = existsSync(usageFile)
      ? (JSON.parse(await readFile(usageFile, 'utf8')) as Usage)
      : undefined;
    let summary: HostileSummary | undefined;
    try {
      summary = JSON.parse(result.stdout) as HostileSummary;
    } catch {
      summary = undefined;
    }
    const keys = Object.entries(summary?.hitErrorKeys ?? {})
      .map(([key, count]) => `${key} ${int(count)}`)
      .join(', ');
    return {
      peakKb: Math.max(sampledKb, usage?.maxRssKb ?? 0),
      seconds,
      killed: killed || result.timedOut,
      summary,
      note: killed
        ? `killed at ${mb(sampledKb)}`
        : result.timedOut
          ? `timed out after ${seconds.toFixed(0)} s`
          : keys,
    };
  } finally {
    clearInterval(sampler);
    await removeTempDir(dir);
  }
}

// ----------------------------------------------------------------------- main

let options: Options | undefined;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).message}; see npm run bench -- --help\n`);
  process.exitCode = 2;
}
if (options !== undefined) {
  installCleanup();
  const distributed = (o: Options): Promise<void> =>
    distributedBench({ target: o.target, durationS: o.duration });
  const modes = {
    throughput,
    ws,
    'per-hit': perHit,
    aggregator,
    memory,
    soak,
    profile,
    hostile,
    distributed,
  };
  try {
    await modes[options.mode](options);
  } catch (err) {
    const signal = interruption();
    process.stderr.write(
      signal === undefined
        ? `bench: ${(err as Error).stack ?? String(err)}\n`
        : `bench: interrupted (${signal})\n`,
    );
    process.exitCode = signal === undefined ? 1 : 130;
  }
}
