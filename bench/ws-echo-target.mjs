// The bench's WebSocket target, run in its own process by bench/target.ts:
//   node bench/ws-echo-target.mjs
// A `ws` server on 127.0.0.1 (a free port) that sends every message back as
// it came (text as text, binary as binary), and prints its port on stdout.
import http from 'node:http';
import { WebSocketServer } from 'ws';

const server = http.createServer((_req, res) => {
  res.writeHead(426, { 'content-type': 'text/plain' });
  res.end('WebSocket only\n');
});
// No per-message deflate: neither generator asks for it, and the echo stays cheap.
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: true });
wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => socket.terminate());
});
server.keepAliveTimeout = 120_000;
server.listen({ port: 0, host: '127.0.0.1', backlog: 65535 }, () => {
  process.stdout.write(`${server.address().port}\n`);
});
const stop = () => {
  for (const socket of wss.clients) {
    socket.terminate();
  }
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Never outlive the bench: the parent closes our stdin when it goes away.
process.stdin.resume();
process.stdin.on('end', stop);
