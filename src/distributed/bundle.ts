// Shipping the test to agents (issue 11 §2). The runner resolves the test
// name as a local run does (runner/loader.ts resolveTestModule) and bundles
// the module, its local imports and its npm dependencies into one ES module
// with esbuild; `loads-runner` stays external, so an agent runs it against
// its own installed copy, and Node's built-ins stay external (platform
// node). An agent writes it, with the included data files, into a private
// temporary folder and loads it there by the file form of the test name.
//
// - The bundle sits where the test module sits relative to the runner's
//   cwd (`tests/load.ts` → `tests/load.bundle.mjs`) and included files keep
//   their cwd-relative paths, so `new URL('../data/users.csv',
//   import.meta.url)` finds the same file on an agent as on the runner. In
//   every bundled module import.meta.url is the bundle's; paths relative to
//   the process's cwd do not reach the run folder on an agent.
// - The inline source map names the original files relative to that
//   place, so a failing test's stack names `tests/load.ts:12` once source
//   maps are on in the agent (`process.setSourceMapsEnabled(true)` or
//   `--enable-source-maps`, in every thread, before the bundle is loaded).
// - A CommonJS npm dependency calls `require`, which an ES module lacks: a
//   banner defines it with createRequire (esbuild's documented way).
//   `__dirname` is not defined: a dependency that reads its own files by it
//   cannot work from a bundle anyway, as those files are not shipped.
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Esbuild from 'esbuild';
import type { BuildFailure, Message } from 'esbuild';
import { BundleError, VersionMismatchError } from '../errors.ts';
import { requireCjs } from '../require-cjs.ts';
import { displayPath, resolveTestModule } from '../runner/loader.ts';
import type { IncludedFile } from './include-files.ts';

const { build } = requireCjs('esbuild') as typeof Esbuild;

/**
 * A test module bundled for agents: plain data, safe to serialise as JSON.
 * A files-only bundle (filesOnlyBundle: an external test, whose scripts are
 * among the included files) has code '' and fileName '': nothing is written
 * for it but the included files.
 */
export interface TestBundle {
  /** The ES module source, with its source map inline; '' in a files-only bundle. */
  code: string;
  /** Where the bundle goes in the run folder, `/`-separated (`example.bundle.mjs`, `tests/load.bundle.mjs`); '' in a files-only bundle. */
  fileName: string;
  /** The test name that loads it from the run folder: `example.bundle.mjs:TestWebSite.test_es`; in a files-only bundle, the external test's name. */
  fqnInBundle: string;
  /** The runner's loads-runner version; an agent of another version refuses the run. */
  loadsRunnerVersion: string;
  /** SHA-256 of `code` (UTF-8), hex. */
  sha256: string;
  /** Length of `code` in UTF-8 bytes. */
  bytes: number;
}

/** The test bundle written on an agent, ready for loadTest(fqn, dir). */
export interface MaterializedBundle {
  /** The private run folder (mode 0700). */
  dir: string;
  /** The test name to load from `dir`. */
  fqn: string;
  /** Deletes the folder and everything in it (the link to loads-runner, not its target). */
  remove(): Promise<void>;
}

/**
 * The root folder of the loads-runner package this module belongs to (the
 * installed package, or a source checkout): what an agent passes to
 * materializeBundle. This file is <root>/src/distributed/ or <root>/dist/distributed/.
 */
export const LOADS_RUNNER_ROOT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
);

// Named so as not to clash with the user's own top-level names; esbuild
// renames a user's own `require` binding out of the way of this one.
const REQUIRE_BANNER =
  "import { createRequire as __loadsRunnerCreateRequire } from 'node:module';\n" +
  'const require = __loadsRunnerCreateRequire(import.meta.url);';

/**
 * Resolves `fqn` from `cwd` as a local run does and bundles its module.
 * Throws FqnError when the name does not resolve and BundleError (one line:
 * the module, esbuild's first message, the fix) when the module does not
 * bundle; both exit 2.
 */
export async function bundleTest(options: {
  fqn: string;
  cwd: string;
  version: string;
}): Promise<TestBundle> {
  const cwd = path.resolve(options.cwd);
  const { target, file } = resolveTestModule(options.fqn, cwd);
  const fileName = bundleFileName(file, cwd);
  let code: string;
  try {
    const result = await build({
      entryPoints: [file],
      absWorkingDir: cwd,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      // Not written: the path only places the source map's relative file names.
      outfile: path.join(cwd, fileName),
      write: false,
      sourcemap: 'inline',
      // Stack traces need the mappings only; the sources would double the size.
      sourcesContent: false,
      // The loader finds `export default class X` by its name; a summary names classes.
      keepNames: true,
      external: ['loads-runner', 'loads-runner/*'],
      banner: { js: REQUIRE_BANNER },
      logLevel: 'silent',
    });
    code = result.outputFiles[0]!.text;
  } catch (err) {
    throw bundleFailure(err, file, cwd);
  }
  const method = target.methodName === null ? '' : `.${target.methodName}`;
  return {
    code,
    fileName,
    fqnInBundle: `${fileName}:${target.className}${method}`,
    loadsRunnerVersion: options.version,
    sha256: sha256(code),
    bytes: Buffer.byteLength(code),
  };
}

/**
 * The bundle of an external test (--test-runner): no code, only the
 * included files beside it; `fqn` is the external test's name, given to the
 * command as it is. The version check stays.
 */
export function filesOnlyBundle(options: { fqn: string; version: string }): TestBundle {
  return {
    code: '',
    fileName: '',
    fqnInBundle: options.fqn,
    loadsRunnerVersion: options.version,
    sha256: sha256(''),
    bytes: 0,
  };
}

/** Whether `bundle` holds no code (filesOnlyBundle). */
export function isFilesOnly(bundle: TestBundle): boolean {
  return bundle.fileName === '';
}

/** Throws VersionMismatchError (naming both versions) unless the bundle came from `agentVersion`. */
export function checkBundleVersion(bundle: TestBundle, agentVersion: string): void {
  if (bundle.loadsRunnerVersion !== agentVersion) {
    throw new VersionMismatchError(bundle.loadsRunnerVersion, agentVersion);
  }
}

/**
 * Writes the bundle and the included files into a new private folder under
 * `tmpDir` (default: the OS's) so that the bundle's `loads-runner` import
 * resolves to `loadsRunnerRoot`. Checks everything it was sent first:
 * file names that stay inside the folder, the bundle's SHA-256 and size.
 * Throws BundleError, and leaves nothing behind, when a check or a write fails.
 */
export async function materializeBundle(
  bundle: TestBundle,
  files: readonly IncludedFile[],
  options: { loadsRunnerRoot: string; tmpDir?: string },
): Promise<MaterializedBundle> {
  checkReceivedBundle(bundle, files);
  const filesOnly = isFilesOnly(bundle);
  if (!filesOnly) {
    await checkLoadsRunnerRoot(options.loadsRunnerRoot);
  }

  // mkdtemp creates the folder 0700 already; chmod says so whatever the umask.
  const dir = await mkdtemp(path.join(options.tmpDir ?? tmpdir(), 'loads-agent-run-'));
  await chmod(dir, 0o700);
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    if (!filesOnly) {
      await writeRunFile(dir, bundle.fileName, bundle.code, 0o600);
    }
    for (const file of files) {
      await writeRunFile(dir, file.path, file.bytes, file.mode & 0o777);
    }
    if (filesOnly) {
      return { dir, fqn: bundle.fqnInBundle, remove };
    }
    // Node resolves a bare `loads-runner` from the bundle by looking for
    // node_modules/loads-runner in the folders above it: this link is found
    // first, and Node follows it to the agent's package, whose "exports" map
    // the import to its dist/ (a source checkout needs `npm run build`, as
    // the examples do; TestCase from dist and the agent's runner from src
    // still match, by the loader's Symbol.for brand). Made last, so no
    // included file is ever written through it.
    await mkdir(path.join(dir, 'node_modules'));
    await symlink(
      path.resolve(options.loadsRunnerRoot),
      path.join(dir, 'node_modules', 'loads-runner'),
      'dir',
    );
  } catch (err) {
    await remove();
    throw new BundleError(
      `cannot write the test into ${dir}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  return { dir, fqn: bundle.fqnInBundle, remove };
}

/** `<module's folder relative to cwd>/<name>.bundle.mjs`; the bare name when the module is outside cwd. */
function bundleFileName(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  const place =
    relative.startsWith('..') || path.isAbsolute(relative) ? path.basename(file) : relative;
  return (
    place
      .split(path.sep)
      .join('/')
      .replace(/\.m?[jt]s$/, '') + '.bundle.mjs'
  );
}

function bundleFailure(err: unknown, file: string, cwd: string): unknown {
  const module = displayPath(cwd, file);
  const first = isBuildFailure(err) ? err.errors[0] : undefined;
  if (first === undefined) {
    return new BundleError(
      `cannot bundle the test module ${module}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
      { cause: err },
    );
  }
  return new BundleError(
    `cannot bundle the test module ${module}: ${describeMessage(first)}; ${fixFor(first, module, cwd)}`,
    { cause: err },
  );
}

function isBuildFailure(err: unknown): err is BuildFailure {
  return err instanceof Error && Array.isArray((err as Partial<BuildFailure>).errors);
}

/** `helper.ts:2:24: Could not resolve "left-pad"`, as esbuild's own first line. */
function describeMessage(message: Message): string {
  const text = message.text.split('\n')[0]!;
  const at = message.location;
  return at === null ? text : `${at.file}:${at.line}:${at.column}: ${text}`;
}

function fixFor(message: Message, module: string, cwd: string): string {
  const unresolved = /^Could not resolve "([^"]+)"/.exec(message.text)?.[1];
  if (unresolved === undefined) {
    return `fix the error in ${message.location?.file ?? module}`;
  }
  if (unresolved.startsWith('.') || unresolved.startsWith('/')) {
    return 'check the import path';
  }
  const name = unresolved.startsWith('@')
    ? unresolved.split('/').slice(0, 2).join('/')
    : unresolved.split('/')[0]!;
  return `install it where the test is: npm install ${name} (in ${cwd})`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Refuses a bundle or file set an agent must not write: damaged, or naming places outside the run folder. */
function checkReceivedBundle(bundle: TestBundle, files: readonly IncludedFile[]): void {
  if (isFilesOnly(bundle)) {
    if (bundle.code !== '' || bundle.bytes !== 0) {
      throw new BundleError(
        `the test bundle has ${bundle.bytes} bytes of code but no file name; run it again`,
      );
    }
    checkIncludedFiles(files, new Set());
    return;
  }
  checkRunPath(bundle.fileName, 'the test bundle');
  if (!bundle.fileName.endsWith('.mjs')) {
    throw new BundleError(`the test bundle's file name '${bundle.fileName}' does not end in .mjs`);
  }
  if (!bundle.fqnInBundle.startsWith(`${bundle.fileName}:`)) {
    throw new BundleError(
      `the test name '${bundle.fqnInBundle}' does not name the bundle '${bundle.fileName}'`,
    );
  }
  const bytes = Buffer.byteLength(bundle.code);
  const digest = sha256(bundle.code);
  if (bytes !== bundle.bytes || digest !== bundle.sha256) {
    throw new BundleError(
      `the test bundle ${bundle.fileName} arrived damaged: ${bytes} bytes with SHA-256 ${digest.slice(0, 12)}…, sent as ${bundle.bytes} bytes with ${bundle.sha256.slice(0, 12)}…; run it again`,
    );
  }
  checkIncludedFiles(files, new Set([bundle.fileName]));
}

/** Refuses included files named outside the run folder, over the agent's loads-runner, or twice (`seen` holds the names taken). */
function checkIncludedFiles(files: readonly IncludedFile[], seen: Set<string>): void {
  for (const file of files) {
    checkRunPath(file.path, 'an included file');
    if (
      file.path === 'node_modules/loads-runner' ||
      file.path.startsWith('node_modules/loads-runner/')
    ) {
      throw new BundleError(
        `an included file '${file.path}' would replace the agent's own loads-runner; leave node_modules/loads-runner out of --include-file`,
      );
    }
    if (seen.has(file.path)) {
      throw new BundleError(`the file '${file.path}' was sent twice`);
    }
    seen.add(file.path);
  }
}

/** A relative, `/`-separated path with no empty, `.` or `..` part: it stays in the folder it is joined to. */
function checkRunPath(name: string, what: string): void {
  const parts = name.split('/');
  if (
    name === '' ||
    name.includes('\\') ||
    name.includes('\0') ||
    parts.some((part) => part === '' || part === '.' || part === '..')
  ) {
    throw new BundleError(
      `refusing ${what} named '${name}': a name must be a relative path inside the run folder`,
    );
  }
}

async function checkLoadsRunnerRoot(root: string): Promise<void> {
  let name: unknown;
  try {
    name = (
      JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { name?: unknown }
    ).name;
  } catch {
    name = undefined;
  }
  if (name !== 'loads-runner') {
    throw new BundleError(
      `${root} is not the loads-runner package (no package.json named loads-runner there); pass the agent's own package root`,
    );
  }
}

async function writeRunFile(
  dir: string,
  relative: string,
  content: string | Uint8Array,
  mode: number,
): Promise<void> {
  const target = path.join(dir, ...relative.split('/'));
  await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  // 'wx': never through an existing file or link.
  await writeFile(target, content, { flag: 'wx', mode });
  await chmod(target, mode);
}
