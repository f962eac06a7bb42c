// The public API of loads-runner: what a test module imports. Only the
// TestCase base class, the types users meet through it, and the errors
// they may catch; everything else is internal and may change.
export { TestCase } from './runner/test-case.ts';
export type { LoadsStatus } from './runner/test-case.ts';
export type { Session, RequestOptions } from './client/http/session.ts';
export type { Response } from './client/http/response.ts';
export type { App, AppResponse, AppRequestOptions } from './client/http/app.ts';
export type { WsSocket, WsOptions } from './client/ws/socket.ts';
export type { Comparable, Container, ErrorClass } from './runner/assertions.ts';
export {
  LoadsError,
  HttpRequestError,
  WebSocketError,
  MissingServerUrlError,
  TestTimeoutError,
} from './errors.ts';
export { HttpStatusError, BodyDiscardedError } from './client/http/response.ts';
