// --config FILE: an INI file whose [loads] section takes the long option
// names (SPEC §8), spelled with underscores or dashes (server_url or
// server-url). Unknown keys are an error, so a typo does not silently run
// the wrong load. Parsing is the ini package's; this file only maps keys.
import { readFileSync } from 'node:fs';
import ini from 'ini';
import { ConfigError } from '../errors.ts';
import type { RawOptions } from './options.ts';

/** Values from the file, by the same keys as the command line's options. */
export type ConfigValues = Omit<RawOptions, 'config' | 'color'> & {
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
  output_file_filename: 'outputFileFilename',
  output_funkload_filename: 'outputFunkloadFilename',
  output_json_filename: 'outputJsonFilename',
  output_junit_filename: 'outputJunitFilename',
  project_name: 'projectName',
  workers: 'workers',
  status_interval: 'statusInterval',
} as const;
const BOOLEAN_KEYS = {
  quiet: 'quiet',
  no_color: 'noColor',
  abort_on_fail: 'abortOnFail',
  discard_bodies: 'discardBodies',
} as const;
const KNOWN_KEYS = [
  ...Object.keys(STRING_KEYS),
  ...Object.keys(BOOLEAN_KEYS),
  'output',
  'threshold',
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
const LIST_KEYS = new Set(['output', 'threshold']);
const SECTION_LINE = /^\s*\[([^\]]*)\]/;
const KEY_LINE = /^(\s*)([A-Za-z0-9_-]+)\s*(\[\])?\s*=/;

/**
 * The ini package keeps only the last of repeated keys, silently. In
 * [loads], repeated list keys (`threshold = …` twice) become `threshold[]`
 * lines so that every value counts, and any other repeated key is an error
 * rather than a setting quietly lost.
 */
function normaliseRepeatedKeys(text: string, file: string): string {
  let inLoads = false;
  const seen = new Set<string>();
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
    } else if (seen.has(key)) {
      throw new ConfigError(
        `config file '${file}': '${match[2]}' is set twice in [loads] (line ${i + 1}); keep one`,
      );
    } else {
      seen.add(key);
    }
  }
  return lines.join('\n');
}

export function parseConfig(text: string, file: string): ConfigValues {
  const parsed: Record<string, unknown> = ini.parse(normaliseRepeatedKeys(text, file));
  const section = parsed['loads'];
  if (section === undefined || typeof section !== 'object' || section === null) {
    throw new ConfigError(
      `config file '${file}' has no [loads] section; put the options under [loads]`,
    );
  }
  const values: ConfigValues = {};
  for (const [rawKey, rawValue] of Object.entries(section as Record<string, unknown>)) {
    const key = rawKey.trim().replaceAll('-', '_');
    if (key === 'output') {
      values.output = toList(rawValue);
    } else if (key === 'threshold') {
      // `threshold[] = …` lines, or one value; validate.ts splits each on commas.
      values.threshold = Array.isArray(rawValue) ? rawValue.map(String) : [String(rawValue)];
    } else if (key in STRING_KEYS) {
      values[STRING_KEYS[key as keyof typeof STRING_KEYS]] = toText(rawValue, key, file);
    } else if (key in BOOLEAN_KEYS) {
      values[BOOLEAN_KEYS[key as keyof typeof BOOLEAN_KEYS]] = toBoolean(rawValue, key, file);
    } else {
      throw new ConfigError(
        `config file '${file}': unknown key '${rawKey}' in [loads]; known keys: ${KNOWN_KEYS.join(', ')}`,
      );
    }
  }
  return values;
}

function toText(value: unknown, key: string, file: string): string {
  if (typeof value === 'string' || typeof value === 'number') {
    return String(value).trim();
  }
  throw new ConfigError(`config file '${file}': '${key}' needs a single value`);
}

function toBoolean(value: unknown, key: string, file: string): boolean {
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
    `config file '${file}': '${key}' must be true or false, not '${String(value)}'`,
  );
}

/** `output = stdout, file`, or several `output = …` lines, each possibly a list. */
function toList(value: unknown): string[] {
  const lines = Array.isArray(value) ? value.map(String) : [String(value)];
  return lines.flatMap((line) => line.split(/[\s,]+/)).filter((item) => item !== '');
}
