// `loads-runner report RUN.json [-o FILE] [--baseline BASE.json]
// [--max-regression 10%]`: the HTML report of a saved json document (the same
// page `-o html` writes, so the two never drift), and with a baseline the
// comparison of the two runs, printed on stdout as a table. Exit status: 0,
// or 1 when a figure broke --max-regression (the CI gate) or the file could
// not be written; 2 for bad usage or a document that is not ours.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ExitCode, LoadsError, UsageError, UsageErrors } from '../errors.ts';
import type { Summary } from '../metrics/summary.ts';
import { checkWritablePath } from '../outputs/writable-path.ts';
import { formatLocalTime } from '../outputs/stdout/summary-text.ts';
import { compareRuns, formatComparison, METRIC_LABELS } from '../report/compare.ts';
import { renderReport } from '../report/render.ts';
import type { Comparison } from '../report/types.ts';
import type { RawReportOptions } from './options.ts';
import { readSummaryDocument } from './read-summary-document.ts';

const PROGRAM = 'loads-runner';

/** `10%`, `10` or `0.5%`: a non-negative percent, `%` optional. */
const PERCENT = /^(\d+(?:\.\d+)?)%?$/;

/** --max-regression as a share (0.1 for '10%'); throws UsageError on anything but a plain percent. */
export function parseMaxRegression(text: string): number {
  const match = PERCENT.exec(text.trim());
  if (match === null) {
    throw new UsageError(
      `--max-regression '${text}' is not a percent; write it like 10%, 10 or 0.5%`,
    );
  }
  return Number(match[1]) / 100;
}

/** Where a document came from and when its run started, as the table and the page name it. */
function labelOf(file: string, summary: Summary): string {
  return `${path.basename(file)} (${summary.fqn}, started ${formatLocalTime(summary.startedAt)})`;
}

interface ReportRequest {
  runFile: string;
  output: string;
  baselineFile: string | undefined;
  maxRegression: number | null;
}

/** The options checked all at once, before any file is read (STYLE.md §5: collect every problem). */
function validateReportOptions(runFile: string, raw: RawReportOptions): ReportRequest {
  const problems: UsageError[] = [];
  let maxRegression: number | null = null;
  if (raw.maxRegression !== undefined) {
    if (raw.baseline === undefined) {
      problems.push(
        new UsageError('--max-regression needs --baseline: the run is compared with a baseline'),
      );
    }
    try {
      maxRegression = parseMaxRegression(raw.maxRegression);
    } catch (err) {
      problems.push(err as UsageError);
    }
  }
  if (raw.output === '-') {
    problems.push(
      new UsageError(
        'report writes an HTML file, not stdout; give -o a file name such as report.html',
      ),
    );
  }
  if (problems.length > 0) {
    throw new UsageErrors(problems);
  }
  return { runFile, output: raw.output, baselineFile: raw.baseline, maxRegression };
}

export interface ReportStreams {
  writeOut(text: string): void;
  writeErr(text: string): void;
}

/** Runs `loads-runner report` and returns its exit status; bad input throws a LoadsError (exit 2). */
export function runReport(runFile: string, raw: RawReportOptions, streams: ReportStreams): number {
  const request = validateReportOptions(runFile, raw);
  const summary = readSummaryDocument(request.runFile);
  const baseline =
    request.baselineFile === undefined ? undefined : readSummaryDocument(request.baselineFile);
  checkWritablePath(request.output, 'report', '-o/--output');

  let comparison: Comparison | undefined;
  if (baseline !== undefined && request.baselineFile !== undefined) {
    comparison = compareRuns(summary, baseline, {
      maxRegression: request.maxRegression,
      currentLabel: labelOf(request.runFile, summary),
      baselineLabel: labelOf(request.baselineFile, baseline),
    });
  }
  const html = renderReport({ summary, baseline, comparison });
  try {
    writeFileSync(request.output, html);
  } catch (err) {
    throw new LoadsError(
      `the report could not write '${request.output}': ${err instanceof Error ? err.message : String(err)}`,
      'LOADS_ERR_OUTPUT',
      ExitCode.RUN_FAILED,
      { cause: err },
    );
  }
  streams.writeErr(`${PROGRAM}: wrote ${request.output}\n`);
  if (comparison === undefined) {
    return ExitCode.OK;
  }
  streams.writeOut(formatComparison(comparison));
  if (comparison.regressions.length === 0) {
    return ExitCode.OK;
  }
  // Named on stderr too: a CI log shows it when stdout went to a file.
  const names = comparison.regressions.map((row) => `${METRIC_LABELS[row.metric]} of ${row.scope}`);
  streams.writeErr(
    `${PROGRAM}: ${names.length} regression${names.length === 1 ? '' : 's'} beyond --max-regression ${raw.maxRegression}: ${names.join(', ')}\n`,
  );
  return ExitCode.RUN_FAILED;
}
