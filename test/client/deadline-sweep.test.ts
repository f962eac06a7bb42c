import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineSweep, type Swept } from '../../src/client/deadline-sweep.ts';
import { countTimersCreated } from '../helpers/timers.ts';

/** A member that is busy until `busyUntil` and records the times it was checked at. */
function member(busyUntil: number): Swept & { checks: number[] } {
  const checks: number[] = [];
  return {
    checks,
    checkDeadlines(nowMs) {
      checks.push(nowMs);
      return nowMs < busyUntil;
    },
  };
}

describe('DeadlineSweep', () => {
  it('checks every member on each scan with the clock it was given, and drops idle ones', () => {
    let clock = 0;
    const sweep = new DeadlineSweep(() => clock, 60_000);
    const short = member(10);
    const long = member(30);
    sweep.add(short);
    sweep.add(long);
    sweep.add(long); // a second add is a no-op
    assert.equal(sweep.size, 2);
    for (const at of [10, 20, 30, 40]) {
      clock = at;
      sweep.sweep();
    }
    assert.deepEqual(short.checks, [10]);
    assert.deepEqual(long.checks, [10, 20, 30]);
    assert.equal(sweep.size, 0);
  });

  it('scans on its own every period while it has members', async () => {
    const sweep = new DeadlineSweep(() => 0, 5);
    const busy = member(Infinity);
    sweep.add(busy);
    await sleep(60);
    sweep.delete(busy);
    assert.ok(busy.checks.length >= 2, `${busy.checks.length} scans`);
  });

  it('makes one timer whatever the number of members, and a new one only after it emptied', async () => {
    const sweep = new DeadlineSweep(() => 0, 5);
    const members = Array.from({ length: 100 }, () => member(Infinity));
    const created = await countTimersCreated(async () => {
      for (const m of members) {
        sweep.add(m);
      }
      for (const m of members) {
        sweep.delete(m);
      }
      sweep.add(members[0]!);
      sweep.delete(members[0]!);
    });
    assert.equal(created, 2);
    assert.equal(sweep.size, 0);
  });
});
