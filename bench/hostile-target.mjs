// The target of `npm run bench -- hostile`, in its own process: bodies that
// would eat a load generator's memory.
//   GET /big?mb=200            a 200 MB body with its content-length
//   GET /big?mb=200&chunked=1  the same, chunked (no length known in advance)
//   GET /endless               a chunked body that never ends
// Listens on 127.0.0.1 (a free port) and prints its port on stdout.
import http from 'node:http';

const CHUNK = Buffer.alloc(64 * 1024, 120);

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const endless = url.pathname === '/endless';
  const total = endless ? Infinity : Number(url.searchParams.get('mb') ?? 200) * 1024 * 1024;
  const chunked = endless || url.searchParams.has('chunked');
  res.writeHead(200, chunked ? {} : { 'content-length': String(total) });
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      sent += CHUNK.length;
      if (!res.write(CHUNK)) {
        return;
      }
    }
    res.end();
  };
  res.on('drain', pump);
  res.on('close', () => res.off('drain', pump));
  pump();
});
server.keepAliveTimeout = 120_000;
server.requestTimeout = 0;
server.listen({ port: 0, host: '127.0.0.1' }, () => {
  process.stdout.write(`${server.address().port}\n`);
});
const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.resume();
process.stdin.on('end', stop);
