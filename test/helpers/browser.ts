// A real browser for the report's tests: Debian's chromium driven by
// playwright-core, launched with the flags below only, a fresh context per
// call. Suites skip with one line when chromium is missing (as TLS_SKIP).
import { existsSync } from 'node:fs';
import { chromium, type BrowserContextOptions, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

/** Why the browser suites must skip (no chromium), or false: give it as node:test's `skip`. */
export const BROWSER_SKIP: string | false = existsSync(CHROMIUM)
  ? false
  : 'install chromium: apt-get install -y chromium';

export interface PageOptions {
  /**
   * No network: the context is offline and every request but a file:// one
   * is routed and aborted (record them with `requests` to see there were none).
   */
  offline?: boolean;
  /** Every URL the page requested (navigations included), in order: filled while fn runs. */
  requests?: string[];
  colorScheme?: 'light' | 'dark';
  viewport?: { width: number; height: number };
}

/** Launches chromium, runs fn on a page of a new context, and closes everything. */
export async function withPage<T>(
  fn: (page: Page) => Promise<T>,
  options: PageOptions = {},
): Promise<T> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
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
    const contextOptions: BrowserContextOptions = {
      viewport: options.viewport ?? { width: 1280, height: 900 },
      colorScheme: options.colorScheme ?? 'light',
    };
    const context = await browser.newContext(contextOptions);
    const requests = options.requests;
    if (requests !== undefined) {
      context.on('request', (request) => requests.push(request.url()));
    }
    if (options.offline === true) {
      await context.setOffline(true);
      // Routes see file:// too: a page from disk loads, anything else is refused.
      await context.route('**', (route) =>
        route.request().url().startsWith('file:')
          ? route.continue()
          : route.abort('internetdisconnected'),
      );
    }
    const page = await context.newPage();
    return await fn(page);
  } finally {
    await browser.close();
  }
}

/**
 * Polls a JavaScript expression in the page until it is truthy. Not
 * page.waitForFunction: its predicate is evaluated with eval inside the
 * page, which the report's Content-Security-Policy refuses.
 */
export async function waitInPage(
  page: Page,
  expression: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) {
      throw new Error(`${expression} was not true within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Waits until the report page has drawn itself (report.js sets data-ready). */
export function reportReady(page: Page): Promise<void> {
  return waitInPage(page, "document.documentElement.dataset.ready === 'true'");
}

/** A chart's series as window.loadsReport.series(name) gives them. */
export interface PageSeries {
  label: string;
  stroke: string;
  points: number;
  values: (number | null)[];
}

/**
 * The value of a JavaScript expression in the page, e.g.
 * inPage<number>(page, 'window.loadsReport.rows()'). Expressions are strings
 * because the tests are type-checked without the DOM library.
 */
export function inPage<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate(expression) as Promise<T>;
}

export function pageSeries(page: Page, chart: string): Promise<PageSeries[]> {
  return inPage(page, `window.loadsReport.series(${JSON.stringify(chart)})`);
}

/**
 * For each chart of the report page (figure[data-chart]), how many canvas
 * pixels have one of its series' colours: lines drawn, not only axes. (A
 * string, not a function: tsx would wrap a function's inner names in a
 * helper the page does not have.)
 */
const SERIES_PIXELS = `(() => {
  const probe = document.createElement('canvas').getContext('2d');
  const rgb = (colour) => {
    probe.clearRect(0, 0, 1, 1);
    probe.fillStyle = colour;
    probe.fillRect(0, 0, 1, 1);
    return [...probe.getImageData(0, 0, 1, 1).data.slice(0, 3)];
  };
  const out = {};
  for (const figure of document.querySelectorAll('figure[data-chart]')) {
    const name = figure.dataset.chart;
    const colours = window.loadsReport.series(name).map((s) => rgb(s.stroke));
    const canvas = figure.querySelector('canvas');
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      if (pixels[i + 3] >= 200 && colours.some(([r, g, b]) =>
        Math.abs(pixels[i] - r) + Math.abs(pixels[i + 1] - g) + Math.abs(pixels[i + 2] - b) < 40)) {
        count++;
      }
    }
    out[name] = count;
  }
  return out;
})()`;

export function seriesPixels(page: Page): Promise<Record<string, number>> {
  return page.evaluate(SERIES_PIXELS) as Promise<Record<string, number>>;
}
