import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import {
  bucketPairsPercentiles,
  LatencyHistogram,
  mergeBucketPairs,
  RowHistogram,
} from '../../src/metrics/histogram.ts';

function oneToThousand(): LatencyHistogram {
  const h = new LatencyHistogram();
  for (let ms = 1; ms <= 1000; ms++) {
    h.record(ms);
  }
  return h;
}

const PERCENTILES = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100];

function assertSameDistribution(a: LatencyHistogram, b: LatencyHistogram): void {
  assert.equal(a.count, b.count);
  assert.equal(a.mean, b.mean);
  assert.equal(a.max, b.max);
  for (const p of PERCENTILES) {
    assert.equal(a.percentile(p), b.percentile(p), `p${p}`);
  }
}

/** hdr-histogram-js as LatencyHistogram and RowHistogram configure it, to check them against. */
function bareHdr(digits: 2 | 3): ReturnType<typeof build> {
  return build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 2,
    numberOfSignificantValueDigits: digits,
    useWebAssembly: false,
  });
}

describe('LatencyHistogram', () => {
  it('when empty then every statistic is 0', () => {
    const h = new LatencyHistogram();
    assert.equal(h.count, 0);
    assert.equal(h.mean, 0);
    assert.equal(h.max, 0);
    assert.equal(h.percentile(50), 0);
  });

  it('when 1..1000 ms are recorded then percentiles are within 3 significant digits', () => {
    const h = oneToThousand();
    assert.equal(h.count, 1000);
    // HDR reports the highest value equivalent to the bucket: exact for this input.
    assert.equal(h.percentile(50), 500.223);
    assert.equal(h.percentile(90), 900.095);
    assert.equal(h.percentile(95), 950.271);
    assert.equal(h.percentile(99), 990.207);
    assert.equal(h.max, 1000.447);
    assert.ok(Math.abs(h.percentile(50) - 500) / 500 < 0.001);
    assert.ok(Math.abs(h.mean - 500.5) / 500.5 < 0.001, `mean ${h.mean}`);
  });

  it('when sub-millisecond latencies are recorded then they keep microsecond precision', () => {
    const h = new LatencyHistogram();
    h.record(0.25);
    h.record(0.75);
    assert.equal(h.percentile(50), 0.25);
    assert.equal(h.max, 0.75);
    assert.equal(h.mean, 0.5);
  });

  it("has hdr-histogram-js's own mean, to the last bit, from 0 to values past 2^31 µs", () => {
    const h = new LatencyHistogram();
    const bare = bareHdr(3);
    // A fixed pseudo-random spread over every bucket size, then hours.
    let seed = 7;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 48271) % 2147483647;
      const us = i % 500 === 0 ? 0 : Math.floor((seed / 2147483647) ** 4 * 3_000_000_000);
      h.record(us / 1000);
      bare.recordValue(us);
    }
    assert.ok(bare.maxValue > 2 ** 31);
    assert.equal(h.mean, bare.mean / 1000);
    const merged = new LatencyHistogram();
    merged.merge(h);
    merged.merge(oneToThousand());
    for (let ms = 1; ms <= 1000; ms++) {
      bare.recordValue(ms * 1000);
    }
    assert.equal(merged.mean, bare.mean / 1000);
    assert.equal(LatencyHistogram.decode(merged.encode()).mean, merged.mean);
  });

  it('when a negative latency is recorded then it counts as 0', () => {
    const h = new LatencyHistogram();
    h.record(-3);
    assert.equal(h.count, 1);
    assert.equal(h.max, 0);
  });

  it('when two halves are merged then the result equals one histogram of everything', () => {
    const low = new LatencyHistogram();
    const high = new LatencyHistogram();
    for (let ms = 1; ms <= 1000; ms++) {
      (ms <= 500 ? low : high).record(ms);
    }
    low.merge(high);
    assertSameDistribution(low, oneToThousand());
    assert.equal(high.count, 500, 'merge leaves the other histogram alone');
  });

  it('when a histogram with larger values is merged into a small one then it grows', () => {
    const small = new LatencyHistogram();
    small.record(0.5);
    const big = new LatencyHistogram();
    big.record(120_000);
    small.merge(big);
    assert.equal(small.count, 2);
    assert.ok(small.max >= 120_000 && small.max < 120_000 * 1.001, `max ${small.max}`);
  });

  it('when encoded and decoded then the distribution is the same and it still grows', () => {
    const h = oneToThousand();
    const decoded = LatencyHistogram.decode(h.encode());
    assertSameDistribution(decoded, h);
    decoded.record(3_600_000);
    assert.equal(decoded.count, 1001);
    assert.ok(decoded.max >= 3_600_000 && decoded.max < 3_600_000 * 1.001);
  });

  it('when an empty histogram is encoded then it decodes to an empty one', () => {
    const decoded = LatencyHistogram.decode(new LatencyHistogram().encode());
    assert.equal(decoded.count, 0);
  });

  it('when copied then the copy is independent', () => {
    const h = oneToThousand();
    const c = h.copy();
    h.record(5000);
    assert.equal(c.count, 1000);
    assert.equal(c.max, 1000.447);
  });

  it('when reset then it is empty and records again', () => {
    const h = oneToThousand();
    h.reset();
    assert.equal(h.count, 0);
    h.record(2);
    assert.equal(h.count, 1);
    assert.equal(h.percentile(100), 2);
  });

  it('puts every value in the bucket an HDR histogram at 3 significant digits would', () => {
    const hdr = bareHdr(3) as unknown as { countsArrayIndex(value: number): number };
    const values = [0, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 1_000_000, 2 ** 31 - 1];
    for (let v = 1; v < 2 ** 31; v = Math.ceil(v * 1.37)) {
      values.push(v - 1, v, v + 1);
    }
    for (const value of values) {
      assert.equal(LatencyHistogram.indexOf(value), hdr.countsArrayIndex(value), `value ${value}`);
    }
  });

  it('records exactly what hdr-histogram-js recordValue records, growing and past 35 minutes', () => {
    const h = new LatencyHistogram();
    const reference = bareHdr(3);
    let seed = 7;
    const next = (): number => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
    // Sub-millisecond to an hour, smallest first then at random, so the
    // buckets grow both ways; and a value exactly at 2^31 µs.
    const values = [0.001, 0.5, 3, 250, 2_147_483.648, 3_600_000];
    for (let i = 0; i < 20_000; i++) {
      values.push(next() ** 6 * 4_000_000);
    }
    for (const ms of values) {
      h.record(ms);
      reference.recordValue(Math.round(ms * 1000));
    }
    // Compared as booleans: a failure would print two 5 KB strings.
    assert.ok(h.encode() === encodeIntoCompressedBase64(reference), 'same encoding');
    // A copy merges through HDR's add(), which sizes itself by the maximum.
    const referenceCopy = bareHdr(3);
    referenceCopy.add(reference);
    assert.ok(h.copy().encode() === encodeIntoCompressedBase64(referenceCopy), 'same copy');
    assert.equal(h.count, values.length);
    assert.equal(h.max, reference.getValueAtPercentile(100) / 1000);
    assert.equal(h.percentile(0), reference.getValueAtPercentile(0) / 1000);
  });
});

describe('RowHistogram', () => {
  it('puts every value in the bucket an HDR histogram at 2 significant digits would', () => {
    const hdr = bareHdr(2) as unknown as { countsArrayIndex(value: number): number };
    const values = [
      0,
      1,
      2,
      127,
      128,
      255,
      256,
      257,
      1000,
      65_535,
      2 ** 31 - 1,
      2 ** 31,
      2 ** 40 + 3,
    ];
    for (let v = 1; v < 1e12; v = Math.ceil(v * 1.37)) {
      values.push(v, v + 1);
    }
    for (const value of values) {
      assert.equal(RowHistogram.indexOf(value), hdr.countsArrayIndex(value), `value ${value}`);
    }
  });

  it('gives percentiles within 1 % and merges exactly', () => {
    const a = new RowHistogram();
    const b = new RowHistogram();
    const both = new RowHistogram();
    for (let i = 1; i <= 1000; i++) {
      (i % 2 === 0 ? a : b).record(i);
      both.record(i);
    }
    const merged = mergeBucketPairs(a.toPairs(), b.toPairs());
    assert.deepEqual(merged, both.toPairs());
    const [p50, p99, max] = bucketPairsPercentiles(merged, [50, 99, 100]);
    for (const [value, expected] of [
      [p50!, 500],
      [p99!, 990],
      [max!, 1000],
    ] as const) {
      assert.ok(Math.abs(value - expected) / expected <= 0.01, `${value} vs ${expected}`);
    }
    const copy = new RowHistogram();
    copy.addPairs(merged);
    assert.equal(copy.count, 1000);
    assert.deepEqual(copy.toPairs(), merged);
  });
});
