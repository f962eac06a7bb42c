import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEAP_GROWING_PERCENT, heapGrowthFlag } from '../../src/cli/gc-tuning.ts';

test('the heap growth is capped unless node was given its own --heap-growing-percent', () => {
  assert.equal(heapGrowthFlag([]), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  assert.equal(heapGrowthFlag(['--enable-source-maps', '--cpu-prof']), '--heap-growing-percent=50');
  assert.equal(heapGrowthFlag(['--heap-growing-percent=300']), null);
  assert.equal(heapGrowthFlag(['--heap_growing_percent=10']), null);
  assert.equal(heapGrowthFlag(['--heap-growing-percent']), null);
  assert.equal(
    heapGrowthFlag(['--heap-growing-percentage-not-a-flag']),
    '--heap-growing-percent=50',
  );
});
