// --find-capacity's verdict in the outputs (SPEC §12), from hand-made
// summaries: the text summary's Capacity lines for every reason the search
// can end with, the exit status each stands for, and the JUnit testcase.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  exitStatusOf,
  type CapacityProbeSummary,
  type CapacitySummary,
} from '../../src/metrics/summary.ts';
import { capacityLines } from '../../src/outputs/stdout/summary-text.ts';
import { junitXml } from '../../src/outputs/junit.ts';
import { makeSummary } from '../helpers/summary.ts';

function probe(
  index: number,
  rate: number,
  verdict: 'held' | 'broke' | 'saturated',
): CapacityProbeSummary {
  const p95Ms = verdict === 'held' ? 120 : 450;
  return {
    index,
    rate,
    achievedRate: rate,
    held: verdict === 'held',
    broken: verdict === 'broke' ? ['p95<200ms'] : [],
    saturated: verdict === 'saturated',
    saturationReason: verdict === 'saturated' ? 'event-loop delay p99 80 ms on main' : '',
    p95Ms,
    errorPercent: 0,
    thresholds: [
      {
        expression: 'p95<200ms',
        passed: verdict === 'held',
        measured: p95Ms,
        display: `${p95Ms / 1000}s`,
      },
    ],
    startedAt: 1000 * index,
    endedAt: 1000 * index + 900,
  };
}

function capacity(
  reason: CapacitySummary['reason'],
  probes: CapacityProbeSummary[],
  heldRate: number | null,
  brokeRate: number | null,
): CapacitySummary {
  return {
    heldRate,
    brokeRate,
    reason,
    slo: ['p95<200ms'],
    precision: 0.05,
    maxRate: null,
    probes,
  };
}

const CASES: [string, CapacitySummary, number, RegExp][] = [
  [
    'found',
    capacity('found', [probe(0, 80, 'held'), probe(1, 88, 'broke'), probe(2, 84, 'held')], 84, 88),
    0,
    /^ {2}Capacity: 84\/s, the highest rate that met every threshold; 88\/s broke p95<200ms \(within 5%, 3 probes\)$/m,
  ],
  [
    'max-rate-held',
    capacity('max-rate-held', [probe(0, 10, 'held'), probe(1, 20, 'held')], 20, null),
    0,
    /^ {2}Capacity: at least 20\/s: --max-rate held, so the service can take more; raise --max-rate to look further \(2 probes\)$/m,
  ],
  [
    'first-rate-broke',
    capacity('first-rate-broke', [probe(0, 10, 'broke')], null, 10),
    1,
    /^ {2}No capacity found: even the first rate, 10\/s, broke p95<200ms; start lower with --rate/m,
  ],
  [
    'generator-saturated',
    capacity(
      'generator-saturated',
      [probe(0, 1000, 'held'), probe(1, 2000, 'saturated')],
      1000,
      null,
    ),
    1,
    /^ {2}Search stopped: the generator, not the service, was the limit at 2000\/s: give it more CPU \(--workers N, a machine less busy, or more cores\); 1000\/s held before it$/m,
  ],
  [
    'probe-limit',
    capacity('probe-limit', [probe(0, 80, 'held'), probe(1, 160, 'broke')], 80, 160),
    0,
    /^ {2}Capacity: at least 80\/s, below 160\/s: the 2 probes ran out before the rates were within 5%; narrow it with --rate 80 --max-rate 160$/m,
  ],
];

describe('the capacity verdict in the outputs', () => {
  for (const [reason, result, exitStatus, verdict] of CASES) {
    it(`when the search ends with ${reason} then the text says what to do and the exit status is ${exitStatus}`, () => {
      const text = capacityLines(result, false, false).join('\n');
      assert.match(text, verdict);
      const summary = makeSummary({ capacity: result });
      // Failed runs in the broken probes do not decide: the capacity does.
      assert.equal(exitStatusOf({ ...summary, failures: 10 }), exitStatus);
      const xml = junitXml({ ...summary, exitStatus });
      assert.match(xml, /<testsuite name="capacity" tests="1" /);
      assert.equal(xml.includes('type="CapacityNotFound"'), exitStatus === 1, xml);
    });
  }

  it('when the search was held and broke then the SLO figures at both rates are shown', () => {
    const result = CASES[0]![1];
    const lines = capacityLines(result, false, false);
    assert.equal(lines[0], '  Held:  84/s (achieved 84/s)  ✓ p95<200ms 0.12s');
    assert.equal(lines[1], '  Broke: 88/s (achieved 88/s)  ✗ p95<200ms 0.45s');
  });

  it('when a signal stopped the search then the text says what held so far and the exit status is the signal', () => {
    const result = capacity('probe-limit', [probe(0, 10, 'held')], 10, null);
    assert.match(
      capacityLines(result, true, false).join('\n'),
      /^ {2}Interrupted after 1 probe: at least 10\/s held; run the search to its end for the capacity$/m,
    );
    const summary = makeSummary({ capacity: result, interrupted: true, interruptedBy: 'SIGTERM' });
    assert.equal(exitStatusOf(summary), 143);
    assert.doesNotMatch(junitXml(summary), /CapacityNotFound/);
  });
});
