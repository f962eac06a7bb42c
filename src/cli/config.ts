// --config FILE: an INI file whose [loads] section takes the long option
// names (SPEC §8), spelled with underscores or dashes (server_url or
// server-url). Unknown keys are an error, so a typo does not silently run
// the wrong load, with "did you mean" for a near miss. Every problem of the
// file is reported at once, one line each (UsageErrors of ConfigErrors,
// exit 2). Parsing is the ini package's; this file only maps keys.
import { readFileSync } from 'node:fs';
import type Ini from 'ini';
import { ConfigError, UsageErrors } from '../errors.ts';
import { findSimilar } from '../did-you-mean.ts';
import type { RawOptions } from './options.ts';
import { requireCjs } from '../require-cjs.ts';

const ini = requireCjs('ini') as typeof Ini;

/** Values from the file, by the same keys as the command line's options. */
export type ConfigValues = Omit<
  RawOptions,
  'config' | 'color' | 'detach' | 'attach' | 'pingBroker' | 'checkCluster' | 'purgeBroker'
> & {
  fqn?: string;
  noColor?: boolean;
};

const STRING_KEYS = {
  fqn: 'fqn',
  users: 'users',
  hits: 'hits',
  duration: 'duration',
  rate: 'rate',
  max_users: 'maxUsers',
  ramp_up: 'rampUp',
  server_url: 'serverUrl',
  timeout: 'timeout',
  test_timeout: 'testTimeout',
  max_body_size: 'maxBodySize',
  cert: 'cert',
  key: 'key',
  output_file_filename: 'outputFileFilename',
  output_funkload_filename: 'outputFunkloadFilename',
  output_json_filename: 'outputJsonFilename',
  output_junit_filename: 'outputJunitFilename',
  output_html_filename: 'outputHtmlFilename',
  project_name: 'projectName',
  workers: 'workers',
  status_interval: 'statusInterval',
  agents: 'agents',
  broker: 'broker',
  broker_creds: 'brokerCreds',
  broker_nkey: 'brokerNkey',
  broker_tls_ca: 'brokerTlsCa',
  broker_tls_cert: 'brokerTlsCert',
  broker_tls_key: 'brokerTlsKey',
  // Secrets a file (mode 0600) keeps better than a command line, which ps shows.
  broker_token: 'brokerToken',
  broker_user: 'brokerUser',
  broker_password: 'brokerPassword',
  heartbeat_timeout: 'heartbeatTimeout',
  test_runner: 'testRunner',
  zmq_receiver: 'zmqReceiver',
  external_process_timeout: 'externalProcessTimeout',
  max_rate: 'maxRate',
  capacity_precision: 'capacityPrecision',
  capacity_rest: 'capacityRest',
} as const;
const BOOLEAN_KEYS = {
  quiet: 'quiet',
  no_color: 'noColor',
  abort_on_fail: 'abortOnFail',
  discard_bodies: 'discardBodies',
  insecure: 'insecure',
  http2: 'http2',
  find_capacity: 'findCapacity',
} as const;
const KNOWN_KEYS = [
  ...Object.keys(STRING_KEYS),
  ...Object.keys(BOOLEAN_KEYS),
  'output',
  'threshold',
  'ca',
  'dashboard',
  'include_file',
];

export function readConfig(file: string): ConfigValues {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError(
      `cannot read config file '${file}' (${reason}); check the --config path`,
      {
        cause: err,
      },
    );
  }
  return parseConfig(text, file);
}

/** Keys that may be given on several lines, each adding to the list (as the options repeat). */
const LIST_KEYS = new Set(['output', 'threshold', 'ca', 'include_file']);
const SECTION_LINE = /^\s*\[([^\]]*)\]/;
const KEY_LINE = /^(\s*)([A-Za-z0-9_-]+)\s*(\[\])?\s*=/;

/**
 * The ini package keeps only the last of repeated keys, silently. In
 * [loads], repeated list keys (`threshold = …` twice) become `threshold[]`
 * lines so that every value counts, and any other repeated key is a
 * problem rather than a setting quietly lost. Also returns the line of each
 * key in [loads] (its first), for the messages.
 */
function normaliseRepeatedKeys(
  text: string,
  file: string,
  problems: ConfigError[],
): { text: string; lineOf: Map<string, number> } {
  let inLoads = false;
  const lineOf = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const section = SECTION_LINE.exec(line);
    if (section !== null) {
      inLoads = section[1]!.trim() === 'loads';
      continue;
    }
    const match = inLoads ? KEY_LINE.exec(line) : null;
    if (match === null) {
      continue;
    }
    const key = match[2]!.replaceAll('-', '_');
    if (LIST_KEYS.has(key)) {
      if (match[3] === undefined) {
        const keyEnd = match[1]!.length + match[2]!.length;
        lines[i] = `${line.slice(0, keyEnd)}[]${line.slice(keyEnd)}`;
      }
    } else if (lineOf.has(key)) {
      problems.push(
        new ConfigError(
          `config file '${file}': '${match[2]}' is set twice in [loads] (lines ${lineOf.get(key)} and ${i + 1}); keep one`,
        ),
      );
      // The first value is kept below; the repeat is reported once.
      lines[i] = '';
      continue;
    }
    if (!lineOf.has(key)) {
      lineOf.set(key, i + 1);
    }
  }
  return { text: lines.join('\n'), lineOf };
}

/**
 * The options in the [loads] section. Throws UsageErrors with one
 * ConfigError per problem: every unknown key (with "did you mean" for a near
 * miss), bad boolean, repeated key and list given to a single-value key.
 */
export function parseConfig(text: string, file: string): ConfigValues {
  const problems: ConfigError[] = [];
  const normalised = normaliseRepeatedKeys(text, file, problems);
  const parsed: Record<string, unknown> = ini.parse(normalised.text);
  const section = parsed['loads'];
  if (section === undefined || typeof section !== 'object' || section === null) {
    throw new ConfigError(
      `config file '${file}' has no [loads] section; put the options under [loads]`,
    );
  }
  const values: ConfigValues = {};
  for (const [rawKey, rawValue] of Object.entries(section as Record<string, unknown>)) {
    const key = rawKey.trim().replaceAll('-', '_');
    const at = normalised.lineOf.has(key) ? ` (line ${normalised.lineOf.get(key)})` : '';
    try {
      if (key === 'output') {
        values.output = toList(rawValue);
      } else if (key === 'ca') {
        // `ca = …` lines, each one file (paths may hold commas or spaces).
        values.ca = (Array.isArray(rawValue) ? rawValue.map(String) : [String(rawValue)])
          .map((file) => file.trim())
          .filter((file) => file !== '');
      } else if (key === 'include_file') {
        // `include_file = …` lines, each one glob.
        values.includeFile = (Array.isArray(rawValue) ? rawValue.map(String) : [String(rawValue)])
          .map((glob) => glob.trim())
          .filter((glob) => glob !== '');
      } else if (key === 'threshold') {
        // `threshold[] = …` lines, or one value; validate.ts splits each on commas.
        values.threshold = Array.isArray(rawValue) ? rawValue.map(String) : [String(rawValue)];
      } else if (key === 'dashboard') {
        values.dashboard = toDashboard(rawValue, key, file, at);
      } else if (key in STRING_KEYS) {
        values[STRING_KEYS[key as keyof typeof STRING_KEYS]] = toText(rawValue, key, file, at);
      } else if (key in BOOLEAN_KEYS) {
        values[BOOLEAN_KEYS[key as keyof typeof BOOLEAN_KEYS]] = toBoolean(rawValue, key, file, at);
      } else {
        const similar = findSimilar(key, KNOWN_KEYS);
        const hint =
          similar.length > 0
            ? `did you mean ${similar.map((k) => `'${k}'`).join(' or ')}?`
            : `known keys: ${KNOWN_KEYS.join(', ')}`;
        throw new ConfigError(
          `config file '${file}': unknown key '${rawKey}' in [loads]${at}; ${hint}`,
        );
      }
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        throw err;
      }
      problems.push(err);
    }
  }
  if (problems.length > 0) {
    throw new UsageErrors(problems);
  }
  return values;
}

function toText(value: unknown, key: string, file: string, at: string): string {
  if (typeof value === 'string' || typeof value === 'number') {
    return String(value).trim();
  }
  throw new ConfigError(`config file '${file}': '${key}'${at} needs a single value`);
}

function toBoolean(value: unknown, key: string, file: string, at: string): boolean {
  if (typeof value === 'boolean') {
    return value;
  }
  const text = String(value).trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(text)) {
    return true;
  }
  if (['0', 'false', 'no', 'off', ''].includes(text)) {
    return false;
  }
  throw new ConfigError(
    `config file '${file}': '${key}'${at} must be true or false, not '${String(value)}'`,
  );
}

/**
 * `dashboard = true` (or a bare `dashboard`) as --dashboard alone,
 * `dashboard = false` as not given, anything else as its HOST:PORT.
 */
function toDashboard(value: unknown, key: string, file: string, at: string): string | boolean {
  if (typeof value === 'boolean') {
    return value;
  }
  const text = toText(value, key, file, at);
  const lower = text.toLowerCase();
  if (['true', 'yes', 'on'].includes(lower)) {
    return true;
  }
  if (['false', 'no', 'off', ''].includes(lower)) {
    return false;
  }
  return text;
}

/** `output = stdout, file`, or several `output = …` lines, each possibly a list. */
function toList(value: unknown): string[] {
  const lines = Array.isArray(value) ? value.map(String) : [String(value)];
  return lines.flatMap((line) => line.split(/[\s,]+/)).filter((item) => item !== '');
}
