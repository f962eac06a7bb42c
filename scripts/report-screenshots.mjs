// Makes the README's pictures of the html report from a real run:
// docs/report.png (light) and docs/report-dark.png. Run after `npm run build`:
//   node scripts/report-screenshots.mjs
// It starts the example server, runs the example test in steps against it
// with -o html, and photographs the report in chromium (/usr/bin/chromium).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(path.join(tmpdir(), 'loads-screenshots-'));
const report = path.join(work, 'loads-report.html');
const port = 9277;

const server = spawn(process.execPath, ['--import', 'tsx', 'examples/server.ts', String(port)], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  await new Promise((resolve, reject) => {
    server.stdout.on('data', (chunk) => String(chunk).includes('listening') && resolve());
    server.on('exit', () => reject(new Error('the example server did not start')));
  });
  execFileSync(
    process.execPath,
    [
      path.join(root, 'bin', 'loads-runner.js'),
      'example.TestWebSite.test_api',
      '-u',
      '5:10:20',
      '-d',
      '4',
      '--server-url',
      `http://127.0.0.1:${port}`,
      '-o',
      'html',
      '--output-html-filename',
      report,
    ],
    { cwd: path.join(root, 'examples'), stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    for (const [colorScheme, file] of [
      ['light', 'report.png'],
      ['dark', 'report-dark.png'],
    ]) {
      const context = await browser.newContext({
        colorScheme,
        viewport: { width: 1200, height: 900 },
        offline: true,
      });
      const page = await context.newPage();
      await page.goto(pathToFileURL(report).href);
      await page.waitForFunction("document.documentElement.dataset.ready === 'true'");
      await page.screenshot({ path: path.join(root, 'docs', file), fullPage: true });
      await context.close();
      console.log(`docs/${file}`);
    }
  } finally {
    await browser.close();
  }
} finally {
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
