// What an external run reports beside its counted runs (the summary's
// External runner block), and how the reports of several agents add up.
// Kept apart from external-runner.ts so that reading or merging a report
// (the runner of a distributed run) does not load zeromq's native module.

/** What went wrong outside the counted runs: for the summary's external-runner lines. */
export interface ExternalRunReport {
  /** Messages not counted, per kind, with the first example. */
  problems: { kind: string; count: number; example: string }[];
  /** Processes started, and those that failed (exit status, signal, timeout, runs missing). */
  processes: number;
  failedProcesses: number;
}

/**
 * The reports of several agents as one: processes and failed processes
 * summed, problems merged by kind (counts summed, the first example kept,
 * kinds in the order first seen).
 */
export function mergeExternalReports(reports: readonly ExternalRunReport[]): ExternalRunReport {
  const problems = new Map<string, { kind: string; count: number; example: string }>();
  let processes = 0;
  let failedProcesses = 0;
  for (const report of reports) {
    processes += report.processes;
    failedProcesses += report.failedProcesses;
    for (const problem of report.problems) {
      const known = problems.get(problem.kind);
      if (known === undefined) {
        problems.set(problem.kind, { ...problem });
      } else {
        known.count += problem.count;
      }
    }
  }
  return { problems: [...problems.values()], processes, failedProcesses };
}
