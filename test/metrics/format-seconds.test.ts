import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatSeconds } from '../../src/metrics/format-seconds.ts';

describe('formatSeconds', () => {
  it('when given the SPEC §6 examples then it writes three significant digits', () => {
    assert.equal(formatSeconds(0.000512), '0.000512s');
    assert.equal(formatSeconds(0.0412), '0.0412s');
    assert.equal(formatSeconds(1.25), '1.25s');
    assert.equal(formatSeconds(12.3), '12.3s');
    assert.equal(formatSeconds(125), '125s');
  });

  it('when the value is 0 then it is 0s', () => {
    assert.equal(formatSeconds(0), '0s');
    assert.equal(formatSeconds(-0), '0s');
  });

  it('when trailing digits are zeros then they stay: the precision is shown', () => {
    assert.equal(formatSeconds(0.04), '0.0400s');
    assert.equal(formatSeconds(2.02), '2.02s');
    assert.equal(formatSeconds(1), '1.00s');
    assert.equal(formatSeconds(10), '10.0s');
    assert.equal(formatSeconds(0.5), '0.500s');
  });

  it('when rounding crosses a power of ten then the digits move with it', () => {
    // 0.0009995 is stored as 0.000999499…: it stays below the half.
    assert.equal(formatSeconds(0.0009995), '0.000999s');
    assert.equal(formatSeconds(0.00099951), '0.00100s');
    assert.equal(formatSeconds(0.00999), '0.00999s');
    assert.equal(formatSeconds(0.009996), '0.0100s');
    assert.equal(formatSeconds(0.0999), '0.0999s');
    assert.equal(formatSeconds(0.09996), '0.100s');
    assert.equal(formatSeconds(0.9994), '0.999s');
    assert.equal(formatSeconds(0.9996), '1.00s');
    assert.equal(formatSeconds(9.994), '9.99s');
    assert.equal(formatSeconds(9.996), '10.0s');
    assert.equal(formatSeconds(99.94), '99.9s');
    assert.equal(formatSeconds(99.96), '100s');
  });

  it('when the value is 100 s or more then it is whole seconds, never an exponent', () => {
    assert.equal(formatSeconds(100.4), '100s');
    assert.equal(formatSeconds(999.5), '1000s');
    assert.equal(formatSeconds(1234.5), '1235s');
    assert.equal(formatSeconds(3725.4), '3725s');
    assert.equal(formatSeconds(86_400 * 3), '259200s');
  });

  it('when the value is tiny then it is still plain decimals', () => {
    assert.equal(formatSeconds(0.0000012), '0.00000120s');
    assert.equal(formatSeconds(1e-7), '0.000000100s');
    assert.doesNotMatch(formatSeconds(1.234e-9), /e/);
  });

  it('when a unit is given then it follows the figure', () => {
    assert.equal(formatSeconds(2.0249, ' seconds'), '2.02 seconds');
    assert.equal(formatSeconds(3725.4, ' seconds'), '3725 seconds');
    assert.equal(formatSeconds(0, ' seconds'), '0 seconds');
  });

  it('when the value is negative then the sign is kept', () => {
    assert.equal(formatSeconds(-0.0412), '-0.0412s');
    assert.equal(formatSeconds(-1234.5), '-1235s');
  });

  it('for every value, the text read back is the value rounded to three significant digits', () => {
    for (let i = 0; i < 2000; i++) {
      const value = 10 ** (Math.random() * 5 - 4); // 0.0001 … 10
      const text = formatSeconds(value);
      assert.match(text, /^\d+(\.\d+)?s$/);
      const back = Number(text.slice(0, -1));
      assert.equal(back, Number(value.toPrecision(3)), `${value} → ${text}`);
      const significant = text.slice(0, -1).replace('.', '').replace(/^0+/, '');
      assert.equal(significant.length, 3, `${value} → ${text}`);
    }
  });
});
