// --find-capacity with --agents: each probe a distributed run of its own on
// real loads-agent processes (a nats-server on loopback), the rate per agent.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Summary } from '../../src/metrics/summary.ts';
import { NATS_SKIP } from '../helpers/nats.ts';
import { startCluster, type Cluster } from './distributed-setup.ts';

const AGENTS = ['cap-a', 'cap-b'];

describe('--find-capacity on agents', { skip: NATS_SKIP, timeout: 120_000 }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster(AGENTS);
  });
  after(async () => {
    await cluster?.stop();
  });

  const search = (fqn: string, slo: string, ...more: string[]): Promise<Summary> =>
    cluster
      .cli([
        fqn,
        '--find-capacity',
        '--threshold',
        slo,
        '--rate',
        '5',
        '--duration',
        '1',
        '--capacity-rest',
        '0.2',
        '--agents',
        String(AGENTS.length),
        '--broker',
        cluster.nats.url,
        '-o',
        'json',
        ...more,
      ])
      .then((result) => {
        const summary = JSON.parse(result.stdout) as Summary & { code?: number };
        assert.ok(
          result.stderr.includes(`each probe on ${AGENTS.length} agents, the rate per agent`),
        );
        return Object.assign(summary, { code: result.code ?? -1 });
      });

  it('when the service keeps up then every probe runs rate × duration × agents and --max-rate held exits 0', async () => {
    const summary = (await search(
      'site.TestSite.test_hit',
      'p95<1s',
      '--max-rate',
      '20',
    )) as Summary & { code: number };
    assert.equal(summary.code, 0);
    const capacity = summary.capacity!;
    assert.equal(capacity.reason, 'max-rate-held');
    assert.equal(capacity.heldRate, 20);
    assert.deepEqual(
      capacity.probes.map((p) => [p.rate, p.held, p.saturated]),
      [
        [5, true, false],
        [10, true, false],
        [20, true, false],
      ],
    );
    // The open model schedules exactly rate × duration runs on each agent.
    assert.equal(summary.hits, (5 + 10 + 20) * 1 * AGENTS.length);
    for (const probe of capacity.probes) {
      assert.ok(
        Math.abs(probe.achievedRate - probe.rate) <= probe.rate * 0.2,
        `${probe.rate}/s per agent achieved ${probe.achievedRate}/s`,
      );
    }
  });

  it('when even the first rate breaks the SLO on the agents then the search stops there, exit 1', async () => {
    const summary = (await search('site.TestFixed.test_fixed', 'p95<100ms')) as Summary & {
      code: number;
    };
    assert.equal(summary.code, 1);
    assert.equal(summary.capacity!.reason, 'first-rate-broke');
    assert.deepEqual(
      summary.capacity!.probes.map((p) => [p.rate, p.held, p.broken]),
      [[5, false, ['p95<100ms']]],
    );
    assert.equal(summary.hits, 5 * AGENTS.length);
  });
});
