// Resolves a test name (SPEC §2) to a TestCase subclass and its methods.
// Modules are found from cwd as <name>.ts/.mts/.js/.mjs or <name>/index.*,
// and imported as they are: TypeScript through tsx (no build step for the
// user), registered once and only when a .ts/.mts module is loaded. The
// registration is global, not namespaced: a namespace tags every URL the
// user module imports, which loaded a second copy of loads-runner itself
// through the hooks thread and cost about 0.5 CPU-second at startup.
// Every way a name can fail is an FqnError with the failing part and a
// one-line message that ends with the fix.
import { statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FqnError } from '../errors.ts';
import { findSimilar } from '../did-you-mean.ts';
import { parseFqn, type FqnTarget } from './fqn.ts';
import { isTestCaseBase, isTestCaseClass, type TestCaseClass } from './test-case.ts';

/** A test name resolved to a class and the methods each run calls. */
export interface LoadedTest {
  /** The name as given. */
  fqn: string;
  /** Absolute path of the module file. */
  file: string;
  testClass: TestCaseClass;
  className: string;
  /** The methods each run calls, in order: the one named, or every test* method in definition order. */
  methods: string[];
}

/** Extensions tried, in this order, for a module name and for a folder's index. */
export const MODULE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'] as const;

/** Settles once tsx is registered in this thread; undefined until a .ts module is loaded. */
let tsxRegistered: Promise<void> | undefined;

async function importModule(file: string): Promise<unknown> {
  if (/\.m?ts$/.test(file)) {
    // Once per thread: every register() call adds another hook. Imported
    // here, not at the top: tsx and its esbuild cost a .js test 80 ms of CPU.
    tsxRegistered ??= registerTsx();
    await tsxRegistered;
  }
  return import(pathToFileURL(file).href);
}

async function registerTsx(): Promise<void> {
  const [esm, cjs] = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]);
  // Both: a .ts file in a folder without "type": "module" loads as CommonJS.
  esm.register();
  cjs.register();
}

/** A test name whose module file was found, before anything is imported. */
export interface ResolvedTestModule {
  /** The name as given, trimmed. */
  fqn: string;
  /** The reading of the name whose module exists. */
  target: FqnTarget;
  /** Absolute path of the module file. */
  file: string;
}

/**
 * Finds the module file of the test named by `fqn` from `cwd` without
 * importing it (the distributed runner bundles it instead); throws
 * FqnError part 'syntax' or 'module'.
 */
export function resolveTestModule(fqn: string, cwd: string): ResolvedTestModule {
  const parsed = parseFqn(fqn);
  const tried: string[] = [];
  for (const candidate of parsed.candidates) {
    const file = resolveModule(candidate, cwd, tried);
    if (file !== undefined) {
      return { fqn: parsed.fqn, target: candidate, file };
    }
  }
  throw missingModule(parsed.candidates, cwd, tried);
}

/** Finds, imports and checks the test named by `fqn`, resolving modules from `cwd`. */
export async function loadTest(fqn: string, cwd: string): Promise<LoadedTest> {
  const { fqn: name, target, file } = resolveTestModule(fqn, cwd);
  const label = moduleLabel(target, cwd, file);

  let namespace: Record<string, unknown>;
  try {
    namespace = (await importModule(file)) as Record<string, unknown>;
  } catch (err) {
    const fix = loadedAsCommonJs(err, file)
      ? commonJsFix(cwd, file)
      : `fix the error in ${displayPath(cwd, file)}`;
    throw new FqnError(
      `module ${label} failed to load: ${firstLine(err)}; ${fix}`,
      'module',
      [file],
      { cause: err },
    );
  }

  const value = findExport(namespace, target.className);
  if (value === undefined) {
    throw missingExport(namespace, target.className, label, file);
  }
  if (!isTestCaseClass(value)) {
    const what =
      typeof value === 'function'
        ? isTestCaseBase(value)
          ? 'TestCase itself'
          : 'a class or function that does not extend TestCase'
        : `a ${value === null ? 'null' : typeof value}, not a class`;
    throw new FqnError(
      `export '${target.className}' of module ${label} is ${what}; declare it as \`export class ${target.className} extends TestCase\` with TestCase from 'loads-runner'`,
      'not-testcase',
      [file],
    );
  }

  const testMethods = listTestMethods(value);
  let methods: string[];
  if (target.methodName !== null) {
    if (!ownMethodNames(value).includes(target.methodName)) {
      throw new FqnError(
        `class ${target.className} has no method '${target.methodName}'${suggestion(target.methodName, ownMethodNames(value), testMethods, 'its test methods are')}`,
        'method',
        [file],
      );
    }
    methods = [target.methodName];
  } else {
    if (testMethods.length === 0) {
      throw new FqnError(
        `class ${target.className} has no method whose name starts with 'test'; add one, or name the method to run: ${target.modulePath !== null ? `${label}.` : `${target.filePath}:`}${target.className}.<method>`,
        'method',
        [file],
      );
    }
    methods = testMethods;
  }
  return { fqn: name, file, testClass: value, className: target.className, methods };
}

/** Returns the module file for a candidate, or undefined; adds every path looked at to `tried`. */
function resolveModule(target: FqnTarget, cwd: string, tried: string[]): string | undefined {
  let base: string;
  if (target.filePath !== null) {
    base = path.resolve(cwd, target.filePath);
    if (isFile(base, tried)) {
      return base;
    }
  } else {
    base = path.join(cwd, ...(target.modulePath ?? []));
  }
  for (const ext of MODULE_EXTENSIONS) {
    if (isFile(base + ext, tried)) {
      return base + ext;
    }
  }
  for (const ext of MODULE_EXTENSIONS) {
    const index = path.join(base, `index${ext}`);
    if (isFile(index, tried)) {
      return index;
    }
  }
  return undefined;
}

function isFile(file: string, tried: string[]): boolean {
  if (!tried.includes(file)) {
    tried.push(file);
  }
  return statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
}

function missingModule(candidates: readonly FqnTarget[], cwd: string, tried: string[]): FqnError {
  // Name the reading a user most likely meant: a capitalised class name,
  // else the shortest module path. This only words the message; every
  // path tried is in pathsTried.
  const preferred =
    candidates.find((c) => /^[A-Z]/.test(c.className) && !/^[A-Z]/.test(c.methodName ?? 'x')) ??
    candidates[candidates.length - 1]!;
  if (preferred.filePath !== null) {
    return new FqnError(
      `no such file '${preferred.filePath}': tried ${displayPath(cwd, path.resolve(cwd, preferred.filePath))}, with .ts, .mts, .js, .mjs and /index.*; check the path (relative to ${cwd})`,
      'module',
      tried,
    );
  }
  const modulePath = preferred.modulePath ?? [];
  const base = displayPath(cwd, path.join(cwd, ...modulePath));
  const paths = MODULE_EXTENSIONS.map((ext) => base + ext).join(', ');
  return new FqnError(
    `no such module '${modulePath.join('.')}': tried ${paths}, ${base}/index.*`,
    'module',
    tried,
  );
}

function findExport(namespace: Record<string, unknown>, name: string): unknown {
  if (Object.prototype.hasOwnProperty.call(namespace, name)) {
    return namespace[name];
  }
  // `export default class TestWebSite …` is found by its class name too.
  const fallback = namespace['default'];
  if (typeof fallback === 'function' && fallback.name === name) {
    return fallback;
  }
  // A CommonJS module (a .ts file outside a "type": "module" folder, as
  // compiled by tsx) has its exports on `default` when Node's static
  // analysis does not find them by name.
  if (typeof fallback === 'object' && fallback !== null && Object.hasOwn(fallback, name)) {
    return (fallback as Record<string, unknown>)[name];
  }
  return undefined;
}

function missingExport(
  namespace: Record<string, unknown>,
  name: string,
  label: string,
  file: string,
): FqnError {
  const fallback = namespace['default'];
  const exports: Record<string, unknown> =
    typeof fallback === 'object' && fallback !== null
      ? { ...(fallback as Record<string, unknown>), ...namespace }
      : namespace;
  const names = Object.keys(exports).filter((key) => key !== 'default');
  const testClasses = names.filter((key) => isTestCaseClass(exports[key]));
  const hint = suggestion(name, names, testClasses, 'its TestCase classes are');
  return new FqnError(
    `module ${label} has no export '${name}'${hint === '' ? `; export it: \`export class ${name} extends TestCase\`` : hint}`,
    'export',
    [file],
  );
}

/** " (did you mean X?)" for a near miss, else "; <listLabel>: a, b", else "". */
function suggestion(
  wanted: string,
  candidates: readonly string[],
  fallbackList: readonly string[],
  listLabel: string,
): string {
  const similar = findSimilar(wanted, candidates);
  if (similar.length > 0) {
    return ` (did you mean ${similar.join(' or ')}?)`;
  }
  return fallbackList.length > 0 ? `; ${listLabel}: ${fallbackList.join(', ')}` : '';
}

/** The prototypes from the base-most user class down to `testClass` (TestCase itself excluded). */
function userPrototypes(testClass: TestCaseClass): object[] {
  const protos: object[] = [];
  for (let c: unknown = testClass; typeof c === 'function' && !isTestCaseBase(c);) {
    protos.push((c as { prototype: object }).prototype);
    c = Object.getPrototypeOf(c);
  }
  return protos.reverse();
}

/** Every method name defined by the user's classes, base class first, each once, in definition order. */
function ownMethodNames(testClass: TestCaseClass): string[] {
  const names: string[] = [];
  for (const proto of userPrototypes(testClass)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor' || names.includes(name)) {
        continue;
      }
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (typeof descriptor?.value === 'function') {
        names.push(name);
      }
    }
  }
  return names;
}

/** The methods whose name starts with `test`, in definition order (inherited ones first). */
export function listTestMethods(testClass: TestCaseClass): string[] {
  return ownMethodNames(testClass).filter((name) => name.startsWith('test'));
}

function moduleLabel(target: FqnTarget, cwd: string, file: string): string {
  return target.modulePath !== null ? target.modulePath.join('.') : displayPath(cwd, file);
}

/** `./relative/path` from cwd with forward slashes, or the absolute path when outside cwd. */
export function displayPath(cwd: string, file: string): string {
  const relative = path.relative(cwd, file);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    return file;
  }
  return `./${relative.split(path.sep).join('/')}`;
}

/**
 * What to do about a module that Node ran as CommonJS: name the package.json
 * that decides (the nearest one up from the module), or say to add one, and
 * the ES module extension (.mjs for .js, .mts for .ts).
 */
function commonJsFix(cwd: string, file: string): string {
  const renamed = path.basename(file).replace(/\.(m?)([jt])s$/, '.m$2s');
  const packageJson = nearestPackageJson(path.dirname(file));
  const where =
    packageJson === undefined
      ? `add a package.json with "type": "module" to ${displayPath(cwd, path.dirname(file))}`
      : `add "type": "module" to ${displayPath(cwd, packageJson)}`;
  return `it is an ES module but Node loaded it as CommonJS: ${where}, or rename it to ${renamed}`;
}

/** The package.json that decides the module type of files in `dir`: the nearest one up. */
function nearestPackageJson(dir: string): string | undefined {
  for (let current = dir; ; current = path.dirname(current)) {
    const candidate = path.join(current, 'package.json');
    if (statSync(candidate, { throwIfNoEntry: false })?.isFile() === true) {
      return candidate;
    }
    if (path.dirname(current) === current) {
      return undefined;
    }
  }
}

/** V8's SyntaxErrors for import/export and top-level await in a script (CommonJS). */
const ESM_ONLY_SYNTAX =
  /^(Cannot use import statement outside a module|Unexpected token 'export'|await is only valid in async functions and the top level bodies of modules)/;

/**
 * Whether a .ts/.js module failed because Node ran it as CommonJS (its
 * package.json has no "type": "module"): its import/export statements do
 * not parse (a .js file, or any with "type": "commonjs" or Node < 20.19),
 * `require('loads-runner')` finds no require condition, or top-level await
 * cannot be compiled.
 */
function loadedAsCommonJs(err: unknown, file: string): boolean {
  if (!/\.(ts|js)$/.test(file) || typeof err !== 'object' || err === null) {
    return false;
  }
  const { code, message } = err as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : '';
  return (
    (err instanceof SyntaxError && ESM_ONLY_SYNTAX.test(text)) ||
    code === 'ERR_REQUIRE_ESM' ||
    code === 'ERR_REQUIRE_ASYNC_MODULE' ||
    (code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' && text.includes('No "exports" main')) ||
    text.includes('with the "cjs" output format')
  );
}

/** The first useful line of what a module threw while loading. */
function firstLine(err: unknown): string {
  let text: string;
  if (err instanceof Error) {
    const lines = err.message.split('\n');
    // esbuild (through tsx): "Transform failed with 1 error:\n<file>:<line>:<col>: ERROR: …"
    const line =
      /^Transform failed with \d+ errors?:?$/.test(lines[0] ?? '') && lines[1] !== undefined
        ? lines[1]
        : (lines[0] ?? '');
    text = `${err.name}: ${line}`;
  } else {
    text = String(err).split('\n')[0] ?? '';
  }
  return text.trim();
}
