// A Session made by hand for client tests: the first run of a one-user
// step, test 'T.test', a 5 s deadline, and whatever else a test sets.
import { Session, type SessionOptions } from '../../src/client/http/session.ts';
import type { LoadsEvent } from '../../src/metrics/events.ts';
import { firstRunContext } from './events.ts';

export function makeTestSession(
  sink: { emit: (e: LoadsEvent) => void },
  extra: Partial<SessionOptions> = {},
): Session {
  return new Session({
    sink,
    context: firstRunContext(),
    testName: () => 'T.test',
    timeoutMs: 5000,
    ...extra,
  });
}
