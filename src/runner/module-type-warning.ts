// Node's own warnings about the type of a .js test module, said once and in
// one line. A .js file with import/export in a folder whose package.json has
// no "type": "module" either fails (Node < 20.19, or "type": "commonjs"),
// after a warning "To load an ES module, set "type": "module" …", or loads
// after a second parse (Node ≥ 20.19) with a four-line
// MODULE_TYPELESS_PACKAGE_JSON warning, printed once per thread. The first
// is dropped (the loader's error then says what to do, in its one line); the
// second goes to a callback, which the CLI turns into one line of its own
// and worker threads ignore. Every other warning is printed by Node as
// before. The process is passed in: only the composition roots own it.
import { fileURLToPath } from 'node:url';

/** A .js module that loaded as an ES module only after Node parsed it as CommonJS first. */
export interface TypelessModule {
  /** The module file. */
  file: string;
  /** The package.json that lacks "type": "module", when Node names it. */
  packageJson: string | null;
}

/** The part of `process` this uses. */
export interface WarningEmitter {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- EventEmitter's own type
  listeners(event: 'warning'): Function[];
  removeAllListeners(event: 'warning'): unknown;
  on(event: 'warning', listener: (warning: Error) => void): unknown;
}

const TYPELESS = 'MODULE_TYPELESS_PACKAGE_JSON';
const LOAD_AS_ESM = /^To load an ES module, set "type": "module"/;

/** Reads the file and package.json out of Node's MODULE_TYPELESS_PACKAGE_JSON message. */
export function parseTypelessWarning(message: string): TypelessModule | null {
  const url = /^Module type of (file:\S+) is not specified/.exec(message)?.[1];
  if (url === undefined) {
    return null;
  }
  const packageJson = /add "type": "module" to (.+package\.json)\.?\s*$/m.exec(message)?.[1];
  return { file: fileURLToPath(url), packageJson: packageJson ?? null };
}

/**
 * Puts a filter in front of Node's warning printer (the 'warning'
 * listeners): the two module-type warnings are handled as the header says,
 * the rest go to the listeners that were there, unchanged.
 */
export function filterModuleTypeWarnings(
  emitter: WarningEmitter,
  onTypeless: (module: TypelessModule) => void,
): void {
  const printers = emitter.listeners('warning') as ((warning: Error) => void)[];
  emitter.removeAllListeners('warning');
  emitter.on('warning', (warning) => {
    const code = (warning as { code?: unknown }).code;
    if (code === TYPELESS) {
      const module = parseTypelessWarning(warning.message);
      if (module !== null) {
        onTypeless(module);
        return;
      }
    } else if (LOAD_AS_ESM.test(warning.message)) {
      return;
    }
    for (const print of printers) {
      print.call(emitter, warning);
    }
  });
}
