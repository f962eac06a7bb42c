// The load plan: `-u 10:20:30` × `--hits 5:10` as steps run one after the
// other (users outer, hits inner, as in Loads), or one step per users value
// in duration mode, each lasting the whole duration. The open model
// (`--rate 50:100`) has one step per rate, each lasting the duration, with a
// pool of at most --max-users users. --ramp-up applies to every step.
import { UsageError } from '../errors.ts';
import { toEpochMs } from '../metrics/clock.ts';
import { runsInStep } from './arrival.ts';
import type { CycleStartEvent } from '../metrics/events.ts';

/** One step of the plan: `users` virtual users at once, each doing `hits` runs or looping for `durationMs`. */
export interface CycleStep {
  /** 0-based position in the plan. */
  cycleIndex: number;
  users: number;
  /** Runs per user; 0 in duration mode. */
  hits: number;
  /** How long each user loops (or the rate lasts); 0 in hits mode. */
  durationMs: number;
  /** Open model (--rate): test runs started per second; 0 in the closed model (users × hits). */
  rate: number;
  /** --ramp-up: users (or the rate) rise linearly from 0 over this long, ms; 0 for none. */
  rampUpMs: number;
}

/**
 * Builds the plan. `hits` null and `durationMs` null means hits [1]. Throws
 * UsageError for empty lists, non-positive or non-integer counts, or hits
 * with a duration (the CLI validates first; this guards other callers).
 */
export function buildPlan(
  users: readonly number[],
  hits: readonly number[] | null,
  durationMs: number | null,
  rampUpMs = 0,
): CycleStep[] {
  checkCounts('users', users);
  checkRampUp(rampUpMs, durationMs);
  const plan: CycleStep[] = [];
  if (durationMs !== null) {
    if (hits !== null) {
      throw new UsageError('--hits and --duration cannot be used together; pick one');
    }
    if (!Number.isFinite(durationMs) || durationMs <= 0) {
      throw new UsageError(`bad duration ${durationMs} ms: it must be more than 0`);
    }
    for (const u of users) {
      plan.push({ cycleIndex: plan.length, users: u, hits: 0, durationMs, rate: 0, rampUpMs });
    }
    return plan;
  }
  const hitCounts = hits ?? [1];
  checkCounts('hits', hitCounts);
  for (const u of users) {
    for (const h of hitCounts) {
      plan.push({
        cycleIndex: plan.length,
        users: u,
        hits: h,
        durationMs: 0,
        rate: 0,
        rampUpMs,
      });
    }
  }
  return plan;
}

/**
 * The open-model plan (--rate): one step per rate, each lasting
 * `durationMs`, its runs taken by a pool of at most `maxUsers` users (the
 * step's `users`). Throws UsageError for an empty list, a rate that is not a
 * positive number, a bad pool size, duration or ramp-up.
 */
export function buildRatePlan(
  rates: readonly number[],
  durationMs: number,
  maxUsers: number,
  rampUpMs = 0,
): CycleStep[] {
  if (rates.length === 0) {
    throw new UsageError(
      'no rate given; pass runs per second such as 200 or a cycle such as 50:100',
    );
  }
  for (const rate of rates) {
    if (!Number.isFinite(rate) || rate <= 0) {
      throw new UsageError(`bad rate ${rate}: each must be a number of runs per second above 0`);
    }
  }
  checkCounts('users', [maxUsers]);
  if (!Number.isFinite(durationMs) || durationMs <= 0) {
    throw new UsageError(`bad duration ${durationMs} ms: it must be more than 0`);
  }
  checkRampUp(rampUpMs, durationMs);
  return rates.map((rate, cycleIndex) => ({
    cycleIndex,
    users: maxUsers,
    hits: 0,
    durationMs,
    rate,
    rampUpMs,
  }));
}

function checkRampUp(rampUpMs: number, durationMs: number | null): void {
  if (!Number.isFinite(rampUpMs) || rampUpMs < 0) {
    throw new UsageError(`bad ramp-up ${rampUpMs} ms: it must be 0 or more`);
  }
  if (durationMs !== null && rampUpMs > 0 && rampUpMs >= durationMs) {
    throw new UsageError(
      `ramp-up ${rampUpMs} ms is not shorter than the duration ${durationMs} ms; shorten it`,
    );
  }
}

/**
 * Number of test runs (test-end events) the plan makes at most: users ×
 * hits × methods per step, or the schedule's runs × methods in a rate step
 * (some may be dropped). Closed-model duration steps count 0, since their
 * number of runs is not known in advance.
 */
export function countRuns(plan: readonly CycleStep[], methodsPerRun: number): number {
  let runs = 0;
  for (const step of plan) {
    runs += (step.rate > 0 ? runsInStep(step) : step.users * step.hits) * methodsPerRun;
  }
  return runs;
}

function checkCounts(what: 'users' | 'hits', counts: readonly number[]): void {
  if (counts.length === 0) {
    throw new UsageError(`no ${what} given; pass a count such as 10 or a cycle such as 10:20:30`);
  }
  for (const count of counts) {
    if (!Number.isSafeInteger(count) || count < 1) {
      throw new UsageError(`bad ${what} count ${count}: each must be a whole number of at least 1`);
    }
  }
}

/** The cycle-start event of `step`, started at the monotonic time `startMs`. */
export function cycleStartEvent(step: CycleStep, startMs: number): CycleStartEvent {
  return {
    type: 'cycle-start',
    cycleIndex: step.cycleIndex,
    users: step.users,
    hits: step.hits,
    durationMs: step.durationMs,
    rate: step.rate,
    rampUpMs: step.rampUpMs,
    startedAt: toEpochMs(startMs),
  };
}
