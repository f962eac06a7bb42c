// Latency histogram: a thin wrapper on hdr-histogram-js (pure-JS build, no
// WASM) at 3 significant digits. Values are recorded in integer microseconds
// so sub-millisecond latencies keep their precision, and reported in ms.
// Merging two histograms adds bucket counts, so it is exact: workers can ship
// encoded deltas and the receiver merges them without loss (STYLE.md §8.8).
// Limits: counts per bucket are 32-bit; values above 2^53 µs cannot be recorded.
import type * as Hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { requirePart } from '../require-cjs.ts';

// From their own modules: the index also loads the log reader and writer
// (this one starts Intl at load), the recorder and the packed histograms,
// 43 → 30 ms of CPU per thread (medians of 6, 2026-12-08).
const { build } = requirePart(
  'hdr-histogram-js',
  'dist/HistogramBuilder.js',
  (hdr: typeof Hdr) => hdr,
);
const { decodeFromCompressedBase64, encodeIntoCompressedBase64 } = requirePart(
  'hdr-histogram-js',
  'dist/encoding.js',
  (hdr: typeof Hdr) => hdr,
);

const SIGNIFICANT_DIGITS = 3;
const US_PER_MS = 1000;

function createHdr(): Histogram {
  return build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    // Starts small and grows to the largest value seen: memory follows the
    // slowest hit, not a guessed maximum.
    highestTrackableValue: 2,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    useWebAssembly: false,
  });
}

/** The parts of hdr-histogram-js's JsHistogram that LatencyHistogram's record and mean use (public in JS, untyped). */
interface HdrCounts {
  readonly countsArrayLength: number;
  readonly maxValue: number;
  readonly minNonZeroValue: number;
  readonly totalCount: number;
  countsArrayIndex(value: number): number;
  getCountAtIndex(index: number): number;
  valueFromIndex(index: number): number;
  medianEquivalentValue(value: number): number;
  incrementCountAtIndex(index: number): void;
  updatedMaxValue(value: number): void;
  updateMinNonZeroValue(value: number): void;
  incrementTotalCount(): void;
}

/** log2 of half the sub-buckets per bucket at 3 significant digits (HDR: 2,048 sub-buckets). */
const HALF_MAGNITUDE = 10;

/**
 * HDR's counts index of `us` (an integer, 0 ≤ us < 2^31) when a bucket holds
 * 2^halfMagnitude sub-buckets in its upper half: bucket = max(⌊log2 us⌋ −
 * halfMagnitude, 0), index = bucket × 2^halfMagnitude + ⌊us / 2^bucket⌋, in
 * integer bit operations (hdr-histogram-js uses Math.log2 and Math.pow).
 */
function hdrIndex(us: number, halfMagnitude: number): number {
  const log2 = 31 - Math.clz32(us);
  const bucket = log2 > halfMagnitude ? log2 - halfMagnitude : 0;
  return (bucket << halfMagnitude) + (us >>> bucket);
}

export class LatencyHistogram {
  #hdr: Histogram;

  constructor() {
    this.#hdr = createHdr();
  }

  /** The HDR counts index of `us` (an integer, 0 ≤ us < 2^31) at 3 significant digits; checked against hdr-histogram-js in the tests. */
  static indexOf(us: number): number {
    return hdrIndex(us, HALF_MAGNITUDE);
  }

  /** Records one latency in milliseconds (negative values count as 0). */
  record(ms: number): void {
    const rounded = Math.round(ms * US_PER_MS);
    const us = rounded > 0 ? rounded : 0;
    // hdr-histogram-js's recordValue with the index computed in integer
    // operations: its Math.log2 and Math.pow cost 63–71 ns a value, this
    // 7 ns. Three per hit: the aggregator's 340 → 124 ns per run (npm run
    // bench -- aggregator), 1.5 % of a request's CPU at 69k req/CPU-s.
    // Values from 35 minutes up, and those that grow the array, take
    // recordValue itself.
    const hdr = this.#hdr as unknown as HdrCounts;
    if (us < 0x80000000) {
      const index = LatencyHistogram.indexOf(us);
      if (index < hdr.countsArrayLength) {
        hdr.incrementCountAtIndex(index);
        if (us > hdr.maxValue) {
          hdr.updatedMaxValue(us);
        }
        if (us !== 0 && us < hdr.minNonZeroValue) {
          hdr.updateMinNonZeroValue(us);
        }
        hdr.incrementTotalCount();
        return;
      }
    }
    this.#hdr.recordValue(us);
  }

  /** Number of values recorded. */
  get count(): number {
    return this.#hdr.totalCount;
  }

  /**
   * Mean in ms, within the histogram's precision (0.1%); 0 when empty.
   * hdr-histogram-js's own mean (each count at the middle of its bucket's
   * range), summed in the same order over the non-zero counts: its
   * iterator took 3–9 ms a call whatever the count, this loop 0.4–2 ms,
   * and a run's summary asks for one per step and per request name.
   */
  get mean(): number {
    const hdr = this.#hdr as unknown as HdrCounts;
    const total = hdr.totalCount;
    if (total === 0) {
      return 0;
    }
    const last = Math.min(hdr.countsArrayIndex(hdr.maxValue), hdr.countsArrayLength - 1);
    let sum = 0;
    for (let index = 0; index <= last; index++) {
      const count = hdr.getCountAtIndex(index);
      if (count !== 0) {
        sum += hdr.medianEquivalentValue(hdr.valueFromIndex(index)) * count;
      }
    }
    return sum / total / US_PER_MS;
  }

  /**
   * Largest value in ms, rounded up to the histogram's precision (as
   * percentile(100)), so a merged or decoded histogram reports the same; 0
   * when empty.
   */
  get max(): number {
    return this.percentile(100);
  }

  /** The value at percentile `p` (0–100) in ms; 0 when empty. */
  percentile(p: number): number {
    return this.#hdr.totalCount === 0 ? 0 : this.#hdr.getValueAtPercentile(p) / US_PER_MS;
  }

  /** Adds every value of `other` into this one (exact). `other` is not changed. */
  merge(other: LatencyHistogram): void {
    if (other.#hdr.totalCount > 0) {
      this.#hdr.add(other.#hdr);
    }
  }

  /** An independent copy. */
  copy(): LatencyHistogram {
    const clone = new LatencyHistogram();
    clone.merge(this);
    return clone;
  }

  /** HdrHistogram's compressed base64 form, readable by any HdrHistogram port. */
  encode(): string {
    return encodeIntoCompressedBase64(this.#hdr);
  }

  /** The inverse of encode(). The result keeps growing with new values. */
  static decode(encoded: string): LatencyHistogram {
    const decoded = decodeFromCompressedBase64(encoded, 32, false);
    // Decoded histograms come back with autoResize off; merging them into a
    // fresh one gives the same counts and the usual growth.
    const histogram = new LatencyHistogram();
    if (decoded.totalCount > 0) {
      histogram.#hdr.add(decoded);
    }
    decoded.destroy();
    return histogram;
  }

  /** Forgets every value (keeps the allocated buckets). */
  reset(): void {
    this.#hdr.reset();
  }
}

/** Timeline rows' precision: 1 %, ample for a chart and 8× smaller than LatencyHistogram's. */
const ROW_SIGNIFICANT_DIGITS = 2;

function createRowHdr(): Histogram {
  return build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 2,
    numberOfSignificantValueDigits: ROW_SIGNIFICANT_DIGITS,
    useWebAssembly: false,
  });
}

/** Maps bucket indexes to values; the mapping depends on the configuration only, not on the size. */
const ROW_INDEX = createRowHdr() as Histogram & {
  valueFromIndex(index: number): number;
  highestEquivalentValue(value: number): number;
};

/**
 * The non-zero buckets of a RowHistogram as [index, count, index, count, …],
 * indexes ascending: a row crosses threads as it is (structured clone),
 * merges in O(buckets), and a sealed row costs 8 bytes per bucket it uses.
 * Never changed in place once made, so snapshots can share it.
 */
export type BucketPairs = Uint32Array;

/** log2 of half the sub-buckets per bucket at 2 significant digits (HDR: 256 sub-buckets). */
const ROW_HALF_MAGNITUDE = 7;

/**
 * A timeline row's latencies, in µs, in the bucket layout of an HDR
 * histogram at 2 significant digits (ROW_INDEX maps indexes to values), then
 * kept as BucketPairs once the row is sealed. It counts into its own array
 * rather than through hdr-histogram-js's recordValue, whose Math.log2 and
 * Math.pow cost about 150 ns a value here: two of them per hit were 1–2 %
 * of a request's CPU; this is under 10 ns (bench: aggregator ns per run).
 * The index is HDR's own formula (bucket = ⌊log2 v⌋ − 7, index = bucket ×
 * 128 + ⌊v / 2^bucket⌋), checked against it value by value in the tests.
 */
export class RowHistogram {
  #counts = new Uint32Array(4 << ROW_HALF_MAGNITUDE);
  #total = 0;

  /** The HDR counts index of `us` (an integer ≥ 0). */
  static indexOf(us: number): number {
    if (us < 0x80000000) {
      return hdrIndex(us, ROW_HALF_MAGNITUDE); // the common case, up to 35 minutes
    }
    const bucket = Math.floor(Math.log2(us)) - ROW_HALF_MAGNITUDE;
    return bucket * (1 << ROW_HALF_MAGNITUDE) + Math.floor(us / 2 ** bucket);
  }

  /** Records one latency in milliseconds (negative values count as 0). */
  record(ms: number): void {
    const us = Math.round(ms * US_PER_MS);
    this.#add(RowHistogram.indexOf(us > 0 ? us : 0), 1);
  }

  #add(index: number, count: number): void {
    if (index >= this.#counts.length) {
      let length = this.#counts.length * 2;
      while (length <= index) {
        length *= 2;
      }
      const grown = new Uint32Array(length);
      grown.set(this.#counts);
      this.#counts = grown;
    }
    this.#counts[index]! += count;
    this.#total += count;
  }

  get count(): number {
    return this.#total;
  }

  /** Adds the values of `pairs` (exact: same buckets). */
  addPairs(pairs: BucketPairs): void {
    for (let i = 0; i < pairs.length; i += 2) {
      this.#add(pairs[i]!, pairs[i + 1]!);
    }
  }

  toPairs(): BucketPairs {
    const counts = this.#counts;
    let used = 0;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i]! > 0) {
        used++;
      }
    }
    const pairs = new Uint32Array(used * 2);
    for (let i = 0, k = 0; k < pairs.length; i++) {
      const count = counts[i]!;
      if (count > 0) {
        pairs[k++] = i;
        pairs[k++] = count;
      }
    }
    return pairs;
  }
}

/** The exact sum of two BucketPairs (a new array; neither input changes). */
export function mergeBucketPairs(a: BucketPairs, b: BucketPairs): BucketPairs {
  if (a.length === 0) {
    return b.slice();
  }
  if (b.length === 0) {
    return a.slice();
  }
  const merged = new Uint32Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) {
      merged[k++] = a[i]!;
      merged[k++] = a[i + 1]!;
      i += 2;
    } else if (i >= a.length || b[j]! < a[i]!) {
      merged[k++] = b[j]!;
      merged[k++] = b[j + 1]!;
      j += 2;
    } else {
      merged[k++] = a[i]!;
      merged[k++] = a[i + 1]! + b[j + 1]!;
      i += 2;
      j += 2;
    }
  }
  return k === merged.length ? merged : merged.slice(0, k);
}

/**
 * The values at `percentiles` (0–100, ascending) of `pairs`, in ms, as HDR
 * reports them (the highest value of the bucket holding that rank); zeros
 * when empty. percentile 100 is the maximum.
 */
export function bucketPairsPercentiles(
  pairs: BucketPairs,
  percentiles: readonly number[],
): number[] {
  let total = 0;
  for (let i = 1; i < pairs.length; i += 2) {
    total += pairs[i]!;
  }
  const values = percentiles.map(() => 0);
  if (total === 0) {
    return values;
  }
  let k = 0;
  let seen = 0;
  for (let i = 0; i < pairs.length && k < percentiles.length; i += 2) {
    seen += pairs[i + 1]!;
    while (k < percentiles.length) {
      const fp = (Math.min(percentiles[k]!, 100) / 100) * total;
      // Rounded up, as HDR does, without letting float error skip a count.
      const rank = Math.max(1, Math.ceil(fp - fp * Number.EPSILON * 4));
      if (seen < rank) {
        break;
      }
      values[k] = ROW_INDEX.highestEquivalentValue(ROW_INDEX.valueFromIndex(pairs[i]!)) / US_PER_MS;
      k++;
    }
  }
  return values;
}
