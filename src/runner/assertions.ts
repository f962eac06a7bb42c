// The assert* helpers behind TestCase (SPEC §3.4), with unittest's messages
// ("1 != 2 : custom message"). They throw node:assert's AssertionError so a
// user's own node:assert calls are classified the same way: a failure, not
// an error. Values are printed on one line with util.inspect, cut short, so
// the summary's "top failures" stay readable.
import { AssertionError } from 'node:assert';
import { inspect, isDeepStrictEqual } from 'node:util';

/** The function whose frame (and those above it) the stack trace leaves out. */
export type StackStartFn = (...args: never[]) => unknown;

/** Anything assertIn/assertNotIn can look into. */
export type Container = string | Iterable<unknown> | Record<PropertyKey, unknown>;

/** Values assertGreater/assertLess compare with > and <. */
export type Comparable = number | bigint | string | Date;

/** Any class of error, for assertRaises. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- error constructors take any arguments
export type ErrorClass<E extends Error = Error> = abstract new (...args: any[]) => E;

const INSPECT_OPTIONS = {
  depth: 4,
  breakLength: Infinity,
  maxArrayLength: 20,
  maxStringLength: 200,
} as const;

/** One-line printable form of a value, as used in assertion messages. */
export function formatValue(value: unknown): string {
  return inspect(value, INSPECT_OPTIONS);
}

/** Throws an AssertionError with `message`, its stack starting at the caller of `stackStartFn`. */
export function fail(message = 'fail() called', stackStartFn: StackStartFn = fail): never {
  throw new AssertionError({ message, stackStartFn });
}

function failWith(
  standard: string,
  message: string | undefined,
  stackStartFn: StackStartFn,
  operator: string,
  actual: unknown,
  expected: unknown,
): never {
  throw new AssertionError({
    message: message === undefined ? standard : `${standard} : ${message}`,
    actual,
    expected,
    operator,
    stackStartFn,
  });
}

/** Deep, strict equality (same as node:assert deepStrictEqual). */
export function assertEqual(
  actual: unknown,
  expected: unknown,
  message?: string,
  stackStartFn: StackStartFn = assertEqual,
): void {
  if (!isDeepStrictEqual(actual, expected)) {
    failWith(
      `${formatValue(actual)} != ${formatValue(expected)}`,
      message,
      stackStartFn,
      'assertEqual',
      actual,
      expected,
    );
  }
}

export function assertNotEqual(
  actual: unknown,
  expected: unknown,
  message?: string,
  stackStartFn: StackStartFn = assertNotEqual,
): void {
  if (isDeepStrictEqual(actual, expected)) {
    failWith(
      `${formatValue(actual)} == ${formatValue(expected)}`,
      message,
      stackStartFn,
      'assertNotEqual',
      actual,
      expected,
    );
  }
}

export function assertTrue(
  value: unknown,
  message?: string,
  stackStartFn: StackStartFn = assertTrue,
): void {
  if (!value) {
    failWith(`${formatValue(value)} is not true`, message, stackStartFn, 'assertTrue', value, true);
  }
}

export function assertFalse(
  value: unknown,
  message?: string,
  stackStartFn: StackStartFn = assertFalse,
): void {
  if (value) {
    failWith(
      `${formatValue(value)} is not false`,
      message,
      stackStartFn,
      'assertFalse',
      value,
      false,
    );
  }
}

/**
 * Whether `container` holds `member`: a substring of a string, a key of a
 * Map, an element of a Set (same value), an element of any other iterable
 * (deep equality, like Python's `in` on a list), an own key of a plain object.
 */
export function contains(container: Container, member: unknown): boolean {
  if (typeof container === 'string') {
    return typeof member === 'string' && container.includes(member);
  }
  if (container instanceof Map || container instanceof Set) {
    return container.has(member);
  }
  if (typeof (container as Partial<Iterable<unknown>>)[Symbol.iterator] === 'function') {
    for (const item of container as Iterable<unknown>) {
      if (isDeepStrictEqual(item, member)) {
        return true;
      }
    }
    return false;
  }
  return (
    (typeof member === 'string' || typeof member === 'number' || typeof member === 'symbol') &&
    Object.prototype.hasOwnProperty.call(container, member)
  );
}

export function assertIn(
  member: unknown,
  container: Container,
  message?: string,
  stackStartFn: StackStartFn = assertIn,
): void {
  if (!contains(container, member)) {
    failWith(
      `${formatValue(member)} not found in ${formatValue(container)}`,
      message,
      stackStartFn,
      'assertIn',
      member,
      container,
    );
  }
}

export function assertNotIn(
  member: unknown,
  container: Container,
  message?: string,
  stackStartFn: StackStartFn = assertNotIn,
): void {
  if (contains(container, member)) {
    failWith(
      `${formatValue(member)} unexpectedly found in ${formatValue(container)}`,
      message,
      stackStartFn,
      'assertNotIn',
      member,
      container,
    );
  }
}

export function assertIsNone(
  value: unknown,
  message?: string,
  stackStartFn: StackStartFn = assertIsNone,
): void {
  if (value !== null && value !== undefined) {
    failWith(
      `${formatValue(value)} is not null or undefined`,
      message,
      stackStartFn,
      'assertIsNone',
      value,
      null,
    );
  }
}

export function assertIsNotNone(
  value: unknown,
  message?: string,
  stackStartFn: StackStartFn = assertIsNotNone,
): void {
  if (value === null || value === undefined) {
    failWith(
      `unexpectedly ${formatValue(value)}`,
      message,
      stackStartFn,
      'assertIsNotNone',
      value,
      null,
    );
  }
}

export function assertGreater(
  a: Comparable,
  b: Comparable,
  message?: string,
  stackStartFn: StackStartFn = assertGreater,
): void {
  if (!(a > b)) {
    failWith(
      `${formatValue(a)} not greater than ${formatValue(b)}`,
      message,
      stackStartFn,
      'assertGreater',
      a,
      b,
    );
  }
}

export function assertLess(
  a: Comparable,
  b: Comparable,
  message?: string,
  stackStartFn: StackStartFn = assertLess,
): void {
  if (!(a < b)) {
    failWith(
      `${formatValue(a)} not less than ${formatValue(b)}`,
      message,
      stackStartFn,
      'assertLess',
      a,
      b,
    );
  }
}

/** Passes when the pattern matches somewhere in `text` (like Python's re.search); a string pattern is a RegExp source. */
export function assertMatch(
  text: string,
  pattern: RegExp | string,
  message?: string,
  stackStartFn: StackStartFn = assertMatch,
): void {
  const regexp = typeof pattern === 'string' ? new RegExp(pattern) : pattern;
  // search() ignores lastIndex and the g flag, unlike test().
  if (typeof text !== 'string' || text.search(regexp) === -1) {
    failWith(
      `Regex didn't match: ${String(regexp)} not found in ${formatValue(text)}`,
      message,
      stackStartFn,
      'assertMatch',
      text,
      regexp,
    );
  }
}

/**
 * Awaits `action` (a function, sync or async, or a promise) and returns what
 * it threw. Fails if it did not throw; an error of another class than
 * `errorClass` is thrown on as it is (so it counts as an error, not a failure).
 */
export async function assertRaises<E extends Error = Error>(
  action: (() => unknown) | PromiseLike<unknown>,
  errorClass?: ErrorClass<E>,
  message?: string,
  stackStartFn: StackStartFn = assertRaises,
): Promise<E> {
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (err) {
    if (errorClass !== undefined && !(err instanceof errorClass)) {
      throw err;
    }
    return err as E;
  }
  return failWith(
    `${errorClass?.name ?? 'an error'} not raised`,
    message,
    stackStartFn,
    'assertRaises',
    undefined,
    errorClass,
  );
}
