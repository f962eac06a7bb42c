// The test --find-capacity probes in the README's worked example:
//   node --import tsx examples/queue-server.ts --service-ms 10 &
//   npx loads-runner capacity.TestQueue.test_get --find-capacity \
//       --threshold 'p95<200ms' --threshold 'errors<1%' --server-url http://127.0.0.1:9300
import { TestCase } from 'loads-runner';

export class TestQueue extends TestCase {
  override serverUrl = 'http://127.0.0.1:9300';

  async test_get(): Promise<void> {
    const res = await this.app.get('/');
    this.assertEqual(res.status, 200);
  }
}
