// The HTML report (SPEC §9): one self-contained file. uPlot (the charts) and
// its stylesheet are inlined from node_modules with their MIT notice, our
// page script and stylesheet from ./assets (copied beside the compiled code
// by the build), and the run's data as JSON. Nothing is fetched when the
// page is viewed: a Content-Security-Policy forbids every request but the
// live page's event stream, so a report opened from disk works offline.
// The page draws itself (src/report/assets/report.js) from the data, the
// same code as the live dashboard's, so the two never drift.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pageData } from './page-data.ts';
import type { ReportInput } from './types.ts';

interface Assets {
  uplotJs: string;
  uplotCss: string;
  uplotLicense: string;
  reportJs: string;
  reportCss: string;
}

let assets: Assets | undefined;

/** A script or stylesheet inlined as it is must not close its own element. */
function inlinable(text: string, what: string, closing: RegExp): string {
  if (closing.test(text)) {
    throw new Error(`${what} contains a closing tag and cannot be inlined`);
  }
  return text;
}

/** Reads the inlined files once per process (they do not change while it runs). */
function loadAssets(): Assets {
  if (assets === undefined) {
    const require = createRequire(import.meta.url);
    const here = path.dirname(fileURLToPath(import.meta.url));
    const read = (file: string): string => readFileSync(file, 'utf8');
    const uplotJsPath = require.resolve('uplot/dist/uPlot.iife.min.js');
    assets = {
      uplotJs: inlinable(read(uplotJsPath), 'uPlot', /<\/script/i),
      uplotCss: inlinable(read(require.resolve('uplot/dist/uPlot.min.css')), 'uPlot', /<\/style/i),
      uplotLicense: read(path.join(path.dirname(uplotJsPath), '..', 'LICENSE')),
      reportJs: inlinable(read(path.join(here, 'assets', 'report.js')), 'report.js', /<\/script/i),
      reportCss: inlinable(
        read(path.join(here, 'assets', 'report.css')),
        'report.css',
        /<\/style/i,
      ),
    };
  }
  return assets;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/**
 * JSON that can sit inside a <script> element: every `<` escaped, so no
 * string in it (a URL, an error message) can close the element or open a
 * comment.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** The licence as a block comment (no `*\/` can end it early). */
function licenceComment(name: string, licence: string): string {
  return `/*! ${name}\n${licence.replace(/\*\//g, '* /').trim()}\n*/`;
}

export function renderReport(input: ReportInput): string {
  const { uplotJs, uplotCss, uplotLicense, reportJs, reportCss } = loadAssets();
  const data = pageData(input);
  const live = input.live !== undefined;
  // Inline scripts and styles only; the live page may also open its event stream.
  const policy = [
    "default-src 'none'",
    "script-src 'unsafe-inline'",
    "style-src 'unsafe-inline'",
    'img-src data:',
    `connect-src ${live ? "'self'" : "'none'"}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  const title = `loads-runner report: ${input.summary.fqn}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta http-equiv="Content-Security-Policy" content="${policy}">
<meta name="generator" content="loads-runner ${escapeHtml(input.summary.version)}">
<title>${escapeHtml(title)}</title>
<style>
/* uPlot's stylesheet (MIT: the notice is with its script below) */
${uplotCss}
</style>
<style>
${reportCss}
</style>
</head>
<body>
<noscript><p class="noscript">This report draws itself with JavaScript: allow scripts for this file to see it.</p></noscript>
<div id="report"></div>
<script type="application/json" id="loads-data">${scriptJson(data)}</script>
<script>
${licenceComment('uPlot, https://github.com/leeoniya/uPlot', uplotLicense)}
${uplotJs}
</script>
<script>
${reportJs}
</script>
</body>
</html>
`;
}
