// The bench's aggregator probe (`npm run bench -- aggregator`): what the
// metrics side of one test run costs, without the network. Feeds a real
// Aggregator (summary counters, histograms, the timeline) the events of
// closed-model runs as a virtual user emits them (test-start, one hit,
// test-end; the same event objects refilled, as the producers do), with
// clocks advancing 70,000 runs a second over 10 URLs, and prints
// {"runs":…,"nsPerRun":…} (CPU time of this process, after a warm-up).
//   node bench/aggregator-probe.mjs DIST_DIR [RUNS]
// DIST_DIR is a loads-runner build (dist/), this checkout's or a --baseline's.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [distDir, runsText = '2000000'] = process.argv.slice(2);
if (distDir === undefined) {
  throw new Error('usage: node bench/aggregator-probe.mjs DIST_DIR [RUNS]');
}
const { Aggregator } = await import(
  pathToFileURL(path.join(path.resolve(distDir), 'metrics/aggregator.js')).href
);
// The events are plain data: made by this checkout's factories, so that a
// baseline built before they existed is fed the same objects.
const { newHitEvent, newTestEndEvent, newTestStartEvent } = await import(
  new URL('../dist/metrics/events.js', import.meta.url).href
);

const RUNS = Number(runsText);
const WARM_UP_RUNS = 200_000;
const RUN_MS = 1000 / 70_000;
const URLS = Array.from({ length: 10 }, (_, i) => `http://127.0.0.1:8080/item/${i}`);
const TEST = 'TestBench.test_get';

const aggregator = new Aggregator();
aggregator.emit({
  type: 'cycle-start',
  cycleIndex: 0,
  users: 50,
  hits: 0,
  durationMs: 60_000,
  rate: 0,
  rampUpMs: 0,
  startedAt: Date.now(),
});
const start = newTestStartEvent();
start.test = TEST;
start.users = 50;
const hit = newHitEvent();
hit.method = 'GET';
hit.status = 200;
hit.test = TEST;
hit.protocol = 'h1';
hit.bytes = 26;
const end = newTestEndEvent();
end.test = TEST;
end.users = 50;

let clock = Date.now();
/** `count` runs; latencies from 0.2 to about 3 ms, spread over the histograms' buckets. */
function runs(count) {
  for (let i = 0; i < count; i++) {
    clock += RUN_MS;
    const elapsedMs = 0.2 + ((i * 7919) % 2801) / 1000;
    const user = (i % 50) + 1;
    start.startedAt = clock;
    start.currentUser = user;
    start.currentHit = i;
    aggregator.emit(start);
    hit.url = URLS[i % URLS.length];
    hit.startedAt = clock;
    hit.elapsedMs = elapsedMs;
    hit.currentUser = user;
    hit.currentHit = i;
    aggregator.emit(hit);
    end.startedAt = clock;
    end.elapsedMs = elapsedMs + 0.01;
    end.currentUser = user;
    end.currentHit = i;
    aggregator.emit(end);
  }
}

runs(WARM_UP_RUNS);
const before = process.cpuUsage();
runs(RUNS);
const used = process.cpuUsage(before);
process.stdout.write(
  `${JSON.stringify({ runs: RUNS, nsPerRun: ((used.user + used.system) * 1000) / RUNS })}\n`,
);
