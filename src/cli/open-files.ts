// The hint after a run whose hits failed with EMFILE (too many open files):
// each virtual user holds sockets, so a default `ulimit -n` of 1024 runs out
// at about a thousand users. Node has no getrlimit(); on Linux the limits
// are in /proc/self/limits, elsewhere the hint goes without a number. Node
// raises its soft limit to the hard one at startup, so in practice the
// limit to raise is the hard one (`ulimit -n N` in bash sets both).
import { readFileSync } from 'node:fs';

/** The open-files limits of this process; null for unlimited. */
export interface OpenFilesLimit {
  soft: number | null;
  hard: number | null;
}

/** The value suggested to `ulimit -n`, when the hard limit allows it. */
const SUGGESTED_LIMIT = 65536;

/** Parses the "Max open files" line of /proc/self/limits; null when it is not there. */
export function parseOpenFilesLimit(text: string): OpenFilesLimit | null {
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  if (match === null) {
    return null;
  }
  const value = (field: string): number | null => (field === 'unlimited' ? null : Number(field));
  return { soft: value(match[1]!), hard: value(match[2]!) };
}

/** This process's open-files limits, or null where they cannot be read (not Linux). */
export function readOpenFilesLimit(): OpenFilesLimit | null {
  try {
    return parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return null;
  }
}

/** The one line printed after the run when `failed` hits failed with EMFILE. */
export function emfileHint(failed: number, limit: OpenFilesLimit | null): string {
  const head = `${failed} ${failed === 1 ? 'request' : 'requests'} failed with EMFILE (too many open files)`;
  if (limit === null || limit.soft === null) {
    return `${head}: this process ran out of file descriptors; raise its open-files limit (e.g. 'ulimit -n ${SUGGESTED_LIMIT}') or use fewer users`;
  }
  if (limit.hard !== null && limit.hard <= limit.soft) {
    // Node raises the soft limit to the hard one at startup, so this is the usual case.
    return `${head}: this process may open ${limit.soft} files, its hard limit (ulimit -Hn); raise it with 'ulimit -n ${SUGGESTED_LIMIT}' in a shell whose hard limit allows it (or LimitNOFILE= in systemd, --ulimit nofile=${SUGGESTED_LIMIT} in docker), or use fewer users`;
  }
  const may = `this process may open ${limit.soft} files (ulimit -n)`;
  // Up to 65536, as far as the hard limit lets a user go without root.
  const wanted = Math.max(SUGGESTED_LIMIT, limit.soft < SUGGESTED_LIMIT ? 0 : limit.soft * 2);
  const target = limit.hard === null ? wanted : Math.min(limit.hard, wanted);
  return `${head}: ${may}; raise it with 'ulimit -n ${target}' or use fewer users`;
}
