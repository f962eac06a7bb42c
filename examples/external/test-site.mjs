// A load test outside loads-runner's TestCase, run through loads-client.mjs:
//   loads-runner --test-runner "node examples/external/test-site.mjs {test}" \
//       test-site.home -u 5 --hits 10 --server-url http://127.0.0.1:8080
import { AssertionError } from 'node:assert';
import { runTests } from './loads-client.mjs';

await runTests({
  async home(client) {
    const response = await client.get(`${client.serverUrl}/`);
    if (response.status !== 200) {
      throw new AssertionError({ message: `GET / answered ${response.status}, not 200` });
    }
  },
  async counted(client) {
    await client.incrCounter('counted', 'visits');
    await client.get(`${client.serverUrl}/`);
  },
});
