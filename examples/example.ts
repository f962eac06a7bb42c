// The bundled example load test. Run it against the example server:
//   npm run demo
// or by hand, from this folder, with the server running:
//   npx loads-runner example.TestWebSite.test_es -u 10 --hits 20 --server-url http://127.0.0.1:9200
import { TestCase } from 'loads-runner';

export class TestWebSite extends TestCase {
  // Used by this.app; --server-url wins over it.
  override serverUrl = 'http://127.0.0.1:9200';

  async test_es(): Promise<void> {
    const res = await this.app.get('/');
    this.assertEqual(res.status, 200);
    res.mustContain('loads-runner example');
    this.incrCounter('pages');
  }

  async test_api(): Promise<void> {
    const items = await this.app.get('/api/items', { params: { n: 5 } });
    this.assertEqual((items.json() as unknown[]).length, 5);
    const echo = await this.app.post('/api/echo', { json: { hello: 'world' } });
    this.assertEqual(echo.json(), { hello: 'world' });
  }

  async test_login(): Promise<void> {
    // Each virtual user has its own cookie jar, like a real browser.
    await this.app.get('/login');
    const me = await this.app.get('/me');
    this.assertMatch(me.text, /"user":"user-\d+"/);
  }

  async test_ws(): Promise<void> {
    const wsUrl = `${this.app.serverUrl!.replace(/^http/, 'ws')}/ws`;
    const ws = await this.createWs(wsUrl);
    await ws.send('ping');
    this.assertEqual(await ws.receive(5), 'ping');
    await ws.close();
  }
}
