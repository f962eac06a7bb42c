// A real browser for the report's tests: Debian's chromium driven by
// playwright-core, headless, one fresh context per test. Suites skip with one
// line when chromium is not installed (give BROWSER_SKIP as node:test's `skip`).
import { existsSync } from 'node:fs';
import { chromium, type Page } from 'playwright-core';

const CHROMIUM_PATH = '/usr/bin/chromium';

/** Why the browser suites must skip, or false. */
export const BROWSER_SKIP: string | false = existsSync(CHROMIUM_PATH)
  ? false
  : 'install chromium: apt-get install -y chromium';

/** Launches chromium, opens a page in a new context, runs `fn`, and closes it all. */
export async function withPage<T>(
  fn: (page: Page) => Promise<T>,
  options: { offline?: boolean } = {},
): Promise<T> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
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
    const context = await browser.newContext({ offline: options.offline ?? false });
    try {
      return await fn(await context.newPage());
    } finally {
      await context.close();
    }
  } finally {
    await browser.close();
  }
}
