// Reads SPEC §6 summary lines the way a user's script would.
import assert from 'node:assert/strict';

/** The number after `label:` on its own line, e.g. summaryNumber(out, 'Hits'). */
export function summaryNumber(stdout: string, label: string): number {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^${escaped}: ?([0-9.]+)(?:s| seconds)?$`, 'm').exec(stdout);
  assert.ok(match, `no '${label}:' line in:\n${stdout}`);
  return Number(match[1]);
}

/** Control characters other than newline and tab (ANSI escapes, \r). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const CONTROL_CHARS = /[\x00-\x08\x0b-\x1f\x7f]/;
