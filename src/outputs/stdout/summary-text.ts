// The end-of-run summary as text (SPEC §6). The first block keeps Loads'
// labels exactly, since scripts parse them (`^Hits: \d+$`); labels are never
// coloured, only some values and section titles, and only when `color` is
// true (a Chalk instance with an explicit level: the CLI decides, chalk's
// own detection is not used). Every duration, the Duration line included,
// follows one rule (metrics/format-seconds.ts), as the threshold lines do.
// Built once per run, so clarity beats speed.
import { Chalk } from 'chalk';
import { MAX_URLS, OTHER_URLS_KEY } from '../../metrics/aggregator.ts';
import { formatSeconds } from '../../metrics/format-seconds.ts';
import type {
  DistributedSummary,
  ErrorSummary,
  ExternalSummary,
  LatencySummary,
  StepSummary,
  Summary,
  UrlSummary,
} from '../../metrics/summary.ts';

/** Rows of the per-URL table; the slowest are shown when there are more. */
export const MAX_URL_ROWS = 10;

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local time, YYYY-MM-DD HH:MM:SS. */
export function formatLocalTime(epochMs: number): string {
  const d = new Date(epochMs);
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
  );
}

function indent(text: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return text
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

/** The stack's lines, trimmed, without a first line that only repeats "Name: message". */
function stackFrames(e: ErrorSummary): string {
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

/**
 * Rows of cells in aligned columns, two spaces apart, indented by two: a
 * column is right-aligned (numbers) or left-aligned; nothing trails a line.
 */
function alignedTable(head: string[], rows: string[][], right: readonly boolean[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    '  ' +
    cells
      .map((c, i) => (right[i] === true ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

function urlTable(urls: readonly UrlSummary[]): string[] {
  const rows = urls.map((u) => [
    String(u.hits),
    formatSeconds(u.avgS),
    formatSeconds(u.p95S),
    `${(u.successRate * 100).toFixed(1)}%`,
    u.key,
  ]);
  return alignedTable(['Hits', 'Average', 'p95', 'Success', 'URL'], rows, [true]);
}

/**
 * Said once, under the URL table, when the per-URL cap was reached: the usual
 * cause is ids in paths, and the request option `name` is the fix.
 */
function urlCapNote(otherUrlHits: number): string[] {
  return [
    `  Per-URL stats keep at most ${MAX_URLS} distinct URLs: ${otherUrlHits} ${otherUrlHits === 1 ? 'hit' : 'hits'} to later ones ${otherUrlHits === 1 ? 'is' : 'are'} counted under '${OTHER_URLS_KEY}'.`,
    "  Group URLs that carry ids with the request option name, e.g. session.get(url, { name: '/item/:id' }).",
  ];
}

function percent(part: number, whole: number): string {
  return `${whole > 0 ? ((part * 100) / whole).toFixed(1) : '0.0'}%`;
}

/**
 * One row per cycle step, so that the step where the service's capacity runs
 * out (RPS stops growing, percentiles and errors climb) shows at a glance.
 * The open model shows each step's arrival rate instead of its users, and
 * the runs dropped because every user was busy.
 */
function stepTable(steps: readonly StepSummary[], rates: readonly number[] | null): string[] {
  const open = rates !== null;
  const head = [
    'Step',
    open ? 'Rate' : 'Users',
    'Runs',
    'RPS',
    'p50',
    'p95',
    'p99',
    'Errors',
    ...(open ? ['Dropped'] : []),
  ];
  const rows = steps.map((row) => {
    // A step whose cycle-start was never seen has no rate of its own: the plan's.
    const rate = row.rate !== null && row.rate > 0 ? row.rate : (rates?.[row.step - 1] ?? 0);
    const failed = row.errors + row.failures;
    return [
      String(row.step),
      open ? `${rate}/s` : String(row.users),
      String(row.runs),
      String(Math.round(row.rps)),
      formatSeconds(row.p50S),
      formatSeconds(row.p95S),
      formatSeconds(row.p99S),
      `${failed} (${percent(failed, row.runs)})`,
      ...(open ? [String(row.dropped)] : []),
    ];
  });
  return alignedTable(
    head,
    rows,
    head.map(() => true),
  );
}

/** Distributed runs: one row per agent, in the order the run claimed them. */
export function agentTable(distributed: DistributedSummary): string[] {
  const rows = distributed.agents.map((agent) => [
    agent.name,
    agent.host,
    String(agent.runs),
    String(agent.hits),
    String(agent.errors),
    agent.saturated ? 'yes' : 'no',
    agent.lost ? 'yes' : 'no',
  ]);
  return alignedTable(['Agent', 'Host', 'Runs', 'Hits', 'Errors', 'Saturated', 'Lost'], rows, [
    false,
    false,
    true,
    true,
    true,
  ]);
}

/**
 * Under the Agents table: one line naming the lost agents and the planned
 * runs they did not do, one per agent whose part failed; none when all is well.
 */
export function agentNotes(distributed: DistributedSummary): string[] {
  const notes: string[] = [];
  const lost = distributed.agents.filter((agent) => agent.lost);
  if (lost.length > 0) {
    const named = lost.map((agent) =>
      agent.runsNotDone === null
        ? agent.name
        : `${agent.name} (${agent.runsNotDone} planned ${agent.runsNotDone === 1 ? 'run' : 'runs'} not done)`,
    );
    const one = lost.length === 1;
    notes.push(
      `  Lost: ${named.join(', ')}; ${one ? 'its' : 'their'} results count up to ${one ? 'its' : 'their'} last delta`,
    );
  }
  for (const agent of distributed.agents) {
    if (agent.failure !== null) {
      notes.push(`  Failed: ${agent.name}: ${agent.failure}`);
    }
  }
  return notes;
}

/**
 * --test-runner: the processes started and failed (a failed one's errors
 * are in the error list, with its stderr), and each kind of message not
 * counted once, with its count and first example.
 */
function externalLines(external: ExternalSummary, bad: (n: number) => string = String): string[] {
  const lines = [
    `  Command: ${external.command}`,
    `  Processes: ${external.processes} started, ${bad(external.failedProcesses)} failed`,
  ];
  if (external.problems.length > 0) {
    lines.push('  Messages not counted:');
    for (const problem of external.problems) {
      lines.push(`    ${problem.count}x ${problem.kind}, e.g. ${JSON.stringify(problem.example)}`);
    }
  }
  return lines;
}

/**
 * Open model: runs are dropped only when no pool user is free (a run waits
 * for one at most --timeout, and not past its step's end), so the knob is
 * --max-users, or the rate. In test runs, as Success/Errors/Failures count.
 */
function droppedWarning(summary: Summary): string {
  const scheduled = summary.successes + summary.errors + summary.failures + summary.dropped;
  const pool = summary.maxUsers === null ? '' : ` (--max-users ${summary.maxUsers})`;
  return (
    `Warning: ${summary.dropped} of ${scheduled} scheduled test runs ${summary.dropped === 1 ? 'was' : 'were'} dropped ` +
    `because every virtual user was busy${pool}; raise --max-users or lower --rate`
  );
}

function percentileLine(l: LatencySummary): string {
  return [
    `p50 ${formatSeconds(l.p50)}`,
    `p90 ${formatSeconds(l.p90)}`,
    `p95 ${formatSeconds(l.p95)}`,
    `p99 ${formatSeconds(l.p99)}`,
    `max ${formatSeconds(l.max)}`,
  ].join('  ');
}

export function formatSummary(summary: Summary, color: boolean): string {
  const chalk = new Chalk({ level: color ? 1 : 0 });
  const title = (text: string): string => chalk.bold(text);
  const bad = (n: number): string => (n > 0 ? chalk.red(String(n)) : String(n));

  const lines: string[] = [
    `Hits: ${summary.hits}`,
    `Started: ${formatLocalTime(summary.startedAt)}`,
    `Duration: ${formatSeconds(summary.durationS, ' seconds')}`,
    `Approximate Average RPS: ${Math.round(summary.rps)}`,
    `Average request time: ${formatSeconds(summary.avgRequestTimeS)}`,
    `Opened web sockets: ${summary.socketsOpened}`,
    `Bytes received via web sockets : ${summary.wsBytesReceived}`,
    '',
    `Success: ${summary.successes}`,
    `Errors: ${bad(summary.errors)}`,
    `Failures: ${bad(summary.failures)}`,
  ];
  const open = summary.rate !== null;
  if (open) {
    lines.push(`Dropped: ${bad(summary.dropped)}`);
  }

  // Right under the outcome counts, before any latency figure, so nobody
  // reads the percentiles without them; nothing at all when the loops had
  // slack and no run was dropped.
  const warnings: string[] = [];
  if (summary.generator?.saturated === true) {
    warnings.push(
      `Warning: the load generator was saturated (${summary.generator.reason}): latencies include its own delay`,
    );
  }
  if (open && summary.dropped > 0) {
    warnings.push(droppedWarning(summary));
  }
  if (warnings.length > 0) {
    lines.push('', ...warnings.map((warning) => chalk.yellow(warning)));
  }

  const section = (heading: string, body: string[]): void => {
    lines.push('', title(heading), ...body);
  };

  if (summary.hits > 0) {
    const l = summary.latency;
    const body = [
      `  p50: ${formatSeconds(l.p50)}`,
      `  p90: ${formatSeconds(l.p90)}`,
      `  p95: ${formatSeconds(l.p95)}`,
      `  p99: ${formatSeconds(l.p99)}`,
      `  max: ${formatSeconds(l.max)}`,
    ];
    if (open) {
      // The same p50…max lines as the closed model, so scripts read them the
      // same way: response time, counted from when the run was due, so a
      // server that falls behind cannot hide its queue (coordinated
      // omission). Service time, the request alone, follows on one line.
      body.push(
        "  (response time, from each run's intended start)",
        `  Service time, from the request's actual start: ${percentileLine(summary.serviceTime)}`,
      );
    }
    section('Latency percentiles (all hits)', body);
  }

  // Only when it says something: with --http2, some origins (or some
  // users' connections) got HTTP/2 and others HTTP/1.1.
  const protocols = Object.entries(summary.protocols);
  if (protocols.length > 1) {
    section(
      'Hits per protocol',
      protocols.map(([protocol, count]) => `  ${protocol}: ${count}`),
    );
  }

  if (summary.steps.length > 1) {
    section('Steps', stepTable(summary.steps, summary.rate));
  }

  if (summary.distributed !== null) {
    section(`Agents (run ${summary.distributed.runId})`, [
      ...agentTable(summary.distributed),
      ...agentNotes(summary.distributed).map((line) => chalk.red(line)),
    ]);
  }

  if (summary.external !== undefined) {
    section('External runner', externalLines(summary.external, bad));
  }

  const hitErrorKeys = Object.entries(summary.hitErrorKeys).sort((a, b) => b[1] - a[1]);
  if (hitErrorKeys.length > 0) {
    section(
      'Hits without a response',
      hitErrorKeys.map(([key, count]) => `  ${key}: ${bad(count)}`),
    );
  }
  const statusCounts = Object.entries(summary.statusCounts);
  if (statusCounts.length > 0) {
    section(
      'Responses outside 2xx/3xx',
      statusCounts.map(([status, count]) => `  ${status}: ${bad(count)}`),
    );
  }

  const errorBody = (list: readonly ErrorSummary[]): string[] =>
    list.flatMap((e) => {
      const head = `  ${e.count}x ${e.message === '' ? e.name : `${e.name}: ${e.message}`}`;
      const frames = stackFrames(e);
      return frames === '' ? [head] : [head, indent(frames, 6)];
    });
  if (summary.topErrors.length > 0) {
    section('Most frequent errors', errorBody(summary.topErrors));
  }
  if (summary.topFailures.length > 0) {
    section('Most frequent failures', errorBody(summary.topFailures));
  }

  if (summary.slowestUrl !== null) {
    lines.push(
      '',
      `Slowest URL: ${summary.slowestUrl.key} (average ${formatSeconds(summary.slowestUrl.avgS)})`,
    );
  }
  if (summary.urls.length > 0) {
    const shown = summary.urls.slice(0, MAX_URL_ROWS);
    const heading =
      summary.urls.length > MAX_URL_ROWS
        ? `URLs (${MAX_URL_ROWS} slowest of ${summary.urls.length})`
        : 'URLs';
    const table = urlTable(shown);
    if (summary.otherUrlHits > 0) {
      table.push(...urlCapNote(summary.otherUrlHits).map((line) => chalk.yellow(line)));
    }
    section(heading, table);
  }

  const counters = Object.entries(summary.counters);
  if (counters.length > 0) {
    section(
      'Counters',
      counters.map(([name, value]) => `  ${name}: ${value}`),
    );
  }

  if (summary.thresholds.length > 0) {
    section(
      'Thresholds',
      summary.thresholds.map((t) =>
        t.passed
          ? `  ${chalk.green('✓ PASS')}  ${t.expression}  (measured ${t.display})`
          : `  ${chalk.red('✗ FAIL')}  ${t.expression}  (measured ${t.display})`,
      ),
    );
  }

  if (summary.abortedBy !== null) {
    lines.push(
      '',
      chalk.yellow(
        `Aborted: threshold '${summary.abortedBy}' crossed (--abort-on-fail); the summary covers what ran before`,
      ),
    );
  } else if (summary.interrupted) {
    lines.push(
      '',
      chalk.yellow(`${interruptionLabel(summary)}: the summary covers what ran before`),
    );
  }
  return lines.join('\n') + '\n';
}

/**
 * 'Interrupted by SIGINT (Ctrl-C)', 'Interrupted by SIGTERM', for a
 * distributed run stopped from elsewhere 'Interrupted (stopped by
 * purge-broker)', or 'Interrupted' when nothing is known.
 */
export function interruptionLabel(summary: Summary): string {
  switch (summary.interruptedBy) {
    case 'SIGINT':
      return 'Interrupted by SIGINT (Ctrl-C)';
    case 'SIGTERM':
      return 'Interrupted by SIGTERM';
    default: {
      const stoppedBy = summary.distributed?.stoppedBy ?? null;
      return stoppedBy === null ? 'Interrupted' : `Interrupted (stopped by ${stoppedBy})`;
    }
  }
}
