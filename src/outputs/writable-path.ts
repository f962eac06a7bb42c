// Outputs written once at the end (json, junit) check their path when the
// run starts, so that a typo in a directory name costs a usage error, not a
// whole load test whose report is then lost.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ExitCode, LoadsError } from '../errors.ts';

/** Throws a LoadsError (exit 2) unless `path` can be created or overwritten as a file. */
export function checkWritablePath(path: string, output: string, option: string): void {
  const absolute = resolve(path);
  let problem: string | undefined;
  try {
    if (statSync(absolute, { throwIfNoEntry: false })?.isDirectory() === true) {
      problem = 'it is a directory';
    } else {
      accessSync(dirname(absolute), constants.W_OK);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problem =
      code === 'ENOENT'
        ? `the directory ${dirname(absolute)} does not exist`
        : `the directory ${dirname(absolute)} is not writable (${code ?? String(err)})`;
  }
  if (problem !== undefined) {
    throw new LoadsError(
      `the ${output} output cannot write '${path}': ${problem}; check ${option}`,
      'LOADS_ERR_OUTPUT',
      ExitCode.USAGE,
    );
  }
}
