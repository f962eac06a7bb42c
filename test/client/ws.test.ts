import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket } from 'ws';
import { openWebSocket, type WsContext } from '../../src/client/ws/socket.ts';
import { WebSocketError } from '../../src/errors.ts';
import { DeadlineSweep } from '../../src/client/deadline-sweep.ts';
import { now } from '../../src/metrics/clock.ts';
import type { LoadsEvent } from '../../src/metrics/events.ts';
import {
  closedPort,
  startSilentServer,
  startMuteWsServer,
  startWsServer,
  type TestMuteWsServer,
  type TestWsServer,
} from '../helpers/servers.ts';

interface Recorder extends WsContext {
  events: LoadsEvent[];
  /** Resolves at the first socket-close event. */
  closed: Promise<LoadsEvent>;
}

function record(extra: Partial<WsContext> = {}): Recorder {
  const events: LoadsEvent[] = [];
  let onClose!: (e: LoadsEvent) => void;
  const closed = new Promise<LoadsEvent>((resolve) => {
    onClose = resolve;
  });
  return {
    events,
    closed,
    timeoutMs: 5000,
    sink: {
      emit(e) {
        const copy = { ...e };
        events.push(copy);
        if (e.type === 'socket-close') {
          onClose(copy);
        }
      },
    },
    ...extra,
  };
}

/** Events without the startedAt timestamp, for exact comparison. */
function shapes(events: LoadsEvent[]): unknown[] {
  return events.map((e) => (e.type === 'socket-open' ? { type: e.type, url: e.url } : e));
}

describe('WsSocket', () => {
  let echo: TestWsServer;
  before(async () => {
    echo = await startWsServer();
  });
  after(async () => {
    await echo.close();
  });

  it('sends and receives text and binary, and counts received bytes', async () => {
    const ctx = record();
    const before = Date.now();
    const socket = await openWebSocket(echo.url, {}, ctx);
    assert.equal(socket.isOpen, true);
    assert.equal(socket.url, echo.url);
    await socket.send('héllo');
    assert.equal(await socket.receive(), 'héllo');
    await socket.send(Buffer.from([1, 2, 3]));
    const binary = await socket.receive(2);
    assert.ok(Buffer.isBuffer(binary));
    assert.deepEqual([...binary], [1, 2, 3]);
    await socket.close();
    assert.equal(socket.isOpen, false);
    assert.equal(socket.error, undefined);
    assert.deepEqual(shapes(ctx.events), [
      { type: 'socket-open', url: echo.url },
      { type: 'socket-message', url: echo.url, bytes: 6 },
      { type: 'socket-message', url: echo.url, bytes: 3 },
      { type: 'socket-close', url: echo.url, code: 1005 },
    ]);
    const open = ctx.events[0]!;
    assert.ok(
      open.type === 'socket-open' &&
        open.startedAt >= before - 1 &&
        open.startedAt <= Date.now() + 1,
    );
  });

  it('close(code, reason) sends them and resolves once closed; a second close resolves too', async () => {
    const ctx = record();
    let gotCode = 0;
    let gotReason = '';
    const server = await startWsServer((ws) => {
      ws.on('close', (code, reason) => {
        gotCode = code;
        gotReason = reason.toString();
      });
    });
    const socket = await openWebSocket(server.url, {}, ctx);
    await socket.close(4000, 'done');
    assert.equal(socket.isOpen, false);
    await socket.close();
    assert.deepEqual(await ctx.closed, { type: 'socket-close', url: server.url, code: 4000 });
    await server.close();
    assert.equal(gotCode, 4000);
    assert.equal(gotReason, 'done');
  });

  it('queues messages until receive() and counts them whether read or not', async () => {
    const ctx = record();
    const server = await startWsServer((ws) => {
      ws.send('one');
      ws.send('two');
      ws.send('three');
    });
    const socket = await openWebSocket(server.url, {}, ctx);
    assert.equal(await socket.receive(), 'one');
    assert.equal(await socket.receive(), 'two');
    assert.equal(await socket.receive(), 'three');
    await socket.close();
    await server.close();
    assert.deepEqual(
      ctx.events.filter((e) => e.type === 'socket-message'),
      [
        { type: 'socket-message', url: server.url, bytes: 3 },
        { type: 'socket-message', url: server.url, bytes: 3 },
        { type: 'socket-message', url: server.url, bytes: 5 },
      ],
    );
  });

  it('gives messages to onMessage and counts them without receive()', async () => {
    const ctx = record();
    const server = await startWsServer((ws) => {
      ws.send('a');
      ws.send(Buffer.from('bcd'));
      ws.send('last');
    });
    const seen: (string | Buffer)[] = [];
    let onLast!: () => void;
    const gotLast = new Promise<void>((resolve) => {
      onLast = resolve;
    });
    const socket = await openWebSocket(
      server.url,
      {
        onMessage: (data) => {
          seen.push(data);
          if (data === 'last') {
            onLast();
          }
        },
      },
      ctx,
    );
    await gotLast;
    await socket.close();
    await server.close();
    assert.deepEqual(seen, ['a', Buffer.from('bcd'), 'last']);
    assert.deepEqual(
      ctx.events
        .filter((e) => e.type === 'socket-message')
        .map((e) => (e.type === 'socket-message' ? e.bytes : 0)),
      [1, 3, 4],
    );
  });

  it('receive(timeout) rejects with WebSocketError when nothing comes', async () => {
    const ctx = record();
    const server = await startWsServer(() => {});
    const socket = await openWebSocket(server.url, {}, ctx);
    const started = performance.now();
    await assert.rejects(socket.receive(0.1), (err: unknown) => {
      assert.ok(err instanceof WebSocketError);
      assert.equal(err.message, `WebSocket ${server.url}: no message received within 0.1 s`);
      assert.equal(err.code, 'LOADS_ERR_WS');
      return true;
    });
    const tookMs = performance.now() - started;
    assert.ok(tookMs >= 90 && tookMs < 3000, `took ${tookMs} ms`);
    assert.equal(socket.isOpen, true);
    await socket.close();
    await server.close();
  });

  it('handshake, receive() and close() deadlines are in the sweep while they wait, not timers, and leave it when done', async () => {
    let clock = 0;
    const deadlines = new DeadlineSweep(() => clock, 60_000);
    const ctx = record({ deadlines, timeoutMs: 30_000 });
    let peer!: WebSocket;
    const server = await startWsServer((ws) => {
      peer = ws;
    });
    const opening = openWebSocket(server.url, {}, ctx);
    assert.equal(deadlines.size, 1, 'the handshake has its deadline');
    const socket = await opening;
    clock = now();
    deadlines.sweep();
    assert.equal(deadlines.size, 0, 'an open socket with nothing to wait for leaves the scan');
    const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const late = socket.receive();
    const forever = socket.receive(0);
    assert.equal(deadlines.size, 1);
    assert.equal(
      process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length,
      timers,
      'no timer per receive()',
    );
    // The sweep's clock past the default (--timeout) deadline: only that one fails.
    clock = now();
    deadlines.sweep();
    clock = now() + 30_001;
    deadlines.sweep();
    await assert.rejects(late, {
      message: `WebSocket ${server.url}: no message received within 30 s`,
    });
    assert.equal(deadlines.size, 0, 'a receive(0) has no deadline to scan');
    peer.send('still');
    assert.equal(await forever, 'still');
    await socket.close();
    assert.equal(deadlines.size, 0, 'closed: out of the scan');
    await server.close();
  });

  it('receives with different timeouts at once: each rejects at its own deadline, and one still waiting gets the next message', async () => {
    const ctx = record();
    let peer!: WebSocket;
    const server = await startWsServer((ws) => {
      peer = ws;
    });
    const socket = await openWebSocket(server.url, {}, ctx);
    const started = performance.now();
    const long = socket.receive(0.4);
    const short = socket.receive(0.05);
    await assert.rejects(short, {
      message: `WebSocket ${server.url}: no message received within 0.05 s`,
    });
    const shortMs = performance.now() - started;
    assert.ok(shortMs >= 45 && shortMs < 350, `the short one took ${shortMs} ms`);
    peer.send('late');
    assert.equal(await long, 'late');
    // Past the long one's deadline, after it got its message: a later
    // receive() still times out on its own, and still gets what comes.
    await new Promise((resolve) => setTimeout(resolve, 450));
    await assert.rejects(socket.receive(0.05), {
      message: `WebSocket ${server.url}: no message received within 0.05 s`,
    });
    const next = socket.receive(1);
    peer.send('next');
    assert.equal(await next, 'next');
    // Shorter first, then a longer one: each at its own deadline.
    const first = socket.receive(0.05);
    const second = socket.receive(0.15);
    await assert.rejects(first, { message: /within 0\.05 s$/ });
    const firstMs = performance.now();
    await assert.rejects(second, { message: /within 0\.15 s$/ });
    const gapMs = performance.now() - firstMs;
    assert.ok(gapMs >= 50 && gapMs < 1000, `the second rejected ${gapMs} ms after the first`);
    await socket.close();
    await server.close();
  });

  it('keeps the error when the server terminates the connection', async () => {
    const ctx = record();
    let terminate!: () => void;
    const server = await startWsServer((ws) => {
      terminate = () => ws.terminate();
    });
    const socket = await openWebSocket(server.url, {}, ctx);
    const pending = socket.receive();
    terminate();
    assert.deepEqual(await ctx.closed, { type: 'socket-close', url: server.url, code: 1006 });
    await assert.rejects(pending, { name: 'WebSocketError' });
    assert.ok(socket.error instanceof WebSocketError);
    assert.equal(
      socket.error.message,
      `WebSocket ${server.url}: connection closed abnormally (code 1006)`,
    );
    assert.equal(socket.isOpen, false);
    await assert.rejects(socket.send('x'), {
      message: `WebSocket ${server.url}: cannot send: the socket is not open`,
    });
    await assert.rejects(socket.receive(), socket.error);
    await socket.close();
    await server.close();
  });

  it('when the server closes properly while a receive() waits then it rejects saying so, and the socket keeps no error', async () => {
    const ctx = record();
    let closeIt!: () => void;
    const server = await startWsServer((ws) => {
      closeIt = () => ws.close(1001, 'going away');
    });
    const socket = await openWebSocket(server.url, {}, ctx);
    const pending = socket.receive();
    closeIt();
    await assert.rejects(pending, {
      name: 'WebSocketError',
      message: `WebSocket ${server.url}: closed (code 1001) while waiting for a message`,
    });
    assert.deepEqual(await ctx.closed, { type: 'socket-close', url: server.url, code: 1001 });
    assert.equal(socket.error, undefined);
    await assert.rejects(socket.receive(), {
      message: `WebSocket ${server.url}: closed (code 1001); no message to receive`,
    });
    await server.close();
  });

  it('the run signal closes the socket and rejects a pending receive', async () => {
    const controller = new AbortController();
    const ctx = record({ signal: controller.signal });
    const server = await startWsServer(() => {});
    const socket = await openWebSocket(server.url, {}, ctx);
    const pending = socket.receive();
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    assert.deepEqual(await ctx.closed, { type: 'socket-close', url: server.url, code: 1006 });
    assert.equal(socket.isOpen, false);
    assert.equal(socket.error, undefined);
    await assert.rejects(openWebSocket(server.url, {}, ctx), { name: 'AbortError' });
    await server.close();
  });

  it('sends protocols and headers in the handshake', async () => {
    const ctx = record();
    let token = '';
    const server = await startWsServer((ws, req) => {
      token = req.headers['x-token'] as string;
      ws.send(ws.protocol);
    });
    const socket = await openWebSocket(
      server.url,
      { protocols: ['chat', 'v2'], headers: { 'X-Token': 't1' } },
      ctx,
    );
    assert.equal(await socket.receive(), 'chat');
    assert.equal(socket.protocol, 'chat');
    assert.equal(token, 't1');
    await socket.close();
    await server.close();
  });

  it('rejects with WebSocketError when the connection is refused', async () => {
    const ctx = record();
    const port = await closedPort();
    await assert.rejects(openWebSocket(`ws://127.0.0.1:${port}/`, {}, ctx), (err: unknown) => {
      assert.ok(err instanceof WebSocketError);
      assert.match(
        err.message,
        new RegExp(`^WebSocket ws://127\\.0\\.0\\.1:${port}/: cannot open: .*ECONNREFUSED`),
      );
      return true;
    });
    assert.deepEqual(ctx.events, []);
  });

  it('rejects with WebSocketError when the handshake times out', async () => {
    const ctx = record();
    const silent = await startSilentServer();
    const url = `ws://127.0.0.1:${silent.port}/`;
    const started = performance.now();
    await assert.rejects(openWebSocket(url, { timeout: 0.2 }, ctx), {
      name: 'WebSocketError',
      message: `WebSocket ${url}: cannot open: Opening handshake has timed out`,
    });
    const tookMs = performance.now() - started;
    assert.ok(tookMs >= 150 && tookMs < 3000, `took ${tookMs} ms`);
    assert.deepEqual(ctx.events, []);
    await silent.close();
  });

  it('rejects a bad URL with WebSocketError', async () => {
    await assert.rejects(openWebSocket('http://[bad', {}, record()), { name: 'WebSocketError' });
  });
});

describe('WsSocket against a peer that never finishes the closing handshake', () => {
  let mute: TestMuteWsServer;
  before(async () => {
    mute = await startMuteWsServer();
  });
  after(async () => {
    await mute.close();
  });

  it('close() gives up after the timeout (not ws’s 30 s) and drops the connection', async () => {
    const ctx = record({ timeoutMs: 300 });
    const socket = await openWebSocket(mute.url, {}, ctx);
    assert.equal(mute.openSockets, 1);
    const started = performance.now();
    await socket.close();
    const tookMs = performance.now() - started;
    assert.ok(tookMs >= 250 && tookMs < 10_000, `took ${tookMs} ms`);
    assert.equal(socket.isOpen, false);
    assert.equal(socket.error, undefined, 'closing by us is no error');
    assert.equal((await ctx.closed).type, 'socket-close');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(mute.openSockets, 0);
  });

  it('checks its arguments in the user’s terms', async () => {
    const ctx = record();
    await assert.rejects(openWebSocket(42 as unknown as string, {}, ctx), {
      name: 'TypeError',
      message:
        "createWs(url): the URL must be a string such as 'ws://127.0.0.1:8080/socket', not the number 42",
    });
    await assert.rejects(openWebSocket(mute.url, { timeout: '1' } as never, ctx), {
      message: `createWs: the option 'timeout' must be a number of seconds ≥ 0, not the string "1"`,
    });
    const socket = await openWebSocket(mute.url, {}, ctx);
    await assert.rejects(socket.send(42 as unknown as string), {
      message:
        'ws.send(data): the message must be a string (text) or a Buffer (binary), not the number 42',
    });
    await assert.rejects(socket.receive(-1), { message: /^ws\.receive\(timeoutSeconds\)/ });
    socket.abort(new Error('done'));
  });
});
