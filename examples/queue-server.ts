// A service with a known capacity, for --find-capacity: it serves one
// request at a time, each taking a fixed time, so 10 ms per request is 100
// requests per second. Below that, a request takes about the service time;
// beyond it, requests queue and their latency grows without bound — the
// knee a capacity search must find.
//   node --import tsx examples/queue-server.ts [--service-ms 10] [--port 9300]
//   npx loads-runner capacity.TestQueue.test_get --find-capacity \
//       --threshold 'p95<200ms' --server-url http://127.0.0.1:9300
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export interface QueueServer {
  url: string;
  /** Requests answered so far. */
  readonly served: number;
  /** Requests waiting now (the one being served excluded). */
  readonly queued: number;
  close(): Promise<void>;
}

/** The most requests kept waiting: past it, 503 at once (so that a runaway test cannot fill memory). */
export const MAX_QUEUE = 100_000;

export async function startQueueServer(options: {
  serviceMs: number;
  port?: number;
  host?: string;
}): Promise<QueueServer> {
  const waiting: http.ServerResponse[] = [];
  let busy = false;
  let served = 0;
  /** When the request being served is due to end (performance.now() ms). */
  let dueAt = 0;
  const serveNext = (): void => {
    const res = waiting.shift();
    if (res === undefined) {
      busy = false;
      return;
    }
    // Each service ends serviceMs after the previous one was due, not after
    // its late timer fired: on a busy machine timers fire a millisecond or
    // more late, which would otherwise lower the capacity below 1000/serviceMs.
    const start = busy ? dueAt : performance.now();
    busy = true;
    dueAt = start + options.serviceMs;
    setTimeout(
      () => {
        served++;
        if (!res.destroyed) {
          res.end('served\n');
        }
        serveNext();
      },
      Math.max(0, dueAt - performance.now()),
    );
  };
  const server = http.createServer((req, res) => {
    req.resume();
    if (waiting.length >= MAX_QUEUE) {
      res.statusCode = 503;
      res.end('queue full\n');
      return;
    }
    waiting.push(res);
    if (!busy) {
      serveNext();
    }
  });
  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get served() {
      return served;
    },
    get queued() {
      return waiting.length;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      if (server.listening) {
        await once(server, 'close');
      }
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      'service-ms': { type: 'string', default: '10' },
      port: { type: 'string', default: '9300' },
    },
  });
  const serviceMs = Number(values['service-ms']);
  const server = await startQueueServer({ serviceMs, port: Number(values.port) });
  console.log(
    `queue server on ${server.url}: one request at a time, ${serviceMs} ms each (capacity ${Math.round(1000 / serviceMs)}/s)`,
  );
}
