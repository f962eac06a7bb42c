import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import {
  filterModuleTypeWarnings,
  parseTypelessWarning,
  type TypelessModule,
} from '../../src/runner/module-type-warning.ts';

// Node 20.20's text, as emitted with the code MODULE_TYPELESS_PACKAGE_JSON.
const TYPELESS_MESSAGE =
  "Module type of file:///tmp/legacy/load.js is not specified and it doesn't parse as CommonJS.\n" +
  'Reparsing as ES module because module syntax was detected. This incurs a performance overhead.\n' +
  'To eliminate this warning, add "type": "module" to /tmp/legacy/package.json.';

function warning(message: string, code?: string): Error {
  return Object.assign(new Error(message), { name: 'Warning' }, code === undefined ? {} : { code });
}

describe('parseTypelessWarning', () => {
  it("when given Node's message then it returns the module file and the package.json", () => {
    assert.deepEqual(parseTypelessWarning(TYPELESS_MESSAGE), {
      file: '/tmp/legacy/load.js',
      packageJson: '/tmp/legacy/package.json',
    });
  });

  it('when the text is something else then it returns null', () => {
    assert.equal(parseTypelessWarning('something else'), null);
  });
});

describe('filterModuleTypeWarnings', () => {
  it('when module-type warnings come then the printer never sees them; other warnings pass', () => {
    const emitter = new EventEmitter();
    const printed: string[] = [];
    emitter.on('warning', (w: Error) => printed.push(w.message));
    const typeless: TypelessModule[] = [];
    filterModuleTypeWarnings(emitter, (module) => typeless.push(module));
    emitter.emit('warning', warning(TYPELESS_MESSAGE, 'MODULE_TYPELESS_PACKAGE_JSON'));
    emitter.emit(
      'warning',
      warning(
        'To load an ES module, set "type": "module" in the package.json or use the .mjs extension.',
      ),
    );
    emitter.emit('warning', warning('Possible EventEmitter memory leak detected'));
    assert.deepEqual(printed, ['Possible EventEmitter memory leak detected']);
    assert.deepEqual(typeless, [
      { file: '/tmp/legacy/load.js', packageJson: '/tmp/legacy/package.json' },
    ]);
  });
});
