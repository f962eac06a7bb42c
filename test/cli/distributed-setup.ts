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

/** The delay of `/fixed`: long enough that a millisecond of scheduling noise is under 3 %. */
export const FIXED_DELAY_MS = 50;
/** The delay of every other path. */
export const SHORT_DELAY_MS = 5;

/** The project's test module: `site.TestSite.test_hit` (GET /) and `site.TestFixed.test_fixed` (GET /fixed). */
export const SITE_MODULE = `import { TestCase } from 'loads-runner';

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
`;

export interface Cluster {
  nats: NatsServer;
  agents: StartedAgents;
  server: TestServer;
  project: TmpProject;
  /** The CLI in the project's folder; with a test name first, --server-url is added. */
  cli(args: readonly string[], timeoutMs?: number): Promise<CliResult>;
  startCli(args: readonly string[], timeoutMs?: number): ReturnType<typeof startCli>;
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
