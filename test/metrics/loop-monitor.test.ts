import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import {
  LoopMonitor,
  MIN_JUDGED_MS,
  RESOLUTION_MS,
  STARTUP_MS,
  SATURATION_DELAY_P99_MS,
  SATURATION_UTILIZATION,
  assessGeneratorLoad,
} from '../../src/metrics/loop-monitor.ts';
import type { LoopSample } from '../../src/metrics/loop-monitor.ts';
import { REPO_ROOT } from '../helpers/tmp-project.ts';

function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // Burn CPU without yielding: the loop is blocked for `ms`.
  }
}

function sample(overrides: Partial<LoopSample> = {}): LoopSample {
  return {
    thread: 'main',
    monitoredMs: 3000,
    judgedMs: 2500,
    delayP99Ms: 1,
    delayMaxMs: 2,
    utilization: 0.1,
    ...overrides,
  };
}

// These assert that a blocked or idle loop is seen, with wide margins; they
// are not speed assertions.
describe('LoopMonitor', () => {
  it('when the loop is blocked ~300 ms then the delay and utilization show it', async () => {
    const monitor = new LoopMonitor('main');
    monitor.start();
    // Let the sampling timer tick first: Node measures the delay between two
    // ticks, so a block before the first tick would not be in the histogram.
    await sleep(RESOLUTION_MS * 3);
    await nextTurn();
    busyFor(300);
    await sleep(RESOLUTION_MS * 2);
    const s = monitor.stop();
    assert.equal(s.thread, 'main');
    // Shorter than the start-up window: reported over the whole time, not judged.
    assert.equal(s.judgedMs, 0);
    assert.ok(s.monitoredMs >= 300 && s.monitoredMs < STARTUP_MS + MIN_JUDGED_MS);
    assert.ok(s.delayMaxMs >= 200, `delayMaxMs ${s.delayMaxMs}`);
    assert.ok(s.delayP99Ms <= s.delayMaxMs, `p99 ${s.delayP99Ms} max ${s.delayMaxMs}`);
    assert.ok(s.utilization > 0.5 && s.utilization <= 1, `utilization ${s.utilization}`);
  });

  it('when the loop only awaits a 300 ms timer then utilization is low', async () => {
    const monitor = new LoopMonitor('worker 1');
    monitor.start();
    await sleep(300);
    const s = monitor.stop();
    assert.equal(s.thread, 'worker 1');
    assert.ok(s.utilization >= 0 && s.utilization < 0.5, `utilization ${s.utilization}`);
    assert.ok(s.delayP99Ms >= 0 && s.delayMaxMs >= s.delayP99Ms);
  });

  it('when restarted then the second sample covers only the second period', async () => {
    const monitor = new LoopMonitor('main');
    monitor.start();
    await sleep(RESOLUTION_MS * 3);
    busyFor(300);
    await sleep(RESOLUTION_MS * 2);
    assert.ok(monitor.stop().delayMaxMs >= 200);
    monitor.start();
    await sleep(300);
    const s = monitor.stop();
    assert.ok(s.delayMaxMs < 200, `delayMaxMs ${s.delayMaxMs}: the first period leaked in`);
    assert.ok(s.utilization < 0.5, `utilization ${s.utilization}`);
  });

  // Short windows so that these run in about a second; the defaults are STARTUP_MS and MIN_JUDGED_MS.
  const short = { startupMs: 200, minJudgedMs: 400 };

  it('when a thread stops before its start-up window and a judged time have passed then it is not judged', async () => {
    const monitor = new LoopMonitor('main', short);
    monitor.start();
    await sleep(RESOLUTION_MS * 3);
    busyFor(250);
    await sleep(150); // 200 ms of start-up + ~250 ms judged: under 400
    const s = monitor.stop();
    assert.equal(s.judgedMs, 0);
    assert.ok(s.monitoredMs >= 400, `monitored ${s.monitoredMs}`);
    assert.ok(s.delayMaxMs >= 150, `whole-time figures are still reported: ${s.delayMaxMs}`);
    assert.equal(assessGeneratorLoad([s]).saturated, false);
  });

  it('when the loop blocks during its start-up window only then the judged figures are calm', async () => {
    const monitor = new LoopMonitor('main', short);
    monitor.start();
    await sleep(RESOLUTION_MS * 2);
    busyFor(120); // ends well inside the 200 ms window
    await sleep(700);
    const s = monitor.stop();
    assert.ok(s.judgedMs >= 400, `judged ${s.judgedMs}`);
    assert.ok(s.monitoredMs - s.judgedMs >= 199 && s.monitoredMs - s.judgedMs <= 201);
    assert.ok(s.delayMaxMs < 100, `the start-up block leaked in: delay max ${s.delayMaxMs}`);
    assert.ok(s.utilization < 0.5, `utilization ${s.utilization}`);
    assert.equal(assessGeneratorLoad([s]).saturated, false);
  });

  it('when a block spans the end of the start-up window then its judged part counts', async () => {
    const monitor = new LoopMonitor('worker 1', short);
    monitor.start();
    await sleep(RESOLUTION_MS * 2);
    busyFor(800); // from ~40 ms to ~840 ms: ~640 ms of it after the window
    await sleep(RESOLUTION_MS);
    const s = monitor.stop();
    assert.ok(s.judgedMs >= 400, `judged ${s.judgedMs}`);
    assert.ok(s.delayMaxMs >= 500, `delay max ${s.delayMaxMs}`);
    assert.ok(s.delayP99Ms >= 500, `delay p99 ${s.delayP99Ms}: few ticks, so the worst`);
    assert.ok(s.utilization >= 0.9, `utilization ${s.utilization}`);
    const load = assessGeneratorLoad([s]);
    assert.equal(load.saturated, true);
    assert.match(load.reason, /on worker 1/);
  });

  it('when stopped right after a block, before the start-up timer could fire, then the block is judged', () => {
    const monitor = new LoopMonitor('main', short);
    monitor.start();
    busyFor(900); // synchronous from start to stop: no tick, no timer ran
    const s = monitor.stop();
    assert.ok(s.judgedMs >= 690 && s.judgedMs <= s.monitoredMs - 199, `judged ${s.judgedMs}`);
    assert.ok(s.utilization >= 0.9, `utilization ${s.utilization}`);
    assert.ok(s.delayMaxMs >= 600, `delay max ${s.delayMaxMs}`);
    assert.equal(assessGeneratorLoad([s]).saturated, true);
  });

  it('when the loop is blocked ~300 ms after its start-up window then the judged delay shows it', async () => {
    const monitor = new LoopMonitor('main', short);
    monitor.start();
    await sleep(short.startupMs + RESOLUTION_MS * 3);
    await nextTurn();
    busyFor(300);
    await sleep(short.minJudgedMs);
    const s = monitor.stop();
    assert.ok(s.judgedMs >= 400, `judged ${s.judgedMs}`);
    assert.ok(s.delayMaxMs >= 200, `delay max ${s.delayMaxMs}`);
    assert.ok(s.delayP99Ms >= 200, `delay p99 ${s.delayP99Ms}`);
    assert.ok(s.utilization > 0.2 && s.utilization < 0.9, `utilization ${s.utilization}`);
  });

  it('the defaults leave out half a second of start-up and judge a second or more', () => {
    assert.equal(STARTUP_MS, 500);
    assert.equal(MIN_JUDGED_MS, 1000);
  });

  it('when stopped without a start then the sample is all zeros', () => {
    assert.deepEqual(new LoopMonitor('main').stop(), {
      thread: 'main',
      monitoredMs: 0,
      judgedMs: 0,
      delayP99Ms: 0,
      delayMaxMs: 0,
      utilization: 0,
    });
  });

  it('when a monitor is left running then it does not keep the process alive', async () => {
    const moduleUrl = pathToFileURL(path.join(REPO_ROOT, 'src', 'metrics', 'loop-monitor.ts')).href;
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { LoopMonitor } = await import(${JSON.stringify(moduleUrl)}); new LoopMonitor('main').start();`,
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
    clearTimeout(killer);
    assert.equal(signal, null, 'the child had to be killed: something kept it alive');
    assert.equal(code, 0, stderr);
  });
});

describe('assessGeneratorLoad', () => {
  it('when no thread was measured then it is not saturated', () => {
    assert.deepEqual(assessGeneratorLoad([]), { threads: [], saturated: false, reason: '' });
  });

  it('when a thread was not judged (judgedMs 0) then its figures are reported, never judged', () => {
    const samples = [
      sample({ thread: 'main', judgedMs: 0, delayP99Ms: 130, utilization: 1 }),
      sample({ thread: 'worker 1', judgedMs: 0, delayP99Ms: 90, utilization: 0.95 }),
    ];
    const load = assessGeneratorLoad(samples);
    assert.equal(load.saturated, false);
    assert.equal(load.reason, '');
    assert.deepEqual(load.threads, samples);
    // A judged thread beside them is judged alone.
    const mixed = assessGeneratorLoad([
      ...samples,
      sample({ thread: 'worker 2', utilization: 0.92 }),
    ]);
    assert.equal(mixed.reason, 'worker 2 busy 92% of the time');
  });

  it('when every thread is under both thresholds then it is not saturated and the reason is empty', () => {
    const samples = [
      sample({ delayP99Ms: SATURATION_DELAY_P99_MS, delayMaxMs: 400, utilization: 0.89 }),
      sample({ thread: 'worker 1', delayP99Ms: 12, utilization: 0.5 }),
    ];
    const load = assessGeneratorLoad(samples);
    assert.equal(load.saturated, false);
    assert.equal(load.reason, '');
    assert.deepEqual(load.threads, samples);
  });

  it('when a thread delay p99 is just over 50 ms then it is saturated and the reason names it', () => {
    const load = assessGeneratorLoad([
      sample({ thread: 'main', delayP99Ms: 83.4, utilization: 0.2 }),
    ]);
    assert.equal(load.saturated, true);
    assert.equal(load.reason, 'event-loop delay p99 83 ms on main');
    assert.equal(
      assessGeneratorLoad([sample({ delayP99Ms: SATURATION_DELAY_P99_MS + 0.1 })]).saturated,
      true,
    );
  });

  it('when a thread is busy 90 % of the time or more then it is saturated and the reason names it', () => {
    assert.equal(SATURATION_UTILIZATION, 0.9);
    const at = assessGeneratorLoad([sample({ thread: 'worker 3', utilization: 0.9 })]);
    assert.equal(at.saturated, true);
    assert.equal(at.reason, 'worker 3 busy 90% of the time');
    const load = assessGeneratorLoad([
      sample({ thread: 'main', utilization: 0.3 }),
      sample({ thread: 'worker 1', utilization: 0.93 }),
      sample({ thread: 'worker 2', utilization: 0.97 }),
    ]);
    assert.equal(load.reason, 'worker 2 busy 97% of the time');
  });

  it('when both thresholds are crossed then the reason gives the worst of each', () => {
    const load = assessGeneratorLoad([
      sample({ thread: 'main', delayP99Ms: 60, utilization: 0.99 }),
      sample({ thread: 'worker 1', delayP99Ms: 120, utilization: 0.4 }),
    ]);
    assert.equal(load.saturated, true);
    assert.equal(load.reason, 'event-loop delay p99 120 ms on worker 1; main busy 99% of the time');
  });

  it('when assessed then the threads are copies, not the caller’s objects', () => {
    const samples = [sample()];
    const load = assessGeneratorLoad(samples);
    assert.notEqual(load.threads, samples);
    assert.notEqual(load.threads[0], samples[0]);
    assert.deepEqual(load.threads, samples);
  });
});
