// The loader against real modules written into temp folders. The modules
// import TestCase from 'loads-runner', which resolves to the built dist/
// (run `npm run build` first) while the loader under test comes from src/:
// two copies of TestCase, as when the CLI runs from dist/ and a test
// imports another copy. One module imports src/index.ts directly.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadTest } from '../../src/runner/loader.ts';
import { FqnError, type FqnPart } from '../../src/errors.ts';
import { TestCase } from '../../src/index.ts';
import { createTmpProject, REPO_ROOT, type TmpProject } from '../helpers/tmp-project.ts';

const IMPORT = "import { TestCase } from 'loads-runner';";

let project: TmpProject;

before(async () => {
  project = await createTmpProject();
  // An ESM project, as `npm init` + "type": "module"; see the CommonJS case below.
  await project.write('package.json', '{ "type": "module" }\n');
  await project.write(
    'example.ts',
    `${IMPORT}
export class TestWebSite extends TestCase {
  serverUrl: string = 'http://127.0.0.1:1';
  async test_b(): Promise<void> {}
  helper(): number { return 1; }
  async test_a(): Promise<void> {}
  test_c(): void {}
  get test_getter(): number { return 1; }
  test_field = (): void => {};
}
export class Other extends TestCase { async test_x() {} }
export class NotATest { test_a() {} }
export const answer = 42;
export { TestCase };
export class Empty extends TestCase { helper() {} }
`,
  );
  await project.write(
    'modern.mts',
    `${IMPORT}\nexport class TestModern extends TestCase { async test_one(): Promise<void> {} }\n`,
  );
  await project.write(
    'plain.js',
    `${IMPORT}\nexport class TestPlain extends TestCase { async test_one() {} }\n`,
  );
  await project.write(
    'plainm.mjs',
    `${IMPORT}\nexport class TestPlainM extends TestCase { async test_one() {} }\n`,
  );
  await project.write(
    'pkg/index.ts',
    `${IMPORT}\nexport class TestPkg extends TestCase { async test_index() {} }\n`,
  );
  await project.write(
    'project/tests/test_server.ts',
    `${IMPORT}\nexport class TestSite extends TestCase { async test_es() {} async test_other() {} }\n`,
  );
  await project.write(
    'sub/dir/file.ts',
    `${IMPORT}\nexport class TestFile extends TestCase { async test_z() {} async test_y() {} }\n`,
  );
  await project.write(
    'inherit.ts',
    `${IMPORT}
class Base extends TestCase {
  async test_a() {}
  async test_b() {}
}
export class TestChild extends Base {
  async test_c() {}
  override async test_a() {}
}
`,
  );
  // Both readings of shop.Cart.checkout exist: the longest module path wins.
  await project.write(
    'shop.ts',
    `${IMPORT}\nexport class Cart extends TestCase { async checkout() {} }\n`,
  );
  await project.write(
    'shop/Cart.ts',
    `${IMPORT}\nexport class checkout extends TestCase { async test_pay() {} }\n`,
  );
  await project.write(
    'default-export.ts',
    `${IMPORT}\nexport default class TestDefault extends TestCase { async test_d() {} }\n`,
  );
  await project.write(
    'from-src.ts',
    `import { TestCase } from ${JSON.stringify(path.join(REPO_ROOT, 'src', 'index.ts'))};\nexport class TestSrc extends TestCase { async test_s() {} }\n`,
  );
  await project.write('boom.mts', "throw new TypeError('boom at load\\nsecond line');\n");
  await project.write('broken.ts', 'export class Broken { x: = }\n');
  await project.write(
    'missing-dep.ts',
    "import { nothing } from './does-not-exist.ts';\nexport const x = nothing;\n",
  );
});

after(async () => {
  await project.remove();
});

async function fqnError(fqn: string, part: FqnPart): Promise<FqnError> {
  try {
    await loadTest(fqn, project.dir);
  } catch (err) {
    assert.ok(err instanceof FqnError, `expected an FqnError, got ${String(err)}`);
    assert.equal(err.part, part, err.message);
    assert.equal(err.exitCode, 2);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    return err;
  }
  assert.fail(`loading ${fqn} did not throw`);
}

describe('loadTest', () => {
  it('loads module.Class with every test* method in definition order', async () => {
    const loaded = await loadTest('example.TestWebSite', project.dir);
    assert.equal(loaded.fqn, 'example.TestWebSite');
    assert.equal(loaded.file, path.join(project.dir, 'example.ts'));
    assert.equal(loaded.className, 'TestWebSite');
    assert.equal(loaded.testClass.name, 'TestWebSite');
    // Getters and arrow-function fields are not methods.
    assert.deepEqual(loaded.methods, ['test_b', 'test_a', 'test_c']);
  });

  it('loads module.Class.method with that method only', async () => {
    const loaded = await loadTest('example.TestWebSite.test_a', project.dir);
    assert.equal(loaded.className, 'TestWebSite');
    assert.deepEqual(loaded.methods, ['test_a']);
  });

  it('accepts a named method that does not start with test', async () => {
    const loaded = await loadTest('example.TestWebSite.helper', project.dir);
    assert.deepEqual(loaded.methods, ['helper']);
  });

  it('loads a class that the runner can instantiate with its field initialisers', async () => {
    const loaded = await loadTest('example.TestWebSite', project.dir);
    const instance = new loaded.testClass();
    assert.equal(instance.serverUrl, 'http://127.0.0.1:1');
    assert.equal(typeof instance.attachContext, 'function');
  });

  for (const [fqn, file, methods] of [
    ['modern.TestModern', 'modern.mts', ['test_one']],
    ['plain.TestPlain', 'plain.js', ['test_one']],
    ['plainm.TestPlainM.test_one', 'plainm.mjs', ['test_one']],
    ['pkg.TestPkg.test_index', 'pkg/index.ts', ['test_index']],
    ['project.tests.test_server.TestSite.test_es', 'project/tests/test_server.ts', ['test_es']],
    [
      'project.tests.test_server.TestSite',
      'project/tests/test_server.ts',
      ['test_es', 'test_other'],
    ],
    ['sub/dir/file.ts:TestFile.test_y', 'sub/dir/file.ts', ['test_y']],
    ['sub/dir/file.ts:TestFile', 'sub/dir/file.ts', ['test_z', 'test_y']],
    ['./sub/dir/file:TestFile', 'sub/dir/file.ts', ['test_z', 'test_y']],
    ['pkg:TestPkg', 'pkg/index.ts', ['test_index']],
    ['inherit.TestChild', 'inherit.ts', ['test_a', 'test_b', 'test_c']],
    ['shop.Cart.checkout', 'shop/Cart.ts', ['test_pay']],
    ['default-export.TestDefault', 'default-export.ts', ['test_d']],
    ['from-src.TestSrc', 'from-src.ts', ['test_s']],
  ] as const) {
    it(`loads ${fqn} from ${file} with methods ${methods.join(', ')}`, async () => {
      const loaded = await loadTest(fqn, project.dir);
      assert.equal(loaded.file, path.join(project.dir, file));
      assert.deepEqual(loaded.methods, methods);
    });
  }

  it('loads an absolute file path', async () => {
    const file = path.join(project.dir, 'sub', 'dir', 'file.ts');
    const loaded = await loadTest(`${file}:TestFile.test_z`, '/');
    assert.equal(loaded.file, file);
    assert.deepEqual(loaded.methods, ['test_z']);
  });

  it('recognises a subclass of another copy of TestCase (dist/ here, src/ in the loader)', async () => {
    const loaded = await loadTest('example.Other', project.dir);
    assert.notEqual(Object.getPrototypeOf(loaded.testClass), TestCase);
    assert.deepEqual(loaded.methods, ['test_x']);
  });

  // A project whose package.json has no "type": "module" (what `npm init`
  // writes) runs .ts files as CommonJS under tsx, so 'loads-runner' is
  // required; that needs a "default" (or "require") condition in the
  // package's exports, which Node >= 20.19 serves with require(esm).
  const exportsRoot = (
    JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, Record<string, string>>;
    }
  ).exports['.'];
  const requirable =
    exportsRoot?.['default'] !== undefined || exportsRoot?.['require'] !== undefined;
  it(
    requirable
      ? 'loads a .ts module of a CommonJS project'
      : 'explains how to fix a .ts module that loaded as CommonJS',
    async () => {
      await project.write('cjs/package.json', '{ "type": "commonjs" }\n');
      await project.write(
        'cjs/legacy.ts',
        `${IMPORT}\nexport class TestLegacy extends TestCase { async test_l(): Promise<void> {} }\n`,
      );
      if (requirable) {
        const loaded = await loadTest('cjs.legacy.TestLegacy', project.dir);
        assert.deepEqual(loaded.methods, ['test_l']);
      } else {
        const err = await fqnError('cjs.legacy.TestLegacy', 'module');
        assert.match(
          err.message,
          /^module cjs\.legacy failed to load: Error: No "exports" main defined in .*; it is an ES module but Node loaded it as CommonJS: add "type": "module" to \.\/cjs\/package\.json, or rename it to legacy\.mts$/,
        );
      }
    },
  );

  it('explains top-level await in a module that loaded as CommonJS', async () => {
    await project.write('cjs/package.json', '{ "type": "commonjs" }\n');
    await project.write('cjs/tla.ts', 'await Promise.resolve();\nexport class TestTla {}\n');
    const err = await fqnError('cjs.tla.TestTla', 'module');
    assert.match(
      err.message,
      /^module cjs\.tla failed to load: TransformError: .*tla\.ts:1:0: ERROR: Top-level await is currently not supported with the "cjs" output format; it is an ES module but Node loaded it as CommonJS: add "type": "module" to \.\/cjs\/package\.json, or rename it to tla\.mts$/,
    );
  });

  describe('errors', () => {
    it('syntax: names the forms', async () => {
      const err = await fqnError('example', 'syntax');
      assert.match(err.message, /^bad test name 'example': it names no class; write module/);
    });

    it('module: lists the paths tried', async () => {
      const err = await fqnError('exmaple.TestWebSite.test_es', 'module');
      assert.equal(
        err.message,
        "no such module 'exmaple': tried ./exmaple.ts, ./exmaple.mts, ./exmaple.js, ./exmaple.mjs, ./exmaple/index.*",
      );
      const base = path.join(project.dir, 'exmaple');
      assert.deepEqual(err.pathsTried, [
        ...['.ts', '.mts', '.js', '.mjs'].map((ext) => path.join(base, 'TestWebSite') + ext),
        ...['.ts', '.mts', '.js', '.mjs'].map((ext) =>
          path.join(base, 'TestWebSite', `index${ext}`),
        ),
        ...['.ts', '.mts', '.js', '.mjs'].map((ext) => base + ext),
        ...['.ts', '.mts', '.js', '.mjs'].map((ext) => path.join(base, `index${ext}`)),
      ]);
    });

    it('module: a dotted package path is shown as folders', async () => {
      const err = await fqnError('project.tets.test_server.TestSite.test_es', 'module');
      assert.equal(
        err.message,
        "no such module 'project.tets.test_server': tried ./project/tets/test_server.ts, ./project/tets/test_server.mts, ./project/tets/test_server.js, ./project/tets/test_server.mjs, ./project/tets/test_server/index.*",
      );
    });

    it('module: a missing file in the file form', async () => {
      const err = await fqnError('sub/nope.ts:TestFile', 'module');
      assert.equal(
        err.message,
        `no such file 'sub/nope.ts': tried ./sub/nope.ts, with .ts, .mts, .js, .mjs and /index.*; check the path (relative to ${project.dir})`,
      );
      assert.equal(err.pathsTried[0], path.join(project.dir, 'sub', 'nope.ts'));
    });

    it('module: a module that throws while loading names the file and the first line', async () => {
      const err = await fqnError('boom.TestBoom', 'module');
      assert.equal(
        err.message,
        'module boom failed to load: TypeError: boom at load; fix the error in ./boom.mts',
      );
      assert.ok(err.cause instanceof TypeError);
    });

    it('module: a TypeScript syntax error names the file, line and column', async () => {
      const err = await fqnError('broken.Broken', 'module');
      assert.match(
        err.message,
        /^module broken failed to load: TransformError: .*broken\.ts:1:\d+: ERROR: Unexpected "="; fix the error in \.\/broken\.ts$/,
      );
    });

    it('module: a failing import inside the module', async () => {
      const err = await fqnError('missing-dep.TestX', 'module');
      assert.match(
        err.message,
        /^module missing-dep failed to load: Error: Cannot find module .*does-not-exist\.ts.*; fix the error in \.\/missing-dep\.ts$/,
      );
    });

    it('export: suggests a near miss', async () => {
      const err = await fqnError('example.TestWebsite.test_a', 'export');
      assert.equal(
        err.message,
        "module example has no export 'TestWebsite' (did you mean TestWebSite?)",
      );
    });

    it('export: lists the TestCase classes when nothing is close', async () => {
      const err = await fqnError('example.Unrelated', 'export');
      assert.equal(
        err.message,
        "module example has no export 'Unrelated'; its TestCase classes are: Empty, Other, TestWebSite",
      );
    });

    it('export: says how to export when the module has no TestCase class', async () => {
      await project.write('nothing.ts', 'export const value = 1;\n');
      const err = await fqnError('nothing.TestX', 'export');
      assert.equal(
        err.message,
        "module nothing has no export 'TestX'; export it: `export class TestX extends TestCase`",
      );
    });

    it('export: file form labels the module with its path', async () => {
      const err = await fqnError('sub/dir/file.ts:TestFil', 'export');
      assert.equal(
        err.message,
        "module ./sub/dir/file.ts has no export 'TestFil' (did you mean TestFile?)",
      );
    });

    it('not-testcase: a class that does not extend TestCase', async () => {
      const err = await fqnError('example.NotATest.test_a', 'not-testcase');
      assert.equal(
        err.message,
        "export 'NotATest' of module example is a class or function that does not extend TestCase; declare it as `export class NotATest extends TestCase` with TestCase from 'loads-runner'",
      );
    });

    it('not-testcase: a value that is not a class', async () => {
      const err = await fqnError('example.answer', 'not-testcase');
      assert.equal(
        err.message,
        "export 'answer' of module example is a number, not a class; declare it as `export class answer extends TestCase` with TestCase from 'loads-runner'",
      );
    });

    it('not-testcase: TestCase itself', async () => {
      const err = await fqnError('example.TestCase', 'not-testcase');
      assert.match(err.message, /^export 'TestCase' of module example is TestCase itself;/);
    });

    it('method: suggests a near miss', async () => {
      const err = await fqnError('example.TestWebSite.test_aa', 'method');
      assert.equal(err.message, "class TestWebSite has no method 'test_aa' (did you mean test_a?)");
    });

    it('method: lists the test methods when nothing is close', async () => {
      const err = await fqnError('example.TestWebSite.unrelated_name', 'method');
      assert.equal(
        err.message,
        "class TestWebSite has no method 'unrelated_name'; its test methods are: test_b, test_a, test_c",
      );
    });

    it('method: TestCase members are not test methods of the class', async () => {
      const err = await fqnError('example.TestWebSite.assertEqual', 'method');
      assert.match(err.message, /^class TestWebSite has no method 'assertEqual'/);
    });

    it('method: a class with no test* method, named by file', async () => {
      const err = await fqnError('example.ts:Empty', 'method');
      assert.equal(
        err.message,
        "class Empty has no method whose name starts with 'test'; add one, or name the method to run: example.ts:Empty.<method>",
      );
    });

    it('method: a class with no test* method', async () => {
      const err = await fqnError('example.Empty', 'method');
      assert.equal(
        err.message,
        "class Empty has no method whose name starts with 'test'; add one, or name the method to run: example.Empty.<method>",
      );
    });
  });
});
