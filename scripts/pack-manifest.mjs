// The package.json that npm packs and publishes carries no `prepare` script.
// In a clone, `prepare` builds dist/ on `npm install` / `npm ci` (the bin,
// `npm run demo` and the tests run dist/). In the packed package it would be
// a lifecycle script that npm warns about on install (and dist/ is already
// built, without typescript there to rebuild it). So, the pinst way:
//   prepack:  node scripts/pack-manifest.mjs strip    (after `npm run build`)
//   postpack: node scripts/pack-manifest.mjs restore
// strip keeps the exact bytes of package.json in .package.json.prepack and
// writes it without scripts.prepare; restore puts the bytes back. A pack
// that failed between the two leaves the backup, which the next strip (or
// restore) puts back first. Both write through a rename, so a reader never
// sees half a file.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const MANIFEST = 'package.json';
const BACKUP = '.package.json.prepack';

function restore() {
  if (existsSync(BACKUP)) {
    renameSync(BACKUP, MANIFEST);
  }
}

function strip() {
  restore();
  const text = readFileSync(MANIFEST, 'utf8');
  const manifest = JSON.parse(text);
  writeFileSync(BACKUP, text);
  if (manifest.scripts !== undefined) {
    delete manifest.scripts.prepare;
  }
  writeFileSync(`${MANIFEST}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(`${MANIFEST}.tmp`, MANIFEST);
}

const command = process.argv[2];
if (command === 'strip') {
  strip();
} else if (command === 'restore') {
  restore();
} else {
  process.stderr.write('usage: node scripts/pack-manifest.mjs strip|restore\n');
  process.exitCode = 2;
}
