// From raw command-line options and the INI values to RunOptions. The command
// line wins over the file. Every problem is collected and thrown together as
// UsageErrors, so the user fixes them all in one go (k6 Validate() []error).
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { UsageError, UsageErrors } from '../errors.ts';
import { createSecureContextFor, type TransportOptions } from '../client/transport.ts';
import { errorText } from '../client/connect-errors.ts';
import { parseThreshold, type Threshold } from '../metrics/thresholds.ts';
import type { RawBrokerOptions } from '../distributed/broker.ts';
import { parseTestRunnerCommand, TEST_PLACEHOLDER } from '../runner/external/command.ts';
import {
  checkCapacityThresholds,
  DEFAULT_CAPACITY_DURATION_MS,
  DEFAULT_CAPACITY_REST_MS,
  DEFAULT_CAPACITY_START_RATE,
} from './capacity-run.ts';
import type { ConfigValues } from './config.ts';
import type { RawOptions } from './options.ts';

/** What the command does: a load (on this machine, or with --agents on a broker's agents), or a broker command. */
export type RunCommand =
  | { kind: 'run' }
  /** --attach [RUN_ID]: null follows the only run in progress. */
  | { kind: 'attach'; runId: string | null }
  | { kind: 'ping-broker' }
  /** --check-cluster: the test given (fqn), or the built-in health test when fqn is ''. */
  | { kind: 'check-cluster' }
  | { kind: 'purge-broker' };

/** Distributed runs and broker commands (SPEC §10). */
export interface DistributedOptions {
  /** --broker and the --broker-* values as given; distributed/broker.ts parseBrokerOptions checks them (and reads their files) before connecting. */
  broker: RawBrokerOptions;
  /** --agents N for a run; null for the broker commands. */
  agents: number | null;
  /** --heartbeat-timeout: an agent silent this long is lost. */
  heartbeatTimeoutMs: number;
  /** --include-file globs, in the order given. */
  includeFiles: string[];
  /** --detach: return once the run is started. */
  detach: boolean;
}

/** --test-runner and its options (SPEC §11): the test runs in external processes. */
export interface ExternalOptions {
  /** --test-runner as given, for the summary. */
  command: string;
  /** Its argv template, {test} still in it (runner/external/command.ts). */
  argv: string[];
  /** --zmq-receiver, or null for a private ipc:// address. */
  receiver: string | null;
  /** --external-process-timeout in seconds; 0 for none. */
  processTimeoutS: number;
}

/** --find-capacity (SPEC §12): the search's own settings; the start rate is RunOptions.rate[0]. */
export interface CapacityOptions {
  /** --max-rate, runs per second, or null for none. */
  maxRate: number | null;
  /** --capacity-precision as a share: 0.05 for 5 %. */
  precision: number;
  /** --capacity-rest, ms between probes. */
  restMs: number;
}

export interface RunOptions {
  command: RunCommand;
  /** --find-capacity: the probes' search; null for a load of the plan given. */
  capacity: CapacityOptions | null;
  /** Set for a run and for --attach, --ping-broker, --check-cluster, --purge-broker; null for a run on this machine. */
  distributed: DistributedOptions | null;
  /** The test; '' for --attach, --ping-broker, --purge-broker and --check-cluster without one. */
  fqn: string;
  /** Users per cycle step, e.g. [10, 20, 30]; with --rate, [maxUsers]. */
  users: number[];
  /** --rate: test runs started per second, per cycle step; null in the closed model. */
  rate: number[] | null;
  /** --max-users: the pool bound with --rate (default 1000); null in the closed model. */
  maxUsers: number | null;
  /** --ramp-up: users (or the rate) rise linearly from 0 over this long in each step; 0 for none. */
  rampUpMs: number;
  /** Runs per user per step; null in duration mode. */
  hits: number[] | null;
  /** Per-step duration; null in hits mode. */
  durationMs: number | null;
  serverUrl: string | undefined;
  timeoutMs: number;
  /** 0 means no limit. */
  testTimeoutMs: number;
  /** --max-body-size in bytes. */
  maxBodyBytes: number;
  /** --discard-bodies: no body is kept. */
  discardBodies: boolean;
  /** --insecure, --ca, --cert/--key (their files read), --http2. */
  transport: TransportOptions;
  /**
   * The outputs to create, each once: 'stdout' (the text summary) first
   * when it is on, never 'null' (it only turns the text summary off).
   */
  outputs: string[];
  /**
   * Where the text summary goes: stdout, or stderr when the json output
   * holds stdout and the text summary was asked for as well (-o json -o stdout).
   */
  summaryStream: 'stdout' | 'stderr';
  /** Output settings by their INI key (output_file_filename, …). */
  outputOptions: Record<string, string | undefined>;
  quiet: boolean;
  projectName: string;
  noColor: boolean;
  /** --workers; null when not given (the CLI then picks one per core, at most the largest users step). */
  workers: number | null;
  /** --status-interval: ms between plain status lines (not a TTY, or CI set). */
  statusIntervalMs: number;
  /** --threshold (the command line's replace the file's), in the order given. */
  thresholds: Threshold[];
  /** --abort-on-fail: stop once a threshold is crossed for good. */
  abortOnFail: boolean;
  /** --dashboard: where to serve the live report; null when not asked for. */
  dashboard: DashboardAddress | null;
  /** --test-runner: the test is an external one; null for a TypeScript test. */
  external: ExternalOptions | null;
}

export const DEFAULT_CAPACITY_PRECISION = '5%';

/** Where the dashboard listens: an IP address, and a port (0: a free one). */
export interface DashboardAddress {
  host: string;
  port: number;
}

/** --dashboard alone: loopback only, on a free port. */
export const DEFAULT_DASHBOARD_HOST = '127.0.0.1';

export const DEFAULT_TIMEOUT_S = 30;
export const DEFAULT_TEST_TIMEOUT_S = 60;
export const DEFAULT_STATUS_INTERVAL_S = 10;
export const DEFAULT_MAX_USERS = 1000;
export const DEFAULT_MAX_BODY_SIZE = '64MB';
export const DEFAULT_HEARTBEAT_TIMEOUT_S = 5;
export const DEFAULT_EXTERNAL_PROCESS_TIMEOUT_S = 30;

/** The options that shape the load; a run on the broker (--attach) has its own, and the broker commands none. */
const LOAD_OPTIONS: readonly [keyof RawOptions, string][] = [
  ['users', '--users'],
  ['hits', '--hits'],
  ['duration', '--duration'],
  ['rate', '--rate'],
  ['maxUsers', '--max-users'],
  ['rampUp', '--ramp-up'],
  ['serverUrl', '--server-url'],
  ['timeout', '--timeout'],
  ['testTimeout', '--test-timeout'],
  ['maxBodySize', '--max-body-size'],
  ['discardBodies', '--discard-bodies'],
  ['insecure', '--insecure'],
  ['ca', '--ca'],
  ['cert', '--cert'],
  ['key', '--key'],
  ['http2', '--http2'],
  ['workers', '--workers'],
];

/** What only a load's summary uses: meaningless for the broker commands. */
const SUMMARY_OPTIONS: readonly [keyof RawOptions, string][] = [
  ['output', '--output'],
  ['threshold', '--threshold'],
  ['abortOnFail', '--abort-on-fail'],
  ['dashboard', '--dashboard'],
];

/** The --broker-* options, which need --broker. */
const BROKER_DETAIL_OPTIONS: readonly [keyof RawOptions, string][] = [
  ['brokerCreds', '--broker-creds'],
  ['brokerNkey', '--broker-nkey'],
  ['brokerTlsCa', '--broker-tls-ca'],
  ['brokerTlsCert', '--broker-tls-cert'],
  ['brokerTlsKey', '--broker-tls-key'],
];

/**
 * Which command the options ask for, and the problems of combining them:
 * one of --attach, --ping-broker, --check-cluster, --purge-broker at most,
 * none with --agents or --detach, and a test name only for a run (and
 * optionally --check-cluster).
 */
function commandOf(
  cli: RawOptions,
  fqnArg: string | undefined,
  problems: UsageError[],
): RunCommand {
  const given: [string, RunCommand][] = [];
  if (cli.attach !== undefined) {
    given.push([
      '--attach',
      { kind: 'attach', runId: typeof cli.attach === 'string' ? cli.attach : null },
    ]);
  }
  if (cli.pingBroker === true) {
    given.push(['--ping-broker', { kind: 'ping-broker' }]);
  }
  if (cli.checkCluster === true) {
    given.push(['--check-cluster', { kind: 'check-cluster' }]);
  }
  if (cli.purgeBroker === true) {
    given.push(['--purge-broker', { kind: 'purge-broker' }]);
  }
  if (given.length === 0) {
    return { kind: 'run' };
  }
  if (given.length > 1) {
    problems.push(
      new UsageError(
        `${given.map(([flag]) => flag).join(' and ')} cannot be used together; pick one`,
      ),
    );
  }
  const [flag, command] = given[0]!;
  if (cli.agents !== undefined) {
    problems.push(
      new UsageError(
        command.kind === 'attach'
          ? '--attach follows a run that has its agents already; drop --agents'
          : `${flag} with --agents: ${flag} is a broker command, not a run; drop --agents`,
      ),
    );
  }
  if (cli.detach === true) {
    problems.push(
      new UsageError(`--detach with ${flag}: --detach applies to a run started with --agents`),
    );
  }
  if (command.kind === 'attach' && command.runId !== null && !isValidRunId(command.runId)) {
    problems.push(
      new UsageError(
        command.runId.includes('.') || command.runId.includes(':')
          ? `--attach with a test name ('${command.runId}'): --attach follows a run that is on the broker already; give its run id (or none), not a test`
          : `--attach '${command.runId}' is not a run id; give one as --ping-broker lists them (e.g. 20261203-081500-3fa2c1), or none for the only run in progress`,
      ),
    );
  }
  if (fqnArg !== undefined && command.kind !== 'check-cluster') {
    problems.push(
      new UsageError(
        command.kind === 'attach'
          ? `--attach with a test name ('${fqnArg}'): --attach follows a run that is on the broker already; give its run id (or none), not a test`
          : `${flag} takes no test name ('${fqnArg}'); drop it`,
      ),
    );
  }
  return command;
}

/** A run id as the broker has them: one subject token (protocol.ts isValidId). */
function isValidRunId(id: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(id);
}

export function validateOptions(
  fqnArg: string | undefined,
  cliGiven: RawOptions,
  configGiven: ConfigValues,
  outputNames: readonly string[],
): RunOptions {
  let cli = cliGiven;
  let config = configGiven;
  const problems: UsageError[] = [];
  const command = commandOf(cli, fqnArg, problems);
  // A run reads the test name from the file too; the broker commands take only the command line's.
  const fqn = command.kind === 'run' ? (fqnArg ?? config.fqn) : (fqnArg ?? '');
  if (command.kind === 'run' && (fqn === undefined || fqn.trim() === '')) {
    problems.push(
      new UsageError(
        'missing the test to run; pass one like example.TestWebSite.test_es (or fqn = … in the config file)',
      ),
    );
  }

  // --find-capacity probes rates: --rate is its start rate and --duration
  // each probe's length, both with defaults; users and hits have no place.
  const findCapacity = command.kind === 'run' && (cli.findCapacity ?? config.findCapacity ?? false);
  if (cli.findCapacity === true && command.kind !== 'run') {
    problems.push(
      new UsageError(
        `--find-capacity with --${command.kind}: it sends no load of its own; drop one`,
      ),
    );
  }
  if (findCapacity) {
    for (const [key, option] of [
      ['users', '-u/--users'],
      ['hits', '--hits'],
    ] as const) {
      if (cli[key] !== undefined || config[key] !== undefined) {
        problems.push(
          new UsageError(
            `${option} with --find-capacity: the search probes arrival rates (open model), from --rate upward, each probe lasting --duration; drop ${option} (the pool of users is --max-users)`,
          ),
        );
      }
    }
    const { users: _cliUsers, hits: _cliHits, ...cliRest } = cli;
    const { users: _fileUsers, hits: _fileHits, ...configRest } = config;
    cli = {
      ...cliRest,
      rate: cli.rate ?? config.rate ?? String(DEFAULT_CAPACITY_START_RATE),
      duration: cli.duration ?? config.duration ?? String(DEFAULT_CAPACITY_DURATION_MS / 1000),
    };
    config = configRest;
  }

  // --rate (open model) and --users (closed model) exclude each other when
  // given at the same level; across levels, the command line wins: -u or
  // --hits on it choose the closed model over a file's rate.
  const cliIsClosed = cli.users !== undefined || cli.hits !== undefined;
  let rateText = cli.rate;
  let usersText = cli.users;
  if (rateText === undefined && usersText === undefined) {
    rateText = cliIsClosed ? undefined : config.rate;
    usersText = config.users;
  }
  if (rateText !== undefined && usersText !== undefined) {
    problems.push(
      new UsageError(
        '--rate and --users cannot be used together; with --rate, bound the pool of users with --max-users',
      ),
    );
  }
  const rate = rateText === undefined ? null : parseRate(rateText, problems);
  const users = rateText === undefined ? parseCycle(usersText ?? '1', '--users', problems) : null;
  const maxUsersText =
    cli.maxUsers ?? (cliIsClosed && cli.rate === undefined ? undefined : config.maxUsers);
  let maxUsers: number | null = null;
  if (rateText !== undefined) {
    maxUsers = parseWholeNumber(
      maxUsersText ?? String(DEFAULT_MAX_USERS),
      '--max-users',
      '--max-users 200',
      problems,
    );
  } else if (maxUsersText !== undefined) {
    problems.push(
      new UsageError('--max-users only applies with --rate; in the closed model use --users'),
    );
  }

  // --hits and --duration exclude each other when given at the same level;
  // across levels, the command line wins over the file.
  let hitsText = cli.hits;
  let durationText = cli.duration;
  if (hitsText === undefined && durationText === undefined) {
    hitsText = config.hits;
    durationText = config.duration;
  }
  if (hitsText !== undefined && durationText !== undefined) {
    problems.push(new UsageError('--hits and --duration cannot be used together; pick one'));
  }
  if (rateText !== undefined && hitsText !== undefined) {
    problems.push(
      new UsageError(
        '--rate and --hits cannot be used together; each --rate step lasts --duration',
      ),
    );
  } else if (rateText !== undefined && durationText === undefined) {
    problems.push(
      new UsageError(
        '--rate needs --duration, how long each rate step lasts; e.g. --rate 100 -d 60',
      ),
    );
  }
  const hits =
    durationText === undefined && rateText === undefined
      ? parseCycle(hitsText ?? '1', '--hits', problems)
      : null;
  const durationS =
    durationText === undefined ? null : parseSeconds(durationText, '--duration', problems, false);
  const rampUpText = cli.rampUp ?? config.rampUp;
  const rampUpS =
    rampUpText === undefined ? 0 : parseSeconds(rampUpText, '--ramp-up', problems, true);
  if (rampUpS !== null && rampUpS > 0 && durationS !== null && rampUpS >= durationS) {
    problems.push(
      new UsageError(
        `--ramp-up ${rampUpS} is not shorter than --duration ${durationS}; use a ramp-up below the duration`,
      ),
    );
  }

  const timeoutS = parseSeconds(
    cli.timeout ?? config.timeout ?? String(DEFAULT_TIMEOUT_S),
    '--timeout',
    problems,
    false,
  );
  const testTimeoutS = parseSeconds(
    cli.testTimeout ?? config.testTimeout ?? String(DEFAULT_TEST_TIMEOUT_S),
    '--test-timeout',
    problems,
    true,
  );

  const maxBodyBytes = parseSize(
    cli.maxBodySize ?? config.maxBodySize ?? DEFAULT_MAX_BODY_SIZE,
    '--max-body-size',
    problems,
  );
  const discardBodies = cli.discardBodies ?? config.discardBodies ?? false;
  const transport = readTransport(cli, config, problems);

  const serverUrl = cli.serverUrl ?? config.serverUrl;
  if (serverUrl !== undefined && !isHttpUrl(serverUrl)) {
    problems.push(
      new UsageError(
        `--server-url '${serverUrl}' is not an http(s) URL; use e.g. http://127.0.0.1:8080`,
      ),
    );
  }

  // SPEC §8: the text summary (stdout) stays on unless --quiet, -o null, or
  // json written to stdout; the other outputs add to it. Asked for next to
  // json on stdout, it goes to stderr, so that stdout holds the JSON alone.
  const requested = cli.output ?? config.output ?? [];
  for (const name of requested) {
    if (!outputNames.includes(name)) {
      problems.push(
        new UsageError(`unknown output '${name}'; choose from: ${outputNames.join(', ')}`),
      );
    }
  }
  if (requested.includes('null') && requested.includes('stdout')) {
    problems.push(
      new UsageError(
        '--output null turns the text summary off and --output stdout asks for it; drop one',
      ),
    );
  }

  const quiet = cli.quiet ?? config.quiet ?? false;
  const jsonFilename = cli.outputJsonFilename ?? config.outputJsonFilename;
  const jsonToStdout =
    requested.includes('json') && (jsonFilename === undefined || jsonFilename === '-');
  if (quiet && jsonToStdout) {
    problems.push(
      new UsageError(
        '--quiet prints nothing on stdout, so --output json needs --output-json-filename FILE',
      ),
    );
  }
  const textSummary =
    !quiet && !requested.includes('null') && (!jsonToStdout || requested.includes('stdout'));
  const outputs = [
    ...new Set([
      ...(textSummary ? ['stdout'] : []),
      ...requested.filter((name) => name !== 'stdout' && name !== 'null'),
    ]),
  ];

  const workersText = cli.workers ?? config.workers;
  const workers =
    workersText === undefined
      ? null
      : parseWholeNumber(
          workersText,
          '--workers',
          '--workers 4, or --workers 1 for one thread',
          problems,
        );

  const statusIntervalS = parseSeconds(
    cli.statusInterval ?? config.statusInterval ?? String(DEFAULT_STATUS_INTERVAL_S),
    '--status-interval',
    problems,
    false,
  );

  const thresholds = parseThresholds(cli.threshold ?? config.threshold ?? [], problems);
  const abortOnFail = cli.abortOnFail ?? config.abortOnFail ?? false;
  if (abortOnFail && thresholds.length === 0 && problems.length === 0) {
    problems.push(
      new UsageError(
        "--abort-on-fail needs at least one --threshold to watch; add e.g. --threshold 'errors<5'",
      ),
    );
  }

  const dashboardValue = cli.dashboard ?? config.dashboard ?? false;
  const dashboard = parseDashboard(dashboardValue, fqnArg === undefined, problems);

  const distributed = parseDistributed(command, cli, config, fqnArg !== undefined, problems);
  const external = parseExternal(command, cli, config, workers, rateText !== undefined, problems);
  const capacity = parseCapacity(
    findCapacity,
    cli,
    config,
    { rate, thresholds, abortOnFail },
    problems,
  );
  if (capacity !== null && distributed?.detach === true) {
    problems.push(
      new UsageError(
        '--find-capacity with --detach: this runner picks each probe’s rate from the one before, so it stays to the end; drop --detach',
      ),
    );
  }
  if (capacity !== null && external !== null) {
    problems.push(
      new UsageError(
        '--find-capacity with --test-runner: the search schedules runs at arrival rates (open model), but an external process runs its user’s whole share itself; find the capacity with a TypeScript test',
      ),
    );
  }

  if (problems.length > 0) {
    throw new UsageErrors(problems);
  }
  return {
    command,
    capacity,
    distributed,
    fqn: (fqn ?? '').trim(),
    users: users ?? [maxUsers!],
    rate,
    maxUsers,
    rampUpMs: Math.round(rampUpS! * 1000),
    hits,
    durationMs: durationS === null ? null : Math.round(durationS! * 1000),
    serverUrl,
    timeoutMs: Math.round(timeoutS! * 1000),
    testTimeoutMs: Math.round(testTimeoutS! * 1000),
    maxBodyBytes: maxBodyBytes!,
    discardBodies,
    transport,
    outputs,
    summaryStream: jsonToStdout ? 'stderr' : 'stdout',
    outputOptions: {
      output_file_filename: cli.outputFileFilename ?? config.outputFileFilename,
      output_funkload_filename: cli.outputFunkloadFilename ?? config.outputFunkloadFilename,
      output_json_filename: jsonFilename,
      output_junit_filename: cli.outputJunitFilename ?? config.outputJunitFilename,
      output_html_filename: cli.outputHtmlFilename ?? config.outputHtmlFilename,
      server_url: serverUrl,
    },
    quiet,
    projectName: cli.projectName ?? config.projectName ?? 'N/A',
    // commander's --no-color sets color=false; it is true when not given.
    noColor: cli.color === false || config.noColor === true,
    workers,
    statusIntervalMs: Math.max(1, Math.round(statusIntervalS! * 1000)),
    thresholds,
    abortOnFail,
    dashboard,
    external,
  };
}

/**
 * The options of our own HTTP client: an external process makes its
 * requests with its own, so they would be silently ignored.
 */
const CLIENT_OPTIONS: readonly [keyof RawOptions, string][] = [
  ['timeout', '--timeout'],
  ['testTimeout', '--test-timeout'],
  ['maxBodySize', '--max-body-size'],
  ['discardBodies', '--discard-bodies'],
  ['insecure', '--insecure'],
  ['ca', '--ca'],
  ['cert', '--cert'],
  ['key', '--key'],
  ['http2', '--http2'],
];

/**
 * --test-runner, --zmq-receiver, --external-process-timeout: null for a
 * TypeScript test. Refuses what an external run cannot do: --rate (the open
 * model hands runs one at a time to a pool of users, while a process runs
 * its user's whole share itself), --workers above 1 (the processes are the
 * parallelism), --zmq-receiver with --agents (each agent binds its own),
 * and our HTTP client's options.
 */
function parseExternal(
  command: RunCommand,
  cli: RawOptions,
  config: ConfigValues,
  workers: number | null,
  openModel: boolean,
  problems: UsageError[],
): ExternalOptions | null {
  const text = cli.testRunner ?? config.testRunner;
  const receiverText = cli.zmqReceiver ?? config.zmqReceiver;
  const timeoutText = cli.externalProcessTimeout ?? config.externalProcessTimeout;
  if (text === undefined) {
    if (receiverText !== undefined) {
      problems.push(
        new UsageError(
          '--zmq-receiver without --test-runner: it is where external test processes report; add --test-runner "CMD {test}"',
        ),
      );
    }
    if (timeoutText !== undefined) {
      problems.push(
        new UsageError(
          '--external-process-timeout without --test-runner: it bounds external test processes; add --test-runner "CMD {test}"',
        ),
      );
    }
    return null;
  }
  if (command.kind !== 'run') {
    problems.push(
      new UsageError(`--test-runner with --${command.kind}: it applies to a run; drop it`),
    );
    return null;
  }
  let argv: string[] | null = null;
  try {
    argv = parseTestRunnerCommand(text);
  } catch (err) {
    if (!(err instanceof UsageError)) {
      throw err;
    }
    problems.push(err);
  }
  if (argv !== null && !argv.some((arg) => arg.includes(TEST_PLACEHOLDER))) {
    problems.push(
      new UsageError(
        `--test-runner '${text}' has no ${TEST_PLACEHOLDER}, where the test name goes; e.g. --test-runner "python3 test_site.py ${TEST_PLACEHOLDER}"`,
      ),
    );
  }
  if (openModel) {
    problems.push(
      new UsageError(
        '--rate with --test-runner: the open model hands runs one at a time to a pool of users, but an external process runs its user’s whole share itself; use -u and --hits or --duration',
      ),
    );
  }
  if (workers !== null && workers > 1) {
    problems.push(
      new UsageError(
        `--workers ${workers} with --test-runner: each user is a process of its own already, so threads add nothing; drop --workers`,
      ),
    );
  }
  if ((cli.agents !== undefined || config.agents !== undefined) && receiverText !== undefined) {
    problems.push(
      new UsageError(
        '--zmq-receiver with --agents: each agent binds a private receiver of its own for its processes; drop --zmq-receiver',
      ),
    );
  }
  const clientOptions = CLIENT_OPTIONS.filter(([key]) => cli[key] !== undefined).map(
    ([, option]) => option,
  );
  if (clientOptions.length > 0) {
    problems.push(
      new UsageError(
        `${clientOptions.join(', ')} with --test-runner: ${clientOptions.length === 1 ? 'it sets' : 'they set'} loads-runner's own HTTP client, but the external process makes its requests itself; drop ${clientOptions.length === 1 ? 'it' : 'them'}`,
      ),
    );
  }
  const receiver = receiverText === undefined ? null : receiverText.trim();
  if (receiver !== null && !isZmqAddress(receiver)) {
    problems.push(
      new UsageError(
        `--zmq-receiver '${receiverText}' is not tcp://HOST:PORT or ipc://PATH; use e.g. tcp://127.0.0.1:5557 or ipc:///tmp/loads-receiver`,
      ),
    );
  }
  const processTimeoutS = parseSeconds(
    timeoutText ?? String(DEFAULT_EXTERNAL_PROCESS_TIMEOUT_S),
    '--external-process-timeout',
    problems,
    true,
  );
  if (argv === null || processTimeoutS === null) {
    return null;
  }
  return { command: text, argv, receiver, processTimeoutS };
}

const TCP_ADDRESS = /^tcp:\/\/(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/**
 * An address both ends can use: the runner binds it and the processes
 * connect to it, so no wildcard host (tcp://*:5557) and a real port.
 */
function isZmqAddress(text: string): boolean {
  if (text.startsWith('ipc://')) {
    return text.length > 'ipc://'.length;
  }
  const match = TCP_ADDRESS.exec(text);
  if (match === null) {
    return false;
  }
  const port = Number(match[1]);
  return port >= 1 && port <= 65535;
}

/**
 * --agents, --broker and its options, --heartbeat-timeout, --include-file,
 * --detach: null for a run on this machine. The command line's --broker
 * without a use for it is a problem; the file's is ignored (a config file
 * may name the broker for the runs that use one).
 */
function parseDistributed(
  command: RunCommand,
  cli: RawOptions,
  config: ConfigValues,
  fqnGiven: boolean,
  problems: UsageError[],
): DistributedOptions | null {
  const isRun = command.kind === 'run';
  const agentsText = isRun ? (cli.agents ?? config.agents) : undefined;
  const agents =
    agentsText === undefined
      ? null
      : parseWholeNumber(agentsText, '--agents', '--agents 4', problems);
  const brokerUsed = !isRun || agentsText !== undefined;
  const broker = cli.broker ?? config.broker;
  const flag =
    command.kind === 'run'
      ? '--agents'
      : command.kind === 'attach'
        ? '--attach'
        : `--${command.kind}`;

  if (brokerUsed && (broker === undefined || broker.trim() === '')) {
    problems.push(
      new UsageError(
        `${flag} needs --broker nats://HOST:PORT, the NATS server the agents are connected to (or broker = … in the config file)`,
      ),
    );
  }
  if (!brokerUsed) {
    if (cli.broker !== undefined) {
      problems.push(
        new UsageError(
          '--broker without --agents: add --agents N to run on N agents (or use --attach, --ping-broker, --check-cluster or --purge-broker)',
        ),
      );
    }
    for (const [key, option] of BROKER_DETAIL_OPTIONS) {
      if (cli[key] !== undefined) {
        problems.push(
          new UsageError(`${option} applies to --broker, which is not used here; drop it`),
        );
      }
    }
  }
  const runsAgents = isRun ? agentsText !== undefined : command.kind === 'check-cluster';
  const detach = cli.detach === true;
  if (detach && isRun && agentsText === undefined) {
    problems.push(
      new UsageError(
        '--detach without --agents: only a run on agents goes on without the runner; add --agents N --broker …',
      ),
    );
  }
  if (detach && isRun) {
    for (const [key, option] of SUMMARY_OPTIONS) {
      if (cli[key] !== undefined) {
        problems.push(
          new UsageError(
            `${option} with --detach: the run's summary is made by --attach; give ${option} to --attach RUN_ID instead`,
          ),
        );
      }
    }
  }
  const includeFiles = cli.includeFile ?? (runsAgents ? (config.includeFile ?? []) : []);
  if (cli.includeFile !== undefined && !runsAgents) {
    problems.push(
      new UsageError(
        '--include-file without --agents: files are shipped to agents only; a run on this machine reads them where they are',
      ),
    );
  }
  if (cli.heartbeatTimeout !== undefined && !runsAgents) {
    problems.push(
      new UsageError(
        command.kind === 'attach'
          ? '--heartbeat-timeout with --attach: the run keeps the timeout it was started with; drop it'
          : '--heartbeat-timeout without --agents: it applies to a run on agents; add --agents N --broker …',
      ),
    );
  }
  const heartbeatText = runsAgents ? (cli.heartbeatTimeout ?? config.heartbeatTimeout) : undefined;
  const heartbeatS =
    heartbeatText === undefined
      ? DEFAULT_HEARTBEAT_TIMEOUT_S
      : parseSeconds(heartbeatText, '--heartbeat-timeout', problems, false);

  if (!isRun) {
    // The run on the broker has its own load; the broker commands have none.
    const loadOptions = LOAD_OPTIONS.filter(([key]) => cli[key] !== undefined).map(
      ([, option]) => option,
    );
    const allowed =
      command.kind === 'check-cluster' && fqnGiven
        ? loadOptions.filter(
            (o) =>
              ![
                '--users',
                '--hits',
                '--duration',
                '--rate',
                '--max-users',
                '--ramp-up',
                '--workers',
              ].includes(o),
          )
        : [];
    const refused = loadOptions.filter((o) => !allowed.includes(o));
    if (refused.length > 0) {
      const list = refused.join(', ');
      problems.push(
        new UsageError(
          command.kind === 'attach'
            ? `${list} with --attach: the run keeps the load it was started with; drop ${refused.length === 1 ? 'it' : 'them'}`
            : command.kind === 'check-cluster'
              ? `${list} with --check-cluster: the health check is one run of one user on each agent; drop ${refused.length === 1 ? 'it' : 'them'}`
              : `${list} with --${command.kind}: it sends no load; drop ${refused.length === 1 ? 'it' : 'them'}`,
        ),
      );
    }
    if (command.kind !== 'attach') {
      const summaryOptions = SUMMARY_OPTIONS.filter(([key]) => cli[key] !== undefined).map(
        ([, option]) => option,
      );
      if (summaryOptions.length > 0) {
        problems.push(
          new UsageError(
            `${summaryOptions.join(', ')} with --${command.kind}: it prints its own report; drop ${summaryOptions.length === 1 ? 'it' : 'them'}`,
          ),
        );
      }
    }
  }
  if (!brokerUsed || broker === undefined || heartbeatS === null) {
    return null;
  }
  return {
    broker: {
      broker,
      brokerCreds: cli.brokerCreds ?? config.brokerCreds,
      brokerNkey: cli.brokerNkey ?? config.brokerNkey,
      brokerTlsCa: cli.brokerTlsCa ?? config.brokerTlsCa,
      brokerTlsCert: cli.brokerTlsCert ?? config.brokerTlsCert,
      brokerTlsKey: cli.brokerTlsKey ?? config.brokerTlsKey,
      brokerToken: config.brokerToken,
      brokerUser: config.brokerUser,
      brokerPassword: config.brokerPassword,
    },
    agents,
    heartbeatTimeoutMs: Math.round(heartbeatS * 1000),
    includeFiles,
    detach,
  };
}

/** The options that only --find-capacity reads. */
const CAPACITY_OPTIONS: readonly [keyof RawOptions, string][] = [
  ['maxRate', '--max-rate'],
  ['capacityPrecision', '--capacity-precision'],
  ['capacityRest', '--capacity-rest'],
];

const PERCENT = /^(\d+(?:\.\d+)?)%?$/;

/**
 * --find-capacity and its options: null without it (its options given then
 * are a problem, on the command line; a file may set them for the runs that
 * use them). The thresholds are the SLO each probe is judged by.
 */
function parseCapacity(
  findCapacity: boolean,
  cli: RawOptions,
  config: ConfigValues,
  run: {
    rate: number[] | null;
    thresholds: readonly Threshold[];
    abortOnFail: boolean;
  },
  problems: UsageError[],
): CapacityOptions | null {
  if (!findCapacity) {
    for (const [key, option] of CAPACITY_OPTIONS) {
      if (cli[key] !== undefined) {
        problems.push(
          new UsageError(
            `${option} applies to --find-capacity, which is not given; add it or drop ${option}`,
          ),
        );
      }
    }
    return null;
  }
  if (run.abortOnFail) {
    problems.push(
      new UsageError(
        '--abort-on-fail with --find-capacity: probes are meant to break the thresholds, and the search stops by itself; drop --abort-on-fail',
      ),
    );
  }
  try {
    checkCapacityThresholds(run.thresholds);
  } catch (err) {
    if (!(err instanceof UsageError)) {
      throw err;
    }
    problems.push(err);
  }
  const startRate = run.rate === null ? null : run.rate[0]!;
  if (run.rate !== null && run.rate.length > 1) {
    problems.push(
      new UsageError(
        `--rate '${run.rate.join(':')}' with --find-capacity: give one start rate (e.g. --rate 10); the search picks the rates after it`,
      ),
    );
  }
  const maxRateText = cli.maxRate ?? config.maxRate;
  let maxRate: number | null = null;
  if (maxRateText !== undefined) {
    const trimmed = maxRateText.trim();
    const value = /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : Number.NaN;
    if (!Number.isFinite(value) || value <= 0) {
      problems.push(
        new UsageError(
          `--max-rate '${maxRateText}' is not a number of runs per second > 0; use e.g. --max-rate 500`,
        ),
      );
    } else if (startRate !== null && value < startRate) {
      problems.push(
        new UsageError(
          `--max-rate ${value} is below the start rate ${startRate}/s (--rate); give a --max-rate of at least ${startRate}, or a lower --rate`,
        ),
      );
    } else {
      maxRate = value;
    }
  }
  const precisionText =
    cli.capacityPrecision ?? config.capacityPrecision ?? DEFAULT_CAPACITY_PRECISION;
  const precisionMatch = PERCENT.exec(precisionText.trim());
  const precision = precisionMatch === null ? Number.NaN : Number(precisionMatch[1]) / 100;
  if (!(precision > 0 && precision < 1)) {
    problems.push(
      new UsageError(
        `--capacity-precision '${precisionText}' is not a percent above 0% and below 100%; use e.g. 5% or 2.5%`,
      ),
    );
  }
  const restText = cli.capacityRest ?? config.capacityRest;
  const restS =
    restText === undefined
      ? DEFAULT_CAPACITY_REST_MS / 1000
      : parseSeconds(restText, '--capacity-rest', problems, true);
  return {
    maxRate,
    precision,
    restMs: Math.round((restS ?? 0) * 1000),
  };
}

const DASHBOARD_ADDRESS = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/;

/**
 * --dashboard: true (given alone) is 127.0.0.1 on a free port; a value is
 * HOST:PORT, :PORT (127.0.0.1), or [IPv6]:PORT. HOST is an IP address (or
 * localhost, as 127.0.0.1): the server binds only where told, and a name
 * that resolves elsewhere later must not move it.
 */
function parseDashboard(
  value: string | boolean,
  fqnMissing: boolean,
  problems: UsageError[],
): DashboardAddress | null {
  if (value === false) {
    return null;
  }
  if (value === true) {
    return { host: DEFAULT_DASHBOARD_HOST, port: 0 };
  }
  const text = value.trim();
  const match = DASHBOARD_ADDRESS.exec(text);
  if (match === null) {
    // commander gives an optional value the next word: `--dashboard example.Test.test_x`.
    const swallowed =
      fqnMissing && !text.includes(':') ? ', or put a bare --dashboard after the test name' : '';
    problems.push(
      new UsageError(
        `--dashboard '${value}' is not HOST:PORT; use e.g. --dashboard 127.0.0.1:8089 or --dashboard :8089, or --dashboard alone for a free port${swallowed}`,
      ),
    );
    return null;
  }
  const port = Number(match[3]);
  if (port > 65535) {
    problems.push(
      new UsageError(`--dashboard '${value}': port ${port} is not 0–65535 (0: a free port)`),
    );
    return null;
  }
  const bracketed = match[1];
  let host = bracketed ?? match[2]!;
  if (host === '' || host.toLowerCase() === 'localhost') {
    host = DEFAULT_DASHBOARD_HOST;
  }
  if (bracketed !== undefined ? !isIPv6(host) : !isIPv4(host)) {
    problems.push(
      new UsageError(
        `--dashboard '${value}': '${host}' is not an IP address; use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or an address of this machine, with [ ] around IPv6`,
      ),
    );
    return null;
  }
  return { host, port };
}

/**
 * --insecure, --http2, and the PEM files of --ca and --cert/--key, read now
 * so that a missing or bad file stops the run before any load.
 */
function readTransport(
  cli: RawOptions,
  config: ConfigValues,
  problems: UsageError[],
): TransportOptions {
  const ca: string[] = [];
  for (const file of cli.ca ?? config.ca ?? []) {
    const text = readPem(file, '--ca', 'CERTIFICATE', problems);
    if (text !== null) {
      ca.push(text);
    }
  }
  const certFile = cli.cert ?? config.cert;
  const keyFile = cli.key ?? config.key;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problems.push(
      new UsageError(
        certFile === undefined
          ? '--key needs --cert: give the client certificate as well, e.g. --cert client.crt --key client.key'
          : '--cert needs --key: give the private key of the certificate as well, e.g. --cert client.crt --key client.key',
      ),
    );
  }
  const cert = certFile === undefined ? null : readPem(certFile, '--cert', 'CERTIFICATE', problems);
  const key = keyFile === undefined ? null : readPem(keyFile, '--key', 'PRIVATE KEY', problems);
  const transport: TransportOptions = {
    insecure: cli.insecure ?? config.insecure ?? false,
    ca,
    cert: cert !== null && key !== null ? cert : null,
    key: cert !== null && key !== null ? key : null,
    http2: cli.http2 ?? config.http2 ?? false,
  };
  if (transport.ca.length > 0 || transport.cert !== null) {
    try {
      createSecureContextFor(transport);
    } catch (err) {
      const options = transport.cert === null ? '--ca' : '--ca/--cert/--key';
      const reason = errorText(err);
      const hint = /key values mismatch/.test(reason)
        ? ': --key is not the private key of --cert'
        : '';
      problems.push(new UsageError(`${options}: Node cannot use these files (${reason})${hint}`));
    }
  }
  return transport;
}

/** A PEM file's text, or null (with a problem) when it cannot be read or holds no `label` block. */
function readPem(
  file: string,
  option: string,
  label: string,
  problems: UsageError[],
): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    problems.push(
      new UsageError(`${option} '${file}': cannot read it (${reason}); check the path`),
    );
    return null;
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(text)) {
    problems.push(
      new UsageError(
        `${option} '${file}' is not a PEM file with a ${label} block (-----BEGIN ${label}-----)`,
      ),
    );
    return null;
  }
  return text;
}

/** Each value may hold several expressions separated by commas; a bad one is one problem line. */
function parseThresholds(values: readonly string[], problems: UsageError[]): Threshold[] {
  const thresholds: Threshold[] = [];
  for (const value of values) {
    for (const text of value.split(',')) {
      if (text.trim() === '') {
        continue;
      }
      try {
        thresholds.push(parseThreshold(text));
      } catch (err) {
        if (!(err instanceof UsageError)) {
          throw err;
        }
        problems.push(err);
      }
    }
  }
  return thresholds;
}

/** A count such as --workers or --max-users: a whole number ≥ 1. */
function parseWholeNumber(
  text: string,
  option: string,
  example: string,
  problems: UsageError[],
): number | null {
  const trimmed = text.trim();
  const value = /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1) {
    problems.push(
      new UsageError(`${option} '${text}' is not a whole number ≥ 1; use e.g. ${example}`),
    );
    return null;
  }
  return value;
}

const RATE_CYCLE = /^\d+(\.\d+)?(:\d+(\.\d+)?)*$/;

/** --rate '50:100:200' or '0.5': runs per second per step, each a number > 0. */
function parseRate(text: string, problems: UsageError[]): number[] | null {
  const trimmed = text.trim();
  const steps = RATE_CYCLE.test(trimmed) ? trimmed.split(':').map(Number) : [];
  if (steps.length === 0 || steps.some((n) => !Number.isFinite(n) || n <= 0)) {
    problems.push(
      new UsageError(
        `--rate '${text}' is not a cycle of runs per second > 0; use e.g. 200, 0.5 or 50:100:200`,
      ),
    );
    return null;
  }
  return steps;
}

const CYCLE = /^\d+(:\d+)*$/;

/** '10:20:30' → [10, 20, 30]; every step a whole number ≥ 1. */
export function parseCycle(text: string, option: string, problems: UsageError[]): number[] | null {
  const trimmed = text.trim();
  const steps = CYCLE.test(trimmed) ? trimmed.split(':').map(Number) : [];
  if (steps.length === 0 || steps.some((n) => !Number.isSafeInteger(n) || n < 1)) {
    problems.push(
      new UsageError(
        `${option} '${text}' is not a cycle of whole numbers ≥ 1; use e.g. 10 or 10:20:30`,
      ),
    );
    return null;
  }
  return steps;
}

function parseSeconds(
  text: string,
  option: string,
  problems: UsageError[],
  zeroAllowed: boolean,
): number | null {
  const trimmed = text.trim();
  const value = /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isFinite(value) || (zeroAllowed ? value < 0 : value <= 0)) {
    const rule = zeroAllowed ? 'a number of seconds ≥ 0' : 'a number of seconds > 0';
    problems.push(new UsageError(`${option} '${text}' is not ${rule}; use e.g. ${option} 30`));
    return null;
  }
  return value;
}

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmg]?)(i?b)?$/i;
const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** '64MB', '500k', '1.5GiB', '1048576': bytes, binary units (as wrk and curl count); at least 1. */
function parseSize(text: string, option: string, problems: UsageError[]): number | null {
  const match = SIZE.exec(text.trim());
  const bytes =
    match === null
      ? Number.NaN
      : Math.round(Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    problems.push(
      new UsageError(
        `${option} '${text}' is not a size of at least 1 byte; use e.g. ${option} 64MB, 500k or 1048576`,
      ),
    );
    return null;
  }
  return bytes;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
