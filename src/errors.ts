// One error hierarchy with stable codes (undici lib/core/errors.js style).
// Usage and input errors carry exit status 2 and a one-line message that ends
// with the fix; the CLI prints `message` alone, never the stack.

/** Exit statuses of `loads-runner` (SPEC §7). */
export const ExitCode = {
  /** Every test run succeeded and every threshold passed. */
  OK: 0,
  /** A test run failed or errored, or the tool hit an internal bug. */
  RUN_FAILED: 1,
  /** Bad usage or input: options, FQN, config. Nothing was sent. */
  USAGE: 2,
  /**
   * Stopped by SIGINT (Ctrl-C), 128 + 2: the summary and outputs cover what
   * ran before it; an interrupted run never reads as a pass. A second
   * signal exits at once with 128 + its own number.
   */
  SIGINT: 130,
  /** Stopped by SIGTERM, 128 + 15, as SIGINT: the summary and outputs cover what ran before. */
  SIGTERM: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface LoadsErrorOptions {
  cause?: unknown;
  hint?: string;
}

/** Base class of every error loads-runner throws on purpose. */
export class LoadsError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(
    message: string,
    code = 'LOADS_ERR',
    exitCode: ExitCode = ExitCode.RUN_FAILED,
    options: LoadsErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
  }
}

/** A bad option or option combination, e.g. `--hits` with `--duration`. Exit 2. */
export class UsageError extends LoadsError {
  constructor(message: string, options?: LoadsErrorOptions) {
    super(message, 'LOADS_ERR_USAGE', ExitCode.USAGE, options);
  }
}

/** Several usage or config problems found at once; the CLI prints one line each. Exit 2. */
export class UsageErrors extends LoadsError {
  readonly errors: readonly (UsageError | ConfigError)[];
  constructor(errors: readonly (UsageError | ConfigError)[]) {
    super(errors.map((e) => e.message).join('\n'), 'LOADS_ERR_USAGE', ExitCode.USAGE);
    this.errors = errors;
  }
}

/** The `--config` INI file cannot be read or holds a bad value. Exit 2. */
export class ConfigError extends LoadsError {
  constructor(message: string, options?: LoadsErrorOptions) {
    super(message, 'LOADS_ERR_CONFIG', ExitCode.USAGE, options);
  }
}

/** Which part of a test name failed to resolve (SPEC §2). */
export type FqnPart = 'syntax' | 'module' | 'export' | 'not-testcase' | 'method';

/** The test name (FQN) does not resolve. Exit 2, before any load is sent. */
export class FqnError extends LoadsError {
  readonly part: FqnPart;
  readonly pathsTried: readonly string[];
  constructor(
    message: string,
    part: FqnPart,
    pathsTried: readonly string[] = [],
    options?: LoadsErrorOptions,
  ) {
    super(message, 'LOADS_ERR_FQN', ExitCode.USAGE, options);
    this.part = part;
    this.pathsTried = pathsTried;
  }
}

/**
 * The test could not be shipped to agents (distributed runs): its module or
 * an import does not bundle, an --include-file glob is refused, or what an
 * agent received is damaged (a checksum that does not match, a file name
 * that leaves its folder). Exit 2, before any load is sent.
 */
export class BundleError extends LoadsError {
  constructor(message: string, options?: LoadsErrorOptions) {
    super(message, 'LOADS_ERR_BUNDLE', ExitCode.USAGE, options);
  }
}

/** The runner's loads-runner and an agent's are different versions. Exit 2. */
export class VersionMismatchError extends LoadsError {
  readonly runnerVersion: string;
  readonly agentVersion: string;
  /** `message` replaces the agent's wording (the runner says it from its side). */
  constructor(runnerVersion: string, agentVersion: string, message?: string) {
    super(
      message ??
        `the runner's loads-runner ${runnerVersion} sent this test; this agent runs ${agentVersion}: install the same version on both`,
      'LOADS_ERR_VERSION_MISMATCH',
      ExitCode.USAGE,
    );
    this.runnerVersion = runnerVersion;
    this.agentVersion = agentVersion;
  }
}

/**
 * A distributed run asked for more agents than the broker has free (of this
 * protocol, heartbeating, unclaimed). Exit 2, before any load is sent.
 */
export class NotEnoughAgentsError extends LoadsError {
  readonly needed: number;
  readonly free: number;
  constructor(message: string, needed: number, free: number) {
    super(message, 'LOADS_ERR_NOT_ENOUGH_AGENTS', ExitCode.USAGE);
    this.needed = needed;
    this.free = free;
  }
}

/**
 * `this.app` was used with no server URL. It is thrown inside a test, so the
 * test run counts as an error; the message says how to fix it.
 */
export class MissingServerUrlError extends LoadsError {
  constructor() {
    super(
      'this.app needs a server URL: set `serverUrl` on the test class or pass --server-url',
      'LOADS_ERR_MISSING_SERVER_URL',
      ExitCode.USAGE,
    );
  }
}

/**
 * A request that got no HTTP response: refused, reset, timed out, bad URL.
 * `errorKey` is the short classification also recorded on the hit.
 */
export class HttpRequestError extends LoadsError {
  readonly errorKey: string;
  readonly method: string;
  readonly url: string;
  constructor(method: string, url: string, errorKey: string, detail: string, cause?: unknown) {
    super(
      `${method} ${url} failed: ${errorKey}: ${detail}`,
      'LOADS_ERR_HTTP',
      ExitCode.RUN_FAILED,
      {
        cause,
      },
    );
    this.errorKey = errorKey;
    this.method = method;
    this.url = url;
  }
}

/** A WebSocket could not open, timed out waiting for a message, or broke. */
export class WebSocketError extends LoadsError {
  readonly url: string;
  constructor(url: string, message: string, cause?: unknown) {
    super(`WebSocket ${url}: ${message}`, 'LOADS_ERR_WS', ExitCode.RUN_FAILED, { cause });
    this.url = url;
  }
}

/**
 * The test run passed --test-timeout. The run counts as an error with this
 * message; whatever its body still awaits (a request, a socket) rejects
 * with it, and every later call of that run's session, app or createWs too.
 */
export class TestTimeoutError extends LoadsError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(
      `test run exceeded --test-timeout of ${timeoutMs / 1000} s; its requests and sockets were aborted`,
      'LOADS_ERR_TEST_TIMEOUT',
      ExitCode.RUN_FAILED,
    );
    this.timeoutMs = timeoutMs;
  }
}

/** Why a broker connection failed, for callers that react differently (an agent retries 'unreachable'). */
export type BrokerFailure =
  'unreachable' | 'credentials' | 'tls' | 'timeout' | 'no-jetstream' | 'permissions' | 'other';

/**
 * The NATS broker could not be reached or used (SPEC §10): nothing was sent,
 * so exit 2 as for other setup mistakes. The message never holds a secret.
 */
export class BrokerError extends LoadsError {
  readonly failure: BrokerFailure;
  constructor(message: string, failure: BrokerFailure, options?: LoadsErrorOptions) {
    super(message, 'LOADS_ERR_BROKER', ExitCode.USAGE, options);
    this.failure = failure;
  }
}

/** True for errors whose message is meant for the user as it is (no stack). */
export function isLoadsError(value: unknown): value is LoadsError {
  return value instanceof LoadsError;
}
