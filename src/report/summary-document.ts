// A saved `-o json` document read back (`loads-runner report RUN.json`):
// the text is checked to be JSON, ours (tool 'loads-runner'), of the schema
// this loads-runner reads (SUMMARY_SCHEMA), and to hold the fields the
// report and the comparison read, with the right types. Pure: the CLI reads
// the file and passes its text. Every refusal is one line, exit 2.
import { ExitCode, LoadsError } from '../errors.ts';
import { SUMMARY_SCHEMA, type Summary } from '../metrics/summary.ts';

/** A document refused: bad input, exit 2. */
export function summaryDocumentError(message: string): LoadsError {
  return new LoadsError(message, 'LOADS_ERR_SUMMARY_DOCUMENT', ExitCode.USAGE);
}

const FIX = 'give the document a run wrote with -o json';

type Kind = 'number' | 'string' | 'array' | 'object';

/** The fields a report reads, by dotted path, with the type each must have. */
const TOP_FIELDS: readonly [string, Kind][] = [
  ['fqn', 'string'],
  ['projectName', 'string'],
  ['hits', 'number'],
  ['startedAt', 'number'],
  ['endedAt', 'number'],
  ['durationS', 'number'],
  ['rps', 'number'],
  ['successes', 'number'],
  ['errors', 'number'],
  ['failures', 'number'],
  ['dropped', 'number'],
  ['hitErrors', 'number'],
  ['exitStatus', 'number'],
  ['latency.p50', 'number'],
  ['latency.p90', 'number'],
  ['latency.p95', 'number'],
  ['latency.p99', 'number'],
  ['latency.max', 'number'],
  ['serviceTime', 'object'],
  ['steps', 'array'],
  ['urls', 'array'],
  ['timeline', 'array'],
  ['run', 'object'],
  ['histograms.responseTime', 'string'],
  ['histograms.serviceTime', 'string'],
];

const STEP_FIELDS: readonly [string, Kind][] = [
  ['step', 'number'],
  ['rps', 'number'],
  ['p50S', 'number'],
  ['p95S', 'number'],
  ['p99S', 'number'],
  ['successes', 'number'],
  ['failures', 'number'],
  ['errors', 'number'],
];

const URL_FIELDS: readonly [string, Kind][] = [
  ['key', 'string'],
  ['hits', 'number'],
  ['avgS', 'number'],
  ['p95S', 'number'],
  ['successRate', 'number'],
];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasKind(value: unknown, kind: Kind): boolean {
  if (kind === 'array') {
    return Array.isArray(value);
  }
  if (kind === 'object') {
    return isRecord(value);
  }
  return kind === 'number'
    ? typeof value === 'number' && Number.isFinite(value)
    : typeof value === kind;
}

function valueAt(record: Record<string, unknown>, path: string): unknown {
  let value: unknown = record;
  for (const name of path.split('.')) {
    value = isRecord(value) ? value[name] : undefined;
  }
  return value;
}

/** The first field of `fields` missing or of the wrong type in `record`, as `prefix` + path. */
function firstBadField(
  record: unknown,
  fields: readonly [string, Kind][],
  prefix: string,
): string | undefined {
  if (!isRecord(record)) {
    return prefix.replace(/\.$/, '');
  }
  for (const [path, kind] of fields) {
    if (!hasKind(valueAt(record, path), kind)) {
      return `${prefix}${path}`;
    }
  }
  return undefined;
}

function badFieldOf(document: Record<string, unknown>): string | undefined {
  const top = firstBadField(document, TOP_FIELDS, '');
  if (top !== undefined) {
    return top;
  }
  const steps = document['steps'] as unknown[];
  for (const [index, step] of steps.entries()) {
    const bad = firstBadField(step, STEP_FIELDS, `steps[${index}].`);
    if (bad !== undefined) {
      return bad;
    }
  }
  const urls = document['urls'] as unknown[];
  for (const [index, url] of urls.entries()) {
    const bad = firstBadField(url, URL_FIELDS, `urls[${index}].`);
    if (bad !== undefined) {
      return bad;
    }
  }
  return undefined;
}

/**
 * The Summary in `text`, the contents of the file `source` names; throws
 * a LoadsError (exit 2) when it is not JSON, not a loads-runner
 * summary, of another schema (naming the writer's and `readerVersion`, this
 * loads-runner's version), or lacks a field the report reads.
 */
export function parseSummaryDocument(text: string, source: string, readerVersion: string): Summary {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    // V8 quotes the bad text in its message; keep the reason on one line.
    const reason = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');
    throw summaryDocumentError(`${source} is not JSON (${reason}); ${FIX}`);
  }
  if (!isRecord(document) || document['tool'] !== 'loads-runner') {
    throw summaryDocumentError(
      `${source} is not a loads-runner summary (it has no "tool": "loads-runner"); ${FIX}`,
    );
  }
  const schema = document['schema'];
  if (schema !== SUMMARY_SCHEMA) {
    const version = document['version'];
    const writer = typeof version === 'string' ? `loads-runner ${version}` : 'a loads-runner';
    const schemaText =
      typeof schema === 'number' ? `summary schema ${schema}` : 'no summary schema';
    throw summaryDocumentError(
      `${source} was written by ${writer} (${schemaText}); this loads-runner ${readerVersion} reads schema ${SUMMARY_SCHEMA}; report on it with the version that wrote it, or run the load again`,
    );
  }
  const bad = badFieldOf(document);
  if (bad !== undefined) {
    throw summaryDocumentError(
      `${source} is a loads-runner summary of schema ${SUMMARY_SCHEMA} but its ${bad} is missing or not what it should be; was it edited or cut short? ${FIX}`,
    );
  }
  const distributed = document['distributed'];
  if (distributed === undefined) {
    // Written before distributed runs: a run on one machine.
    document['distributed'] = null;
  } else if (
    distributed !== null &&
    (!isRecord(distributed) ||
      typeof distributed['runId'] !== 'string' ||
      !Array.isArray(distributed['agents']))
  ) {
    throw summaryDocumentError(
      `${source} is a loads-runner summary of schema ${SUMMARY_SCHEMA} but its distributed is not what it should be; was it edited or cut short? ${FIX}`,
    );
  }
  const capacity = document['capacity'];
  if (
    capacity !== undefined &&
    (!isRecord(capacity) ||
      typeof capacity['reason'] !== 'string' ||
      !Array.isArray(capacity['probes']) ||
      !['heldRate', 'brokeRate'].every(
        (key) => capacity[key] === null || hasKind(capacity[key], 'number'),
      ))
  ) {
    throw summaryDocumentError(
      `${source} is a loads-runner summary of schema ${SUMMARY_SCHEMA} but its capacity is not what it should be; was it edited or cut short? ${FIX}`,
    );
  }
  // Every field the report reads was checked above; the rest is data the writer's schema promises.
  return document as unknown as Summary;
}
