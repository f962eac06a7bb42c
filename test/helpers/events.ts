// An EventSink for tests that keeps a copy of every event: producers reuse
// their event objects, so keeping the object itself would record only the
// last fill.
import type { EventSink, HitEvent, LoadsEvent, RunContext } from '../../src/metrics/events.ts';

/** The first run of a one-user, one-hit step: the context of a Session made by hand. */
export function firstRunContext(): RunContext {
  return { cycleIndex: 0, users: 1, hits: 1, currentUser: 1, currentHit: 1, lagMs: 0 };
}

export class CollectSink implements EventSink {
  readonly events: LoadsEvent[] = [];
  emit(event: LoadsEvent): void {
    this.events.push({ ...event });
  }
  ofType<T extends LoadsEvent['type']>(type: T): Extract<LoadsEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<LoadsEvent, { type: T }> => e.type === type);
  }
}

/** A sink that copies each hit (a Session refills one hit object), and ignores the rest. */
export function collectHits(): { hits: HitEvent[]; emit: (e: LoadsEvent) => void } {
  const hits: HitEvent[] = [];
  return {
    hits,
    emit(e) {
      if (e.type === 'hit') {
        hits.push({ ...e });
      }
    },
  };
}

/** Hit number `i` of a run: GET http://h/i, status 200, 3 bytes, as the output tests write them. */
export function numberedHit(i: number): HitEvent {
  return {
    type: 'hit',
    method: 'GET',
    url: `http://h/${i}`,
    name: '',
    status: 200,
    errorKey: '',
    startedAt: 1000 + i,
    elapsedMs: 1.5,
    bytes: 3,
    test: 'C.t',
    cycleIndex: 0,
    currentUser: 1,
    currentHit: i,
    lagMs: 0,
    protocol: 'h1',
  };
}
