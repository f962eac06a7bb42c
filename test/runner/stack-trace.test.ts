import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { trimStackTrace } from '../../src/runner/stack-trace.ts';
import { REPO_ROOT } from '../helpers/tmp-project.ts';

const own = (file: string): string => pathToFileURL(path.join(REPO_ROOT, file)).href;

test('keeps the user frames only: no message line, no own frames, no Node internals', () => {
  const stack = [
    'AssertionError [ERR_ASSERTION]: 3 != -1',
    '    at TestFails.test_mixed (/tmp/project/fails.ts:5:36)',
    `    at #execute (${own('dist/runner/virtual-user.js')}:249:49)`,
    `    at async Session.request (${path.join(REPO_ROOT, 'src/client/http/session.ts')}:233:30)`,
    '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
    '    at async helper (/tmp/project/helpers.ts:10:3)',
  ].join('\n');
  assert.equal(
    trimStackTrace(stack),
    '    at TestFails.test_mixed (/tmp/project/fails.ts:5:36)\n    at async helper (/tmp/project/helpers.ts:10:3)',
  );
});

test('a tsx data: URL frame shows the file it names', () => {
  const stack =
    'Error: x\n    at async T.test_a (data:text/javascript,__filename%3D%22%2Ftmp%2Fp%2Ff.ts%22%3Bvar%20a?filePath=%2Ftmp%2Fp%2Ff.ts%3Fnamespace%3Dloads-runner:2:1116)';
  assert.equal(trimStackTrace(stack), '    at async T.test_a (/tmp/p/f.ts)');
});

test('nothing left is an empty string', () => {
  assert.equal(
    trimStackTrace(`Error: x\n    at f (${own('dist/runner/local-runner.js')}:1:1)`),
    '',
  );
});
