// The class users extend (SPEC §3). The runner creates each instance with
// `new TestClass()` and then attaches the virtual user's context; every
// member delegates to that context, so a TestCase holds no client code of
// its own. That matters because the user's `import { TestCase } from
// 'loads-runner'` may resolve to another copy of this file than the runner's
// (src vs dist): the loader recognises subclasses by a Symbol.for brand, not
// by identity, and the context is plain data either copy can use.
import { LoadsError } from '../errors.ts';
import type { RunContext } from '../metrics/events.ts';
import type { Session } from '../client/http/session.ts';
import type { App } from '../client/http/app.ts';
import type { WsOptions, WsSocket } from '../client/ws/socket.ts';
import {
  assertEqual,
  assertFalse,
  assertGreater,
  assertIn,
  assertIsNone,
  assertIsNotNone,
  assertLess,
  assertMatch,
  assertNotEqual,
  assertNotIn,
  assertRaises,
  assertTrue,
  fail,
  type Comparable,
  type Container,
  type ErrorClass,
} from './assertions.ts';

/** Marks TestCase (own static property of the base class only); shared by every copy of this file. */
export const TEST_CASE_BRAND: unique symbol = Symbol.for('loads-runner.TestCase');

/**
 * Where the running test is in the load, as Loads' `loads_status`.
 * A snapshot: read `this.loadsStatus` again for fresh values.
 */
export interface LoadsStatus {
  /** Runs each user makes in this cycle step (`--hits`); 0 in duration mode and with `--rate`. */
  readonly hits: number;
  /** Number of virtual users in this cycle step; with `--rate`, `--max-users` (the pool's bound). */
  readonly users: number;
  /** 1-based index of this user's current run (counts up from 1 in each step). */
  readonly currentHit: number;
  /** 1-based index of this virtual user in the cycle step. */
  readonly currentUser: number;
  /** 0-based index of the cycle step (`-u 10:20` gives steps 0 and 1). */
  readonly cycleIndex: number;
}

/**
 * What the virtual user hands to its TestCase instance.
 * @internal
 */
export interface TestCaseContext {
  readonly session: Session;
  readonly app: App;
  /** Live; owned and mutated by the virtual user. */
  readonly runContext: RunContext;
  openWs(url: string, options: WsOptions): Promise<WsSocket>;
  incrCounter(name: string, by: number): void;
}

/** A TestCase subclass as the loader hands it to the runner. */
export type TestCaseClass = new () => TestCase;

const NO_WS_OPTIONS: WsOptions = {};

/**
 * Base class of a load test. Each virtual user gets its own instance, and
 * so its own `session` (cookie jar, keep-alive connections) and `app`.
 * Methods whose name starts with `test` are the tests; `setUp` and
 * `tearDown` run before and after each of them.
 *
 * @example
 * ```ts
 * import { TestCase } from 'loads-runner';
 *
 * export class TestWebSite extends TestCase {
 *   serverUrl = 'http://localhost:9200';
 *
 *   async test_es() {
 *     const res = await this.session.get('http://localhost:9200');
 *     this.assertEqual(res.status, 200);
 *     this.incrCounter('es');
 *   }
 * }
 * ```
 */
export class TestCase {
  /**
   * Base URL that `this.app` resolves paths against, e.g.
   * `'http://localhost:9200'`. `--server-url` wins over it. Optional.
   */
  serverUrl?: string | undefined;

  #context: TestCaseContext | undefined;

  /**
   * Called by the virtual user once, right after `new TestClass()`.
   * @internal
   */
  attachContext(context: TestCaseContext): void {
    this.#context = context;
  }

  #attached(member: string): TestCaseContext {
    if (this.#context === undefined) {
      throw new LoadsError(
        `this.${member} is not available yet: loads-runner sets it up after the constructor; use it in setUp() or a test method`,
        'LOADS_ERR_NOT_ATTACHED',
      );
    }
    return this.#context;
  }

  /**
   * This virtual user's HTTP client: `get/post/put/patch/delete/head/options(url, opts?)`
   * and `request(method, url, opts?)`. Every request is one hit. Own cookie
   * jar and keep-alive connections, closed when the user ends.
   *
   * @example
   * ```ts
   * const res = await this.session.post('http://localhost:8080/login', { json: { user: 'a' } });
   * this.assertEqual(res.status, 200);
   * ```
   */
  get session(): Session {
    return this.#attached('session').session;
  }

  /**
   * WebTest-style client: the same verbs with paths relative to the server
   * URL (`--server-url`, else `this.serverUrl`). A status other than
   * 2xx/3xx fails the test unless the call passes `{ status }`. Set
   * `this.app.serverUrl` to change the server for this user.
   *
   * @example
   * ```ts
   * const res = await this.app.get('/health');
   * res.mustContain('ok');
   * await this.app.get('/missing', { status: 404 });
   * ```
   */
  get app(): App {
    return this.#attached('app').app;
  }

  /** Where this run is in the load: `{ hits, users, currentHit, currentUser, cycleIndex }` (a fresh snapshot each read). */
  get loadsStatus(): LoadsStatus {
    const run = this.#attached('loadsStatus').runContext;
    return {
      hits: run.hits,
      users: run.users,
      currentHit: run.currentHit,
      currentUser: run.currentUser,
      cycleIndex: run.cycleIndex,
    };
  }

  /**
   * Opens a WebSocket and resolves once it is open. Sockets still open when
   * the test run ends are closed for you; an error on one of them during the
   * run makes the run an error.
   *
   * @param url `ws://` or `wss://` URL.
   * @param options `protocols`, `headers`, `onMessage(data)`, `timeout` (seconds to open).
   * @example
   * ```ts
   * const ws = await this.createWs('ws://localhost:9000/echo');
   * await ws.send('hello');
   * this.assertEqual(await ws.receive(), 'hello');
   * ```
   */
  createWs(url: string, options?: WsOptions): Promise<WsSocket> {
    return this.#attached('createWs').openWs(url, options ?? NO_WS_OPTIONS);
  }

  /**
   * Adds `by` to the custom counter `name`, shown in the summary.
   *
   * @param by Amount to add, default 1.
   * @example
   * ```ts
   * this.incrCounter('logins');
   * this.incrCounter('bytes-sent', body.length);
   * ```
   */
  incrCounter(name: string, by = 1): void {
    if (typeof name !== 'string' || name === '') {
      throw new TypeError(
        `incrCounter: the counter name must be a non-empty string, got ${String(name)}`,
      );
    }
    if (typeof by !== 'number' || !Number.isFinite(by)) {
      throw new TypeError(`incrCounter: 'by' must be a finite number, got ${String(by)}`);
    }
    this.#attached('incrCounter').incrCounter(name, by);
  }

  /** Runs before each test run. Override it (sync or async); the default does nothing. */
  setUp(): Promise<void> | void {}

  /** Runs after each test run, even when it failed. Override it (sync or async); the default does nothing. */
  tearDown(): Promise<void> | void {}

  /**
   * Fails unless `actual` and `expected` are deeply and strictly equal
   * (like unittest's assertEqual and node:assert's deepStrictEqual).
   * @param message Added to the failure message.
   */
  assertEqual(actual: unknown, expected: unknown, message?: string): void {
    assertEqual(actual, expected, message, TestCase.prototype.assertEqual);
  }

  /** Fails if `actual` and `expected` are deeply and strictly equal. */
  assertNotEqual(actual: unknown, expected: unknown, message?: string): void {
    assertNotEqual(actual, expected, message, TestCase.prototype.assertNotEqual);
  }

  /** Fails unless `value` is truthy. */
  assertTrue(value: unknown, message?: string): void {
    assertTrue(value, message, TestCase.prototype.assertTrue);
  }

  /** Fails unless `value` is falsy. */
  assertFalse(value: unknown, message?: string): void {
    assertFalse(value, message, TestCase.prototype.assertFalse);
  }

  /**
   * Fails unless `container` holds `member`: a substring of a string, an
   * element of an array or other iterable (deep equality), of a Set, a key
   * of a Map, or an own key of a plain object.
   * @example
   * ```ts
   * this.assertIn('ok', res.text);
   * this.assertIn(3, [1, 2, 3]);
   * ```
   */
  assertIn(member: unknown, container: Container, message?: string): void {
    assertIn(member, container, message, TestCase.prototype.assertIn);
  }

  /** Fails if `container` holds `member` (same rules as assertIn). */
  assertNotIn(member: unknown, container: Container, message?: string): void {
    assertNotIn(member, container, message, TestCase.prototype.assertNotIn);
  }

  /** Fails unless `value` is null or undefined. */
  assertIsNone(value: unknown, message?: string): void {
    assertIsNone(value, message, TestCase.prototype.assertIsNone);
  }

  /** Fails if `value` is null or undefined. */
  assertIsNotNone(value: unknown, message?: string): void {
    assertIsNotNone(value, message, TestCase.prototype.assertIsNotNone);
  }

  /** Fails unless `a > b`. */
  assertGreater(a: Comparable, b: Comparable, message?: string): void {
    assertGreater(a, b, message, TestCase.prototype.assertGreater);
  }

  /** Fails unless `a < b`. */
  assertLess(a: Comparable, b: Comparable, message?: string): void {
    assertLess(a, b, message, TestCase.prototype.assertLess);
  }

  /**
   * Fails unless `pattern` matches somewhere in `text` (a search, not a
   * full match). A string pattern is a RegExp source.
   * @example
   * ```ts
   * this.assertMatch(res.text, /version \d+/);
   * ```
   */
  assertMatch(text: string, pattern: RegExp | string, message?: string): void {
    assertMatch(text, pattern, message, TestCase.prototype.assertMatch);
  }

  /**
   * Awaits `action` (a function, sync or async, or a promise) and resolves
   * with the error it threw. Fails if nothing was thrown; an error of
   * another class than `errorClass` is thrown on (the run is then an error).
   * @example
   * ```ts
   * const err = await this.assertRaises(() => this.session.get('http://127.0.0.1:1'), HttpRequestError);
   * ```
   */
  assertRaises<E extends Error = Error>(
    action: (() => unknown) | PromiseLike<unknown>,
    errorClass?: ErrorClass<E>,
    message?: string,
  ): Promise<E> {
    return assertRaises(action, errorClass, message);
  }

  /** Fails the test run at once with `message`. */
  fail(message?: string): never {
    return fail(message, TestCase.prototype.fail);
  }
}

Object.defineProperty(TestCase, TEST_CASE_BRAND, { value: true });

/** True for a class that extends TestCase, whichever copy of loads-runner it came from (not TestCase itself). */
export function isTestCaseClass(value: unknown): value is TestCaseClass {
  if (typeof value !== 'function' || Object.prototype.hasOwnProperty.call(value, TEST_CASE_BRAND)) {
    return false;
  }
  for (let c: unknown = Object.getPrototypeOf(value); typeof c === 'function';) {
    if (Object.prototype.hasOwnProperty.call(c, TEST_CASE_BRAND)) {
      return true;
    }
    c = Object.getPrototypeOf(c);
  }
  return false;
}

/** True when `ctor` is the TestCase base class of any copy of loads-runner. */
export function isTestCaseBase(ctor: unknown): boolean {
  return typeof ctor === 'function' && Object.prototype.hasOwnProperty.call(ctor, TEST_CASE_BRAND);
}
