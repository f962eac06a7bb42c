// CommonJS packages (undici, ws, hdr-histogram-js, commander, cli-progress,
// ini, shell-quote, esbuild, zeromq, nats.js: eslint.config.js lists them)
// are loaded with require(), not `import`: importing a CommonJS module from
// ESM makes Node parse its source, and every module it re-exports, with
// cjs-module-lexer to learn its export names, at every start and in every
// worker thread. A run of one request took 0.645 CPU-s this way against
// 0.715 with imports (medians of 8, 2026-12-08). Types still come from
// `import type`.
import { createRequire } from 'node:module';

/** require() from this package's folder: resolves what `import` would, with the "require" condition. */
export const requireCjs = createRequire(import.meta.url);

/**
 * One module of package `name` (`modulePath` inside it), for a package whose
 * index loads much more than we use (src/client/http/undici.ts,
 * src/metrics/histogram.ts); `fromIndex` picks the same from the index
 * should a release of the package move that module.
 */
export function requirePart<Index, T>(
  name: string,
  modulePath: string,
  fromIndex: (index: Index) => T,
): T {
  try {
    return requireCjs(`${name}/${modulePath}`) as T;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'MODULE_NOT_FOUND') {
      throw err;
    }
    return fromIndex(requireCjs(name) as Index);
  }
}
