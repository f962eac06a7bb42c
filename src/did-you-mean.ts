// "Did you mean …?" for a near-miss name: an export, a method, a config key,
// a request option. The closest candidates by optimal string alignment
// distance (insertions, deletions, substitutions and adjacent swaps, as
// commander's suggestSimilar for options), case-insensitive, within a third
// of the name's length. A leaf module, like errors.ts, so that every layer
// can suggest the name the user meant.

/** The closest names by edit distance (case-insensitive), if close enough to be a typo. */
export function findSimilar(wanted: string, candidates: readonly string[]): string[] {
  const maxDistance = Math.max(1, Math.floor(wanted.length / 3));
  let best = Infinity;
  let found: string[] = [];
  for (const candidate of candidates) {
    const distance = editDistance(wanted.toLowerCase(), candidate.toLowerCase());
    if (distance > maxDistance || distance > best) {
      continue;
    }
    if (distance < best) {
      best = distance;
      found = [];
    }
    found.push(candidate);
  }
  return found;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) {
    d[i * cols] = i;
  }
  for (let j = 0; j < cols; j++) {
    d[j] = j;
  }
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(
        d[(i - 1) * cols + j]! + 1,
        d[i * cols + j - 1]! + 1,
        d[(i - 1) * cols + j - 1]! + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, d[(i - 2) * cols + j - 2]! + 1);
      }
      d[i * cols + j] = value;
    }
  }
  return d[rows * cols - 1]!;
}
