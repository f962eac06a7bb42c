// Decoding of compressed response bodies (content-encoding gzip, x-gzip,
// deflate, br, and zstd where Node has it) with undici's own
// DecompressHandler, not a decoder of ours. The Session's Exchange stays the
// handler undici calls and makes a BodyDecoder only for a response that has
// a content-encoding and a body, so a plain response pays nothing (no
// handler, controller or closures per request, as `client.compose()` would
// make). The decoder's errors are told apart from the network's by their
// zlib code and become a ContentDecodingError (CONTENT_DECODING).
import type { Dispatcher } from 'undici';
import { isContentDecodingCode } from '../../metrics/error-key.ts';
import { decompressInterceptor } from './undici.ts';

/**
 * A body that did not decode as its content-encoding said (the `cause` of
 * the test's HttpRequestError); classified as CONTENT_DECODING.
 */
export class ContentDecodingError extends Error {
  readonly code = 'LOADS_ERR_CONTENT_DECODING';
  /** The response's content-encoding header, e.g. 'gzip'. */
  readonly contentEncoding: string;
  constructor(contentEncoding: string, detail: string, cause?: unknown) {
    super(
      `the body does not decode as its content-encoding '${contentEncoding}' says (${detail}); the server sent a corrupt, truncated or mislabelled body: check its compression, or send the header accept-encoding: identity to ask for the body uncompressed`,
      { cause },
    );
    this.name = 'ContentDecodingError';
    this.contentEncoding = contentEncoding;
  }
}

/** Where a BodyDecoder delivers the decoded body; each call comes once at most, and after an end or error nothing. */
export interface DecodedBodyReceiver {
  onDecodedData(chunk: Buffer): void;
  onDecodedEnd(): void;
  /** A ContentDecodingError, or the error the Exchange passed in (network, deadline, abort). */
  onDecodedError(error: Error): void;
}

/**
 * undici's DecompressHandler, driven by the Exchange: onRequestStart with
 * undici's controller (so that its pause, resume and abort reach the
 * socket), then onResponseStart, then the compressed chunks and their end,
 * or an error. onResponseError also tears it down (its zlib streams are
 * destroyed) and may be called again: it does nothing once it has ended.
 */
export interface BodyDecoder {
  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void;
  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage: string,
  ): void;
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void;
  onResponseEnd(
    controller: Dispatcher.DispatchController,
    trailers: Record<string, string | string[] | undefined>,
  ): void;
  onResponseError(controller: Dispatcher.DispatchController, error: Error): void;
}

/**
 * A decoder for one response body whose content-encoding header is
 * `contentEncoding`; the decoded chunks, end or error go to `receiver`. An
 * encoding undici does not know (e.g. 'identity') passes through as it is.
 */
export function createBodyDecoder(
  receiver: DecodedBodyReceiver,
  contentEncoding: string,
): BodyDecoder {
  decorate ??= createDecorator();
  return decorate(NO_DISPATCH_OPTIONS, new DecodedBodySink(receiver, contentEncoding));
}

/**
 * What the DecompressHandler decorates: it hands the decoded body on to the
 * receiver, and turns the decoder's own errors into ContentDecodingError.
 */
class DecodedBodySink implements Dispatcher.DispatchHandler {
  readonly #receiver: DecodedBodyReceiver;
  readonly #contentEncoding: string;

  constructor(receiver: DecodedBodyReceiver, contentEncoding: string) {
    this.#receiver = receiver;
    this.#contentEncoding = contentEncoding;
  }

  // Needed although empty: undici wraps a handler without onRequestStart in
  // its adapter for the old callback API. The controller it passes is the
  // DecompressHandler's; the Exchange stops the request with undici's own.
  onRequestStart(): void {}

  // The headers without content-encoding and content-length: the Exchange
  // keeps the ones the server sent.
  onResponseStart(): void {}

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#receiver.onDecodedData(chunk);
  }

  onResponseEnd(): void {
    this.#receiver.onDecodedEnd();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const code = (error as { code?: unknown }).code;
    this.#receiver.onDecodedError(
      typeof code === 'string' && isContentDecodingCode(code)
        ? new ContentDecodingError(this.#contentEncoding, `${error.message}, ${code}`, error)
        : error,
    );
  }
}

/**
 * Error responses are decoded too (as Requests does); 204 and 304 have no
 * body. No maxSize: the Exchange checks the decoded bytes it keeps against
 * --max-body-size, with its own error.
 */
const DECOMPRESS_OPTIONS: Parameters<ReturnType<typeof decompressInterceptor>>[0] = {
  skipErrorResponses: false,
  skipStatusCodes: [204, 304],
};
const NO_DISPATCH_OPTIONS: Dispatcher.DispatchOptions = Object.freeze({ path: '/', method: 'GET' });

type Decorate = (options: Dispatcher.DispatchOptions, handler: DecodedBodySink) => BodyDecoder;

/** Made on the first compressed body of this thread: most runs never need it. */
let decorate: Decorate | undefined;

function createDecorator(): Decorate {
  const interceptor = withoutExperimentalWarning(() => decompressInterceptor()(DECOMPRESS_OPTIONS));
  // undici's decompress interceptor is `(dispatch) => (opts, handler) =>
  // dispatch(opts, new DecompressHandler(handler, options))`
  // (lib/interceptor/decompress.js). Composed with a "dispatch" that returns
  // the handler it is given, it returns the DecompressHandler around our
  // sink and sends nothing: the public way to get one, without reaching
  // into undici's private files. The casts say that this dispatch returns
  // the handler, where undici's type says boolean.
  const returnHandler = (
    _options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): Dispatcher.DispatchHandler => handler;
  return interceptor(returnHandler as unknown as Dispatcher['dispatch']) as unknown as Decorate;
}

const EXPERIMENTAL_WARNING = 'DecompressInterceptor is experimental';

/**
 * Runs `create` with process.emitWarning swapped for one that drops undici's
 * "DecompressInterceptor is experimental and subject to change"
 * ExperimentalWarning, which it emits once, synchronously, when the
 * interceptor is created. Users did not ask for undici's interceptor and can
 * do nothing about it, so that line on stderr would only be noise. Every
 * other warning goes through, and the original is back when `create`
 * returns. undici's API is what we rely on; its "experimental" status is
 * covered by our tests and the pinned major version.
 */
function withoutExperimentalWarning<T>(create: () => T): T {
  // eslint-disable-next-line no-restricted-globals -- undici warns through the process itself; the swap lasts one synchronous call
  const owner = process;
  const emitWarning = owner.emitWarning;
  const filtered = (warning: string | Error, ...rest: unknown[]): void => {
    if (
      typeof warning === 'string' &&
      warning.startsWith(EXPERIMENTAL_WARNING) &&
      rest[0] === 'ExperimentalWarning'
    ) {
      return;
    }
    Reflect.apply(emitWarning, owner, [warning, ...rest]);
  };
  owner.emitWarning = filtered as typeof owner.emitWarning;
  try {
    return create();
  } finally {
    owner.emitWarning = emitWarning;
  }
}
