// The example service over HTTPS: a private CA, mutual TLS, HTTP/2. Start
// the example server with TLS (the tests make a CA and certificates), then:
//   npx loads-runner secure.TestSecureSite -u 10 --hits 20 --server-url https://127.0.0.1:9443 --ca ca.crt
//   npx loads-runner secure.TestSecureSite.test_parallel --http2 --ca ca.crt --server-url …
// or, against a staging server with a self-signed certificate, --insecure.
import { TestCase } from 'loads-runner';

export class TestSecureSite extends TestCase {
  override serverUrl = 'https://127.0.0.1:9443';

  async test_page(): Promise<void> {
    const res = await this.app.get('/');
    res.mustContain('loads-runner example');
  }

  async test_parallel(): Promise<void> {
    // Three requests at once: with --http2 they are multiplexed on the
    // user's one connection; over HTTP/1.1 they take three.
    const [page, items, protocol] = await Promise.all([
      this.app.get('/'),
      // gzip-compressed: decoded for json(), counted as the bytes on the wire.
      this.app.get('/gzip', { params: { n: 3 } }),
      this.app.get('/protocol'),
    ]);
    page.mustContain('loads-runner example');
    this.assertEqual((items.json() as unknown[]).length, 3);
    this.incrCounter(`HTTP/${protocol.text}`);
  }

  async test_wss(): Promise<void> {
    // wss:// takes the same TLS options as the requests (--ca, --insecure, --cert/--key).
    const ws = await this.createWs(`${this.app.serverUrl!.replace(/^http/, 'ws')}/ws`);
    await ws.send('ping');
    this.assertEqual(await ws.receive(5), 'ping');
    await ws.close();
  }
}
