import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { UserConnections, type ConnectionsUser } from '../../src/client/http/user-connections.ts';

/**
 * A loopback port whose connections never complete: a listener with a
 * backlog of 1 (Node takes 0 for its default, 511) in a stopped process, its
 * accept queue filled, so the kernel drops every further SYN.
 */
async function startUnansweredPort(): Promise<{ port: number; close(): void }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { console.log(this.address().port); })",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  child.kill('SIGSTOP');
  const fillers: net.Socket[] = [];
  // Connect until one hangs: the queue is full from then on.
  for (let i = 0; i < 8; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
    const connected = await Promise.race([
      once(socket, 'connect').then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 300)),
    ]);
    if (!connected) {
      break;
    }
  }
  return {
    port,
    close() {
      for (const socket of fillers) {
        socket.destroy();
      }
      child.kill('SIGKILL');
    },
  };
}

/** Sends GET / through `connections` and resolves with the error it ends with, and when. */
function failedGet(
  connections: UserConnections,
  origin: string,
): Promise<{ error: Error; afterMs: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    // Bounded: a connect that completes after all would otherwise wait forever.
    const bound = setTimeout(() => reject(new Error('no error within 8 s')), 8000);
    const handler: ConnectionsUser = {
      connections: undefined,
      onClient: false,
      onConnect() {},
      onHeaders() {
        reject(new Error('a response came'));
        return true;
      },
      onData() {
        return true;
      },
      onComplete() {
        reject(new Error('a response came'));
      },
      onError(error: Error) {
        clearTimeout(bound);
        connections.release(handler);
        resolve({ error, afterMs: performance.now() - started });
      },
    };
    connections.dispatch(
      origin,
      true,
      { origin, path: '/', method: 'GET', headersTimeout: 0, bodyTimeout: 0 },
      handler,
    );
  });
}

describe('UserConnections', () => {
  let unanswered: { port: number; close(): void };

  before(async () => {
    unanswered = await startUnansweredPort();
  });

  after(() => {
    unanswered.close();
  });

  // undici times connects to about 0.5–1 s (its fast timers), hence 1 s and 3 s.
  it('bounds a plain-http connect by each user’s own connect timeout', async () => {
    const origin = `http://127.0.0.1:${unanswered.port}`;
    const short = new UserConnections(1000);
    const long = new UserConnections(3000);
    const [shortResult, longResult] = await Promise.all([
      failedGet(short, origin),
      failedGet(long, origin),
    ]);
    for (const result of [shortResult, longResult]) {
      assert.equal((result.error as Error & { code?: string }).code, 'UND_ERR_CONNECT_TIMEOUT');
    }
    assert.ok(
      shortResult.afterMs >= 900 && shortResult.afterMs < 2500,
      `the 1 s one took ${shortResult.afterMs} ms`,
    );
    assert.ok(
      longResult.afterMs >= 2500 && longResult.afterMs < 6000,
      `the 3 s one took ${longResult.afterMs} ms`,
    );
    await Promise.all([short.destroy(), long.destroy()]);
  });
});
