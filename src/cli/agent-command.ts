// The loads-agent command (SPEC §10): the composition root of an agent. It
// parses the options, connects to the broker (waiting for it when it is not
// up yet, as under systemd or Kubernetes), starts the Agent and says on
// stderr, one line each, what it does. SIGTERM or SIGINT stops it cleanly: a
// run in progress ends as interrupted with its results sent, the agent's
// record is deleted, exit 0; a second signal exits at once. Errors that
// escape a test must not end an agent that others rely on: they are reported
// and it goes on. Bad usage and a broker that refuses it exit 2.
import { availableParallelism, hostname } from 'node:os';
import { statSync } from 'node:fs';
import path from 'node:path';
import type * as Commander from 'commander';
import { BrokerError, ExitCode, LoadsError, UsageError } from '../errors.ts';
import { Agent, type AgentEvent } from '../distributed/agent.ts';
import {
  BROKER_OPTION_SPECS,
  connectBroker,
  describeBroker,
  parseBrokerOptions,
  type BrokerConnection,
  type BrokerStatus,
} from '../distributed/broker.ts';
import { defaultAgentName } from '../distributed/protocol.ts';
import { guardClosedStream, writeTo } from './console.ts';
import { signalExitCode } from './signals.ts';
import { readVersion } from './version.ts';
import { requireCjs } from '../require-cjs.ts';

const { Command, CommanderError } = requireCjs('commander') as typeof Commander;
type Command = Commander.Command;

const PROGRAM = 'loads-agent';
/** Pause between first connects while the broker is not reachable. */
const CONNECT_RETRY_MS = 2_000;

interface RawAgentOptions {
  broker?: string;
  brokerCreds?: string;
  brokerNkey?: string;
  brokerTlsCa?: string;
  brokerTlsCert?: string;
  brokerTlsKey?: string;
  name?: string;
  workers?: string;
  tmpDir?: string;
}

function say(text: string): void {
  writeTo(process.stderr, `${PROGRAM}: ${text}\n`);
}

function createAgentProgram(version: string): Command {
  const program = new Command(PROGRAM)
    .description(
      'run the load of distributed loads-runner runs: connect to the NATS broker, wait for runs and run each on every core',
    )
    .version(version, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help and exit')
    .allowExcessArguments(false);
  for (const spec of BROKER_OPTION_SPECS) {
    program.option(spec.flags, spec.description);
  }
  program
    .option(
      '--name <name>',
      'the agent name runners list and report (letters, digits, - and _); default HOST-PID',
    )
    .option('--workers <n>', 'worker threads per run; default every core')
    .option('--tmp-dir <dir>', "folder for the runs' private folders; default the system's");
  program.addHelpText(
    'after',
    `
Example:
  loads-agent --broker nats://broker.example:4222 --broker-creds agent.creds --name box-1

SIGTERM or Ctrl-C stops the agent: a run in progress ends as interrupted and its
results are sent first; a second signal exits at once.`,
  );
  return program;
}

/** Parses argv; a number is the exit status when there is nothing to run (--help, a usage error). */
function parseArguments(argv: readonly string[]): RawAgentOptions | number {
  const program = createAgentProgram(readVersion());
  program.exitOverride();
  program.configureOutput({
    writeOut: (text) => writeTo(process.stdout, text),
    writeErr: (text) => writeTo(process.stderr, text),
    outputError: () => {},
  });
  try {
    program.parse(argv as string[]);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) {
        return ExitCode.OK;
      }
      say(`${err.message.replace(/^error: /, '')}; see ${PROGRAM} --help`);
      return ExitCode.USAGE;
    }
    throw err;
  }
  return program.opts<RawAgentOptions>();
}

function parseWorkers(value: string | undefined): number | null {
  if (value === undefined) {
    return null;
  }
  const workers = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(workers) || workers < 1) {
    throw new UsageError(`--workers ${value} is not a whole number of at least 1; give e.g. 4`);
  }
  return workers;
}

function checkTmpDir(dir: string | undefined): string | undefined {
  if (dir === undefined) {
    return undefined;
  }
  const resolved = path.resolve(dir);
  let isDirectory = false;
  try {
    isDirectory = statSync(resolved).isDirectory();
  } catch {
    isDirectory = false;
  }
  if (!isDirectory) {
    throw new UsageError(`--tmp-dir ${dir} is not a folder: create it or give another`);
  }
  return resolved;
}

function describeEvent(event: AgentEvent): string {
  switch (event.type) {
    case 'run-start':
      return `run ${event.runId}: ${event.fqn}, ${event.steps} step${event.steps === 1 ? '' : 's'}, ${event.agents} agent${event.agents === 1 ? '' : 's'}`;
    case 'run-end': {
      const counts = `${event.runs} runs, ${event.hits} hits`;
      if (event.lost) {
        return `run ${event.runId}: this agent was reported lost (silent too long); its part stopped (${counts}); waiting for runs`;
      }
      if (event.failure !== null) {
        return `run ${event.runId} failed here: ${event.failure} (${counts}); waiting for runs`;
      }
      return `run ${event.runId} ${event.interrupted ? 'interrupted' : 'finished'} (${counts}); waiting for runs`;
    }
    case 'peer-lost':
      return `run ${event.runId}: agent ${event.agentId} silent for ${(event.silentMs / 1000).toFixed(1)} s; reported lost, the run goes on without it`;
    case 'warning':
      return `warning: ${event.message}`;
    default: {
      const never: never = event;
      return String(never);
    }
  }
}

function describeStatus(status: BrokerStatus): string | undefined {
  switch (status.type) {
    case 'disconnected':
      return 'broker connection lost; reconnecting';
    case 'reconnected':
      return `reconnected to the broker at ${status.server}`;
    case 'lame-duck':
      return `the broker at ${status.server} is shutting down; will reconnect`;
    case 'error':
      return `broker: ${status.message}`;
    case 'reconnecting':
      return undefined;
    default: {
      const never: never = status;
      return String(never);
    }
  }
}

/** Connects, retrying while the broker is unreachable (said once); other failures throw. */
async function connectWaiting(
  options: ReturnType<typeof parseBrokerOptions>,
  stopping: AbortSignal,
): Promise<BrokerConnection | undefined> {
  let said = false;
  for (;;) {
    try {
      return await connectBroker(options, {
        onStatus: (status) => {
          const text = describeStatus(status);
          if (text !== undefined) {
            say(text);
          }
        },
      });
    } catch (err) {
      if (!(err instanceof BrokerError) || err.failure !== 'unreachable' || stopping.aborted) {
        throw err;
      }
      if (!said) {
        said = true;
        say(`${err.message} (trying again every ${CONNECT_RETRY_MS / 1000} s)`);
      }
      await new Promise((resolve) => setTimeout(resolve, CONNECT_RETRY_MS));
      if (stopping.aborted) {
        return undefined;
      }
    }
  }
}

async function main(argv: readonly string[]): Promise<number> {
  guardClosedStream(process.stdout);
  guardClosedStream(process.stderr);
  const raw = parseArguments(argv);
  if (typeof raw === 'number') {
    return raw;
  }
  // Stack traces of a failing test name its own files, through the bundle's source map.
  process.setSourceMapsEnabled(true);
  const version = readVersion();
  const name = raw.name ?? defaultAgentName(process.pid);
  if (raw.broker === undefined) {
    throw new UsageError('--broker is required: give nats://HOST:PORT');
  }
  const workers = parseWorkers(raw.workers);
  const tmpDir = checkTmpDir(raw.tmpDir);
  const brokerOptions = parseBrokerOptions({
    broker: raw.broker,
    brokerCreds: raw.brokerCreds,
    brokerNkey: raw.brokerNkey,
    brokerTlsCa: raw.brokerTlsCa,
    brokerTlsCert: raw.brokerTlsCert,
    brokerTlsKey: raw.brokerTlsKey,
    name: `${PROGRAM} ${name}`,
  });

  // Escaped test errors are reported, never fatal: the agent serves many runs.
  let strays = 0;
  const onStray = (reason: unknown): void => {
    strays++;
    if (strays <= 3 || strays % 1000 === 0) {
      say(
        `warning: an error escaped a test run (a promise not awaited?): ${reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)}`,
      );
    }
  };
  process.on('unhandledRejection', onStray);
  process.on('uncaughtException', onStray);

  const stopping = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  let agent: Agent | undefined;
  let stopped: () => void = () => {};
  const stoppedBySignal = new Promise<void>((resolve) => {
    stopped = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled !== undefined) {
      say(`a second signal (${signal}); exiting now`);
      // No external test process may outlive the agent, even one that ignores SIGTERM.
      agent?.killNow();
      // eslint-disable-next-line n/no-process-exit -- the user asked twice: leave without cleaning up
      process.exit(signalExitCode(signal === 'SIGTERM' ? 'SIGTERM' : 'SIGINT'));
    }
    signalled = signal;
    stopping.abort();
    say(
      agent?.runId === null || agent === undefined
        ? `stopping (${signal})`
        : `stopping (${signal}): run ${agent.runId} ends as interrupted once its results are sent (a second signal exits now)`,
    );
    stopped();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const connection = await connectWaiting(brokerOptions, stopping.signal);
  if (connection === undefined) {
    return ExitCode.OK;
  }
  try {
    agent = await Agent.start({
      connection,
      name,
      host: hostname(),
      pid: process.pid,
      version,
      workers,
      tmpDir,
      // External test processes (--test-runner runs) start from the agent's own environment.
      env: process.env,
      onEvent: (event) => say(describeEvent(event)),
    });
    say(
      `${name} connected to ${describeBroker(brokerOptions)}, ${availableParallelism()} cores, loads-runner ${version}; waiting for runs`,
    );
    if (signalled === undefined) {
      await stoppedBySignal;
    }
    await agent.close({ graceful: true });
    say(`${name} stopped`);
    return ExitCode.OK;
  } finally {
    await connection.close();
  }
}

try {
  process.exitCode = await main(process.argv);
} catch (err) {
  if (err instanceof LoadsError) {
    say(err.message);
    process.exitCode = err.exitCode;
  } else {
    say(
      `internal error (a bug in loads-runner, please report it):\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    process.exitCode = ExitCode.RUN_FAILED;
  }
}
// Nothing of ours is left running; a test's stray timer or socket must not keep the process alive.
// eslint-disable-next-line n/no-process-exit -- as main.ts: a hanging handle of the test must not keep the agent up
setTimeout(() => process.exit(), 200).unref();
