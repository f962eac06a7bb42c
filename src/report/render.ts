// The report page: a run's Summary as one self-contained HTML string. This
// is the small page the dashboard serves until the full report (charts,
// tables) replaces it; it keeps the same page contract: with `live`, it
// follows the run over Server-Sent Events (LiveUpdate), and it exposes
// window.loadsReport = { rows(), updates(), final() } for the browser tests.
import type { ReportInput } from './types.ts';

/** JSON that is safe inside a <script> element: no `</script>` or `<!--` can close it. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

// Runs in the page: draws the figures, and with a live source applies each
// update (keep the rows before timelineFrom, append the update's rows).
const PAGE_SCRIPT = `
const state = JSON.parse(document.getElementById('loads-data').textContent);
let summary = state.summary;
let rows = summary.timeline;
let updates = 0;
let isFinal = state.eventsPath === null;
const show = (id, text) => { document.getElementById(id).textContent = text; };
function draw() {
  show('hits', String(summary.hits));
  show('rps', summary.rps.toFixed(1));
  show('p95', summary.latency.p95.toPrecision(3) + 's');
  show('errors', String(summary.errors + summary.failures));
  show('rows', String(rows.length));
  show('state', isFinal ? 'final' : 'live');
}
window.loadsReport = {
  rows: () => rows.length,
  updates: () => updates,
  final: () => isFinal,
};
draw();
if (!isFinal) {
  const source = new EventSource(state.eventsPath);
  source.addEventListener('update', (event) => {
    const update = JSON.parse(event.data);
    rows = rows.filter((row) => row.t < update.timelineFrom).concat(update.summary.timeline);
    summary = update.summary;
    updates++;
    if (update.final) {
      isFinal = true;
      source.close();
    }
    draw();
  });
}
`;

export function renderReport(input: ReportInput): string {
  const { summary } = input;
  const data = { summary, eventsPath: input.live?.eventsPath ?? null };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>loads-runner: ${escapeHtml(summary.fqn)}</title>
<style>
body { font: 15px system-ui, sans-serif; margin: 2rem; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.3rem 1.5rem; }
dt { color: #666; }
</style>
</head>
<body>
<h1>${escapeHtml(summary.fqn)}</h1>
<dl>
<dt>Hits</dt><dd id="hits"></dd>
<dt>RPS</dt><dd id="rps"></dd>
<dt>p95</dt><dd id="p95"></dd>
<dt>Errors and failures</dt><dd id="errors"></dd>
<dt>Timeline rows</dt><dd id="rows"></dd>
<dt>Report</dt><dd id="state"></dd>
</dl>
<script type="application/json" id="loads-data">${scriptJson(data)}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
