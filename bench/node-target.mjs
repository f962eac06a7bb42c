// The bench's node:http target, run in its own process by bench/target.ts:
//   node bench/node-target.mjs
// Listens on 127.0.0.1 (a free port), answers every request with a small
// fixed body, keeps connections alive, and prints its port on stdout.
import http from 'node:http';

const BODY = Buffer.from('loads-runner bench target\n');
const HEADERS = { 'content-type': 'text/plain', 'content-length': String(BODY.length) };

const server = http.createServer((_req, res) => {
  res.writeHead(200, HEADERS);
  res.end(BODY);
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;
server.listen({ port: 0, host: '127.0.0.1', backlog: 65535 }, () => {
  process.stdout.write(`${server.address().port}\n`);
});
const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Never outlive the bench: the parent closes our stdin when it goes away.
process.stdin.resume();
process.stdin.on('end', stop);
