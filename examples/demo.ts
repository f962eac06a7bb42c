// `npm run demo`: starts the example server on 127.0.0.1, load-tests it with
// the example test (20 users × 50 hits of every test method), then stops the
// server. The exit status is loads-runner's. Extra arguments are passed on:
//   npm run demo -- -u 50 -d 10
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startExampleServer } from './server.ts';

const examplesDir = path.dirname(fileURLToPath(import.meta.url));
const bin = path.join(examplesDir, '..', 'bin', 'loads-runner.js');
const extra = process.argv.slice(2);
const load = extra.length > 0 ? extra : ['-u', '20', '--hits', '50'];

const server = await startExampleServer();
console.log(`example server on ${server.url}`);
const args = [bin, 'example.TestWebSite', '--server-url', server.url, ...load];
console.log(`$ loads-runner ${args.slice(1).join(' ')}`);
const child = spawn(process.execPath, args, { cwd: examplesDir, stdio: 'inherit' });
// Ctrl-C reaches the child through the terminal; wait for its summary.
process.on('SIGINT', () => {});
const code = await new Promise<number | null>((resolve) =>
  child.on('close', (exitCode) => resolve(exitCode)),
);
await server.close();
process.exitCode = code ?? 1;
