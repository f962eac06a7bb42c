// Stack traces as the summary shows them: the frames of the user's code,
// without the error's message line (the summary prints name and message
// itself), without loads-runner's own frames (runner, client) and without
// Node internals. tsx loads a CommonJS-mode .ts file from a data: URL of
// several KB; such a frame is shown as the file path it names.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// This file is <package>/src/runner/ or <package>/dist/runner/.
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OWN_DIRS = ['src', 'dist'].flatMap((dir) => {
  const folder = path.join(PACKAGE_ROOT, dir) + path.sep;
  return [folder, pathToFileURL(folder).href];
});
const FRAME = /^\s+at /;
// `at async Promise.all (index 3)`: our runner's own await, not the user's.
const PROMISE_COMBINATOR = /at async Promise\.\w+ \(index \d+\)$/;
const DATA_URL_FRAME = /data:text\/javascript,[^\s]*?\?filePath=([^\s):]+)[^\s)]*/;

/** The user's frames of `stack`, one per line; '' when none is left. */
export function trimStackTrace(stack: string): string {
  let frames = '';
  for (const line of stack.split('\n')) {
    if (
      !FRAME.test(line) ||
      line.includes('(node:') ||
      line.includes(' node:internal') ||
      PROMISE_COMBINATOR.test(line)
    ) {
      continue;
    }
    if (OWN_DIRS.some((dir) => line.includes(dir))) {
      continue;
    }
    const frame = line.includes('data:text/javascript,')
      ? line.replace(
          DATA_URL_FRAME,
          (_match, file: string) => decodeURIComponent(file).split('?')[0]!,
        )
      : line;
    frames += frames === '' ? frame : `\n${frame}`;
  }
  return frames;
}
