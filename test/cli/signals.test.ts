import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleInterrupts } from '../../src/cli/signals.ts';

test('first SIGINT aborts and calls onFirst; the second calls onSecond', () => {
  const controller = new AbortController();
  const calls: string[] = [];
  const remove = handleInterrupts({
    controller,
    onFirst: () => calls.push('first'),
    onSecond: () => calls.push('second'),
  });
  try {
    process.emit('SIGINT', 'SIGINT');
    assert.equal(controller.signal.aborted, true);
    assert.deepEqual(calls, ['first']);
    process.emit('SIGINT', 'SIGINT');
    assert.deepEqual(calls, ['first', 'second']);
  } finally {
    remove();
  }
  assert.equal(process.listenerCount('SIGINT'), 0);
});
