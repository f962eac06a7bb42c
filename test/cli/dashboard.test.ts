// --dashboard end to end (SPEC §9): the CLI spawned against the example
// server, its page and Server-Sent Events read with a plain node:http
// client: the first message holds the whole history, later ones the rows
// that can still change, the last is the final report (the json output's
// document), and the streams end as the CLI exits. Also what it refuses:
// other methods and paths, a foreign Host header, a port in use and a bad
// address, all before any load. The browser's view is test/report/dashboard.test.ts.
import { describe, it, before, after, mock, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { EventEmitter, once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { runCli, startCli } from '../helpers/cli.ts';
import { waitForDashboardUrl } from '../helpers/dashboard.ts';
import { createTmpProject, REPO_ROOT, type TmpProject } from '../helpers/tmp-project.ts';
import { startExampleServer, type ExampleServer } from '../../examples/server.ts';
import { validateOptions } from '../../src/cli/validate.ts';
import { parseConfig } from '../../src/cli/config.ts';
import { UsageErrors } from '../../src/errors.ts';
import { startDashboard, DASHBOARD_TICK_MS, type Dashboard } from '../../src/cli/dashboard.ts';
import { Aggregator, MAX_URLS, type Snapshot } from '../../src/metrics/aggregator.ts';
import { numberedHit } from '../helpers/events.ts';
import { Outcome, type TestEndEvent } from '../../src/metrics/events.ts';
import { buildSummary, type RunInfo } from '../../src/metrics/summary.ts';
import type { LiveUpdate, Summary, TimelineRow } from '../../src/report/types.ts';

const EXAMPLES = path.join(REPO_ROOT, 'examples');
const OUTPUTS = ['stdout', 'null', 'file', 'json', 'funkload'];

let example: ExampleServer;
let project: TmpProject;

before(async () => {
  example = await startExampleServer();
  project = await createTmpProject();
});

after(async () => {
  await example.close();
  await project.remove();
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with the path sent as written (no normalising of `..`). */
function request(
  url: URL,
  options: { method?: string; path?: string; host?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: { host: options.host ?? url.host },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

interface Stream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The updates, in order. */
  updates: LiveUpdate[];
  /** Every event's name (`event:` line). */
  eventNames: string[];
  /** Resolves once the server ended the stream. */
  ended: Promise<void>;
  /** Emits 'update' for each one. */
  events: EventEmitter;
}

/** Opens GET /events and collects its Server-Sent Events until the server ends the stream. */
async function followEvents(url: URL): Promise<Stream> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get(new URL('/events', url), { agent: false }, resolve);
    req.on('error', reject);
  });
  const stream: Stream = {
    status: res.statusCode!,
    headers: res.headers,
    updates: [],
    eventNames: [],
    ended: once(res, 'end').then(() => {}),
    events: new EventEmitter(),
  };
  let buffered = '';
  res.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let end: number;
    while ((end = buffered.indexOf('\n\n')) !== -1) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) {
          stream.eventNames.push(line.slice('event: '.length));
        } else if (line.startsWith('data: ')) {
          stream.updates.push(JSON.parse(line.slice('data: '.length)) as LiveUpdate);
          stream.events.emit('update');
        }
      }
    }
  });
  return stream;
}

/** Resolves once `stream` holds `count` updates; rejects after `timeoutMs`. */
function updatesOf(stream: Stream, count: number, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (stream.updates.length >= count) {
        clearTimeout(timer);
        stream.events.off('update', check);
        resolve();
      }
    };
    const timer = setTimeout(() => {
      stream.events.off('update', check);
      reject(new Error(`${stream.updates.length} of ${count} updates within ${timeoutMs} ms`));
    }, timeoutMs);
    stream.events.on('update', check);
    check();
  });
}

/** What a page holds after each update: the rows before timelineFrom, then the update's rows. */
function applyUpdates(updates: readonly LiveUpdate[]): TimelineRow[][] {
  let rows: TimelineRow[] = [];
  return updates.map((update) => {
    rows = [...rows.filter((row) => row.t < update.timelineFrom), ...update.summary.timeline];
    return rows;
  });
}

const sumHits = (rows: readonly TimelineRow[]): number =>
  rows.reduce((total, row) => total + row.hits, 0);

describe('--dashboard, spawned', () => {
  it('when a run has the dashboard then pages get the history, the growing timeline and the final json summary, and the CLI exits 0', async () => {
    const jsonFile = path.join(project.dir, 'dashboard-run.json');
    const { child, result } = startCli(
      [
        'example.TestWebSite.test_es',
        '-u',
        '2',
        // Long enough that, even on a loaded machine, updates after the first
        // seconds carry only the recent rows.
        '-d',
        '6',
        '--workers',
        '2',
        '--server-url',
        example.url,
        '--dashboard',
        '-o',
        'json',
        '--output-json-filename',
        jsonFile,
      ],
      { cwd: EXAMPLES },
    );
    const url = await waitForDashboardUrl(child);
    assert.equal(url.hostname, '127.0.0.1');
    assert.notEqual(url.port, '');

    const early = await followEvents(url);
    assert.equal(early.status, 200);
    assert.match(early.headers['content-type'] ?? '', /^text\/event-stream/);
    assert.match(early.headers['cache-control'] ?? '', /no-cache/);

    // The page itself, and what is refused, while the run goes.
    const page = await request(url);
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'] ?? '', /^text\/html/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    const policy = String(page.headers['content-security-policy']);
    assert.match(policy, /default-src 'none'/);
    assert.match(policy, /script-src 'unsafe-inline'/);
    assert.match(policy, /connect-src 'self'/);
    assert.match(page.body, /^<!doctype html>/);
    assert.match(page.body, /example\.TestWebSite\.test_es/);
    const head = await request(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    const post = await request(url, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal((await request(url, { method: 'DELETE', path: '/events' })).status, 405);
    assert.equal((await request(url, { path: '/../etc/passwd' })).status, 404);
    assert.equal((await request(url, { path: '/x' })).status, 404);
    assert.equal((await request(url, { path: '/events/../../package.json' })).status, 404);
    const rebound = await request(url, { host: `attacker.example:${url.port}` });
    assert.equal(rebound.status, 403);
    assert.doesNotMatch(rebound.body, /TestWebSite/);
    assert.equal((await request(url, { host: `localhost:${url.port}` })).status, 200);
    assert.equal((await request(url, { host: '127.0.0.1:1' })).status, 403);

    // A page opened late gets the whole history in its first message.
    await updatesOf(early, 3);
    const late = await followEvents(url);
    await updatesOf(late, 1);
    const history = late.updates[0]!;
    assert.equal(history.timelineFrom, 0);
    assert.equal(history.final, false);
    assert.equal(history.summary.timeline[0]!.t, 0);
    assert.ok(history.summary.timeline.length >= 2, 'two seconds of rows or more');
    assert.equal(sumHits(history.summary.timeline), history.summary.hits);

    await Promise.all([early.ended, late.ended]);
    const { code, stdout, stderr } = await result;
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^Hits: \d+$/m);
    const json = JSON.parse(await readFile(jsonFile, 'utf8')) as Summary;

    for (const stream of [early, late]) {
      assert.ok(stream.eventNames.every((name) => name === 'update'));
      const final = stream.updates.at(-1)!;
      assert.equal(final.final, true);
      assert.equal(stream.updates.filter((u) => u.final).length, 1, 'one final update, last');
      assert.equal(final.summary.hits, json.hits);
      assert.deepEqual(final.summary, json);
    }
    // The early page's updates: the first holds everything so far, later
    // ones only the rows that can still change, and what it holds grows.
    const held = applyUpdates(early.updates);
    assert.equal(early.updates[0]!.timelineFrom, 0);
    assert.ok(held.at(-2)!.length > held[0]!.length, 'the timeline grows during the run');
    // Which later updates are partial depends on this machine's timing (the
    // in-process test below pins it down); each holds only rows from its timelineFrom on.
    const partial = early.updates.filter((u) => !u.final && u.timelineFrom > 0);
    for (const update of partial) {
      assert.ok(update.summary.timeline.every((row) => row.t >= update.timelineFrom));
    }
    early.updates.forEach((update, i) => {
      assert.equal(sumHits(held[i]!), update.summary.hits, `rows held after update ${i}`);
    });
    assert.deepEqual(held.at(-1), json.timeline);
  });

  it('when Ctrl-C stops a run with a page open then the page gets the final (interrupted) report and the CLI exits 130', async () => {
    const { child, result } = startCli(
      [
        'example.TestWebSite.test_es',
        '-d',
        '20',
        '--workers',
        '1',
        '--server-url',
        example.url,
        '--dashboard',
      ],
      { cwd: EXAMPLES },
    );
    const url = await waitForDashboardUrl(child);
    const stream = await followEvents(url);
    await updatesOf(stream, 2);
    child.kill('SIGINT');
    await stream.ended;
    const { code, stdout } = await result;
    assert.equal(code, 130);
    const final = stream.updates.at(-1)!;
    assert.equal(final.final, true);
    assert.equal(final.summary.interruptedBy, 'SIGINT');
    assert.match(stdout, new RegExp(`^Hits: ${final.summary.hits}$`, 'm'));
  });

  it('when the dashboard port is in use then exits 2 with one line before any load', async () => {
    const taken = net.createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as net.AddressInfo).port;
    const connectionsBefore = example.connections;
    try {
      const { code, stdout, stderr } = await runCli(
        [
          'example.TestWebSite.test_es',
          '--server-url',
          example.url,
          '--dashboard',
          `127.0.0.1:${port}`,
        ],
        { cwd: EXAMPLES },
      );
      assert.equal(code, 2);
      assert.equal(
        stderr,
        `loads-runner: --dashboard 127.0.0.1:${port}: the port is in use; pick another, or port 0 (or --dashboard alone) for a free one\n`,
      );
      assert.equal(stdout, '');
      assert.equal(example.connections, connectionsBefore, 'no load was sent');
    } finally {
      taken.close();
      await once(taken, 'close');
    }
  });

  it('when --dashboard is not HOST:PORT then exits 2 with one line and no stack', async () => {
    for (const [value, pattern] of [
      ['nonsense', /^loads-runner: --dashboard 'nonsense' is not HOST:PORT; use e\.g\./],
      ['127.0.0.1:99999', /port 99999 is not 0–65535/],
      ['example.com:8089', /'example\.com' is not an IP address/],
    ] as const) {
      const { code, stdout, stderr } = await runCli(
        ['example.TestWebSite.test_es', '--dashboard', value],
        { cwd: EXAMPLES },
      );
      assert.equal(code, 2, value);
      assert.equal(stdout, '');
      assert.equal(stderr.split('\n').length, 2, `one line: ${stderr}`);
      assert.match(stderr, pattern);
      assert.doesNotMatch(stderr, /\n\s+at /);
    }
  });
});

describe('--dashboard, parsed', () => {
  const dashboardOf = (value: string | boolean, config = ''): unknown =>
    validateOptions(
      'm.C.t',
      { dashboard: value },
      parseConfig(`[loads]\n${config}`, 'c.ini'),
      OUTPUTS,
    ).dashboard;

  it('when given alone then it is 127.0.0.1 on a free port', () => {
    assert.deepEqual(dashboardOf(true), { host: '127.0.0.1', port: 0 });
  });

  it('when given an address then it binds exactly there', () => {
    assert.deepEqual(dashboardOf('127.0.0.1:8089'), { host: '127.0.0.1', port: 8089 });
    assert.deepEqual(dashboardOf(':8089'), { host: '127.0.0.1', port: 8089 });
    assert.deepEqual(dashboardOf('localhost:8089'), { host: '127.0.0.1', port: 8089 });
    assert.deepEqual(dashboardOf('0.0.0.0:8089'), { host: '0.0.0.0', port: 8089 });
    assert.deepEqual(dashboardOf('[::1]:8089'), { host: '::1', port: 8089 });
  });

  it('when not given then there is none, and the INI key sets it', () => {
    assert.equal(validateOptions('m.C.t', {}, {}, OUTPUTS).dashboard, null);
    const fromFile = (line: string): unknown =>
      validateOptions('m.C.t', {}, parseConfig(`[loads]\n${line}\n`, 'c.ini'), OUTPUTS).dashboard;
    assert.deepEqual(fromFile('dashboard = :9000'), { host: '127.0.0.1', port: 9000 });
    assert.deepEqual(fromFile('dashboard = true'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(fromFile('dashboard'), { host: '127.0.0.1', port: 0 });
    assert.equal(fromFile('dashboard = false'), null);
    // The command line wins over the file.
    assert.deepEqual(dashboardOf(':8089', 'dashboard = :9000\n'), {
      host: '127.0.0.1',
      port: 8089,
    });
  });

  it('when the value swallowed the test name then the message says where --dashboard goes', () => {
    assert.throws(
      () => validateOptions(undefined, { dashboard: 'example.TestWebSite.test_es' }, {}, OUTPUTS),
      (err: unknown) =>
        err instanceof UsageErrors &&
        err.errors.some((e) => /put a bare --dashboard after the test name/.test(e.message)),
    );
  });
});

/** An aggregator that counts how often the dashboard reads it. */
class CountingAggregator extends Aggregator {
  snapshots = 0;
  override snapshot(): Snapshot {
    this.snapshots++;
    return super.snapshot();
  }
}

/** A test run that ended in error number `i`. */
function erroredRun(startedAt: number, i: number, stack: string): TestEndEvent {
  return {
    type: 'test-end',
    test: 'C.t',
    startedAt,
    elapsedMs: 1,
    outcome: Outcome.ERROR,
    errorName: 'Error',
    errorMessage: `error ${i}`,
    errorStack: stack,
    cycleIndex: 0,
    users: 1,
    currentUser: 1,
    currentHit: i + 1,
    lagMs: 0,
  };
}

function runInfo(): RunInfo {
  return {
    startedAt: Date.now(),
    fqn: 'm.C.t',
    projectName: 'N/A',
    version: '0.0.0',
    users: [1],
    hits: null,
    durationMs: 10_000,
    rate: null,
    maxUsers: null,
    rampUpMs: 0,
    workers: 1,
  };
}

/**
 * A dashboard in this process for `aggregator`, its run started: the
 * dashboard's tick and clock are mocked (from info.startedAt), sockets and
 * timeouts keep real time. Closed, and the timers restored, after the test.
 */
async function startInProcess(
  t: TestContext,
  aggregator: Aggregator,
  info: RunInfo,
): Promise<Dashboard> {
  const dashboard = await startDashboard({
    address: { host: '127.0.0.1', port: 0 },
    aggregator,
    thresholds: [],
  });
  t.after(() => dashboard.close());
  mock.timers.enable({ apis: ['setInterval', 'Date'], now: info.startedAt });
  t.after(() => mock.timers.reset());
  dashboard.onRunStart(info);
  return dashboard;
}

describe('Dashboard, in process', () => {
  it('when a page has had an update then the next one carries only the rows from a second before that update on', async (t) => {
    const aggregator = new Aggregator();
    const info = runInfo();
    aggregator.startTimeline(info.startedAt);
    for (let s = 0; s < 5; s++) {
      aggregator.emit(erroredRun(info.startedAt + s * 1000 + 10, s, ''));
    }
    const dashboard = await startInProcess(t, aggregator, info);
    const url = new URL(dashboard.url);

    mock.timers.tick(4 * DASHBOARD_TICK_MS);
    const page = await followEvents(url);
    await updatesOf(page, 1);
    aggregator.emit(erroredRun(info.startedAt + 5010, 5, ''));
    mock.timers.tick(DASHBOARD_TICK_MS);
    await updatesOf(page, 2);
    const [history, next] = page.updates;
    assert.equal(history!.timelineFrom, 0);
    assert.deepEqual(
      history!.summary.timeline.map((row) => row.t),
      [0, 1, 2, 3, 4],
    );
    // The history was read at 4 s: rows from 3 s on may have changed since.
    assert.equal(next!.timelineFrom, 3);
    assert.deepEqual(
      next!.summary.timeline.map((row) => row.t),
      [3, 4, 5],
    );
    assert.deepEqual(
      applyUpdates(page.updates)
        .at(-1)!
        .map((row) => [row.t, row.errors]),
      [0, 1, 2, 3, 4, 5].map((second) => [second, 1]),
    );
    await dashboard.onRunEnd(buildSummary(aggregator.snapshot(), info, Date.now(), false));
    await page.ended;
  });

  it('when no page is open then the aggregator is not read, and with two pages it is read once a tick for both', async (t) => {
    const aggregator = new CountingAggregator();
    const info = runInfo();
    aggregator.startTimeline(info.startedAt);
    const dashboard = await startInProcess(t, aggregator, info);
    const url = new URL(dashboard.url);

    mock.timers.tick(5 * DASHBOARD_TICK_MS);
    assert.equal(aggregator.snapshots, 0, 'nobody listens: nothing is read');

    const pages = [await followEvents(url), await followEvents(url)];
    await Promise.all(pages.map((page) => updatesOf(page, 1)));
    assert.equal(aggregator.snapshots, 1, "the second page shares the first one's history");

    mock.timers.tick(DASHBOARD_TICK_MS);
    await Promise.all(pages.map((page) => updatesOf(page, 2)));
    assert.equal(aggregator.snapshots, 2, 'one read per tick for every page');

    await dashboard.onRunEnd(buildSummary(aggregator.snapshot(), info, Date.now(), false));
    await Promise.all(pages.map((page) => page.ended));
    for (const page of pages) {
      assert.deepEqual(
        page.updates.map((update) => update.final),
        [false, false, true],
      );
    }
    // Closed: nothing listens on the port any more.
    await assert.rejects(request(url), { code: 'ECONNREFUSED' });
  });

  it('when a page does not read its stream then it is skipped, then dropped, while the others get every update', async (t) => {
    const aggregator = new Aggregator();
    const info = runInfo();
    aggregator.startTimeline(info.startedAt);
    // A hundred distinct errors with long stacks: each update is megabytes,
    // so a page that does not read fills its socket within a few.
    for (let i = 0; i < 100; i++) {
      aggregator.emit(erroredRun(info.startedAt, i, 'x'.repeat(10_000)));
    }
    const dashboard = await startInProcess(t, aggregator, info);
    const url = new URL(dashboard.url);

    const stalled = net.connect(Number(url.port), '127.0.0.1');
    await once(stalled, 'connect');
    stalled.write(`GET /events HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    stalled.pause();
    const reading = await followEvents(url);
    await updatesOf(reading, 1);

    const TICKS = 20;
    for (let tick = 1; tick <= TICKS; tick++) {
      mock.timers.tick(DASHBOARD_TICK_MS);
      await updatesOf(reading, tick + 1);
    }
    assert.equal(reading.updates.length, TICKS + 1, 'the reading page got every update');

    // Read what reached the stalled page: its stream was ended by the server, short of the updates.
    let received = '';
    stalled.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    stalled.resume();
    await Promise.race([once(stalled, 'end'), once(stalled, 'error')]);
    const updates = received.split('event: update\n').length - 1;
    assert.ok(updates >= 1 && updates < TICKS, `the stalled page got ${updates} updates`);
  });

  it('when building an update is costly then the updates are spaced out', async (t) => {
    const aggregator = new CountingAggregator();
    const info = runInfo();
    aggregator.startTimeline(info.startedAt);
    // A thousand URLs: a summary then takes far over 1/20 of a second to build (each URL's histogram).
    for (let i = 0; i < MAX_URLS; i++) {
      aggregator.emit({ ...numberedHit(i), startedAt: info.startedAt });
    }
    const dashboard = await startInProcess(t, aggregator, info);
    const page = await followEvents(new URL(dashboard.url));
    await updatesOf(page, 1);
    const TICKS = 3;
    mock.timers.tick(TICKS * DASHBOARD_TICK_MS);
    await dashboard.close();
    await page.ended;
    assert.ok(aggregator.snapshots < 1 + TICKS, `${aggregator.snapshots} reads in ${TICKS} ticks`);
  });
});
