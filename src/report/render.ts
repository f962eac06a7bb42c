// The report page: one self-contained HTML document made from a run's
// Summary (and, with a baseline, the comparison of the two runs). Pure: data
// in, an HTML string out. This is the plain page `loads-runner report`
// writes: the run's key figures and the comparison table, no script and no
// external resource, so it opens offline from disk.
import { formatSeconds } from '../metrics/format-seconds.ts';
import type { ComparisonRow, ReportInput } from './types.ts';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

function formatShare(share: number): string {
  return formatSeconds(share * 100, '%');
}

function formatFigure(metric: ComparisonRow['metric'], value: number | null): string {
  if (value === null) {
    return '–';
  }
  if (metric === 'rps') {
    return formatSeconds(value, '/s');
  }
  return metric === 'errorShare' ? formatShare(value) : formatSeconds(value);
}

/** The report of `input.summary` as a complete HTML document. */
export function renderReport(input: ReportInput): string {
  const { summary, comparison } = input;
  const runs = summary.successes + summary.failures + summary.errors;
  const tiles: [string, string][] = [
    ['Hits', String(summary.hits)],
    ['RPS', formatSeconds(summary.rps, '/s')],
    ['p95', formatSeconds(summary.latency.p95)],
    ['p99', formatSeconds(summary.latency.p99)],
    ['Errors', String(summary.errors + summary.failures)],
    ['Error share', formatShare(runs === 0 ? 0 : (summary.errors + summary.failures) / runs)],
    ['Dropped', String(summary.dropped)],
  ];
  const parts = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>loads-runner report: ${escapeHtml(summary.fqn)}</title>`,
    '</head>',
    '<body>',
    `<h1>${escapeHtml(summary.fqn)}</h1>`,
    `<p>Started ${escapeHtml(new Date(summary.startedAt).toISOString())}, ` +
      `${escapeHtml(formatSeconds(summary.durationS))}, loads-runner ${escapeHtml(summary.version)}, ` +
      `exit status ${summary.exitStatus}</p>`,
    '<dl>',
    ...tiles.map(([name, value]) => `<dt>${name}</dt><dd>${escapeHtml(value)}</dd>`),
    '</dl>',
  ];
  if (comparison !== undefined) {
    parts.push(
      `<h2>Against ${escapeHtml(comparison.baselineLabel)}</h2>`,
      '<table>',
      '<tr><th>scope</th><th>metric</th><th>baseline</th><th>current</th><th>change</th><th></th></tr>',
      ...comparison.rows.map(
        (row) =>
          `<tr><td>${escapeHtml(row.scope)}</td><td>${row.metric}</td>` +
          `<td>${escapeHtml(formatFigure(row.metric, row.baseline))}</td>` +
          `<td>${escapeHtml(formatFigure(row.metric, row.current))}</td>` +
          `<td>${row.change === null ? '–' : `${(row.change * 100).toFixed(1)}%`}</td>` +
          `<td>${row.regression ? 'regression' : ''}</td></tr>`,
      ),
      '</table>',
    );
  }
  parts.push('</body>', '</html>', '');
  return parts.join('\n');
}
