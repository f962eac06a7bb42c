// The bench's bare WebSocket peer (issue 14): N concurrent async loops, each
// run doing what examples/bench.ts TestBench.test_ws does through
// loads-runner: open a `ws` WebSocket, 10 echoes awaited one after another
// (send, wait for its write callback, wait for the next message, read it as
// text and compare), close and wait for the peer's close frame. For D
// seconds. Prints {"requests":…,"errors":…,"durationS":…,"messages":…} on
// stdout; requests are runs, like loads-runner's successes.
//   node --import tsx bench/bare-ws.ts --url ws://127.0.0.1:8080/ --connections 50 --duration 10
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    echoes: { type: 'string', default: '10' },
  },
});
const url = values.url;
if (url === undefined) {
  throw new Error('--url is required');
}
const connections = Number(values.connections);
const durationMs = Number(values.duration) * 1000;
const echoes = Number(values.echoes);
const MESSAGE = 'hello';

let runs = 0;
let errors = 0;
let messages = 0;
const start = performance.now();
const end = start + durationMs;

/** A socket with a one-slot inbox: a run awaits one echo at a time. */
class EchoSocket {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;
  #waiter: { resolve: (data: string) => void; reject: (err: Error) => void } | undefined =
    undefined;
  #inbox: string[] = [];

  constructor() {
    this.ws = new WebSocket(url!);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      // Kept for the socket's life (an error with no listener would throw);
      // after the open, rejecting is a no-op and 'close' follows.
      this.ws.on('error', reject);
    });
    this.closed = new Promise((resolve) =>
      this.ws.once('close', () => {
        this.#waiter?.reject(new Error('closed before the echo'));
        this.#waiter = undefined;
        resolve();
      }),
    );
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = isBinary ? '' : data.toString();
      const waiter = this.#waiter;
      if (waiter === undefined) {
        this.#inbox.push(text);
      } else {
        this.#waiter = undefined;
        waiter.resolve(text);
      }
    });
  }

  send(data: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.ws.send(data, (err) => (err ? reject(err) : resolve())),
    );
  }

  receive(): Promise<string> {
    const queued = this.#inbox.shift();
    if (queued !== undefined) {
      return Promise.resolve(queued);
    }
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }
}

async function run(): Promise<void> {
  const socket = new EchoSocket();
  try {
    await socket.opened;
    for (let i = 0; i < echoes; i++) {
      await socket.send(MESSAGE);
      if ((await socket.receive()) !== MESSAGE) {
        throw new Error('the echo differs');
      }
      messages++;
    }
    socket.ws.close();
    await socket.closed;
  } catch (err) {
    socket.ws.terminate();
    throw err;
  }
}

async function loop(): Promise<void> {
  while (performance.now() < end) {
    try {
      await run();
      runs++;
    } catch {
      errors++;
    }
  }
}

await Promise.all(Array.from({ length: connections }, loop));
const durationS = (performance.now() - start) / 1000;
(globalThis as { __loadsBenchRequests?: number }).__loadsBenchRequests = runs;
process.stdout.write(`${JSON.stringify({ requests: runs, errors, durationS, messages })}\n`);
