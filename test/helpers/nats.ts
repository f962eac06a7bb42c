// Real nats-server processes for the distributed tests: JetStream on, its
// store in a temp folder, listening on a free 127.0.0.1 port, optionally with
// authentication and TLS. The config is written as JSON (nats-server's
// config format accepts it), so values need no escaping of our own; a test
// may instead give a whole config of its own (the docs' broker configs),
// told where to listen and store. Every
// server started here is SIGKILLed when the test process exits or is
// terminated, so a failing test never leaves one behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
} from '@nats-io/jwt';

// Debian's package puts it in /usr/sbin, which a user's PATH may lack.
const NATS_SERVER_CANDIDATES = ['nats-server', '/usr/sbin/nats-server', '/usr/bin/nats-server'];

/** The nats-server command that runs here, or undefined. */
export const NATS_SERVER_PATH: string | undefined = NATS_SERVER_CANDIDATES.find(
  (command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0,
);

/** Why the broker suites must skip (no nats-server), or false: give it as node:test's `skip`. */
export const NATS_SKIP: string | false =
  NATS_SERVER_PATH === undefined ? 'install nats-server: apt-get install -y nats-server' : false;

/** nats-server's user permissions block, as its config file spells it. */
export interface NatsPermissions {
  publish?: string[] | { allow?: string[]; deny?: string[] };
  subscribe?: string[] | { allow?: string[]; deny?: string[] };
}

export interface NatsServerOptions {
  /** Off gives a core-only broker (for the "no JetStream" error). Default on. */
  jetstream?: boolean;
  auth?: {
    token?: string;
    users?: { user: string; password: string; permissions?: NatsPermissions }[];
    /** Public user nkeys ("U…") allowed in. */
    nkeys?: string[];
  };
  /** PEM contents; `ca` and `verify` make clients present a certificate signed by it. */
  tls?: { cert: string; key: string; ca?: string; verify?: boolean };
  /**
   * More top-level keys of the generated config, e.g. operator mode's
   * `operator`, `resolver`, `resolver_preload` and `system_account`.
   */
  extraConfig?: Record<string, unknown>;
  /**
   * The whole config file instead of the generated one (nats-server syntax),
   * written again at each start: `listen` is the address it must listen on,
   * `storeDir` its JetStream folder, `dir` a folder for any file it names.
   * jetstream, auth, tls and extraConfig are then ignored; `url` is
   * nats://… (give `scheme: 'tls'` when the config requires TLS).
   */
  config?: (where: { listen: string; storeDir: string; dir: string }) => string;
  scheme?: 'nats' | 'tls';
  /** Stops the server when this test ends (a node:test TestContext). */
  t?: { after(fn: () => unknown): void };
}

export interface NatsServer {
  /** nats://127.0.0.1:PORT (tls://… when TLS is on). */
  url: string;
  port: number;
  /** The server's log so far (stderr). */
  log(): string;
  /** SIGTERM, wait for the exit, remove the temp folder. Idempotent. */
  stop(): Promise<void>;
  /** Stops the process (keeping the store) and starts it again on the same port. */
  restart(): Promise<void>;
  /** SIGKILL, as a crash; the store stays until stop(). */
  kill(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const LOG_TAIL_LINES = 15;

const running = new Set<ChildProcess>();
/** Temp folders of servers not stopped yet, removed at exit too. */
const folders = new Set<string>();
let cleanupInstalled = false;

function installCleanup(): void {
  if (cleanupInstalled) {
    return;
  }
  cleanupInstalled = true;
  const killAll = (): void => {
    for (const child of running) {
      child.kill('SIGKILL');
    }
    running.clear();
    for (const folder of folders) {
      rmSync(folder, { recursive: true, force: true });
    }
    folders.clear();
  };
  process.on('exit', killAll);
  // node:test ends a timed-out or cancelled file with a signal: 'exit' would
  // not run, so kill the servers, then let the signal do what it would have.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}

function tail(log: string): string {
  return log.trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  installCleanup();
  const dir = mkdtempSync(path.join(tmpdir(), 'loads-runner-nats-'));
  folders.add(dir);
  const configPath = path.join(dir, options.config === undefined ? 'nats.json' : 'nats.conf');
  let port = 0;
  let child: ChildProcess | undefined;
  let log = '';
  let stopped = false;

  const writeConfig = (): void => {
    if (options.config !== undefined) {
      const text = options.config({
        listen: `127.0.0.1:${port}`,
        storeDir: path.join(dir, 'store'),
        dir,
      });
      writeFileSync(configPath, text);
      return;
    }
    const config: Record<string, unknown> = { listen: `127.0.0.1:${port}` };
    if (options.jetstream !== false) {
      config.jetstream = {
        store_dir: path.join(dir, 'store'),
        max_memory_store: 64 * 1024 * 1024,
        // Above the LOADS_RUNS stream's 1 GiB max_bytes, which JetStream reserves up front.
        max_file_store: 2 * 1024 * 1024 * 1024,
      };
    }
    const { auth, tls } = options;
    if (auth?.token !== undefined) {
      config.authorization = { token: auth.token };
    } else if (auth !== undefined) {
      config.authorization = {
        users: [...(auth.users ?? []), ...(auth.nkeys ?? []).map((nkey) => ({ nkey }))],
      };
    }
    if (tls !== undefined) {
      const write = (name: string, pem: string): string => {
        const file = path.join(dir, name);
        writeFileSync(file, pem);
        return file;
      };
      config.tls = {
        cert_file: write('server.crt', tls.cert),
        key_file: write('server.key', tls.key),
        ...(tls.ca === undefined ? {} : { ca_file: write('ca.crt', tls.ca) }),
        ...(tls.verify === undefined ? {} : { verify: tls.verify }),
      };
    }
    Object.assign(config, options.extraConfig);
    writeFileSync(configPath, JSON.stringify(config, null, 2));
  };

  /** Spawns the server and resolves once it logs "Server is ready"; 'in-use' if the port was taken. */
  const spawnOnce = async (): Promise<'ready' | 'in-use'> => {
    writeConfig();
    log = '';
    const proc = spawn(NATS_SERVER_PATH ?? 'nats-server', ['-c', configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    running.add(proc);
    const onData = (chunk: Buffer): void => {
      log += chunk.toString('utf8');
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', () => running.delete(proc));
    const outcome = await new Promise<'ready' | 'in-use' | 'exited' | 'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), READY_TIMEOUT_MS);
      const check = (): void => {
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve('ready');
        }
      };
      proc.stderr?.on('data', check);
      proc.stdout?.on('data', check);
      // 'close', not 'exit': the last log lines arrive after the exit.
      proc.once('close', (code, signal) => {
        clearTimeout(timer);
        log += `(nats-server exited: ${signal ?? code})\n`;
        resolve(log.includes('address already in use') ? 'in-use' : 'exited');
      });
      proc.once('error', (error) => {
        clearTimeout(timer);
        log += `(nats-server did not start: ${error.message})\n`;
        resolve('exited');
      });
    });
    if (outcome === 'ready' || outcome === 'in-use') {
      return outcome;
    }
    proc.kill('SIGKILL');
    throw new Error(
      outcome === 'timeout'
        ? `nats-server on port ${port} was not ready within ${READY_TIMEOUT_MS} ms; its log ends:\n${tail(log)}`
        : `nats-server on port ${port} exited before it was ready; its log ends:\n${tail(log)}`,
    );
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) {
      return;
    }
    const exited = once(proc, 'exit');
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  const remove = (): void => {
    rmSync(dir, { recursive: true, force: true });
    folders.delete(dir);
  };
  try {
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      if ((await spawnOnce()) === 'ready') {
        break;
      }
      if (attempt === 5) {
        throw new Error(
          `nats-server found no free port in 5 attempts; its log ends:\n${tail(log)}`,
        );
      }
    }
  } catch (error) {
    remove();
    throw error;
  }

  const server: NatsServer = {
    url: `${options.scheme ?? (options.tls === undefined ? 'nats' : 'tls')}://127.0.0.1:${port}`,
    port,
    log: () => log,
    async stop() {
      if (stopped) {
        return;
      }
      stopped = true;
      await terminate('SIGTERM');
      remove();
    },
    async restart() {
      await terminate('SIGTERM');
      // The port was ours a moment ago; another process taking it in between
      // is rare, so retry briefly rather than move (clients keep this URL).
      for (let attempt = 1; (await spawnOnce()) === 'in-use'; attempt++) {
        if (attempt === 5) {
          throw new Error(
            `nats-server could not listen on ${port} again; its log ends:\n${tail(log)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async kill() {
      await terminate('SIGKILL');
    },
  };
  options.t?.after(() => server.stop());
  return server;
}

/** A user's publish/subscribe allow and deny lists, as a user JWT carries them. */
export interface JwtPermissions {
  pub?: { allow?: string[]; deny?: string[] };
  sub?: { allow?: string[]; deny?: string[] };
}

/** A trusted operator with one JetStream account, for operator (JWT) mode. */
export interface NatsOperator {
  /** startNatsServer's extraConfig: the operator, a memory resolver preloaded with the accounts. */
  extraConfig: Record<string, unknown>;
  /** The contents of a creds file (user JWT + seed, as fmtCreds writes it) for a new user of the account. */
  userCreds(name: string, permissions?: JwtPermissions): Promise<string>;
}

/**
 * Makes an operator, a system account and an account with JetStream
 * (storage and counts unlimited, as a dedicated broker would give it), all
 * signed in memory with fresh nkeys: no nsc, no files. A second call makes
 * an unrelated operator, whose users another server does not trust.
 */
export async function createNatsOperator(name = 'loads-test'): Promise<NatsOperator> {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const unlimited = { conn: -1, subs: -1, data: -1, payload: -1, leaf: -1, imports: -1 };
  const [operatorJwt, systemJwt, accountJwt] = await Promise.all([
    encodeOperator(name, operator, { system_account: system.getPublicKey() }),
    encodeAccount('SYS', system, { limits: { ...unlimited, exports: -1 } }, { signer: operator }),
    encodeAccount(
      'loads',
      account,
      {
        limits: {
          ...unlimited,
          exports: -1,
          wildcards: true,
          mem_storage: -1,
          disk_storage: -1,
          streams: -1,
          consumer: -1,
        },
      },
      { signer: operator },
    ),
  ]);
  return {
    extraConfig: {
      operator: operatorJwt,
      system_account: system.getPublicKey(),
      resolver: 'MEMORY',
      resolver_preload: {
        [system.getPublicKey()]: systemJwt,
        [account.getPublicKey()]: accountJwt,
      },
    },
    async userCreds(userName, permissions) {
      const user = createUser();
      const jwt = await encodeUser(userName, user, account, permissions ?? {});
      return new TextDecoder().decode(fmtCreds(jwt, user));
    },
  };
}
