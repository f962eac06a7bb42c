// The WebTest-style client behind `this.app` (SPEC §3.2): paths relative to
// the server URL, and a status outside 2xx/3xx fails the test run with a
// node:assert AssertionError unless the call names the status it expects.
// It sends through the user's Session, so hits, cookies and redirects are
// the Session's; a 3xx reaches App only with `allowRedirects: false`.
import { AssertionError } from 'node:assert';
import { MissingServerUrlError } from '../../errors.ts';
import { Response } from './response.ts';
import {
  checkRequestArguments,
  REQUEST_OPTION_NAMES,
  type RequestOptions,
  type Session,
} from './session.ts';

const APP_OPTION_NAMES: readonly string[] = Object.freeze([...REQUEST_OPTION_NAMES, 'status']);
const NO_OPTIONS: AppRequestOptions = Object.freeze({});

/** App request options: the Session's, plus the expected status. */
export interface AppRequestOptions extends RequestOptions {
  /** Expected status: one code, a list, or '*' for any. Default: any 2xx or 3xx. */
  status?: number | '*' | number[];
}

/** A Response with WebTest's body checks. */
export class AppResponse extends Response {
  constructor(response: Response) {
    super(response);
  }

  /** True when the body text contains `text`. */
  includes(text: string): boolean {
    return this.text.includes(text);
  }

  /** Throws an AssertionError naming every text the body lacks. */
  mustContain(...texts: string[]): void {
    const body = this.text;
    const missing = texts.filter((t) => !body.includes(t));
    if (missing.length > 0) {
      throw new AssertionError({
        message: `${this.method} ${this.url}: body does not contain ${missing.map((t) => JSON.stringify(t)).join(', ')}`,
        actual: body,
        expected: missing,
        operator: 'mustContain',
      });
    }
  }
}

/**
 * Sends requests to paths under the server URL (the test class's
 * `serverUrl`, or `--server-url`).
 *
 * @example
 * const res = await this.app.get('/missing', { status: 404 });
 */
export class App {
  readonly #session: Session;
  readonly #defaultServerUrl: () => string | undefined;
  #serverUrl: string | undefined = undefined;

  /** `serverUrl` is read on each request, so a later change of the default is seen. */
  constructor(session: Session, serverUrl: () => string | undefined) {
    this.#session = session;
    this.#defaultServerUrl = serverUrl;
  }

  /** The base URL requests go to; setting it overrides the default for this user. */
  get serverUrl(): string | undefined {
    return this.#serverUrl ?? this.#defaultServerUrl();
  }

  set serverUrl(url: string | undefined) {
    this.#serverUrl = url;
  }

  get(path: string, opts?: AppRequestOptions): Promise<AppResponse> {
    return this.#checkedRequest('get', 'GET', path, opts);
  }

  post(path: string, opts?: AppRequestOptions): Promise<AppResponse> {
    return this.#checkedRequest('post', 'POST', path, opts);
  }

  put(path: string, opts?: AppRequestOptions): Promise<AppResponse> {
    return this.#checkedRequest('put', 'PUT', path, opts);
  }

  patch(path: string, opts?: AppRequestOptions): Promise<AppResponse> {
    return this.#checkedRequest('patch', 'PATCH', path, opts);
  }

  delete(path: string, opts?: AppRequestOptions): Promise<AppResponse> {
    return this.#checkedRequest('delete', 'DELETE', path, opts);
  }

  head(path: string, opts?: AppRequestOptions): Promise<AppResponse> {
    return this.#checkedRequest('head', 'HEAD', path, opts);
  }

  options(path: string, opts?: AppRequestOptions): Promise<AppResponse> {
    return this.#checkedRequest('options', 'OPTIONS', path, opts);
  }

  #checkedRequest(
    call: string,
    method: string,
    path: string,
    opts: AppRequestOptions | undefined,
  ): Promise<AppResponse> {
    const problem =
      checkRequestArguments(`app.${call}`, path, opts, APP_OPTION_NAMES) ??
      checkStatusOption(`app.${call}`, opts);
    if (problem !== undefined) {
      return Promise.reject(problem);
    }
    return this.#send(method, String(path), opts ?? NO_OPTIONS);
  }

  /**
   * Sends `method` to `path` under the server URL (an absolute http(s) URL
   * is used as it is). Rejects with AssertionError when the status is not
   * the expected one, with MissingServerUrlError when there is no server URL.
   */
  request(method: string, path: string, opts?: AppRequestOptions): Promise<AppResponse> {
    if (typeof method !== 'string' || method === '') {
      return Promise.reject(
        new TypeError(
          `app.request(method, path): the method must be an HTTP method such as 'GET', not ${String(method)}`,
        ),
      );
    }
    return this.#checkedRequest('request', method.toUpperCase(), path, opts);
  }

  async #send(method: string, path: string, opts: AppRequestOptions): Promise<AppResponse> {
    const url = this.#resolve(path);
    const response = await this.#session.send(method, url, opts);
    const status = response.status;
    const expected = opts.status;
    const ok =
      expected === undefined
        ? status >= 200 && status < 400
        : expected === '*' ||
          (typeof expected === 'number' ? status === expected : expected.includes(status));
    if (!ok) {
      const wanted = Array.isArray(expected)
        ? expected.join(' or ')
        : String(expected ?? '2xx or 3xx');
      throw new AssertionError({
        message: `${response.method} ${response.url} returned status ${status}, expected ${wanted}`,
        actual: status,
        expected: expected ?? '2xx or 3xx',
        operator: 'status',
      });
    }
    return new AppResponse(response);
  }

  #resolve(path: string): string {
    if (path.startsWith('http://') || path.startsWith('https://')) {
      return path;
    }
    const base = this.serverUrl;
    if (base === undefined || base === '') {
      throw new MissingServerUrlError();
    }
    const trimmed = base.endsWith('/') ? base.slice(0, -1) : base;
    if (path === '') {
      return trimmed + '/';
    }
    return path.startsWith('/') ? trimmed + path : `${trimmed}/${path}`;
  }
}

function checkStatusOption(
  call: string,
  opts: AppRequestOptions | undefined,
): TypeError | undefined {
  const status = opts?.status;
  if (
    status === undefined ||
    status === '*' ||
    isStatus(status) ||
    (Array.isArray(status) && status.length > 0 && status.every(isStatus))
  ) {
    return undefined;
  }
  return new TypeError(
    `${call}: the option 'status' must be a status code such as 404, a list such as [200, 204], or '*', not ${JSON.stringify(status) ?? String(status)}`,
  );
}

function isStatus(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 100 && (value as number) <= 599;
}
