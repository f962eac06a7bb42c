import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseFqn } from '../../src/runner/fqn.ts';
import { FqnError } from '../../src/errors.ts';

describe('parseFqn', () => {
  it('reads module.Class as the class of a module, all its test methods', () => {
    assert.deepEqual(parseFqn('example.TestWebSite'), {
      fqn: 'example.TestWebSite',
      candidates: [
        { modulePath: ['example'], filePath: null, className: 'TestWebSite', methodName: null },
      ],
    });
  });

  it('reads module.Class.method both ways, the longest module path first', () => {
    assert.deepEqual(parseFqn('example.TestWebSite.test_es').candidates, [
      {
        modulePath: ['example', 'TestWebSite'],
        filePath: null,
        className: 'test_es',
        methodName: null,
      },
      { modulePath: ['example'], filePath: null, className: 'TestWebSite', methodName: 'test_es' },
    ]);
  });

  it('reads dotted packages as folders', () => {
    assert.deepEqual(parseFqn('project.tests.test_server.TestSite.test_es').candidates, [
      {
        modulePath: ['project', 'tests', 'test_server', 'TestSite'],
        filePath: null,
        className: 'test_es',
        methodName: null,
      },
      {
        modulePath: ['project', 'tests', 'test_server'],
        filePath: null,
        className: 'TestSite',
        methodName: 'test_es',
      },
    ]);
  });

  it('reads path:Class.method as an explicit file, class and method', () => {
    assert.deepEqual(parseFqn('path/to/file.ts:TestWebSite.test_es'), {
      fqn: 'path/to/file.ts:TestWebSite.test_es',
      candidates: [
        {
          modulePath: null,
          filePath: 'path/to/file.ts',
          className: 'TestWebSite',
          methodName: 'test_es',
        },
      ],
    });
  });

  it('reads path:Class as every test method of the class in that file', () => {
    assert.deepEqual(parseFqn('file.ts:TestWebSite').candidates, [
      { modulePath: null, filePath: 'file.ts', className: 'TestWebSite', methodName: null },
    ]);
  });

  it('splits the file form at the last colon, so a drive letter stays in the path', () => {
    assert.deepEqual(parseFqn('C:\\tests\\load.ts:TestSite.test_a').candidates, [
      {
        modulePath: null,
        filePath: 'C:\\tests\\load.ts',
        className: 'TestSite',
        methodName: 'test_a',
      },
    ]);
  });

  it('trims surrounding spaces', () => {
    assert.equal(parseFqn('  example.TestWebSite ').fqn, 'example.TestWebSite');
  });

  it('does not treat a lower-case last part as a method when it cannot be a class (two parts)', () => {
    assert.deepEqual(parseFqn('example.test_es').candidates, [
      { modulePath: ['example'], filePath: null, className: 'test_es', methodName: null },
    ]);
  });

  for (const [fqn, reason] of [
    ['', 'the test name is empty'],
    ['   ', 'the test name is empty'],
    ['example', 'it names no class'],
    ['example..TestWebSite', 'it has an empty part'],
    ['example.TestWebSite.', 'it has an empty part'],
    ['.example.TestWebSite', 'it has an empty part'],
    ['example.Test-Site', "'Test-Site' is not a valid class or method name"],
    [
      'tests/example.TestWebSite',
      "'tests/example' looks like a path; a file needs a colon before the class",
    ],
    [':TestWebSite', 'the file path before the colon is empty'],
    ['file.ts:', "'' after the colon is not Class or Class.method"],
    ['file.ts:A.b.c', "'A.b.c' after the colon is not Class or Class.method"],
    ['file.ts:A.1b', "'A.1b' after the colon is not Class or Class.method"],
  ] as const) {
    it(`rejects ${JSON.stringify(fqn)}: ${reason}`, () => {
      assert.throws(
        () => parseFqn(fqn),
        (err: unknown) => {
          assert.ok(err instanceof FqnError);
          assert.equal(err.part, 'syntax');
          assert.equal(err.code, 'LOADS_ERR_FQN');
          assert.equal(err.exitCode, 2);
          assert.equal(
            err.message,
            `bad test name '${fqn.trim()}': ${reason}; write module.Class[.method] (e.g. example.TestWebSite.test_es) or path/to/file.ts:Class[.method]`,
          );
          return true;
        },
      );
    });
  }
});
