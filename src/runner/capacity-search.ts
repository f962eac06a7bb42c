// --find-capacity (SPEC §12): which arrival rates to probe, and what the
// probes say. Pure: it is told each probe's verdict and answers with the next
// rate, so it is tested on a simulated service with no network. The search
// grows the rate geometrically from the start rate until a probe breaks the
// SLO, then bisects between the last rate that held and the first that broke
// until they are within the precision — bounded by --max-rate and by a
// number of probes known in advance, so the run's length is too. A probe
// whose generator was saturated proves nothing about the service: the search
// stops there and says so, rather than report the generator's limit.

export interface CapacitySearchOptions {
  /** The first rate probed, runs per second (--rate; default 10). */
  startRate: number;
  /** The highest rate probed (--max-rate), or null for none. */
  maxRate: number | null;
  /** Bisection stops when (broke − held) / held is at most this (--capacity-precision; 0.05 = 5 %). */
  precision: number;
  /** The most probes the search runs, whatever happens. */
  maxProbes: number;
  /** Each growing probe's rate is the previous one × this. */
  growth: number;
}

export const DEFAULT_CAPACITY_SEARCH: Omit<CapacitySearchOptions, 'startRate' | 'maxRate'> = {
  precision: 0.05,
  maxProbes: 12,
  growth: 2,
};

/** What one probe showed. */
export interface ProbeVerdict {
  /** Every threshold passed over the probe. */
  held: boolean;
  /** The expressions of the thresholds it broke (empty when held). */
  broken: string[];
  /** The generator itself was saturated (loop delay, dropped by our own limits): not a verdict on the service. */
  saturated: boolean;
}

export interface ProbeRecord extends ProbeVerdict {
  /** 0-based, in the order run. */
  index: number;
  rate: number;
}

/** Why the search ended. */
export type CapacityReason =
  | 'found' // held and broke within the precision
  | 'max-rate-held' // --max-rate itself held
  | 'first-rate-broke' // even the start rate broke the SLO
  | 'generator-saturated' // a probe's generator was saturated
  | 'probe-limit'; // maxProbes ran out before the precision was reached

export interface CapacityResult {
  /** The highest rate that held, or null when none did. */
  heldRate: number | null;
  /** The lowest rate that broke, or null when none did. */
  brokeRate: number | null;
  reason: CapacityReason;
  probes: ProbeRecord[];
}

/** Rates keep three significant digits: 12.3/s, 187/s, 1230/s. */
export function roundRate(rate: number): number {
  if (rate <= 0) {
    return 0;
  }
  const digits = 2 - Math.floor(Math.log10(rate));
  if (digits < 0) {
    const step = 10 ** -digits;
    return Math.round(rate / step) * step;
  }
  const factor = 10 ** digits;
  return Math.round(rate * factor) / factor;
}

export class CapacitySearch {
  readonly #options: CapacitySearchOptions;
  readonly #probes: ProbeRecord[] = [];
  #held: number | null = null;
  #broke: number | null = null;
  #reason: CapacityReason | null = null;
  #next: number | null;

  constructor(options: CapacitySearchOptions) {
    if (!(options.startRate > 0)) {
      throw new RangeError(`the start rate must be positive, not ${options.startRate}`);
    }
    this.#options = options;
    this.#next = roundRate(
      options.maxRate === null ? options.startRate : Math.min(options.startRate, options.maxRate),
    );
  }

  /** The rate of the next probe, or null when the search is over. */
  next(): number | null {
    return this.#reason === null ? this.#next : null;
  }

  /** Records the verdict of the probe at next()'s rate. */
  record(verdict: ProbeVerdict): void {
    const rate = this.#next;
    if (rate === null || this.#reason !== null) {
      throw new Error('CapacitySearch.record() called after the search ended');
    }
    this.#probes.push({ index: this.#probes.length, rate, ...verdict });
    if (verdict.saturated) {
      this.#end('generator-saturated');
      return;
    }
    if (verdict.held) {
      this.#held = this.#held === null ? rate : Math.max(this.#held, rate);
    } else {
      this.#broke = this.#broke === null ? rate : Math.min(this.#broke, rate);
    }
    const { maxRate, growth, precision, maxProbes } = this.#options;
    if (this.#held === null) {
      this.#end('first-rate-broke');
      return;
    }
    if (this.#broke === null) {
      if (maxRate !== null && this.#held >= maxRate) {
        this.#end('max-rate-held');
        return;
      }
      const grown = this.#held * growth;
      this.#next = roundRate(maxRate === null ? grown : Math.min(grown, maxRate));
    } else {
      if ((this.#broke - this.#held) / this.#held <= precision) {
        this.#end('found');
        return;
      }
      const middle = roundRate((this.#held + this.#broke) / 2);
      if (middle <= this.#held || middle >= this.#broke) {
        // Rounding leaves nothing between them: as precise as rates go.
        this.#end('found');
        return;
      }
      this.#next = middle;
    }
    if (this.#probes.length >= maxProbes) {
      this.#end('probe-limit');
    }
  }

  result(): CapacityResult {
    return {
      heldRate: this.#held,
      brokeRate: this.#broke,
      reason: this.#reason ?? 'probe-limit',
      probes: this.#probes.map((p) => ({ ...p, broken: [...p.broken] })),
    };
  }

  #end(reason: CapacityReason): void {
    this.#reason = reason;
    this.#next = null;
  }
}
