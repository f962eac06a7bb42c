// Build step: the report's page script and stylesheet are plain files read at
// run time beside the compiled renderer (src/report/render.ts), so they are
// copied from src/report/assets to dist/report/assets.
import { cpSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../src/report/assets', import.meta.url));
const to = fileURLToPath(new URL('../dist/report/assets', import.meta.url));
cpSync(from, to, { recursive: true });
