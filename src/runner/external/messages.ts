// Loads' external-runner messages (its `zmq-api`, SPEC §11), read and turned
// into our own events, so that a test in any language is counted exactly as
// an in-process one. Each message is one JSON object with `data_type`,
// `agent_id` and `run_id`; where a run happens is `loads_status`,
// `[hits, users, current_hit, current_user]`. Anything that does not fit is
// a MessageProblem with a kind, so that the summary can report each kind
// once with a count, and nothing a foreign process sends can throw here.
import {
  Outcome,
  type HitEvent,
  type TestEndEvent,
  type TestStartEvent,
} from '../../metrics/events.ts';

/** Where a message says it happened (Loads' loads_status; all 1-based). */
export interface LoadsStatus {
  hits: number;
  users: number;
  currentHit: number;
  currentUser: number;
}

/** A message as the runner uses it, after checking. */
export type ExternalMessage =
  | { type: 'startTest'; test: string; status: LoadsStatus }
  | { type: 'stopTest'; test: string; status: LoadsStatus }
  | {
      type: 'result';
      test: string;
      status: LoadsStatus;
      outcome: Outcome;
      /** exc_info: [type, value, traceback]; empty strings for a success. */
      errorName: string;
      errorMessage: string;
      errorStack: string;
    }
  | {
      type: 'hit';
      url: string;
      method: string;
      httpStatus: number;
      /** Epoch ms. */
      startedAt: number;
      elapsedMs: number;
      status: LoadsStatus | null;
    }
  | { type: 'socketOpen'; status: LoadsStatus | null }
  | { type: 'socketClose'; status: LoadsStatus | null }
  | { type: 'socketMessage'; size: number; status: LoadsStatus | null }
  | { type: 'counter'; test: string; name: string; status: LoadsStatus | null };

/** Why a message was not counted: the kind (one summary line each) and an example. */
export interface MessageProblem {
  kind: string;
  example: string;
}

export type ParsedMessage =
  | { ok: true; runId: string; agentId: string; message: ExternalMessage }
  | { ok: false; problem: MessageProblem };

const EXAMPLE_CHARS = 120;

function problem(kind: string, example: string): ParsedMessage {
  return {
    ok: false,
    problem: {
      kind,
      example: example.length > EXAMPLE_CHARS ? `${example.slice(0, EXAMPLE_CHARS)}…` : example,
    },
  };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** Loads' runners send the four numbers as numbers; some send them as strings (from env vars). */
function toCount(value: unknown): number | undefined {
  if (isCount(value)) {
    return value;
  }
  if (typeof value === 'string' && /^\d+$/.test(value)) {
    return Number(value);
  }
  return undefined;
}

function readStatus(value: unknown): LoadsStatus | undefined {
  if (!Array.isArray(value) || value.length !== 4) {
    return undefined;
  }
  const [hits, users, currentHit, currentUser] = value.map(toCount);
  if (
    hits === undefined ||
    users === undefined ||
    currentHit === undefined ||
    currentUser === undefined
  ) {
    return undefined;
  }
  return { hits, users, currentHit, currentUser };
}

function readString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** ISO 8601 as Python's datetime.isoformat() writes it (no zone: UTC, as Loads' runners send utcnow()). */
function readDate(value: unknown): number | undefined {
  if (typeof value !== 'string') {
    return undefined;
  }
  const hasZone = /(Z|[+-]\d\d:?\d\d)$/.test(value);
  // Python writes microseconds; Date reads milliseconds.
  const trimmed = value.replace(/(\.\d{3})\d+/, '$1');
  const ms = Date.parse(hasZone ? trimmed : `${trimmed}Z`);
  return Number.isNaN(ms) ? undefined : ms;
}

function readExcInfo(
  value: unknown,
): { errorName: string; errorMessage: string; errorStack: string } | undefined {
  if (!Array.isArray(value) || value.length !== 3) {
    return undefined;
  }
  const [name, message, stack] = value.map((part) =>
    typeof part === 'string' ? part : part === null || part === undefined ? '' : String(part),
  );
  return {
    // Loads' Python runner sends the exception class's repr: "<class 'AssertionError'>".
    errorName: /^<(?:class|type) '([^']+)'>$/.exec(name!)?.[1] ?? name!,
    errorMessage: message!,
    errorStack: stack!,
  };
}

/** Reads one ZeroMQ frame. Never throws. */
export function parseMessage(frame: Uint8Array): ParsedMessage {
  const text = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('utf8');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return problem('not JSON', text);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return problem('not a JSON object', text);
  }
  const record = data as Record<string, unknown>;
  const dataType = readString(record['data_type']);
  if (dataType === undefined) {
    return problem('no data_type', text);
  }
  const runId = record['run_id'] === undefined ? '' : String(record['run_id']);
  const agentId = record['agent_id'] === undefined ? '' : String(record['agent_id']);
  const status = record['loads_status'] === undefined ? null : readStatus(record['loads_status']);
  if (status === undefined) {
    return problem(`${dataType} with a bad loads_status`, text);
  }
  const ok = (message: ExternalMessage): ParsedMessage => ({ ok: true, runId, agentId, message });
  const test = readString(record['test']);

  switch (dataType) {
    case 'startTest':
    case 'stopTest':
    case 'addSuccess':
    case 'addFailure':
    case 'addError': {
      if (test === undefined || status === null) {
        return problem(`${dataType} without test or loads_status`, text);
      }
      if (dataType === 'startTest' || dataType === 'stopTest') {
        return ok({ type: dataType, test, status });
      }
      if (dataType === 'addSuccess') {
        return ok({
          type: 'result',
          test,
          status,
          outcome: Outcome.SUCCESS,
          errorName: '',
          errorMessage: '',
          errorStack: '',
        });
      }
      const exc = readExcInfo(record['exc_info']);
      if (exc === undefined) {
        return problem(`${dataType} without a 3-element exc_info`, text);
      }
      return ok({
        type: 'result',
        test,
        status,
        outcome: dataType === 'addFailure' ? Outcome.FAILURE : Outcome.ERROR,
        ...exc,
      });
    }
    case 'add_hit': {
      const url = readString(record['url']);
      const method = readString(record['method']);
      const httpStatus = toCount(record['status']);
      const startedAt = readDate(record['started']);
      const elapsed = record['elapsed'];
      if (url === undefined || method === undefined || httpStatus === undefined) {
        return problem('add_hit without url, method or status', text);
      }
      if (startedAt === undefined) {
        return problem('add_hit with a bad started date', text);
      }
      if (!isCount(elapsed)) {
        return problem('add_hit with a bad elapsed', text);
      }
      return ok({
        type: 'hit',
        url,
        method: method.toUpperCase(),
        httpStatus,
        startedAt,
        elapsedMs: elapsed * 1000,
        status,
      });
    }
    case 'socket_open':
      return ok({ type: 'socketOpen', status });
    case 'socket_close':
      return ok({ type: 'socketClose', status });
    case 'socket_message': {
      const size = toCount(record['size']);
      if (size === undefined) {
        return problem('socket_message without size', text);
      }
      return ok({ type: 'socketMessage', size, status });
    }
    case 'incr_counter': {
      const name = readString(record['name']);
      if (name === undefined) {
        return problem('incr_counter without name', text);
      }
      return ok({ type: 'counter', test: test ?? '', name, status });
    }
    default:
      return problem(`unknown data_type '${dataType}'`, text);
  }
}

/** The hit event of an add_hit, in step `cycleIndex`. `out` is reused by the caller. */
export function hitEventOf(
  message: Extract<ExternalMessage, { type: 'hit' }>,
  cycleIndex: number,
  test: string,
  out: HitEvent,
): HitEvent {
  out.method = message.method;
  out.url = message.url;
  out.name = '';
  out.status = message.httpStatus;
  // No response: Loads' runners send status 0 (or none at all) for a connection error.
  out.errorKey = message.httpStatus === 0 ? 'OTHER' : '';
  out.startedAt = message.startedAt;
  out.elapsedMs = message.elapsedMs;
  out.bytes = 0;
  out.test = test;
  out.cycleIndex = cycleIndex;
  out.currentUser = message.status?.currentUser ?? 0;
  out.currentHit = message.status?.currentHit ?? 0;
  out.lagMs = 0;
  out.protocol = message.httpStatus === 0 ? '' : 'h1';
  return out;
}

export function testStartEventOf(
  test: string,
  startedAt: number,
  cycleIndex: number,
  status: LoadsStatus,
): TestStartEvent {
  return {
    type: 'test-start',
    test,
    startedAt,
    cycleIndex,
    users: status.users,
    currentUser: status.currentUser,
    currentHit: status.currentHit,
  };
}

export function testEndEventOf(
  test: string,
  startedAt: number,
  elapsedMs: number,
  cycleIndex: number,
  status: LoadsStatus,
  outcome: Outcome,
  error: { errorName: string; errorMessage: string; errorStack: string },
): TestEndEvent {
  return {
    type: 'test-end',
    test,
    startedAt,
    elapsedMs,
    outcome,
    errorName: error.errorName,
    errorMessage: error.errorMessage,
    errorStack: error.errorStack,
    cycleIndex,
    users: status.users,
    currentUser: status.currentUser,
    currentHit: status.currentHit,
    lagMs: 0,
  };
}
