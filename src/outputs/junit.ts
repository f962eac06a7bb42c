// The `junit` output: the run as JUnit XML for CI servers (Jenkins' junit
// step, GitLab's `artifacts:reports:junit`), written at the end to
// `--output-junit-filename` (default junit.xml), also after Ctrl-C or
// --abort-on-fail. Layout:
//   <testsuites>                       the whole run
//     <testsuite name="<fqn>">         one <testcase> per test method (Summary.perTest)
//       <failure>/<error>              when some of its runs failed / errored: the
//                                      count, the most frequent message, and every
//                                      distinct one with its count and stack
//       <system-out>                   the run's totals (hits, RPS, p95)
//       <testcase name="interrupted by SIGINT"> with an <error type="Interrupted">
//                                      when a signal stopped the run (SPEC §7: never a pass)
//     <testsuite name="thresholds">    one <testcase> per --threshold, failing when crossed
//     <testsuite name="agents">        distributed runs: one <testcase> per agent, failing
//                                      when it was lost or its part failed
//     <testsuite name="capacity">      --find-capacity: one <testcase name="capacity">, failing
//                                      when no rate held or the generator was the limit; its
//                                      thresholds are the probes' (no "thresholds" suite then)
// A testcase's time is its share of the run: the run's duration × its runs /
// all runs. Methods run interleaved throughout the run, so no method has a
// time of its own; shares add up to the suite's time, which is what CI
// servers sum and show.
import { hostname } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { ExitCode, LoadsError } from '../errors.ts';
import { formatSeconds } from '../metrics/format-seconds.ts';
import {
  capacityFound,
  type AgentSummary,
  type CapacitySummary,
  type ErrorSummary,
  type Summary,
} from '../metrics/summary.ts';
import { checkWritablePath } from './writable-path.ts';
import type { Output, OutputContext } from './output.ts';
import { capacityLines, interruptionLabel } from './stdout/summary-text.ts';

export const DEFAULT_JUNIT_FILENAME = 'junit.xml';

// Characters XML 1.0 allows: tab, LF, CR, U+0020–U+D7FF, U+E000–U+FFFD and
// the astral planes (a well-formed surrogate pair); everything else goes.
const INVALID_XML_CHARS =
  // eslint-disable-next-line no-control-regex, no-misleading-character-class -- code units on purpose: control characters and lone surrogates go
  /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\uD800-\uDBFF\uDC00-\uDFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text content: invalid characters dropped, & < > escaped. */
export function xmlText(value: string): string {
  return value
    .replace(INVALID_XML_CHARS, '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');
}

/** An attribute value (in double quotes): also " ' and the whitespace that normalisation would eat. */
export function xmlAttr(value: string): string {
  return xmlText(value)
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;')
    .replaceAll('\t', '&#9;')
    .replaceAll('\n', '&#10;')
    .replaceAll('\r', '&#13;');
}

/** A time attribute: JUnit readers want a plain number of seconds, not the summary's figures. */
function seconds(s: number): string {
  return s.toFixed(3);
}

/** The module part of the FQN, dotted: 'pkg.mod.Class.method' → 'pkg.mod'; 'tests/load.ts:C.m' → 'tests.load'. */
export function moduleOf(fqn: string): string {
  const colon = fqn.lastIndexOf(':');
  if (colon !== -1) {
    return fqn
      .slice(0, colon)
      .replace(/\.[cm]?[jt]s$/, '')
      .replace(/^\.\//, '')
      .replaceAll(/[\\/]+/g, '.');
  }
  // Module, then the class (capitalised by convention or not), then maybe a method.
  const parts = fqn.split('.');
  const classIndex = parts.findIndex((p, i) => i > 0 && /^[A-Z]/.test(p));
  return parts.slice(0, classIndex === -1 ? Math.max(1, parts.length - 2) : classIndex).join('.');
}

/** The classname the testcases of `fqn` get: 'pkg.mod.Class' (module, then class). */
function classnameOf(fqn: string): string {
  const module = moduleOf(fqn);
  const colon = fqn.lastIndexOf(':');
  const rest = colon !== -1 ? fqn.slice(colon + 1) : fqn.slice(module.length + 1);
  const className = rest.split('.')[0] ?? '';
  return module === '' ? className : className === '' ? module : `${module}.${className}`;
}

/**
 * The testcase that marks a run a signal stopped: an <error>, so that CI
 * servers show the build red even when every run that finished succeeded.
 */
function interruptedCase(summary: Summary): string {
  const signal = summary.interruptedBy ?? summary.distributed?.stoppedBy ?? 'a signal';
  const runs = summary.successes + summary.failures + summary.errors;
  const message = `the run was stopped by ${signal} before the end of its plan; the results cover the ${runs} runs that finished`;
  return (
    `    <testcase classname="${xmlAttr(classnameOf(summary.fqn))}" name="${xmlAttr(`interrupted by ${signal}`)}" time="0.000">\n` +
    `      <error message="${xmlAttr(message)}" type="Interrupted">${xmlText(message)}</error>\n` +
    '    </testcase>\n'
  );
}

/** Why an agent's testcase fails: it was lost, or its part failed; null when it did its part. */
function agentProblem(agent: AgentSummary): { type: string; message: string } | null {
  if (agent.lost) {
    const notDone =
      agent.runsNotDone === null ? '' : `; ${agent.runsNotDone} planned runs not done`;
    return {
      type: 'AgentLost',
      message: `agent ${agent.name} stopped heartbeating and was lost after ${agent.runs} runs${notDone}`,
    };
  }
  if (agent.failure !== null) {
    return { type: 'AgentFailed', message: `agent ${agent.name} failed: ${agent.failure}` };
  }
  return null;
}

/** '3x AssertionError: expected 200, got 500' then the stack, one block per distinct one. */
function details(list: readonly ErrorSummary[]): string {
  return list
    .map((e) => {
      const head = `${e.count}x ${e.name}${e.message === '' ? '' : `: ${e.message}`}`;
      return e.stack === '' ? head : `${head}\n${e.stack}`;
    })
    .join('\n\n');
}

/**
 * The one problem element of a test method: <error> when any run errored
 * (its errors listed first, then its failures), else <failure>. One element,
 * because most JUnit readers (GitLab's among them) show only the first.
 */
function problemElement(
  failures: number,
  errors: number,
  runs: number,
  failureList: readonly ErrorSummary[],
  errorList: readonly ErrorSummary[],
): string {
  const tag = errors > 0 ? 'error' : 'failure';
  const first = (errors > 0 ? errorList : failureList)[0];
  const counted =
    errors > 0 && failures > 0
      ? `${errors} of ${runs} runs errored and ${failures} failed`
      : errors > 0
        ? `${errors} of ${runs} runs errored`
        : `${failures} of ${runs} runs failed`;
  const message = `${counted}${first === undefined ? '' : `: ${first.message === '' ? first.name : first.message}`}`;
  const type = first?.name ?? (errors > 0 ? 'Error' : 'AssertionError');
  const text = details([...errorList, ...failureList]);
  return `      <${tag} message="${xmlAttr(message)}" type="${xmlAttr(type)}">${xmlText(text)}</${tag}>\n`;
}

/** --find-capacity's testcase: its verdict in <system-out>, a <failure> when no answer came. */
function capacitySuite(
  capacity: CapacitySummary,
  interrupted: boolean,
  timestamp: string,
  host: string,
): { xml: string; failed: boolean } {
  const text = capacityLines(capacity, interrupted, false)
    .map((line) => line.trim())
    .join('\n');
  // An interrupted search is the "interrupted" testcase's error already.
  const failed = !interrupted && !capacityFound(capacity);
  const open = '    <testcase classname="capacity" name="capacity" time="0.000">\n';
  const failure = failed
    ? `      <failure message="${xmlAttr(`no capacity found: ${capacity.reason}`)}" type="CapacityNotFound">${xmlText(text)}</failure>\n`
    : '';
  const xml =
    `  <testsuite name="capacity" tests="1" failures="${failed ? 1 : 0}" ` +
    `errors="0" skipped="0" time="0.000" timestamp="${timestamp}" hostname="${host}">\n` +
    open +
    failure +
    `      <system-out>${xmlText(text)}</system-out>\n` +
    '    </testcase>\n' +
    '  </testsuite>\n';
  return { xml, failed };
}

/** The JUnit XML document of a run. Pure. */
export function junitXml(summary: Summary): string {
  const module = moduleOf(summary.fqn);
  const totalRuns = summary.successes + summary.failures + summary.errors;
  const timestamp = new Date(summary.startedAt).toISOString().replace(/\.\d{3}Z$/, '');
  const host = xmlAttr(hostname());

  let cases = '';
  let suiteTests = 0;
  let suiteFailures = 0;
  let suiteErrors = 0;
  const names = Object.keys(summary.perTest);
  for (const name of names) {
    const counts = summary.perTest[name]!;
    suiteTests++;
    const runs = counts.successes + counts.failures + counts.errors;
    const dot = name.lastIndexOf('.');
    const className = dot === -1 ? name : name.slice(0, dot);
    const method = dot === -1 ? name : name.slice(dot + 1);
    const time = totalRuns === 0 ? 0 : (summary.durationS * runs) / totalRuns;
    let body = '';
    // --find-capacity: the probes past the capacity were meant to fail; the capacity testcase is the verdict.
    if ((counts.failures > 0 || counts.errors > 0) && summary.capacity === undefined) {
      if (counts.errors > 0) {
        suiteErrors++;
      } else {
        suiteFailures++;
      }
      body = problemElement(
        counts.failures,
        counts.errors,
        runs,
        summary.allFailures.filter((e) => e.test === name),
        summary.allErrors.filter((e) => e.test === name),
      );
    }
    const classname = module === '' ? className : `${module}.${className}`;
    const open = `    <testcase classname="${xmlAttr(classname)}" name="${xmlAttr(method)}" time="${seconds(time)}"`;
    cases += body === '' ? `${open}/>\n` : `${open}>\n${body}    </testcase>\n`;
  }

  const totals = [
    `Hits: ${summary.hits}`,
    // The text summary's lines, figures included (one rule for every duration).
    `Duration: ${formatSeconds(summary.durationS, ' seconds')}`,
    `Approximate Average RPS: ${Math.round(summary.rps)}`,
    `p95: ${formatSeconds(summary.latency.p95)}`,
    `Success: ${summary.successes}`,
    `Errors: ${summary.errors}`,
    `Failures: ${summary.failures}`,
  ];
  if (summary.rate !== null) {
    totals.push(`Dropped: ${summary.dropped}`);
  }
  if (summary.abortedBy !== null) {
    totals.push(`Aborted: threshold '${summary.abortedBy}' crossed (--abort-on-fail)`);
  } else if (summary.interrupted) {
    totals.push(`${interruptionLabel(summary)}: the results cover what ran before`);
    cases += interruptedCase(summary);
    suiteErrors++;
    suiteTests++;
  }

  const suiteName = summary.fqn;
  let xml =
    `  <testsuite name="${xmlAttr(suiteName)}" tests="${suiteTests}" failures="${suiteFailures}" ` +
    `errors="${suiteErrors}" skipped="0" time="${seconds(summary.durationS)}" timestamp="${timestamp}" hostname="${host}">\n` +
    cases +
    `    <system-out>${xmlText(totals.join('\n'))}</system-out>\n` +
    '  </testsuite>\n';

  let tests = suiteTests;
  let failures = suiteFailures;
  if (summary.thresholds.length > 0) {
    const crossed = summary.thresholds.filter((t) => !t.passed).length;
    let thresholdCases = '';
    for (const t of summary.thresholds) {
      const open = `    <testcase classname="thresholds" name="${xmlAttr(t.expression)}" time="0.000"`;
      thresholdCases += t.passed
        ? `${open}/>\n`
        : `${open}>\n      <failure message="${xmlAttr(`threshold '${t.expression}' crossed: measured ${t.display}`)}" type="ThresholdCrossed">${xmlText(`measured ${t.display}`)}</failure>\n    </testcase>\n`;
    }
    xml +=
      `  <testsuite name="thresholds" tests="${summary.thresholds.length}" failures="${crossed}" ` +
      `errors="0" skipped="0" time="0.000" timestamp="${timestamp}" hostname="${host}">\n` +
      thresholdCases +
      '  </testsuite>\n';
    tests += summary.thresholds.length;
    failures += crossed;
  }

  if (summary.capacity !== undefined) {
    const suite = capacitySuite(summary.capacity, summary.interrupted, timestamp, host);
    xml += suite.xml;
    tests += 1;
    failures += suite.failed ? 1 : 0;
  }

  if (summary.distributed !== null) {
    const agents = summary.distributed.agents;
    let agentCases = '';
    let troubled = 0;
    for (const agent of agents) {
      const open = `    <testcase classname="agents" name="${xmlAttr(`${agent.name} (${agent.host})`)}" time="0.000"`;
      const problem = agentProblem(agent);
      if (problem === null) {
        agentCases += `${open}/>\n`;
      } else {
        troubled++;
        agentCases += `${open}>\n      <failure message="${xmlAttr(problem.message)}" type="${problem.type}">${xmlText(problem.message)}</failure>\n    </testcase>\n`;
      }
    }
    xml +=
      `  <testsuite name="agents" tests="${agents.length}" failures="${troubled}" ` +
      `errors="0" skipped="0" time="0.000" timestamp="${timestamp}" hostname="${host}">\n` +
      agentCases +
      `    <system-out>${xmlText(`Run: ${summary.distributed.runId}`)}</system-out>\n` +
      '  </testsuite>\n';
    tests += agents.length;
    failures += troubled;
  }

  const name = summary.projectName === 'N/A' ? `loads-runner ${summary.fqn}` : summary.projectName;
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<testsuites name="${xmlAttr(name)}" tests="${tests}" failures="${failures}" errors="${suiteErrors}" ` +
    `time="${seconds(summary.durationS)}">\n` +
    xml +
    '</testsuites>\n'
  );
}

export class JunitOutput implements Output {
  readonly name = 'junit';
  readonly #path: string;

  constructor(context: OutputContext) {
    this.#path = context.options['output_junit_filename'] ?? DEFAULT_JUNIT_FILENAME;
  }

  onRunStart(): void {
    checkWritablePath(this.#path, 'junit', '--output-junit-filename');
  }

  async onRunEnd(summary: Summary): Promise<void> {
    try {
      await writeFile(this.#path, junitXml(summary));
    } catch (err) {
      throw new LoadsError(
        `the junit output could not write '${this.#path}': ${err instanceof Error ? err.message : String(err)}`,
        'LOADS_ERR_OUTPUT',
        ExitCode.RUN_FAILED,
        { cause: err },
      );
    }
  }
}
