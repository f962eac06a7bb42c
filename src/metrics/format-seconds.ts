// The one rule for every duration people read (SPEC §6): seconds with three
// significant digits, so that two figures of the same quantity — a p99 line
// and a threshold measured on it, the average and a URL's average — never
// disagree by rounding. No exponent notation, and 0 is `0s`. From 100 s up
// the figure is whole seconds (`125s`, `3725s`): rounding an hour-long run
// to three digits (3730) would invent a zero, and its fractions of a second
// mean nothing. Machine formats (JUnit's time attributes, Funkload's XML)
// keep their own fixed decimals.

/**
 * `seconds` as text with three significant digits, then `unit` (default
 * 's'): 0.000512 → '0.000512s', 0.0412 → '0.0412s', 1.25 → '1.25s',
 * 12.3 → '12.3s', 125 → '125s', 3725.4 → '3725s', 0 → '0s'.
 */
export function formatSeconds(seconds: number, unit = 's'): string {
  if (!Number.isFinite(seconds)) {
    return `${seconds}${unit}`;
  }
  if (seconds === 0) {
    return `0${unit}`;
  }
  const sign = seconds < 0 ? '-' : '';
  const abs = Math.abs(seconds);
  // toExponential rounds once, correctly, and gives the exponent after
  // rounding (0.09996 → '1.00e-1'): the digits are placed from it, so no
  // second rounding can disagree with the first.
  const [mantissa = '0', exponentText = '0'] = abs.toExponential(2).split('e');
  const exponent = Number(exponentText);
  if (exponent >= 2) {
    return `${sign}${Math.round(abs)}${unit}`;
  }
  const digits = mantissa.replace('.', ''); // three digits, e.g. '412'
  let text: string;
  if (exponent < 0) {
    text = `0.${'0'.repeat(-exponent - 1)}${digits}`;
  } else {
    const point = exponent + 1;
    text = `${digits.slice(0, point)}.${digits.slice(point)}`;
  }
  return `${sign}${text}${unit}`;
}
