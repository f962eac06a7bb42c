// A small client for loads-runner's external-runner protocol (Loads' zmq-api)
// in Node, for tests written outside loads-runner's TestCase (another
// framework, another HTTP client). loads-runner starts one process per
// virtual user per step with the LOADS_* environment; runTests() runs your
// test functions as many times (or for as long) as asked and reports each run,
// and `client.get()` times a request and reports it as a hit:
//
//   import { runTests } from './loads-client.mjs';
//   await runTests({
//     async home(client) {
//       const response = await client.get(`${client.serverUrl}/`);
//       if (response.status !== 200) throw new assert.AssertionError({ message: 'not 200' });
//     },
//   });
//
// loads-runner --test-runner "node test-site.mjs {test}" test-site.home -u 5 --hits 10
import { AssertionError } from 'node:assert';
import { Push } from 'zeromq';

export class LoadsClient {
  #socket = new Push({ linger: 5000 });
  currentHit = 0;

  constructor(env = process.env) {
    this.agentId = env.LOADS_AGENT_ID ?? '';
    this.runId = env.LOADS_RUN_ID ?? '';
    this.totalUsers = Number(env.LOADS_TOTAL_USERS ?? 1);
    this.currentUser = Number(env.LOADS_CURRENT_USER ?? 1);
    this.totalHits = env.LOADS_TOTAL_HITS === undefined ? null : Number(env.LOADS_TOTAL_HITS);
    this.durationS = env.LOADS_DURATION === undefined ? null : Number(env.LOADS_DURATION);
    this.serverUrl = env.LOADS_SERVER_URL ?? 'http://127.0.0.1:8080';
    this.#socket.connect(env.LOADS_ZMQ_RECEIVER);
  }

  status() {
    return [this.totalHits ?? 0, this.totalUsers, this.currentHit, this.currentUser];
  }

  /** Sends one message; `fields` completes it (test, url, exc_info, …). */
  async send(dataType, fields = {}) {
    const message = {
      data_type: dataType,
      agent_id: this.agentId,
      run_id: this.runId,
      loads_status: this.status(),
      ...fields,
    };
    await this.#socket.send(JSON.stringify(message));
  }

  /** fetch(), timed and reported as a hit (status 0 when no response came). */
  async request(method, url, init = {}) {
    const started = new Date();
    const start = performance.now();
    let status = 0;
    try {
      const response = await fetch(url, { ...init, method });
      status = response.status;
      const body = await response.arrayBuffer();
      return { status, headers: response.headers, body: Buffer.from(body) };
    } finally {
      await this.send('add_hit', {
        url,
        method,
        status,
        started: started.toISOString(),
        elapsed: (performance.now() - start) / 1000,
      });
    }
  }

  get(url, init) {
    return this.request('GET', url, init);
  }

  incrCounter(test, name) {
    return this.send('incr_counter', { test, name });
  }

  close() {
    this.#socket.close();
  }
}

function excInfo(error) {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const stack = error instanceof Error ? (error.stack ?? message) : message;
  return [name, message, stack];
}

/**
 * Runs the tests named by the argument (`module.name`: that function;
 * `module`: all of them) the way loads-runner asked, reporting each run.
 */
export async function runTests(tests, argv = process.argv) {
  const wanted = argv[2]?.split('.').slice(1).join('.');
  const names = wanted ? [wanted] : Object.keys(tests);
  for (const name of names) {
    if (typeof tests[name] !== 'function') {
      throw new Error(`no test named ${name}: have ${Object.keys(tests).join(', ')}`);
    }
  }
  const client = new LoadsClient();
  const deadline = client.durationS === null ? null : performance.now() + client.durationS * 1000;
  try {
    for (;;) {
      if (deadline === null && client.currentHit >= (client.totalHits ?? 1)) {
        break;
      }
      if (deadline !== null && performance.now() >= deadline) {
        break;
      }
      client.currentHit++;
      for (const name of names) {
        await client.send('startTest', { test: name });
        try {
          await tests[name](client);
          await client.send('addSuccess', { test: name });
        } catch (error) {
          const kind = error instanceof AssertionError ? 'addFailure' : 'addError';
          await client.send(kind, { test: name, exc_info: excInfo(error) });
        }
        await client.send('stopTest', { test: name });
      }
    }
  } finally {
    client.close();
  }
}
