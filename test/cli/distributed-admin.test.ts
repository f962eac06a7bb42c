// The broker commands from the command line (SPEC §10): --ping-broker,
// --check-cluster, --purge-broker, and --attach when it cannot choose a
// run, against a real nats-server and two real loads-agent processes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NATS_SKIP } from '../helpers/nats.ts';
import { summaryNumber } from '../helpers/summary.ts';
import { startCluster, type Cluster } from './distributed-setup.ts';

const NAMES = ['admin-a', 'admin-b'];

describe('broker commands', { skip: NATS_SKIP, timeout: 120_000 }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster(NAMES);
  });
  after(async () => {
    await cluster?.stop();
  });

  it('when --ping-broker is given then it lists the broker, each agent free with its version and last heartbeat, and no run', async () => {
    const result = await cluster.cli(['--ping-broker', '--broker', cluster.nats.url]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n');
    assert.match(lines[0]!, /^Broker: nats:\/\/127\.0\.0\.1:\d+ \(JetStream on\)$/);
    assert.ok(lines.includes('Agents: 2 (2 free for loads-runner 0.1.0)'), result.stdout);
    for (const name of NAMES) {
      const row = lines.find((line) => line.startsWith(`  ${name} `));
      assert.ok(row, result.stdout);
      assert.match(row, /\s\d+\s+\d+\s+0\.1\.0\s+free\s+\d+\.\d s ago$/);
    }
    assert.ok(lines.includes('Runs in progress: 0'), result.stdout);
  });

  it('when --check-cluster runs the built-in health test on 2 free agents then each is ok, exit 0', async () => {
    const before = cluster.server.requests;
    const result = await cluster.cli(['--check-cluster', '--broker', cluster.nats.url]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /^loads-runner: checking 2 free agents with a one-run health test \(run \S+\)$/m,
    );
    for (const name of NAMES) {
      assert.match(result.stdout, new RegExp(`^ {2}${name} \\(\\S+\\): ok$`, 'm'));
    }
    assert.match(result.stdout, /^2 of 2 agents ok$/m);
    assert.equal(cluster.server.requests, before, 'the health test sends no request');
  });

  it('when --check-cluster runs a test that fails then each agent is reported failed with the message, exit 1', async () => {
    const result = await cluster.cli([
      'site.TestBroken.test_broken',
      '--check-cluster',
      '--broker',
      cluster.nats.url,
    ]);
    assert.equal(result.code, 1, result.stderr);
    for (const name of NAMES) {
      assert.match(
        result.stdout,
        new RegExp(
          `^ {2}${name} \\(\\S+\\): failed \\(its test run failed: AssertionError: .+\\)$`,
          'm',
        ),
      );
    }
    assert.match(result.stdout, /^0 of 2 agents ok$/m);
  });

  it('when two detached runs hold every agent then --attach lists them, --check-cluster finds no free agent, and --purge-broker stops both', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const started = await cluster.cli([
        'site.TestSite.test_hit',
        '-d',
        '60',
        '--agents',
        '1',
        '--broker',
        cluster.nats.url,
        '--detach',
      ]);
      assert.equal(started.code, 0, started.stderr);
      ids.push(started.stdout.trim());
    }

    const ping = await cluster.cli(['--ping-broker', '--broker', cluster.nats.url]);
    assert.equal(ping.code, 0, ping.stderr);
    assert.match(ping.stdout, /^Runs in progress: 2$/m);
    for (const id of ids) {
      assert.match(ping.stdout, new RegExp(`busy \\(run ${id}\\)`));
      assert.match(ping.stdout, new RegExp(`^ {2}${id} {2}site\\.TestSite\\.test_hit {2}`, 'm'));
    }

    const attach = await cluster.cli(['--attach', '--broker', cluster.nats.url]);
    assert.equal(attach.code, 2, attach.stderr);
    assert.match(
      attach.stderr,
      /^loads-runner: 2 runs are in progress on the broker at nats:\/\/127\.0\.0\.1:\d+ \(listed above\): give one with --attach RUN_ID$/m,
    );
    for (const id of ids) {
      assert.match(attach.stdout, new RegExp(`^ {2}${id} .* running$`, 'm'));
    }

    const check = await cluster.cli(['--check-cluster', '--broker', cluster.nats.url]);
    assert.equal(check.code, 2, check.stderr);
    assert.match(check.stderr, /^loads-runner: --check-cluster found no free agent on the broker/m);

    const purge = await cluster.cli(['--purge-broker', '--broker', cluster.nats.url]);
    assert.equal(purge.code, 0, purge.stderr);
    assert.match(
      purge.stdout,
      new RegExp(
        `^Stopped 2 runs on nats://127\\.0\\.0\\.1:\\d+: (${ids[0]}, ${ids[1]}|${ids[1]}, ${ids[0]})$`,
        'm',
      ),
    );

    // The stopped run's summary says who stopped it; a run that did not run its plan never passes.
    const stopped = await cluster.cli(['--attach', ids[0]!, '--broker', cluster.nats.url]);
    assert.equal(stopped.code, 1, stopped.stderr);
    assert.match(
      stopped.stdout,
      /^Interrupted \(stopped by purge-broker\): the summary covers what ran before$/m,
    );
    assert.ok(summaryNumber(stopped.stdout, 'Hits') > 0);

    // The agents are free again (each says so once its part is wound up).
    const after = await cluster.waitForFreeAgents();
    assert.match(after, /^Agents: 2 \(2 free for loads-runner 0\.1\.0\)$/m);
    assert.match(after, /^Runs in progress: 0$/m);
  });
});
