// What the spawned distributed CLI tests share: a real nats-server, real
// loads-agent processes from the built package, a loopback HTTP server
// with fixed delays that counts requests, and a project whose test module
// hits it. Everything is stopped when the suite ends.
import type { TestServer } from '../helpers/servers.ts';
import { startHttpServer } from '../helpers/servers.ts';
import { startNatsServer, type NatsServer } from '../helpers/nats.ts';
import { startAgents, type StartedAgents } from '../helpers/agents.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';
import { runCli, startCli, type CliResult } from '../helpers/cli.ts';

/** The delay of `/fixed`: long enough that a few milliseconds of scheduling noise on a busy machine stay under 3 %. */
export const FIXED_DELAY_MS = 200;
/** The delay of every other path. */
export const SHORT_DELAY_MS = 5;

/**
 * The project's test module: `site.TestSite.test_hit` (GET /),
 * `site.TestFixed.test_fixed` (GET /fixed), `site.TestBroken.test_broken`
 * (an assertion that fails) and `site.TestData.test_data` (reads
 * data/users.csv beside the module, as an --include-file ships it).
 */
export const SITE_MODULE = `import { readFileSync } from 'node:fs';
import { TestCase } from 'loads-runner';

export class TestSite extends TestCase {
  async test_hit() {
    const res = await this.app.get('/');
    this.assertEqual(res.status, 200);
  }
}

export class TestFixed extends TestCase {
  async test_fixed() {
    const res = await this.app.get('/fixed');
    this.assertEqual(res.status, 200);
  }
}

export class TestBroken extends TestCase {
  async test_broken() {
    this.assertEqual(1, 2);
  }
}

export class TestData extends TestCase {
  async test_data() {
    const users = readFileSync(new URL('./data/users.csv', import.meta.url), 'utf8').trim().split('\\n');
    this.assertEqual(users.length, 3);
    this.incrCounter('users-read', users.length);
  }
}
`;

export interface Cluster {
  nats: NatsServer;
  agents: StartedAgents;
  server: TestServer;
  project: TmpProject;
  /** The CLI in the project's folder; with a test name first, --server-url is added. */
  cli(args: readonly string[], timeoutMs?: number): Promise<CliResult>;
  startCli(args: readonly string[], timeoutMs?: number): ReturnType<typeof startCli>;
  /**
   * Asks --ping-broker until every agent is free again (a stopped or
   * detached run's agents wind their part up after the runner exits);
   * returns its last output.
   */
  waitForFreeAgents(): Promise<string>;
  stop(): Promise<void>;
}

/** A broker, `agentNames.length` agents of one thread each, the HTTP server and the project. */
export async function startCluster(agentNames: readonly string[]): Promise<Cluster> {
  const nats = await startNatsServer();
  const server = await startHttpServer((req, res) => {
    setTimeout(() => res.end('ok'), req.url === '/fixed' ? FIXED_DELAY_MS : SHORT_DELAY_MS);
  });
  const project = await createTmpProject('loads-runner-distributed-');
  await project.write('site.ts', SITE_MODULE);
  await project.write('data/users.csv', 'alice\nbob\ncarol\n');
  let agents: StartedAgents;
  try {
    agents = await startAgents({
      broker: nats.url,
      count: agentNames.length,
      names: [...agentNames],
      args: ['--workers', '1'],
    });
  } catch (err) {
    await Promise.all([nats.stop(), server.close(), project.remove()]);
    throw err;
  }
  // A test name first: a run (or --check-cluster of that test), which needs the server.
  const withServer = (args: readonly string[]): string[] =>
    args[0] !== undefined && !args[0].startsWith('-')
      ? [...args, '--server-url', server.url]
      : [...args];
  return {
    nats,
    agents,
    server,
    project,
    cli: (args, timeoutMs = 60_000) => runCli(withServer(args), { cwd: project.dir, timeoutMs }),
    startCli: (args, timeoutMs = 60_000) =>
      startCli(withServer(args), { cwd: project.dir, timeoutMs }),
    async waitForFreeAgents() {
      const all = new RegExp(`^Agents: ${agentNames.length} \\(${agentNames.length} free`, 'm');
      let listing = '';
      for (let i = 0; i < 40 && !all.test(listing); i++) {
        if (i > 0) {
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        listing = (await runCli(['--ping-broker', '--broker', nats.url], { cwd: project.dir }))
          .stdout;
      }
      return listing;
    },
    async stop() {
      await agents.stop();
      await Promise.all([nats.stop(), server.close(), project.remove()]);
    },
  };
}

/** The rows of the Agents table of a text summary: name → [host, runs, hits, errors, saturated, lost]. */
export function agentRows(stdout: string): Map<string, string[]> {
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => line.startsWith('Agents (run '));
  const rows = new Map<string, string[]>();
  if (start === -1) {
    return rows;
  }
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('  ') || line.startsWith('  Lost:') || line.startsWith('  Failed:')) {
      break;
    }
    const [name, ...cells] = line.trim().split(/\s+/);
    rows.set(name!, cells);
  }
  return rows;
}
