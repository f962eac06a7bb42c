// loads-runner's own version, from its package.json: printed by --version,
// stamped on every summary, and named when a saved one is of another schema.
import { readFileSync } from 'node:fs';

export function readVersion(): string {
  // src/cli/version.ts and dist/cli/version.js both sit two folders below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
