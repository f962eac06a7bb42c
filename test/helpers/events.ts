// An EventSink for tests that keeps a copy of every event: producers reuse
// their event objects, so keeping the object itself would record only the
// last fill.
import type { EventSink, LoadsEvent } from '../../src/metrics/events.ts';

export class CollectSink implements EventSink {
  readonly events: LoadsEvent[] = [];
  emit(event: LoadsEvent): void {
    this.events.push({ ...event });
  }
  ofType<T extends LoadsEvent['type']>(type: T): Extract<LoadsEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<LoadsEvent, { type: T }> => e.type === type);
  }
}
