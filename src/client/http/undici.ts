// The parts of undici that loads-runner uses, each required from its own
// module: undici's index also loads fetch, its WebSocket, cookies, caches,
// mocks and, through them, Node's bundled copy of undici. Requiring these
// took 29 ms of CPU against 86 ms for the index (medians of 5, 2026-12-08),
// at every start and in every worker thread. test/client/undici.test.ts
// checks that each is the index's own.
import type * as Undici from 'undici';
import { requirePart } from '../../require-cjs.ts';

function fromUndici<T>(modulePath: string, fromIndex: (undici: typeof Undici) => T): T {
  return requirePart('undici', modulePath, fromIndex);
}

export const Client = fromUndici('lib/dispatcher/client.js', (undici) => undici.Client);
export type Client = Undici.Client;
export const Pool = fromUndici('lib/dispatcher/pool.js', (undici) => undici.Pool);
export type Pool = Undici.Pool;
export const buildConnector = fromUndici('lib/core/connect.js', (undici) => undici.buildConnector);
/** undici's header helpers (parseHeaders, headerNameToString). */
export const undiciUtil = fromUndici('lib/core/util.js', (undici) => undici.util);

/** undici's decompress interceptor, required on first use: most runs never see a compressed body. */
export function decompressInterceptor(): typeof Undici.interceptors.decompress {
  return fromUndici('lib/interceptor/decompress.js', (undici) => undici.interceptors.decompress);
}
