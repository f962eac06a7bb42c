// Temporary folders holding real test modules, for loader and CLI tests.
import { mkdtemp, mkdir, writeFile, rm, symlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TmpProject {
  dir: string;
  /** Writes a file relative to dir (creating folders) and returns its path. */
  write(relativePath: string, content: string): Promise<string>;
  remove(): Promise<void>;
}

/** The repository root: its package.json exports the built dist/. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * A temp folder whose node_modules/loads-runner links to this repository, so
 * that `import { TestCase } from 'loads-runner'` resolves (to dist/: build first).
 */
export async function createTmpProject(prefix = 'loads-runner-test-'): Promise<TmpProject> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  await mkdir(path.join(dir, 'node_modules'));
  await symlink(REPO_ROOT, path.join(dir, 'node_modules', 'loads-runner'), 'dir');
  return {
    dir,
    async write(relativePath, content) {
      const file = path.join(dir, relativePath);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, content);
      return file;
    },
    async remove() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
