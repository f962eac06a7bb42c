// The bench's bare peer: N concurrent async loops of undici `request()`,
// each reading the body as text, for D seconds. Prints
// {"requests":…,"errors":…,"durationS":…} on stdout.
//   node --import tsx bench/bare-undici.ts --url http://127.0.0.1:8080/ --connections 50 --duration 10
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
  },
});
const url = values.url;
if (url === undefined) {
  throw new Error('--url is required');
}
const connections = Number(values.connections);
const durationMs = Number(values.duration) * 1000;

const dispatcher = new Agent({ connections, keepAliveTimeout: 120_000 });
let requests = 0;
let errors = 0;
const start = performance.now();
const end = start + durationMs;

async function loop(): Promise<void> {
  while (performance.now() < end) {
    try {
      const { body } = await request(url!, { dispatcher });
      await body.text();
      requests++;
    } catch {
      errors++;
    }
  }
}

await Promise.all(Array.from({ length: connections }, loop));
const durationS = (performance.now() - start) / 1000;
(globalThis as { __loadsBenchRequests?: number }).__loadsBenchRequests = requests;
process.stdout.write(`${JSON.stringify({ requests, errors, durationS })}\n`);
await dispatcher.close();
