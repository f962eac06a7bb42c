import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleInterrupts, signalExitCode } from '../../src/cli/signals.ts';
import { ExitCode } from '../../src/errors.ts';

test('the first signal aborts and calls onFirst with its name; any later one calls onSecond', () => {
  const controller = new AbortController();
  const calls: string[] = [];
  const remove = handleInterrupts({
    controller,
    onFirst: (signal) => calls.push(`first ${signal}`),
    onSecond: (signal) => calls.push(`second ${signal}`),
  });
  try {
    process.emit('SIGTERM', 'SIGTERM');
    assert.equal(controller.signal.aborted, true);
    assert.deepEqual(calls, ['first SIGTERM']);
    process.emit('SIGINT', 'SIGINT');
    assert.deepEqual(calls, ['first SIGTERM', 'second SIGINT']);
  } finally {
    remove();
  }
  assert.equal(process.listenerCount('SIGINT'), 0);
  assert.equal(process.listenerCount('SIGTERM'), 0);
});

test('a signal exits with 128 + its number: SIGINT 130, SIGTERM 143', () => {
  assert.equal(signalExitCode('SIGINT'), 130);
  assert.equal(signalExitCode('SIGTERM'), 143);
  assert.equal(ExitCode.SIGINT, 130);
  assert.equal(ExitCode.SIGTERM, 143);
});
