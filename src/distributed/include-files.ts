// The data files a distributed test reads (`--include-file GLOB`,
// repeatable), read on the runner to be shipped beside the test bundle and
// written in the same place relative to it on each agent (bundle.ts
// materializeBundle). Globs are tinyglobby's, relative to the runner's cwd;
// dot files match only when the glob names them, as in a shell. A glob
// that matches nothing or leaves cwd is refused, and the total is capped
// at MAX_INCLUDED_BYTES so that a mistaken `**` does not ship a disk: every
// agent receives, and holds in memory, all of it.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { glob } from 'tinyglobby';
import { UsageError } from '../errors.ts';

/** One file to ship: where it goes relative to the run folder, its content and permissions. */
export interface IncludedFile {
  /** Relative to the runner's cwd, with `/` separators (`data/users.csv`); never absolute, never `..`. */
  path: string;
  bytes: Uint8Array;
  /** Permission bits (`0o644`), kept so that a script stays executable. */
  mode: number;
}

/** The most the included files may weigh together: 64 MiB. */
export const MAX_INCLUDED_BYTES = 64 * 1024 * 1024;

/**
 * Reads every file the globs match under `cwd`, each once, sorted by path.
 * Throws UsageError (exit 2) naming the glob that leaves cwd or matches
 * nothing, or when the total passes MAX_INCLUDED_BYTES.
 */
export async function resolveIncludeFiles(
  globs: readonly string[],
  cwd: string,
): Promise<IncludedFile[]> {
  const root = path.resolve(cwd);
  const paths = new Set<string>();
  for (const pattern of globs) {
    if (leavesFolder(pattern)) {
      throw outsideCwd(pattern, root);
    }
    const matches = await glob(pattern, { cwd: root, onlyFiles: true, expandDirectories: true });
    if (matches.length === 0) {
      throw new UsageError(
        `--include-file '${pattern}' matches no file in ${root}; check the glob (relative to that folder)`,
      );
    }
    for (const match of matches) {
      // A brace or a symlinked folder can still lead out: check what matched too.
      const relative = path.relative(root, path.resolve(root, match));
      if (leavesFolder(relative)) {
        throw outsideCwd(pattern, root);
      }
      paths.add(relative.split(path.sep).join('/'));
    }
  }

  const sorted = [...paths].sort();
  const stats = await Promise.all(sorted.map((file) => stat(path.join(root, file))));
  const totalBytes = stats.reduce((sum, s) => sum + s.size, 0);
  if (totalBytes > MAX_INCLUDED_BYTES) {
    throw new UsageError(
      `--include-file matches ${sorted.length} files of ${mebibytes(totalBytes)} MiB in all; at most ${mebibytes(MAX_INCLUDED_BYTES)} MiB are shipped to agents: narrow the globs`,
    );
  }
  return Promise.all(
    sorted.map(async (file, index) => ({
      path: file,
      bytes: new Uint8Array(await readFile(path.join(root, file))),
      mode: stats[index]!.mode & 0o777,
    })),
  );
}

/** Whether a relative path or glob points above its folder (or is absolute). */
function leavesFolder(relative: string): boolean {
  if (path.isAbsolute(relative) || path.posix.isAbsolute(relative)) {
    return true;
  }
  const normalized = path.posix.normalize(relative.split(path.sep).join('/'));
  return normalized === '..' || normalized.startsWith('../');
}

function outsideCwd(pattern: string, root: string): UsageError {
  return new UsageError(
    `--include-file '${pattern}' reaches outside ${root}; included files must be inside the folder the run starts from (run from a parent folder instead)`,
  );
}

function mebibytes(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '');
}
