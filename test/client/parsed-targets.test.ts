import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { originUrl, parseTarget } from '../../src/client/http/parsed-targets.ts';

describe('parseTarget', () => {
  it('parses a target once per thread and strips its fragment', () => {
    const first = parseTarget('http://127.0.0.1:8080/a/b?x=1#top');
    assert.equal(first.origin, 'http://127.0.0.1:8080');
    assert.equal(first.path, '/a/b?x=1');
    assert.equal(first.url.href, 'http://127.0.0.1:8080/a/b?x=1');
    assert.equal(parseTarget('http://127.0.0.1:8080/a/b?x=1#top'), first);
  });

  it('refuses what is not an http: or https: URL', () => {
    assert.throws(() => parseTarget('ftp://127.0.0.1/'), /unsupported protocol ftp:/);
    assert.throws(() => parseTarget('not a url'), TypeError);
  });

  it('stays bounded and right for a test that builds a new URL per request', () => {
    const kept = parseTarget('http://127.0.0.1:8080/kept');
    for (let i = 0; i < 3000; i++) {
      const parsed = parseTarget(`http://127.0.0.1:8080/item/${i}`);
      assert.equal(parsed.path, `/item/${i}`);
    }
    // The cache started over on the way: a new parse, equal to the first.
    const again = parseTarget('http://127.0.0.1:8080/kept');
    assert.notEqual(again, kept);
    assert.equal(again.url.href, kept.url.href);
  });
});

describe('originUrl', () => {
  it('gives one URL per origin', () => {
    const url = originUrl('http://127.0.0.1:8080');
    assert.equal(url.host, '127.0.0.1:8080');
    assert.equal(originUrl('http://127.0.0.1:8080'), url);
  });
});
