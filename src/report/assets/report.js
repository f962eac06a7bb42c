// The report page's script (a plain browser script, inlined into the report
// by src/report/render.ts after uPlot). It draws the whole page from the
// JSON of the element #loads-data (src/report/page-data.ts: PageData): the
// run card, the verdict, the tiles, the charts (uPlot) and the tables. The
// live dashboard's page is the same page: given data.live, it follows the
// run over Server-Sent Events (src/report/types.ts: LiveUpdate) and redraws
// in place, the charts with setData.
//
// Durations follow SPEC §6 (three significant digits, seconds):
// formatSeconds below mirrors src/metrics/format-seconds.ts (a browser test
// holds them equal).
//
// For tests and the curious, window.loadsReport exposes the page's state:
//   rows()               timeline rows held (grows on a live page)
//   updates()            live updates applied so far
//   finished()           the run is over (always true on a saved report)
//   streamOpen()         the live event stream is open
//   charts()             names of the charts drawn
//   series(name)         a chart's series: [{ label, stroke, points (values drawn), values }]
//   summary()            the summary drawn
//   capacityMark()       --find-capacity: the knee chart's capacity line ({ rate, label, left })
//   formatSeconds(s, unit)
//   decodeDistribution(histograms)  percentile series (µs) of a Summary's
//                        HdrHistograms, as a promise (what a live page draws)
// uPlot: the global of the script before this one (eslint.config.js declares it).
(function () {
  'use strict';

  const DATA = JSON.parse(document.getElementById('loads-data').textContent);
  const LATENCY_FIELDS = ['p50S', 'p95S', 'p99S', 'serviceP50S', 'serviceP99S'];
  const TIME_SYNC_KEY = 'loads-time';
  const CHART_HEIGHT = 230;
  /** Width of the charts on paper (A4 portrait less its margins, CSS px). */
  const PRINT_WIDTH = 690;

  // --- formatting --------------------------------------------------------

  /** src/metrics/format-seconds.ts, line for line. */
  function formatSeconds(seconds, unit = 's') {
    if (!Number.isFinite(seconds)) {
      return `${seconds}${unit}`;
    }
    if (seconds === 0) {
      return `0${unit}`;
    }
    const sign = seconds < 0 ? '-' : '';
    const abs = Math.abs(seconds);
    const [mantissa = '0', exponentText = '0'] = abs.toExponential(2).split('e');
    const exponent = Number(exponentText);
    if (exponent >= 2) {
      return `${sign}${Math.round(abs)}${unit}`;
    }
    const digits = mantissa.replace('.', '');
    let text;
    if (exponent < 0) {
      text = `0.${'0'.repeat(-exponent - 1)}${digits}`;
    } else {
      const point = exponent + 1;
      text = `${digits.slice(0, point)}.${digits.slice(point)}`;
    }
    return `${sign}${text}${unit}`;
  }

  /** An axis tick: the same figure without trailing zeros (0.000500s → 0.0005s). */
  function tickSeconds(seconds) {
    return formatSeconds(seconds, '')
      .replace(/(\.\d*?)0+$/, '$1')
      .replace(/\.$/, '')
      .concat('s');
  }

  function pad2(n) {
    return String(n).padStart(2, '0');
  }

  /** Local time, YYYY-MM-DD HH:MM:SS (the text summary's Started line). */
  function formatLocalTime(epochMs) {
    const d = new Date(epochMs);
    return (
      `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
      `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
    );
  }

  /** Seconds since the run's start as m:ss, or h:mm:ss past an hour. */
  function formatElapsed(t) {
    const whole = Math.round(t);
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const s = whole % 60;
    return h > 0 ? `${h}:${pad2(m)}:${pad2(s)}` : `${m}:${pad2(s)}`;
  }

  function percent(part, whole, decimals = 1) {
    return `${whole > 0 ? ((part * 100) / whole).toFixed(decimals) : (0).toFixed(decimals)}%`;
  }

  function formatCount(n) {
    return String(Math.round(n));
  }

  function formatRate(n) {
    if (n === 0) {
      return '0';
    }
    return Math.abs(n) >= 100 ? String(Math.round(n)) : String(Number(n.toPrecision(3)));
  }

  // --- the data -----------------------------------------------------------

  /** PageData's columns back to rows (the shape LiveUpdate rows have). */
  function rowsFromColumns(timeline) {
    const rows = [];
    const columns = timeline.columns;
    for (let i = 0; i < timeline.rows; i++) {
      const row = {};
      for (const [field, values] of Object.entries(columns)) {
        row[field] = LATENCY_FIELDS.includes(field) ? values[i] / 1e6 : values[i];
      }
      rows.push(row);
    }
    return rows;
  }

  function runOf(pageRun) {
    return {
      summary: pageRun.summary,
      rows: rowsFromColumns(pageRun.timeline),
      distribution: pageRun.distribution,
    };
  }

  const state = {
    run: runOf(DATA.run),
    baseline: DATA.baseline === null ? null : runOf(DATA.baseline),
    comparison: DATA.comparison,
    live: DATA.live,
    finished: DATA.live === null,
    lost: false,
    updates: 0,
    source: null,
    urlSort: { key: 'avgS', descending: true },
    percentiles: DATA.run.distribution.percentiles,
  };

  const num = (row, field) => row[field] ?? 0;

  /**
   * The rows with every second without a row (nothing happened: no hit, no
   * run in flight) filled in as empty, from 0 to the run's end: counts draw
   * as 0 there and latencies as absent, never as a line between neighbours.
   */
  function denseRows(rows, durationS) {
    if (rows.length === 0) {
      return [];
    }
    const width = rows[0].durationS > 0 ? rows[0].durationS : 1;
    const out = [];
    const fill = (from, to) => {
      for (let t = from; t < to - width / 2; t += width) {
        out.push({ t, durationS: width, empty: true });
      }
    };
    fill(0, rows[0].t);
    for (const row of rows) {
      const last = out[out.length - 1];
      if (last !== undefined) {
        fill(last.t + width, row.t);
      }
      out.push(row);
    }
    const last = out[out.length - 1];
    fill(last.t + Math.max(last.durationS, width), durationS);
    return out;
  }

  const perSecond = (field) => (row) => (row.durationS > 0 ? num(row, field) / row.durationS : 0);
  const failedPerSecond = (row) =>
    row.durationS > 0 ? (num(row, 'errors') + num(row, 'failures')) / row.durationS : 0;
  const latency = (field) => (row) => (num(row, 'hits') > 0 ? row[field] : null);

  // --- colours ---------------------------------------------------------------

  let printing = false;

  function palette() {
    const style = getComputedStyle(document.documentElement);
    const css = (name) => style.getPropertyValue(name).trim();
    if (printing) {
      return {
        fg: '#000000',
        grid: 'rgba(0, 0, 0, 0.12)',
        series: ['#0969da', '#bc4c00', '#cf222e', '#1a7f37', '#8250df', '#6e7781'],
        baseline: '#8c959f',
      };
    }
    return {
      fg: css('--fg'),
      grid: css('--grid'),
      series: ['--c1', '--c2', '--c3', '--c4', '--c5', '--c6'].map(css),
      baseline: css('--baseline'),
    };
  }

  // --- DOM helpers ----------------------------------------------------------

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props ?? {})) {
      if (value === null || value === undefined || value === false) {
        continue;
      }
      if (key === 'class') {
        el.className = value;
      } else if (key.startsWith('on')) {
        el.addEventListener(key.slice(2), value);
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
    for (const child of children.flat(Infinity)) {
      if (child !== null && child !== undefined && child !== false) {
        el.append(child instanceof Node ? child : String(child));
      }
    }
    return el;
  }

  /** A table; columns: [{ head, cell(row) → text|Node, text?: left-aligned, cls? }]. */
  function table(columns, rows, options = {}) {
    const head = h(
      'tr',
      null,
      columns.map((c) => h('th', { class: c.text ? 'text' : null, scope: 'col' }, c.head)),
    );
    const body = rows.map((row) =>
      h(
        'tr',
        { class: options.rowClass ? options.rowClass(row) : null },
        columns.map((c) => h('td', { class: c.cls ?? (c.text ? 'text' : null) }, c.cell(row))),
      ),
    );
    return h(
      'table',
      { class: options.cls ?? null, 'data-table': options.name ?? null },
      h('thead', null, head),
      h('tbody', null, body),
    );
  }

  function section(title, ...content) {
    return [h('h2', null, title), ...content];
  }

  // --- the run card, the verdict and the tiles ------------------------------

  function planTable(summary) {
    const run = summary.run;
    const open = run.rate !== null;
    const steps = run.users.map((users, i) => ({ step: i + 1, users, i }));
    const columns = [{ head: 'Step', cell: (s) => s.step }];
    if (open) {
      columns.push({ head: 'Rate', cell: (s) => `${run.rate[s.i] ?? 0}/s` });
      columns.push({ head: 'Max users', cell: (s) => s.users });
    } else {
      columns.push({ head: 'Users', cell: (s) => s.users });
    }
    if (run.hits !== null) {
      columns.push({ head: 'Runs per user', cell: (s) => run.hits[s.i] ?? 0 });
    }
    if (run.durationS !== null) {
      columns.push({ head: 'Duration', cell: () => formatSeconds(run.durationS) });
    }
    return table(columns, steps, { cls: 'plan', name: 'plan' });
  }

  function modelText(summary) {
    const run = summary.run;
    const ramp = run.rampUpS > 0 ? `, ramp-up ${formatSeconds(run.rampUpS)}` : '';
    if (summary.capacity !== undefined && summary.capacity !== null) {
      return `open, --find-capacity: one probe per step at a rate the search chose, ${formatSeconds(run.durationS)} each, at most ${run.maxUsers} virtual users${ramp}`;
    }
    if (run.rate !== null) {
      return `open: runs start at a fixed rate, at most ${run.maxUsers ?? run.users[0]} virtual users${ramp}`;
    }
    const mode = run.hits !== null ? 'a number of runs per user' : 'for a duration';
    return `closed: each virtual user runs the test again and again, ${mode}${ramp}`;
  }

  function renderCard(summary) {
    const run = summary.run;
    const rows = [
      ['Test', summary.fqn],
      ['Project', summary.projectName],
      ['Target', run.origins.length > 0 ? run.origins.join(', ') : '—'],
      ['Started', formatLocalTime(summary.startedAt)],
      ['Duration', formatSeconds(summary.durationS)],
      ['Model', modelText(summary)],
      ['Plan', planTable(summary)],
      ['Workers', run.workers === 1 ? '1 (the main thread)' : `${run.workers} worker threads`],
      ...(summary.distributed
        ? [
            [
              'Agents',
              `${summary.distributed.agents.length} (run ${summary.distributed.runId}): each ran the whole plan`,
            ],
          ]
        : []),
      ['loads-runner', summary.version],
    ];
    return h(
      'div',
      { class: 'card', 'data-section': 'card' },
      h(
        'dl',
        null,
        rows.map(([label, value]) => [
          h('dt', null, label),
          h('dd', { 'data-field': label.toLowerCase() }, value),
        ]),
      ),
    );
  }

  function interruptionText(summary) {
    if (summary.interruptedBy === 'SIGINT') {
      return 'interrupted by SIGINT (Ctrl-C)';
    }
    if (summary.interruptedBy === 'SIGTERM') {
      return 'interrupted by SIGTERM';
    }
    const stoppedBy = summary.distributed?.stoppedBy ?? null;
    return stoppedBy === null ? 'interrupted' : `interrupted (stopped by ${stoppedBy})`;
  }

  /** --find-capacity's answer in one sentence, as the text summary says it. */
  function capacityVerdict(capacity) {
    const held = capacity.heldRate;
    const broke = capacity.brokeRate;
    const brokeProbe = capacity.probes.find((p) => p.rate === broke);
    const brokeWhat = brokeProbe === undefined ? 'the SLO' : brokeProbe.broken.join(', ');
    switch (capacity.reason) {
      case 'found':
        return `the capacity is ${held}/s, the highest rate that met every threshold; ${broke}/s broke ${brokeWhat}`;
      case 'max-rate-held':
        return `the capacity is at least ${held}/s: --max-rate held`;
      case 'first-rate-broke':
        return `even the first rate, ${broke}/s, broke ${brokeWhat}`;
      case 'generator-saturated': {
        const saturated = capacity.probes.find((p) => p.saturated);
        return `the generator, not the service, was the limit at ${saturated === undefined ? '?' : saturated.rate}/s${held === null ? '' : ` (${held}/s held before it)`}`;
      }
      default:
        return broke === null
          ? `the capacity is at least ${held}/s: the probes ran out`
          : `the capacity is at least ${held}/s, below ${broke}/s: the probes ran out`;
    }
  }

  function renderVerdict(summary, finished) {
    const capacity = summary.capacity ?? null;
    const notes = [];
    const crossed = summary.thresholds.filter((t) => !t.passed).length;
    let cls;
    let status;
    let meaning;
    if (!finished) {
      cls = 'running';
      status = 'Running';
      meaning = 'the run is in progress: the figures cover what ran so far';
    } else if (capacity !== null && !summary.interrupted) {
      cls = summary.exitStatus === 0 ? 'pass' : 'fail';
      status = summary.exitStatus === 0 ? 'Capacity found' : 'No capacity found';
      meaning = `exit status ${summary.exitStatus}: ${capacityVerdict(capacity)}`;
    } else if (summary.exitStatus === 0) {
      cls = 'pass';
      status = 'Passed';
      meaning = 'exit status 0: every test run succeeded and every threshold passed';
    } else if (summary.exitStatus === 1) {
      cls = 'fail';
      status = 'Failed';
      meaning = summary.distributed
        ? 'exit status 1: a test run failed or errored, a threshold was crossed, or an agent was lost or failed'
        : 'exit status 1: a test run failed or errored, or a threshold was crossed';
    } else if (summary.interrupted) {
      cls = 'interrupted';
      status = 'Interrupted';
      meaning = `exit status ${summary.exitStatus}: ${interruptionText(summary)}; the figures cover what ran before`;
    } else {
      cls = 'fail';
      status = `Exit status ${summary.exitStatus}`;
      meaning = '';
    }
    const runs = summary.successes + summary.errors + summary.failures;
    notes.push([
      summary.errors > 0 || summary.failures > 0 ? 'bad' : '',
      `${runs} test ${runs === 1 ? 'run' : 'runs'}: ${summary.successes} succeeded, ${summary.errors} errored, ${summary.failures} failed`,
    ]);
    if (summary.thresholds.length > 0) {
      notes.push(
        crossed > 0
          ? ['bad', `${crossed} of ${summary.thresholds.length} thresholds crossed`]
          : ['', `${summary.thresholds.length} of ${summary.thresholds.length} thresholds passed`],
      );
    }
    if (summary.abortedBy !== null) {
      notes.push([
        'warn',
        `stopped early: threshold '${summary.abortedBy}' crossed (--abort-on-fail)`,
      ]);
    }
    if (summary.generator !== null && summary.generator.saturated) {
      notes.push([
        'warn',
        `the load generator was saturated (${summary.generator.reason}): latencies include its own delay`,
      ]);
    }
    const lostAgents = (summary.distributed?.agents ?? []).filter((a) => a.lost);
    if (lostAgents.length > 0) {
      notes.push(['bad', `agents lost: ${lostAgents.map((a) => a.name).join(', ')}`]);
    }
    const failedAgents = (summary.distributed?.agents ?? []).filter((a) => a.failure !== null);
    if (failedAgents.length > 0) {
      notes.push(['bad', `agents failed: ${failedAgents.map((a) => a.name).join(', ')}`]);
    }
    if (summary.rate !== null && summary.dropped > 0) {
      const scheduled = summary.successes + summary.errors + summary.failures + summary.dropped;
      notes.push([
        'warn',
        `${summary.dropped} of ${scheduled} scheduled test runs dropped: every virtual user was busy`,
      ]);
    }
    return h(
      'div',
      {
        class: `verdict ${cls}`,
        'data-section': 'verdict',
        'data-exit-status': summary.exitStatus,
      },
      h('div', { class: 'status' }, status),
      meaning === '' ? null : h('div', { class: 'meaning' }, meaning),
      notes.length === 0
        ? null
        : h(
            'ul',
            null,
            notes.map(([noteCls, text]) => h('li', { class: noteCls || null }, text)),
          ),
    );
  }

  function change(current, base) {
    if (base === null || base === undefined || base === 0) {
      return '';
    }
    const share = (current - base) / base;
    return `${share >= 0 ? '+' : ''}${(share * 100).toFixed(1)}%`;
  }

  function renderTiles(summary, baseline) {
    const failedSub = `failures ${summary.failures} · hit errors ${summary.hitErrors}`;
    const tiles = [
      ['hits', 'Hits', formatCount(summary.hits), (s) => s.hits, null, formatCount],
      ['rps', 'RPS', formatCount(summary.rps), (s) => s.rps, null, formatCount],
      ['p95', 'p95', formatSeconds(summary.latency.p95), (s) => s.latency.p95, null, formatSeconds],
      ['p99', 'p99', formatSeconds(summary.latency.p99), (s) => s.latency.p99, null, formatSeconds],
      ['errors', 'Errors', formatCount(summary.errors), (s) => s.errors, failedSub, formatCount],
      [
        'dropped',
        'Dropped',
        formatCount(summary.dropped),
        (s) => s.dropped,
        summary.rate === null ? 'closed model: none' : null,
        formatCount,
      ],
    ];
    return h(
      'div',
      { class: 'tiles', 'data-section': 'tiles' },
      tiles.map(([key, label, value, pick, sub, format]) => {
        const bad = (key === 'errors' || key === 'dropped') && pick(summary) > 0;
        const base =
          baseline === null
            ? null
            : `baseline ${format(pick(baseline))} ${change(pick(summary), pick(baseline))}`;
        return h(
          'div',
          { class: 'tile', 'data-tile': key },
          h('div', { class: 'label' }, label),
          h('div', { class: bad ? 'value bad' : 'value' }, value),
          sub === null ? null : h('div', { class: 'sub' }, sub),
          base === null ? null : h('div', { class: 'sub baseline' }, base.trim()),
        );
      }),
    );
  }

  // --- the tables -----------------------------------------------------------

  const URL_COLUMNS = [
    { key: 'hits', head: 'Hits', cell: (u) => formatCount(u.hits) },
    { key: 'avgS', head: 'Average', cell: (u) => formatSeconds(u.avgS) },
    { key: 'p95S', head: 'p95', cell: (u) => formatSeconds(u.p95S) },
    { key: 'successRate', head: 'Success', cell: (u) => `${(u.successRate * 100).toFixed(1)}%` },
    { key: 'key', head: 'URL', cell: (u) => u.key, text: true, cls: 'url' },
  ];

  function sortedUrls(urls) {
    const { key, descending } = state.urlSort;
    const sign = descending ? -1 : 1;
    return [...urls].sort((a, b) => {
      const x = a[key];
      const y = b[key];
      const order = typeof x === 'string' ? x.localeCompare(y) : x - y;
      return order * sign;
    });
  }

  function urlTable(summary) {
    const head = h(
      'tr',
      null,
      URL_COLUMNS.map((c) =>
        h(
          'th',
          {
            class: c.text ? 'text' : null,
            scope: 'col',
            'data-key': c.key,
            'aria-sort':
              state.urlSort.key === c.key
                ? state.urlSort.descending
                  ? 'descending'
                  : 'ascending'
                : 'none',
          },
          h(
            'button',
            {
              type: 'button',
              title: 'Sort by this column',
              onclick: () => {
                state.urlSort =
                  state.urlSort.key === c.key
                    ? { key: c.key, descending: !state.urlSort.descending }
                    : { key: c.key, descending: c.key !== 'key' };
                renderTables();
              },
            },
            c.head,
          ),
        ),
      ),
    );
    const body = sortedUrls(summary.urls).map((u) =>
      h(
        'tr',
        null,
        URL_COLUMNS.map((c) => h('td', { class: c.cls ?? null }, c.cell(u))),
      ),
    );
    return h('table', { 'data-table': 'urls' }, h('thead', null, head), h('tbody', null, body));
  }

  function stepTable(summary) {
    const open = summary.rate !== null;
    const columns = [
      { head: 'Step', cell: (s) => s.step },
      open
        ? {
            head: 'Rate',
            cell: (s) =>
              `${s.rate !== null && s.rate > 0 ? s.rate : (summary.rate[s.step - 1] ?? 0)}/s`,
          }
        : { head: 'Users', cell: (s) => s.users },
      { head: 'Runs', cell: (s) => s.runs },
      { head: 'RPS', cell: (s) => formatCount(s.rps) },
      { head: 'p50', cell: (s) => formatSeconds(s.p50S) },
      { head: 'p95', cell: (s) => formatSeconds(s.p95S) },
      { head: 'p99', cell: (s) => formatSeconds(s.p99S) },
      {
        head: 'Errors',
        cell: (s) => `${s.errors + s.failures} (${percent(s.errors + s.failures, s.runs)})`,
      },
    ];
    if (open) {
      columns.push({ head: 'Dropped', cell: (s) => s.dropped });
    }
    return table(columns, summary.steps, { name: 'steps' });
  }

  /** --find-capacity: one row per probe, in the order run, with the SLO's figures. */
  function capacityTable(capacity) {
    const slo = capacity.slo;
    const columns = [
      { head: 'Probe', cell: (p) => p.index + 1 },
      { head: 'Rate', cell: (p) => `${p.rate}/s` },
      { head: 'Achieved', cell: (p) => `${formatRate(p.achievedRate)}/s` },
      ...slo.map((expression, i) => ({
        head: expression,
        cell: (p) => {
          const t = p.thresholds[i];
          return t === undefined
            ? '—'
            : h(
                'span',
                { class: t.passed ? 'pass-mark' : 'fail-mark' },
                `${t.passed ? '✓' : '✗'} ${t.display}`,
              );
        },
      })),
      {
        head: 'Verdict',
        text: true,
        cell: (p) =>
          p.saturated
            ? `not judged: the generator was saturated (${p.saturationReason})`
            : p.held
              ? p.rate === capacity.heldRate
                ? 'held, the highest'
                : 'held'
              : `broke ${p.broken.join(', ')}`,
      },
    ];
    return table(columns, capacity.probes, { name: 'capacity' });
  }

  /** Distributed runs: one row per agent (the text summary's Agents table). */
  function agentTable(distributed) {
    const columns = [
      { head: 'Agent', text: true, cell: (a) => a.name },
      { head: 'Host', text: true, cell: (a) => a.host },
      { head: 'Runs', cell: (a) => a.runs },
      { head: 'Hits', cell: (a) => a.hits },
      { head: 'Errors', cell: (a) => a.errors },
      { head: 'Threads', cell: (a) => a.threads },
      { head: 'Saturated', cell: (a) => (a.saturated ? 'yes' : 'no') },
      { head: 'Lost', cell: (a) => (a.lost ? 'yes' : 'no') },
    ];
    return table(columns, distributed.agents, {
      name: 'agents',
      rowClass: (a) => (a.lost || a.failure !== null ? 'bad' : null),
    });
  }

  /** The notes under the Agents table: lost agents and the runs they did not do, failed parts. */
  function agentNotes(distributed) {
    const notes = [];
    const lost = distributed.agents.filter((a) => a.lost);
    if (lost.length > 0) {
      const named = lost.map((a) =>
        a.runsNotDone === null ? a.name : `${a.name} (${a.runsNotDone} planned runs not done)`,
      );
      notes.push(
        h(
          'p',
          { class: 'note warn', 'data-note': 'lost' },
          `Lost: ${named.join(', ')}; their results count up to their last delta.`,
        ),
      );
    }
    for (const a of distributed.agents) {
      if (a.failure !== null) {
        notes.push(
          h('p', { class: 'note warn', 'data-note': 'failed' }, `Failed: ${a.name}: ${a.failure}`),
        );
      }
    }
    return notes;
  }

  function latencyTable(summary) {
    const rows = [{ name: 'Response time', l: summary.latency }];
    if (summary.rate !== null) {
      rows[0].name = "Response time (from each run's intended start)";
      rows.push({ name: "Service time (from the request's actual start)", l: summary.serviceTime });
    }
    return table(
      [
        { head: '', cell: (r) => r.name, text: true },
        ...['p50', 'p90', 'p95', 'p99', 'max'].map((p) => ({
          head: p,
          cell: (r) => formatSeconds(r.l[p]),
        })),
      ],
      rows,
      { name: 'latency' },
    );
  }

  function keyValueTable(name, head, entries) {
    return table(
      [
        { head, cell: (e) => e[0], text: true },
        { head: 'Count', cell: (e) => e[1] },
      ],
      entries,
      { name },
    );
  }

  /** The stack's lines without a first line that repeats "Name: message" (as the text summary). */
  function stackFrames(e) {
    const header = e.message === '' ? e.name : `${e.name}: ${e.message}`;
    let stack = e.stack;
    if (stack.startsWith(header)) {
      stack = stack.slice(header.length);
    }
    return stack
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .join('\n');
  }

  function errorList(name, list) {
    return h(
      'div',
      { 'data-list': name },
      list.map((e) => {
        const frames = stackFrames(e);
        return h(
          'details',
          { class: 'error' },
          h(
            'summary',
            null,
            h('span', { class: 'count' }, `${e.count}×`),
            ' ',
            e.message === '' ? e.name : `${e.name}: ${e.message}`,
            h('span', { class: 'note' }, ` in ${e.test}`),
          ),
          h('pre', null, frames === '' ? '(no stack)' : frames),
        );
      }),
    );
  }

  function formatComparisonValue(metric, value) {
    if (value === null) {
      return '—';
    }
    if (metric === 'rps') {
      return `${formatRate(value)}/s`;
    }
    if (metric === 'errorShare') {
      return `${(value * 100).toFixed(2)}%`;
    }
    return formatSeconds(value);
  }

  const METRIC_NAMES = {
    rps: 'RPS',
    p50: 'p50',
    p95: 'p95',
    p99: 'p99',
    errorShare: 'error share',
  };

  function comparisonSection(comparison) {
    const limit =
      comparison.maxRegression === null
        ? 'no --max-regression given'
        : `--max-regression ${(comparison.maxRegression * 100).toFixed(1).replace(/\.0$/, '')}%`;
    const verdict =
      comparison.regressions.length === 0
        ? `no regression (${limit})`
        : `${comparison.regressions.length} ${comparison.regressions.length === 1 ? 'regression' : 'regressions'} (${limit}): ${comparison.regressions.map((r) => `${r.scope} ${METRIC_NAMES[r.metric]}`).join(', ')}`;
    return section(
      'Compared with the baseline',
      h('p', { class: comparison.regressions.length === 0 ? 'note' : 'note warn' }, verdict),
      // The labels are long (file, test, start): named once here, so the columns stay narrow.
      h(
        'p',
        { class: 'note' },
        `Baseline: ${comparison.baselineLabel}`,
        h('br'),
        `Current: ${comparison.currentLabel}`,
      ),
      table(
        [
          { head: 'Scope', cell: (r) => r.scope, text: true, cls: 'scope' },
          { head: 'Metric', cell: (r) => METRIC_NAMES[r.metric] ?? r.metric, text: true },
          { head: 'Baseline', cell: (r) => formatComparisonValue(r.metric, r.baseline) },
          { head: 'Current', cell: (r) => formatComparisonValue(r.metric, r.current) },
          {
            head: 'Change',
            cell: (r) =>
              r.change === null
                ? '—'
                : `${r.change >= 0 ? '+' : ''}${(r.change * 100).toFixed(1)}%${r.regression ? ' regression' : ''}`,
            cls: 'change',
          },
        ],
        comparison.rows,
        {
          name: 'comparison',
          rowClass: (r) =>
            r.regression
              ? 'regression'
              : r.worse
                ? 'worse'
                : r.change !== null && r.change !== 0
                  ? 'better'
                  : null,
        },
      ),
    );
  }

  function renderTables(target = document.getElementById('tables')) {
    const summary = state.run.summary;
    const parts = [];
    const capacity = summary.capacity ?? null;
    if (capacity !== null) {
      parts.push(
        ...section(`Capacity (the SLO: ${capacity.slo.join(', ')})`, capacityTable(capacity)),
      );
    }
    if (summary.hits > 0) {
      parts.push(...section('Latency percentiles (all hits)', latencyTable(summary)));
    }
    if (summary.steps.length > 1) {
      parts.push(...section('Steps', stepTable(summary)));
    }
    // Documents written before distributed runs have no such field.
    const distributed = summary.distributed ?? null;
    if (distributed !== null) {
      parts.push(
        ...section(
          `Agents (run ${distributed.runId})`,
          agentTable(distributed),
          agentNotes(distributed),
        ),
      );
    }
    if (summary.urls.length > 0) {
      const notes = [];
      if (summary.otherUrlHits > 0) {
        notes.push(
          h(
            'p',
            { class: 'note warn' },
            `Per-URL stats keep at most ${DATA.maxUrls} distinct URLs: ${summary.otherUrlHits} hits to later ones are counted under '${DATA.otherUrlsKey}'. Group URLs that carry ids with the request option name.`,
          ),
        );
      }
      parts.push(
        ...section(
          'URLs',
          h('p', { class: 'note screen' }, 'Click a column heading to sort.'),
          urlTable(summary),
          notes,
        ),
      );
    }
    const hitErrorKeys = Object.entries(summary.hitErrorKeys).sort((a, b) => b[1] - a[1]);
    if (hitErrorKeys.length > 0) {
      parts.push(
        ...section('Hits without a response', keyValueTable('hit-errors', 'Error', hitErrorKeys)),
      );
    }
    const statusCounts = Object.entries(summary.statusCounts);
    if (statusCounts.length > 0) {
      parts.push(
        ...section('Responses outside 2xx/3xx', keyValueTable('statuses', 'Status', statusCounts)),
      );
    }
    const protocols = Object.entries(summary.protocols);
    if (protocols.length > 1) {
      parts.push(
        ...section('Hits per protocol', keyValueTable('protocols', 'Protocol', protocols)),
      );
    }
    if (summary.topErrors.length > 0) {
      parts.push(...section('Most frequent errors', errorList('errors', summary.topErrors)));
    }
    if (summary.topFailures.length > 0) {
      parts.push(...section('Most frequent failures', errorList('failures', summary.topFailures)));
    }
    const counters = Object.entries(summary.counters);
    if (counters.length > 0) {
      parts.push(
        ...section(
          'Counters',
          table(
            [
              { head: 'Counter', cell: (e) => e[0], text: true },
              { head: 'Value', cell: (e) => e[1] },
            ],
            counters,
            { name: 'counters' },
          ),
        ),
      );
    }
    if (summary.thresholds.length > 0) {
      parts.push(
        ...section(
          'Thresholds',
          table(
            [
              {
                head: 'Result',
                cell: (t) =>
                  t.passed
                    ? h('span', { class: 'pass-mark' }, '✓ PASS')
                    : h('span', { class: 'fail-mark' }, '✗ FAIL'),
                text: true,
              },
              { head: 'Threshold', cell: (t) => t.expression, text: true },
              { head: 'Measured', cell: (t) => t.display },
            ],
            summary.thresholds,
            { name: 'thresholds' },
          ),
        ),
      );
    }
    // A section's content may hold a list of notes (the URLs', the Agents').
    target.replaceChildren(...parts.flat());
  }

  // --- the charts -----------------------------------------------------------

  /** chart name → { plot: uPlot, signature: string } */
  const charts = new Map();
  let syncingScale = false;

  const timeAxis = (colors) => ({
    stroke: colors.fg,
    grid: { stroke: colors.grid, width: 1 },
    ticks: { stroke: colors.grid, width: 1 },
    values: (u, splits) => splits.map(formatElapsed),
    incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800],
  });

  const valueAxis = (colors, format, side, scale, label) => ({
    scale,
    side,
    stroke: colors.fg,
    label,
    labelSize: label ? 18 : 0,
    labelFont: '12px system-ui, sans-serif',
    grid: { show: side === 3, stroke: colors.grid, width: 1 },
    ticks: { stroke: colors.grid, width: 1 },
    values: (u, splits) => splits.map(format),
    size: 64,
  });

  const axisRate = (v) => (v === 0 ? '0' : formatRate(v));
  const axisPercent = (v) => `${Number(v.toPrecision(3))}%`;

  /**
   * Value scales start at zero (a chart that starts at its minimum makes a
   * small change look large) and reach at least 1, so an all-zero series
   * (no errors) lies flat at the bottom instead of mid-chart.
   */
  const fromZero = { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] };

  function zeroBasedScales(series) {
    const scales = {};
    for (const s of series) {
      if (s.scale !== undefined) {
        scales[s.scale] = fromZero;
      }
    }
    return scales;
  }

  function line(label, color, scale, value, extra = {}) {
    return {
      label,
      stroke: color,
      width: 1.5,
      scale,
      value,
      spanGaps: false,
      points: { show: false },
      ...extra,
    };
  }

  /**
   * The x values of the time charts: the seconds of the run and of the
   * baseline (aligned by time since start), and each run's rows by t.
   */
  function timeFrame() {
    const current = denseRows(state.run.rows, state.run.summary.durationS);
    const base =
      state.baseline === null
        ? []
        : denseRows(state.baseline.rows, state.baseline.summary.durationS);
    const xs = [...new Set([...current.map((r) => r.t), ...base.map((r) => r.t)])].sort(
      (a, b) => a - b,
    );
    const index = (rows) => new Map(rows.map((r) => [r.t, r]));
    return { xs, current: index(current), base: index(base) };
  }

  /** A series' values on the frame's x; undefined (joined over, not a gap) where the run has no row. */
  function column(frame, rows, pick) {
    return frame.xs.map((t) => {
      const row = rows.get(t);
      if (row === undefined) {
        return undefined;
      }
      return pick(row);
    });
  }

  /**
   * The time charts' specs: series (current, then baseline dashed) with a
   * pick function each, and the axes.
   */
  function timeChartSpecs(colors) {
    const summary = state.run.summary;
    const open = summary.rate !== null;
    const hasBaseline = state.baseline !== null;
    const [c1, c2, c3, c4, c5, c6] = colors.series;
    const dash = [6, 4];
    const withBaseline = (series) =>
      hasBaseline
        ? [
            ...series,
            ...series.map((s) => ({
              ...s,
              label: `${s.label} (baseline)`,
              stroke: s.stroke,
              dash,
              width: 1,
              alpha: 0.6,
              baseline: true,
            })),
          ]
        : series;
    const secondsValue = (u, v) => (v === null || v === undefined ? '—' : formatSeconds(v));
    const rateValue = (u, v) => (v === null || v === undefined ? '—' : `${formatRate(v)}/s`);
    const countValue = (u, v) => (v === null || v === undefined ? '—' : formatRate(v));
    const specs = [
      {
        name: 'load',
        title: open ? 'Load: achieved arrival rate and RPS' : 'Load: virtual users and RPS',
        series: withBaseline([
          open
            ? line('Runs started/s', c2, 'load', rateValue, { pick: perSecond('started') })
            : line('Users', c2, 'load', countValue, { pick: (r) => num(r, 'users') }),
          line('RPS', c1, 'rps', rateValue, { pick: perSecond('hits') }),
        ]),
        axes: [
          valueAxis(colors, axisRate, 3, 'load', open ? 'runs/s' : 'users'),
          valueAxis(colors, axisRate, 1, 'rps', 'requests/s'),
        ],
      },
      {
        name: 'errors',
        title: open ? 'Errors and dropped runs per second' : 'Errors per second',
        series: withBaseline([
          line('Hit errors/s', c3, 'y', rateValue, { pick: perSecond('hitErrors') }),
          line('Failed runs/s', c5, 'y', rateValue, { pick: failedPerSecond }),
          ...(open ? [line('Dropped/s', c2, 'y', rateValue, { pick: perSecond('dropped') })] : []),
        ]),
        axes: [valueAxis(colors, axisRate, 3, 'y', 'per second')],
      },
      {
        name: 'latency',
        title: open ? 'Response time (and service time, dashed)' : 'Response time',
        series: withBaseline([
          line('p50', c4, 's', secondsValue, { pick: latency('p50S') }),
          line('p95', c1, 's', secondsValue, { pick: latency('p95S') }),
          line('p99', c3, 's', secondsValue, { pick: latency('p99S') }),
          ...(open
            ? [
                line('service p50', c4, 's', secondsValue, {
                  pick: latency('serviceP50S'),
                  dash: [2, 3],
                }),
                line('service p99', c3, 's', secondsValue, {
                  pick: latency('serviceP99S'),
                  dash: [2, 3],
                }),
              ]
            : []),
        ]),
        axes: [valueAxis(colors, tickSeconds, 3, 's', 'seconds')],
      },
    ];
    const wsRows = [...state.run.rows, ...(state.baseline?.rows ?? [])];
    if (
      summary.socketsOpened > 0 ||
      summary.wsMessages > 0 ||
      wsRows.some((r) => num(r, 'wsOpened') > 0 || num(r, 'wsMessages') > 0)
    ) {
      specs.push({
        name: 'ws',
        title: 'WebSocket activity',
        series: withBaseline([
          line('Opened/s', c6, 'y', rateValue, { pick: perSecond('wsOpened') }),
          line('Messages/s', c1, 'y', rateValue, { pick: perSecond('wsMessages') }),
        ]),
        axes: [valueAxis(colors, axisRate, 3, 'y', 'per second')],
      });
    }
    return specs;
  }

  function timeChart(spec, frame, colors) {
    const data = [
      frame.xs,
      ...spec.series.map((s) => column(frame, s.baseline ? frame.base : frame.current, s.pick)),
    ];
    const opts = {
      scales: { ...zeroBasedScales(spec.series), x: { time: false } },
      series: [
        { label: 'Time', value: (u, v) => (v === null ? '—' : formatElapsed(v)) },
        ...spec.series.map((s) => {
          const { pick: _pick, baseline: _baseline, ...series } = s;
          return series;
        }),
      ],
      axes: [timeAxis(colors), ...spec.axes],
      cursor: { sync: { key: TIME_SYNC_KEY, setSeries: false }, drag: { x: true, y: false } },
      hooks: {
        // Zoom one time chart, zoom them all (the cursor is synced already).
        setScale: [
          (u, key) => {
            if (key !== 'x' || syncingScale) {
              return;
            }
            syncingScale = true;
            for (const chart of charts.values()) {
              if (chart.time && chart.plot !== u) {
                chart.plot.setScale('x', { min: u.scales.x.min, max: u.scales.x.max });
              }
            }
            syncingScale = false;
          },
        ],
      },
    };
    return { opts, data };
  }

  function distributionChart(colors) {
    const open = state.run.summary.rate !== null;
    const [c1, , , c4] = colors.series;
    const xs = state.percentiles.map((p) => 1 / (1 - Math.min(p, 99.9999) / 100));
    const seconds = (us) => (us === undefined ? null : us / 1e6);
    const seriesOf = (distribution, baseline) => {
      const out = [];
      if (distribution === null) {
        return out;
      }
      const suffix = baseline ? ' (baseline)' : '';
      const extra = baseline ? { dash: [6, 4], width: 1 } : {};
      out.push({
        s: line(`Response time${suffix}`, c1, 's', null, extra),
        values: xs.map((_, i) => seconds(distribution.responseUs[i])),
      });
      if (open) {
        out.push({
          s: line(`Service time${suffix}`, c4, 's', null, extra),
          values: xs.map((_, i) => seconds(distribution.serviceUs[i])),
        });
      }
      return out;
    };
    const all = [
      ...seriesOf(state.run.distribution, false),
      ...(state.baseline === null ? [] : seriesOf(state.baseline.distribution, true)),
    ];
    const percentileLabel = (x) => {
      const p = 100 * (1 - 1 / x);
      return `${Number(p.toFixed(4))}%`;
    };
    const opts = {
      scales: { s: fromZero, x: { time: false, distr: 3, log: 10 } },
      series: [
        { label: 'Percentile', value: (u, v) => (v === null ? '—' : percentileLabel(v)) },
        ...all.map((a) => ({ ...a.s, value: (u, v) => (v === null ? '—' : formatSeconds(v)) })),
      ],
      axes: [
        {
          stroke: colors.fg,
          grid: { stroke: colors.grid, width: 1 },
          ticks: { stroke: colors.grid, width: 1 },
          splits: () => [1, 10, 100, 1000, 10000],
          values: (u, splits) => splits.map(percentileLabel),
          label: 'percentile',
          labelSize: 18,
          labelFont: '12px system-ui, sans-serif',
        },
        valueAxis(colors, tickSeconds, 3, 's', 'seconds'),
      ],
      cursor: { drag: { x: true, y: false } },
    };
    return { opts, data: [xs, ...all.map((a) => a.values)] };
  }

  /**
   * --find-capacity's knee: the probes by rate (a log scale: the search
   * doubles, then bisects), p95, p99, error share and RPS at each, each
   * probe's point coloured by its verdict (held, broke, not judged), and a
   * vertical line at the capacity, the highest rate that held.
   */
  function capacityKneeChart(colors, capacity) {
    const summary = state.run.summary;
    const [c1, c2, c3, c4, c5, c6] = colors.series;
    const byRate = summary.steps
      .map((s) => ({ step: s, probe: capacity.probes[s.step - 1] }))
      .filter((p) => p.probe !== undefined)
      .sort((a, b) => a.probe.rate - b.probe.rate);
    const xs = byRate.map((p) => p.probe.rate);
    const verdict = (probe) => (probe.saturated ? 'not judged' : probe.held ? 'held' : 'broke');
    const probeAt = (rate) => byRate.find((p) => p.probe.rate === rate);
    const secondsValue = (u, v) => (v === null || v === undefined ? '—' : formatSeconds(v));
    const pointsOnly = (label, color, pick) =>
      line(label, color, 's', secondsValue, {
        paths: () => null,
        points: { show: true, size: 11, fill: color, stroke: color },
        pick,
      });
    const marks = [
      pointsOnly('Held', c4, (p) => (verdict(p.probe) === 'held' ? p.step.p95S : null)),
      pointsOnly('Broke', c3, (p) => (verdict(p.probe) === 'broke' ? p.step.p95S : null)),
      pointsOnly('Not judged', c2, (p) => (verdict(p.probe) === 'not judged' ? p.step.p95S : null)),
    ];
    const held = capacity.heldRate;
    const lowest = xs.length === 0 ? 1 : xs[0];
    const highest = xs.length === 0 ? 1 : xs[xs.length - 1];
    const opts = {
      scales: {
        s: fromZero,
        rps: fromZero,
        '%': fromZero,
        x: { time: false, distr: 3, log: 2, range: () => [lowest / 1.25, highest * 1.25] },
      },
      series: [
        {
          label: 'Probe',
          value: (u, v) => {
            const p = v === null ? undefined : probeAt(v);
            return p === undefined
              ? '—'
              : `probe ${p.probe.index + 1}: ${p.probe.rate}/s, ${verdict(p.probe)}`;
          },
        },
        line('p95', c1, 's', secondsValue, { points: { show: true, size: 5 } }),
        line('p99', c6, 's', secondsValue, { points: { show: true, size: 5 } }),
        line('Error share', c5, '%', (u, v) => (v === null ? '—' : `${v.toFixed(2)}%`), {
          points: { show: true, size: 5 },
          dash: [2, 3],
        }),
        line('RPS', colors.fg, 'rps', (u, v) => (v === null ? '—' : `${formatRate(v)}/s`), {
          points: { show: true, size: 5 },
          width: 2,
        }),
        ...marks.map(({ pick: _pick, ...series }) => series),
      ],
      axes: [
        {
          stroke: colors.fg,
          grid: { stroke: colors.grid, width: 1 },
          ticks: { stroke: colors.grid, width: 1 },
          splits: () => xs,
          // Bisected rates lie close together: a label only where it has room.
          values: (u, splits) => {
            let last = -Infinity;
            return splits.map((rate) => {
              const at = u.valToPos(rate, 'x');
              if (at - last < 44 && rate !== held) {
                return '';
              }
              last = at;
              return `${rate}/s`;
            });
          },
          label: 'probe rate (runs/s)',
          labelSize: 18,
          labelFont: '12px system-ui, sans-serif',
        },
        valueAxis(colors, tickSeconds, 3, 's', 'seconds'),
        valueAxis(colors, axisRate, 1, 'rps', 'requests/s'),
        valueAxis(colors, axisPercent, 1, '%', 'errors'),
      ],
      cursor: { drag: { x: false, y: false } },
      hooks: {
        draw: [
          (u) => {
            if (held === null) {
              u.capacityMark = null;
              return;
            }
            const left = u.valToPos(held, 'x', true);
            const { top, height } = u.bbox;
            const ctx = u.ctx;
            const ratio = window.devicePixelRatio || 1;
            ctx.save();
            ctx.strokeStyle = c4;
            ctx.lineWidth = 2 * ratio;
            ctx.setLineDash([6 * ratio, 4 * ratio]);
            ctx.beginPath();
            ctx.moveTo(left, top);
            ctx.lineTo(left, top + height);
            ctx.stroke();
            const label = `capacity ${held}/s`;
            ctx.setLineDash([]);
            ctx.fillStyle = c4;
            ctx.font = `bold ${12 * ratio}px system-ui, sans-serif`;
            const width = ctx.measureText(label).width;
            // Left of the line when it is near the right edge.
            const x =
              left + 6 * ratio + width > u.bbox.left + u.bbox.width
                ? left - 6 * ratio - width
                : left + 6 * ratio;
            // On the chart's own background, so that no line runs through the words.
            ctx.fillStyle =
              getComputedStyle(document.documentElement).getPropertyValue('--panel').trim() ||
              '#ffffff';
            ctx.fillRect(x - 3 * ratio, top + 1 * ratio, width + 6 * ratio, 17 * ratio);
            ctx.fillStyle = c4;
            ctx.fillText(label, x, top + 14 * ratio);
            ctx.restore();
            u.capacityMark = { rate: held, label, left: left / ratio };
          },
        ],
      },
    };
    const data = [
      xs,
      byRate.map((p) => p.step.p95S),
      byRate.map((p) => p.step.p99S),
      byRate.map((p) =>
        p.step.runs > 0 ? ((p.step.errors + p.step.failures) * 100) / p.step.runs : 0,
      ),
      byRate.map((p) => p.step.rps),
      ...marks.map((m) => byRate.map(m.pick)),
    ];
    return { opts, data };
  }

  function kneeChart(colors) {
    const summary = state.run.summary;
    if (summary.capacity !== undefined && summary.capacity !== null) {
      return capacityKneeChart(colors, summary.capacity);
    }
    const open = summary.rate !== null;
    const [c1, , c3, , c5] = colors.series;
    const steps = summary.steps;
    const xs = steps.map((s) => s.step);
    const stepLabel = (step) => {
      const s = steps.find((x) => x.step === step);
      if (s === undefined) {
        return '';
      }
      if (open) {
        const rate = s.rate !== null && s.rate > 0 ? s.rate : (summary.rate[s.step - 1] ?? 0);
        return `${rate}/s`;
      }
      return `${s.users} users`;
    };
    const secondsValue = (u, v) => (v === null ? '—' : formatSeconds(v));
    const opts = {
      scales: {
        s: fromZero,
        rps: fromZero,
        '%': fromZero,
        x: { time: false, range: (u, min, max) => [min - 0.3, max + 0.3] },
      },
      series: [
        { label: 'Step', value: (u, v) => (v === null ? '—' : `step ${v}: ${stepLabel(v)}`) },
        line('p95', c1, 's', secondsValue, { points: { show: true, size: 6 } }),
        line('p99', c3, 's', secondsValue, { points: { show: true, size: 6 } }),
        line('Error share', c5, '%', (u, v) => (v === null ? '—' : `${v.toFixed(2)}%`), {
          points: { show: true, size: 6 },
          dash: [2, 3],
        }),
        line('RPS', colors.fg, 'rps', (u, v) => (v === null ? '—' : `${formatRate(v)}/s`), {
          points: { show: true, size: 6 },
          width: 2,
        }),
      ],
      axes: [
        {
          stroke: colors.fg,
          grid: { stroke: colors.grid, width: 1 },
          ticks: { stroke: colors.grid, width: 1 },
          splits: () => xs,
          values: (u, splits) => splits.map(stepLabel),
        },
        valueAxis(colors, tickSeconds, 3, 's', 'seconds'),
        valueAxis(colors, axisRate, 1, 'rps', 'requests/s'),
        valueAxis(colors, axisPercent, 1, '%', 'errors'),
      ],
      cursor: { drag: { x: false, y: false } },
    };
    const data = [
      xs,
      steps.map((s) => s.p95S),
      steps.map((s) => s.p99S),
      steps.map((s) => (s.runs > 0 ? ((s.errors + s.failures) * 100) / s.runs : 0)),
      steps.map((s) => s.rps),
    ];
    return { opts, data };
  }

  /** The chart specs to draw now: [{ name, title, hint, build(colors) → { opts, data }, time }]. */
  function chartList() {
    const list = [];
    const colors = palette();
    const frame = timeFrame();
    for (const spec of timeChartSpecs(colors)) {
      list.push({
        name: spec.name,
        title: spec.title,
        hint: 'drag to zoom, double-click to reset',
        time: true,
        built: timeChart(spec, frame, colors),
      });
    }
    const summary = state.run.summary;
    if (summary.hits > 0 || state.baseline !== null) {
      list.push({
        name: 'distribution',
        title:
          summary.rate !== null
            ? 'Latency distribution: response and service time'
            : 'Latency distribution',
        hint: 'HDR percentile plot, all hits',
        time: false,
        built: distributionChart(colors),
      });
    }
    const capacity = summary.capacity ?? null;
    if (capacity !== null && summary.steps.length > 0) {
      list.push({
        name: 'knee',
        title:
          capacity.heldRate === null
            ? 'Probes: no rate held'
            : `Probes: the capacity is ${capacity.heldRate}/s`,
        hint: 'p95, p99, error share and RPS per probe rate; points held (green) or broke (red)',
        time: false,
        built: kneeChart(colors),
      });
    } else if (summary.steps.length > 1) {
      list.push({
        name: 'knee',
        title: 'Steps: where the capacity runs out',
        hint: 'p95, p99, error share and RPS per step',
        time: false,
        built: kneeChart(colors),
      });
    }
    return list;
  }

  function chartWidth(figure) {
    if (printing) {
      return PRINT_WIDTH;
    }
    return Math.max(280, figure.clientWidth - 16);
  }

  /**
   * Draws every chart: a chart whose series are unchanged gets the new data
   * (setData, in place); one whose series changed (a new WebSocket series,
   * the palette after a colour-scheme change) is made again.
   */
  function renderCharts(rebuild = false) {
    const container = document.getElementById('charts');
    const list = chartList();
    const wanted = new Set(list.map((c) => c.name));
    for (const [name, chart] of charts) {
      if (!wanted.has(name)) {
        chart.plot.destroy();
        chart.figure.remove();
        charts.delete(name);
      }
    }
    for (const item of list) {
      const signature = JSON.stringify(
        item.built.opts.series.map((s) => [s.label, s.stroke, s.scale]),
      );
      const existing = charts.get(item.name);
      if (existing !== undefined && existing.signature === signature && !rebuild) {
        existing.plot.setData(item.built.data);
        continue;
      }
      let figure = existing?.figure;
      if (existing !== undefined) {
        existing.plot.destroy();
      } else {
        figure = h(
          'figure',
          { class: 'chart', 'data-chart': item.name },
          h('figcaption', null, item.title, ' ', h('span', { class: 'hint' }, item.hint)),
          h('div', { class: 'plot' }),
        );
        container.append(figure);
      }
      figure.querySelector('figcaption').firstChild.textContent = item.title;
      const target = figure.querySelector('.plot');
      const plot = new uPlot(
        { ...item.built.opts, width: chartWidth(figure), height: CHART_HEIGHT },
        item.built.data,
        target,
      );
      charts.set(item.name, { plot, signature, figure, time: item.time });
    }
    // Keep the order of the list (a chart made late goes to its place).
    for (const item of list) {
      container.append(charts.get(item.name).figure);
    }
    // A chart made while it was alone in its row was measured a full row
    // wide; now that every chart is in place, each takes its cell's width.
    resizeCharts();
  }

  function resizeCharts() {
    for (const chart of charts.values()) {
      chart.plot.setSize({ width: chartWidth(chart.figure), height: CHART_HEIGHT });
    }
  }

  // --- the page -------------------------------------------------------------

  function liveText() {
    if (state.live === null) {
      return null;
    }
    if (state.finished) {
      return ['finished', 'finished'];
    }
    return state.lost ? ['lost', 'reconnecting…'] : ['running', 'live'];
  }

  function renderTop() {
    const top = document.getElementById('top');
    const live = liveText();
    top.replaceChildren(
      h('h1', null, 'loads-runner report'),
      h('span', { class: 'fqn' }, state.run.summary.fqn),
      ...(live === null ? [] : [h('span', { class: `live ${live[0]}`, id: 'live' }, live[1])]),
    );
  }

  function renderHead() {
    const summary = state.run.summary;
    document
      .getElementById('head')
      .replaceChildren(renderCard(summary), renderVerdict(summary, state.finished));
    document
      .getElementById('tiles')
      .replaceWith(renderTilesWithId(summary, state.baseline?.summary ?? null));
    const comparison = document.getElementById('comparison');
    comparison.replaceChildren(
      ...(state.comparison === null ? [] : comparisonSection(state.comparison)),
    );
  }

  function renderTilesWithId(summary, baseline) {
    const tiles = renderTiles(summary, baseline);
    tiles.id = 'tiles';
    return tiles;
  }

  function render() {
    renderTop();
    renderHead();
    renderCharts();
    renderTables();
    document.title = `loads-runner report: ${state.run.summary.fqn}${
      state.live !== null && !state.finished ? ' (live)' : ''
    }`;
  }

  function skeleton() {
    const root = document.getElementById('report');
    root.replaceChildren(
      h('header', { class: 'top', id: 'top' }),
      h('section', { class: 'head', id: 'head' }),
      h('div', { id: 'tiles' }),
      h('section', { id: 'comparison' }),
      h('h2', null, 'Over time'),
      h('section', { class: 'charts', id: 'charts' }),
      h('section', { class: 'tables', id: 'tables' }),
      h(
        'footer',
        null,
        `Made by loads-runner ${state.run.summary.version}. Charts drawn with uPlot (MIT licence, in this file). This file needs no network.`,
      ),
    );
  }

  // --- HdrHistogram decoding (live pages) -------------------------------------

  /** HdrHistogram's compressed V2 form (base64) → [[value µs, count], …] ascending. */
  async function decodeHistogram(base64) {
    if (!base64) {
      return { counts: [], total: 0 };
    }
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const outer = new DataView(bytes.buffer);
    if ((outer.getInt32(0) & ~0xf0) !== 0x1c849304) {
      throw new Error('not a compressed HdrHistogram (V2)');
    }
    const compressed = bytes.subarray(8, 8 + outer.getInt32(4));
    const inflated = new Blob([compressed])
      .stream()
      .pipeThrough(new DecompressionStream('deflate'));
    const raw = new Uint8Array(await new Response(inflated).arrayBuffer());
    const view = new DataView(raw.buffer);
    if ((view.getInt32(0) & ~0xf0) !== 0x1c849303) {
      throw new Error('not an HdrHistogram (V2)');
    }
    const payloadLength = view.getInt32(4);
    const digits = view.getInt32(12);
    const lowest = Number(view.getBigInt64(16));
    // The bucket layout (HdrHistogram's, from the significant digits and the lowest value).
    const subBucketCountMagnitude = Math.ceil(Math.log2(2 * 10 ** digits));
    const subBucketHalfCountMagnitude = Math.max(subBucketCountMagnitude, 1) - 1;
    const unitMagnitude = Math.floor(Math.log2(lowest));
    const subBucketCount = 2 ** (subBucketHalfCountMagnitude + 1);
    const subBucketHalfCount = subBucketCount / 2;
    const valueFromIndex = (index) => {
      let bucket = Math.floor(index / subBucketHalfCount) - 1;
      let sub = (index % subBucketHalfCount) + subBucketHalfCount;
      if (bucket < 0) {
        sub -= subBucketHalfCount;
        bucket = 0;
      }
      return sub * 2 ** (bucket + unitMagnitude);
    };
    const highestEquivalent = (value) => {
      const bucket = Math.max(
        Math.floor(Math.log2(value)) - subBucketHalfCountMagnitude - unitMagnitude,
        0,
      );
      const sub = Math.floor(value / 2 ** (bucket + unitMagnitude));
      const lowestEquivalent = sub * 2 ** (bucket + unitMagnitude);
      const size = 2 ** (unitMagnitude + (sub >= subBucketCount ? bucket + 1 : bucket));
      return lowestEquivalent + size - 1;
    };
    // Counts: ZigZag LEB128 (up to 9 bytes); a negative number is a run of empty buckets.
    const counts = [];
    let total = 0;
    let index = 0;
    let pos = 40;
    const end = 40 + payloadLength;
    while (pos < end) {
      let value = 0;
      let scale = 1;
      for (let i = 0; i < 9; i++) {
        const byte = raw[pos++];
        if (i === 8) {
          value += byte * scale;
          break;
        }
        value += (byte & 0x7f) * scale;
        scale *= 128;
        if ((byte & 0x80) === 0) {
          break;
        }
      }
      const count = value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      if (count < 0) {
        index += -count;
      } else {
        if (count > 0) {
          counts.push([valueFromIndex(index), count, highestEquivalent(valueFromIndex(index))]);
          total += count;
        }
        index++;
      }
    }
    return { counts, total };
  }

  const ulp = (x) => (x === 0 ? Number.MIN_VALUE : 2 ** (Math.floor(Math.log2(x)) - 52));

  /** HdrHistogram's getValueAtPercentile, on decoded counts. */
  function valueAtPercentile(histogram, percentile) {
    const fp = (Math.min(percentile, 100) / 100) * histogram.total;
    const wanted = Math.max(Math.ceil(fp - ulp(fp)), 1);
    let seen = 0;
    for (const [value, count, highest] of histogram.counts) {
      seen += count;
      if (seen >= wanted) {
        return percentile === 0 ? value : highest;
      }
    }
    return 0;
  }

  async function decodeDistribution(histograms) {
    const series = async (base64) => {
      const histogram = await decodeHistogram(base64);
      return histogram.total === 0
        ? []
        : state.percentiles.map((p) => valueAtPercentile(histogram, p));
    };
    return {
      percentiles: state.percentiles,
      responseUs: await series(histograms.responseTime),
      serviceUs: await series(histograms.serviceTime),
    };
  }

  // --- live ---------------------------------------------------------------------

  let distributionVersion = 0;

  function applyUpdate(update) {
    const from = update.timelineFrom;
    state.run.rows = state.run.rows.filter((r) => r.t < from).concat(update.summary.timeline);
    state.run.summary = update.summary;
    state.updates++;
    if (update.final) {
      state.finished = true;
      state.source?.close();
    }
    render();
    const version = ++distributionVersion;
    decodeDistribution(update.summary.histograms).then(
      (distribution) => {
        // Only the newest update's distribution is drawn (decoding is asynchronous).
        if (version === distributionVersion) {
          state.run.distribution = distribution;
          renderCharts();
        }
      },
      () => {
        // A histogram the page cannot read leaves the last distribution drawn.
      },
    );
  }

  function follow(eventsPath) {
    const source = new EventSource(eventsPath);
    state.source = source;
    source.addEventListener('update', (event) => {
      state.lost = false;
      applyUpdate(JSON.parse(event.data));
    });
    source.addEventListener('error', () => {
      if (!state.finished) {
        // EventSource reconnects by itself; say so meanwhile.
        state.lost = source.readyState !== EventSource.OPEN;
        renderTop();
      }
    });
  }

  // --- start ----------------------------------------------------------------------

  skeleton();
  render();
  if (state.live !== null) {
    follow(state.live.eventsPath);
  }

  let resizeFrame = 0;
  window.addEventListener('resize', () => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(resizeCharts);
  });
  // The charts take the page's colours: draw them again when the scheme changes.
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => renderCharts(true));
  // On paper: light colours, the page's width, every stack shown.
  let closedDetails = [];
  window.addEventListener('beforeprint', () => {
    printing = true;
    closedDetails = [...document.querySelectorAll('details:not([open])')];
    for (const details of closedDetails) {
      details.open = true;
    }
    renderCharts(true);
  });
  window.addEventListener('afterprint', () => {
    printing = false;
    for (const details of closedDetails) {
      details.open = false;
    }
    renderCharts(true);
  });

  window.loadsReport = {
    rows: () => state.run.rows.length,
    updates: () => state.updates,
    finished: () => state.finished,
    streamOpen: () => state.source !== null && state.source.readyState !== EventSource.CLOSED,
    charts: () => [...charts.keys()],
    series: (name) => {
      const plot = charts.get(name)?.plot;
      return plot === undefined
        ? []
        : plot.series.slice(1).map((series, i) => ({
            label: series.label,
            stroke: series.stroke(),
            points: plot.data[i + 1].filter((v) => v !== null && v !== undefined).length,
            values: plot.data[i + 1],
          }));
    },
    summary: () => state.run.summary,
    /** The knee chart's capacity line as drawn ({ rate, label, left in CSS px }), or null. */
    capacityMark: () => charts.get('knee')?.plot.capacityMark ?? null,
    formatSeconds,
    decodeDistribution,
  };
  document.documentElement.dataset.ready = 'true';
})();
