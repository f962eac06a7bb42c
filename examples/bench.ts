// The benchmark tests of `npm run bench` (bench/run.ts): one GET and one
// assertion per hit, against the URL given with --server-url; test_ws opens a
// WebSocket there (ws:// given, or http:// turned into ws://) for 10 echoes.
//   npx loads-runner bench.TestBench.test_get -u 50 -d 10 --server-url http://127.0.0.1:8080/
import { TestCase } from 'loads-runner';

export class TestBench extends TestCase {
  /** Throughput: as many hits as the user can make. */
  async test_get(): Promise<void> {
    const res = await this.session.get(this.app.serverUrl!);
    this.assertEqual(res.status, 200);
  }

  /** Memory: an idle user on its own keep-alive connection, about one hit a second. */
  async test_idle(): Promise<void> {
    const res = await this.session.get(this.app.serverUrl!);
    this.assertEqual(res.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }

  /** WebSocket throughput (`npm run bench -- ws`): open, 10 echoes one after another, close. */
  async test_ws(): Promise<void> {
    const ws = await this.createWs(this.app.serverUrl!.replace(/^http/, 'ws'));
    for (let i = 0; i < 10; i++) {
      await ws.send('hello');
      this.assertEqual(await ws.receive(), 'hello');
    }
    await ws.close();
  }
}
