import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as undici from 'undici';
import {
  buildConnector,
  Client,
  decompressInterceptor,
  Pool,
  undiciUtil,
} from '../../src/client/http/undici.ts';
import { requirePart } from '../../src/require-cjs.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe("undici's parts, required from their own modules", () => {
  it("are the index's own", () => {
    assert.equal(Client, undici.Client);
    assert.equal(Pool, undici.Pool);
    assert.equal(buildConnector, undici.buildConnector);
    assert.equal(undiciUtil.parseHeaders, undici.util.parseHeaders);
    assert.equal(undiciUtil.headerNameToString, undici.util.headerNameToString);
    assert.equal(decompressInterceptor(), undici.interceptors.decompress);
  });

  it('come from the index should a release of undici move one', () => {
    const picked = requirePart('undici', 'lib/moved-away.js', (index: typeof undici) => index.Pool);
    assert.equal(picked, undici.Pool);
  });

  it("leave undici's index unloaded through a gzip request", () => {
    // A process of its own: this one has the index loaded (above).
    const script = `
      import http from 'node:http';
      import zlib from 'node:zlib';
      import { createRequire } from 'node:module';
      import { Session } from './src/client/http/session.ts';
      const server = http.createServer((req, res) => {
        res.writeHead(200, { 'content-encoding': 'gzip' });
        res.end(zlib.gzipSync('hello'));
      });
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const session = new Session({
        sink: { emit() {} },
        context: { cycleIndex: 0, users: 1, hits: 1, currentUser: 1, currentHit: 1, lagMs: 0 },
        testName: () => 'T.test',
        timeoutMs: 5000,
      });
      const res = await session.get('http://127.0.0.1:' + server.address().port + '/');
      const index = createRequire(import.meta.url).resolve('undici');
      const require = createRequire(import.meta.url);
      console.log(JSON.stringify({
        text: res.text,
        indexLoaded: index in require.cache,
        clientLoaded: require.resolve('undici/lib/dispatcher/client.js') in require.cache,
      }));
      await session.close();
      server.close();
    `;
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      { cwd: root, encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), {
      text: 'hello',
      indexLoaded: false,
      clientLoaded: true,
    });
  });
});
