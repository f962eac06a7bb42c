// Latency histogram: a thin wrapper on hdr-histogram-js (pure-JS build, no
// WASM) at 3 significant digits. Values are recorded in integer microseconds
// so sub-millisecond latencies keep their precision, and reported in ms.
// Merging two histograms adds bucket counts, so it is exact: workers can ship
// encoded deltas and the receiver merges them without loss (STYLE.md §8.8).
// Limits: counts per bucket are 32-bit; values above 2^53 µs cannot be recorded.
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

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

export class LatencyHistogram {
  #hdr: Histogram;

  constructor() {
    this.#hdr = createHdr();
  }

  /** Records one latency in milliseconds (negative values count as 0). */
  record(ms: number): void {
    const us = Math.round(ms * US_PER_MS);
    this.#hdr.recordValue(us > 0 ? us : 0);
  }

  /** Number of values recorded. */
  get count(): number {
    return this.#hdr.totalCount;
  }

  /** Mean in ms, within the histogram's precision (0.1%); 0 when empty. */
  get mean(): number {
    return this.#hdr.totalCount === 0 ? 0 : this.#hdr.mean / US_PER_MS;
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
