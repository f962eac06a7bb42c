import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Outcome } from '../../src/metrics/events.ts';
import type { HitEvent, TestEndEvent, TestStartEvent } from '../../src/metrics/events.ts';
import type { RunInfo } from '../../src/metrics/summary.ts';
import { escapeXmlAttr, FunkloadOutput } from '../../src/outputs/funkload.ts';
import type { OutputContext } from '../../src/outputs/output.ts';

const T0 = 1_800_000_000_000;

/**
 * A small well-formedness check for the flat XML this output writes: every
 * tag parses, attributes are quoted with no raw `<`, `&` or control
 * character, elements nest, one root. Returns the element counts by name.
 */
function checkXml(xml: string): Map<string, number> {
  const counts = new Map<string, number>();
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>/y;
  let roots = 0;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    assert.match(lt === -1 ? xml.slice(i) : xml.slice(i, lt), /^\s*$/, 'text between elements');
    if (lt === -1) {
      break;
    }
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    assert.ok(m, `bad tag at ${lt}: ${xml.slice(lt, lt + 120)}`);
    const [, close, name = '', attrs = '', selfClose] = m;
    for (const a of attrs.matchAll(/="([^"]*)"/g)) {
      const value = a[1] ?? '';
      assert.doesNotMatch(value, /&(?!(amp|lt|gt|quot|apos|#\d+);)/, `raw & in ${value}`);
      for (const c of value) {
        assert.ok(c.charCodeAt(0) >= 32, `control character in ${JSON.stringify(value)}`);
      }
    }
    if (close === '/') {
      assert.equal(stack.pop(), name);
    } else {
      if (stack.length === 0) {
        roots++;
      }
      counts.set(name, (counts.get(name) ?? 0) + 1);
      if (selfClose !== '/') {
        stack.push(name);
      }
    }
    i = tag.lastIndex;
  }
  assert.deepEqual(stack, [], 'every element is closed');
  assert.equal(roots, 1);
  return counts;
}

const INFO: RunInfo = {
  startedAt: T0,
  fqn: 'project.tests.Foo.test_a',
  projectName: 'p',
  version: '9.8.7',
  users: [2, 4],
  hits: [3],
  durationMs: null,
  rate: null,
  maxUsers: null,
  rampUpMs: 0,
  workers: 1,
};

function context(filename: string): OutputContext {
  return {
    projectName: 'p',
    fqn: INFO.fqn,
    write: () => {},
    options: { output_funkload_filename: filename, server_url: 'http://h?a=1&b=2' },
    color: false,
    quiet: false,
  };
}

function hit(user: number, cycleIndex: number, url: string, status: number): HitEvent {
  return {
    type: 'hit',
    method: 'GET',
    url,
    name: '',
    status,
    errorKey: status === 0 ? 'ECONNREFUSED' : '',
    startedAt: T0 + 1500,
    elapsedMs: 12.5,
    bytes: 1,
    test: 'Foo.test_a',
    cycleIndex,
    currentUser: user,
    currentHit: 1,
    lagMs: 0,
    protocol: 'h1',
  };
}

function testStart(user: number, cycleIndex: number, users: number): TestStartEvent {
  return {
    type: 'test-start',
    test: 'Foo.test_a',
    startedAt: T0 + 1000,
    cycleIndex,
    users,
    currentUser: user,
    currentHit: 1,
  };
}

function testEnd(
  user: number,
  cycleIndex: number,
  users: number,
  outcome: Outcome,
  stack = '',
): TestEndEvent {
  return {
    type: 'test-end',
    test: 'Foo.test_a',
    startedAt: T0 + 1000,
    elapsedMs: 250,
    outcome,
    errorName: outcome === Outcome.SUCCESS ? '' : 'AssertionError',
    errorMessage: outcome === Outcome.SUCCESS ? '' : 'bad',
    errorStack: stack,
    cycleIndex,
    users,
    currentUser: user,
    currentHit: 1,
    lagMs: 0,
  };
}

describe('FunkloadOutput', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loads-funkload-output-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('when a run is written then the XML is well formed with one element per hit and test run', async () => {
    const file = path.join(dir, 'report.xml');
    const output = new FunkloadOutput(context(file));
    output.onRunStart(INFO);
    // Step 0 (2 users): user 1 succeeds with 2 hits, user 2 fails with 1 hit.
    output.onEvent(testStart(1, 0, 2));
    output.onEvent(hit(1, 0, 'http://h/a?x=1&y=<2>', 200));
    output.onEvent(hit(1, 0, 'http://h/b', 404));
    output.onEvent(testEnd(1, 0, 2, Outcome.SUCCESS));
    output.onEvent(testStart(2, 0, 2));
    output.onEvent(hit(2, 0, 'http://h/c', 0));
    output.onEvent(
      testEnd(
        2,
        0,
        2,
        Outcome.FAILURE,
        'AssertionError: bad "x" <y> & z\n    at t (f.ts:1:2)\u0000',
      ),
    );
    // Step 1 (4 users, the second users value): one run with one hit.
    output.onEvent(testStart(3, 1, 4));
    output.onEvent(hit(3, 1, 'http://h/d', 200));
    output.onEvent(testEnd(3, 1, 4, Outcome.ERROR, 'Error: x'));
    output.onEvent({ type: 'counter', name: 'ignored', value: 1 });
    await output.onRunEnd();

    const xml = await readFile(file, 'utf8');
    const counts = checkXml(xml);
    assert.deepEqual(Object.fromEntries(counts), {
      funkload: 1,
      config: 19,
      response: 4,
      testResult: 3,
    });
    assert.ok(
      xml.startsWith('<funkload version="1.17.0" time="2027-01-15T08:00:00.000">\n'),
      xml.slice(0, 80),
    );
    assert.ok(xml.endsWith('</funkload>\n'));

    assert.match(xml, /<config key="cycles" value="\[2, 4\]"\/>/);
    assert.match(xml, /<config key="module" value="project.tests"\/>/);
    assert.match(xml, /<config key="class" value="Foo"\/>/);
    assert.match(xml, /<config key="method" value="test_a"\/>/);
    assert.match(xml, /<config key="server_url" value="http:\/\/h\?a=1&amp;b=2"\/>/);
    assert.match(xml, /<config key="log_xml" value="[^"]*report\.xml"\/>/);
    // Loads wrote its own version here; this is the package's, from RunInfo.
    assert.match(
      xml,
      /<config key="class_description" value="Loads Funkload export loads-runner-9\.8\.7"\/>/,
    );

    const responses = xml.match(/<response [^>]*\/>/g) ?? [];
    assert.equal(
      responses[0],
      '<response cycle="000" cvus="002" thread="001" suite="" name="" step="001" number="001" ' +
        'type="get" result="Successful" url="http://h/a?x=1&amp;y=&lt;2&gt;" code="200" ' +
        'description="" time="1800000001.500000" duration="0.012500" />',
    );
    assert.match(responses[1]!, /result="Failure" url="http:\/\/h\/b" code="404"/);
    assert.match(responses[2]!, /result="Failure" url="http:\/\/h\/c" code="0"/);
    assert.match(responses[3]!, /cycle="001" cvus="004" thread="003"/);

    const results = xml.match(/<testResult [^>]*\/>/g) ?? [];
    assert.equal(
      results[0],
      '<testResult cycle="000" cvus="002" thread="001" suite="Foo" name="test_a" ' +
        'time="1800000001.000000" result="Successful" steps="1" duration="0.250000" ' +
        'connection_duration="0" requests="2" pages="2" xmlrpc="0" redirects="0" images="0" links="0" />',
    );
    assert.match(results[1]!, /result="Failure" .* requests="1" pages="1" /);
    assert.match(
      results[1]!,
      / traceback="AssertionError: bad &quot;x&quot; &lt;y&gt; &amp; z&#10; {4}at t \(f\.ts:1:2\)" \/>$/,
    );
    assert.match(
      results[2]!,
      /cycle="001" cvus="004" thread="003" .* result="Failure" .* requests="1" /,
    );
  });

  it('when a hit has a name then its url is the name and its description the real URL', async () => {
    const file = path.join(dir, 'named.xml');
    const output = new FunkloadOutput(context(file));
    output.onRunStart(INFO);
    output.onEvent(testStart(1, 0, 2));
    for (const id of [7, 8]) {
      output.onEvent({ ...hit(1, 0, `http://h/item/${id}?a=1&b=<2>`, 200), name: '/item/:id' });
    }
    output.onEvent(hit(1, 0, 'http://h/plain', 200));
    output.onEvent(testEnd(1, 0, 2, Outcome.SUCCESS));
    await output.onRunEnd();
    const xml = await readFile(file, 'utf8');
    checkXml(xml);
    const responses = (xml.match(/<response [^>]*\/>/g) ?? []).map((r) =>
      [/ url="([^"]*)"/.exec(r)?.[1], / description="([^"]*)"/.exec(r)?.[1]].join(' | '),
    );
    assert.deepEqual(responses, [
      '/item/:id | http://h/item/7?a=1&amp;b=&lt;2&gt;',
      '/item/:id | http://h/item/8?a=1&amp;b=&lt;2&gt;',
      'http://h/plain | ',
    ]);
  });

  it('when the run goes on then elements reach the file before the footer', async () => {
    const file = path.join(dir, 'streaming.xml');
    const output = new FunkloadOutput(context(file), 10);
    output.onRunStart(INFO);
    output.onEvent(hit(1, 0, 'http://h/a', 200));
    let text = '';
    for (let i = 0; i < 200 && !text.includes('<response '); i++) {
      await sleep(10);
      text = await readFile(file, 'utf8');
    }
    assert.ok(text.includes('<response '));
    assert.ok(!text.includes('</funkload>'));
    await output.onRunEnd();
    assert.ok((await readFile(file, 'utf8')).endsWith('</funkload>\n'));
  });

  it('when an attribute value needs escaping then it is escaped and forbidden characters dropped', () => {
    assert.equal(escapeXmlAttr('plain'), 'plain');
    assert.equal(escapeXmlAttr('a&b<c>d"e'), 'a&amp;b&lt;c&gt;d&quot;e');
    assert.equal(escapeXmlAttr('x\ty\nz\r\u0001'), 'x&#9;y&#10;z&#13;');
  });
});
