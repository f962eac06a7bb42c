// The bench's ceiling (issue 14): what Node and undici can do with nothing of
// ours on top. One undici `Client` per connection, each looping
// `client.dispatch({ path, method: 'GET' })` with a handler that only counts
// the body's bytes, for D seconds. Prints {"requests":…,"errors":…,"durationS":…,"bytes":…}
// on stdout.
//   node --import tsx bench/dispatch-ceiling.ts --url http://127.0.0.1:8080/ --connections 50 --duration 10
//
// The handler uses the callbacks undici 7 calls itself (onConnect, onHeaders,
// onData, onComplete, onError: lib/core/request.js): a handler in the newer
// onRequestStart/onResponse* form is wrapped into this one by
// Dispatcher.dispatch (UnwrapHandler), one more object per request.
import { parseArgs } from 'node:util';
import { Client, type Dispatcher } from 'undici';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
  },
});
if (values.url === undefined) {
  throw new Error('--url is required');
}
const url = new URL(values.url);
const connections = Number(values.connections);
const durationMs = Number(values.duration) * 1000;
const options: Dispatcher.DispatchOptions = { path: url.pathname + url.search, method: 'GET' };

let requests = 0;
let errors = 0;
let bytes = 0;
const start = performance.now();
const end = start + durationMs;

/** One connection's loop: the next request is dispatched from the last one's onComplete. */
function loop(client: Client): Promise<void> {
  return new Promise((resolve) => {
    const next = (): void => {
      if (performance.now() >= end) {
        resolve();
        return;
      }
      client.dispatch(options, handler);
    };
    const handler: Dispatcher.DispatchHandler = {
      onConnect() {},
      onHeaders() {
        return true;
      },
      onData(chunk: Buffer) {
        bytes += chunk.length;
        return true;
      },
      onComplete() {
        requests++;
        next();
      },
      onError() {
        errors++;
        // Not from inside undici's error path (it asserts the queue is
        // empty there), and not a busy loop against a target that is down.
        setTimeout(next, 10);
      },
    };
    next();
  });
}

const clients = Array.from(
  { length: connections },
  () => new Client(url.origin, { keepAliveTimeout: 120_000, pipelining: 1 }),
);
await Promise.all(clients.map(loop));
const durationS = (performance.now() - start) / 1000;
(globalThis as { __loadsBenchRequests?: number }).__loadsBenchRequests = requests;
process.stdout.write(`${JSON.stringify({ requests, errors, durationS, bytes })}\n`);
await Promise.all(clients.map((client) => client.close()));
