// The commander program: every option of SPEC §8 with its help text, and
// the `report` command (SPEC §9). Options that the INI file may also set
// have no commander default, so that validate.ts can tell "not given" from
// "given" and let the command line win over the file.
import type * as Commander from 'commander';
import { BROKER_OPTION_SPECS } from '../distributed/broker-options.ts';
import { requireCjs } from '../require-cjs.ts';

const { Command, Option } = requireCjs('commander') as typeof Commander;
type Command = Commander.Command;

/** Options as commander hands them over, before the config merge. */
export interface RawOptions {
  users?: string;
  hits?: string;
  duration?: string;
  rate?: string;
  maxUsers?: string;
  rampUp?: string;
  serverUrl?: string;
  timeout?: string;
  testTimeout?: string;
  maxBodySize?: string;
  discardBodies?: boolean;
  insecure?: boolean;
  /** --ca, repeatable. */
  ca?: string[];
  cert?: string;
  key?: string;
  http2?: boolean;
  output?: string[];
  outputFileFilename?: string;
  outputFunkloadFilename?: string;
  outputJsonFilename?: string;
  outputJunitFilename?: string;
  outputHtmlFilename?: string;
  /** --threshold, repeatable; each value may hold several expressions separated by commas. */
  threshold?: string[];
  abortOnFail?: boolean;
  config?: string;
  quiet?: boolean;
  projectName?: string;
  color?: boolean;
  workers?: string;
  statusInterval?: string;
  /** --dashboard: true when given without a value, else its HOST:PORT. */
  dashboard?: string | boolean;
  /** --agents: run on this many agents of the broker (SPEC §10). */
  agents?: string;
  /** --broker and the --broker-* options (BROKER_OPTION_SPECS), named as commander names them. */
  broker?: string;
  brokerCreds?: string;
  brokerNkey?: string;
  brokerTlsCa?: string;
  brokerTlsCert?: string;
  brokerTlsKey?: string;
  /** Only from the config file (broker_token, broker_user, broker_password): never on a command line ps shows. */
  brokerToken?: string;
  brokerUser?: string;
  brokerPassword?: string;
  heartbeatTimeout?: string;
  /** --include-file, repeatable. */
  includeFile?: string[];
  detach?: boolean;
  /** --attach: true when given without a run id. */
  attach?: string | boolean;
  pingBroker?: boolean;
  checkCluster?: boolean;
  purgeBroker?: boolean;
  /** --test-runner "CMD {test}": run the test with an external process per user (SPEC §11). */
  testRunner?: string;
  zmqReceiver?: string;
  externalProcessTimeout?: string;
  /** --find-capacity: probe arrival rates for the highest that meets the thresholds (SPEC §12). */
  findCapacity?: boolean;
  maxRate?: string;
  capacityPrecision?: string;
  capacityRest?: string;
}

/** `loads-runner report`'s options as commander hands them over. */
export interface RawReportOptions {
  output: string;
  baseline?: string;
  maxRegression?: string;
}

/** The name of the report command: a test name is never a lone word, so no FQN is shadowed. */
export const REPORT_COMMAND = 'report';

export const DEFAULT_REPORT_FILENAME = 'loads-report.html';

const collect = (value: string, previous: string[] | undefined): string[] =>
  previous === undefined ? [value] : [...previous, value];

/** The `report` command: an HTML report, and the comparison with a baseline, from saved json documents. */
export function createReportCommand(): Command {
  return new Command(REPORT_COMMAND)
    .description(
      'write the HTML report of a run saved with -o json; with --baseline, compare two runs and print the table',
    )
    .helpOption('-h, --help', 'show this help and exit')
    .argument('<run.json>', 'the json document of the run (-o json --output-json-filename)')
    .option('-o, --output <file>', 'the HTML report to write', DEFAULT_REPORT_FILENAME)
    .option(
      '--baseline <base.json>',
      'the json document of an earlier run: print the key figures side by side on stdout, and show both on the page',
    )
    .option(
      '--max-regression <percent>',
      'with --baseline: exit 1 when p95, p99 or the error share of the run, a step or a URL got worse by more than this, e.g. 10% (an error share must also rise by 0.1 percentage point)',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ loads-runner report run.json
  $ loads-runner report today.json --baseline last-week.json --max-regression 10% -o report.html

Exit status: 0 the report was written (and no regression), 1 a regression beyond
--max-regression, or the report could not be written, 2 bad usage or input (a file that is
not a loads-runner json document, or of another version's schema).`,
    );
}

/**
 * The loads-runner program. With positional options, every option after
 * `report` is the report's (its -o is a file, the run's -o an output name).
 * The usage line stays the run's; the report is listed under Commands.
 */
export function createProgram(version: string): Command {
  const program = new Command('loads-runner')
    .description('Load-test HTTP services and WebSockets with ordinary test classes.')
    .version(version, '--version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help and exit')
    .usage('[options] [fqn]')
    .enablePositionalOptions()
    .addCommand(createReportCommand())
    .argument(
      '[fqn]',
      'the test to run: module.Class.method, module.Class, or path/to/file.ts:Class.method',
    )
    .option('-u, --users <cycle>', 'virtual users, or a cycle like 10:20:30 (default: 1)')
    .option('--hits <cycle>', 'test runs per user, or a cycle like 5:10 (default: 1)')
    .option('-d, --duration <seconds>', 'run each user in a loop for this long, instead of --hits')
    .option(
      '--rate <cycle>',
      'open model: start this many test runs per second whatever the server does, or a cycle like 50:100:200, each step lasting --duration (needs --duration; not with --users or --hits)',
    )
    .option(
      '--max-users <count>',
      'with --rate: most virtual users that take the runs; a run due when all are busy waits, and is dropped after --timeout (default: 1000)',
    )
    .option(
      '--ramp-up <seconds>',
      'in each cycle step, users (or the rate) rise linearly from 0 over this long; shorter than --duration (default: 0)',
    )
    .option('--server-url <url>', 'base URL for this.app (wins over the class serverUrl)')
    .option(
      '--timeout <seconds>',
      'deadline of each request: connect, headers and the whole body (default: 30)',
    )
    .option(
      '--test-timeout <seconds>',
      'longest a single test run may take before it counts as an error and its requests and sockets are aborted; 0 for none (default: 60)',
    )
    .option(
      '--max-body-size <size>',
      'largest response body kept, e.g. 64MB or 500k (binary units); a larger one fails with BODY_TOO_LARGE and its connection is closed (default: 64MB)',
    )
    .option(
      '--discard-bodies',
      "count and time every response body without keeping it, as body: 'discard' does for one request",
    )
    .option(
      '--insecure',
      'accept any TLS certificate (self-signed, expired, other host), as verify: false does for one request',
    )
    .addOption(
      new Option(
        '--ca <file>',
        'PEM file of a certificate authority to trust besides the system ones, repeatable',
      ).argParser(collect),
    )
    .option('--cert <file>', 'PEM client certificate for mutual TLS (with --key)')
    .option('--key <file>', 'PEM private key of --cert')
    .option(
      '--http2',
      'offer HTTP/2 to https:// servers (ALPN), falling back to HTTP/1.1; one connection per origin per user, parallel requests multiplexed on it',
    )
    .addOption(
      new Option(
        '-o, --output <name>',
        'where results go, repeatable: stdout, null, file, json, funkload, junit, html (default: stdout; see Outputs below)',
      ).argParser(collect),
    )
    .option(
      '--output-file-filename <path>',
      'file output: events as JSON lines (default: loads-events.jsonl)',
    )
    .option(
      '--output-funkload-filename <path>',
      'funkload output: XML report (default: funkload-report.xml)',
    )
    .option(
      '--output-json-filename <path>',
      'json output: the summary as JSON, - for stdout (default: -)',
    )
    .option(
      '--output-junit-filename <path>',
      'junit output: JUnit XML for Jenkins and GitLab (default: junit.xml)',
    )
    .option(
      '--output-html-filename <path>',
      'html output: the report, one file that opens offline (default: loads-report.html)',
    )
    .addOption(
      new Option(
        '--threshold <expr>',
        'a pass/fail criterion, repeatable, e.g. p95<300ms, errors<1%, rps>500, url:/login p99<1s, step:2 avg<200ms; a crossed one exits 1',
      ).argParser(collect),
    )
    .option(
      '--abort-on-fail',
      'stop the load as soon as a threshold is crossed for good (e.g. errors<5 after 5 errors)',
    )
    .option(
      '--find-capacity',
      'probe arrival rates (open model) for the highest that meets every --threshold: from --rate (default: 10) doubling until a probe breaks one, then bisecting; each probe lasts --duration (default: 10), up to 12 probes; exit 1 when even the first rate broke',
    )
    .option(
      '--max-rate <rate>',
      'with --find-capacity: the highest rate probed, runs per second; the search stops when it holds (default: none)',
    )
    .option(
      '--capacity-precision <percent>',
      'with --find-capacity: bisect until the rate that broke is within this of the rate that held, e.g. 5% or 2.5% (default: 5%)',
    )
    .option(
      '--capacity-rest <seconds>',
      "with --find-capacity: pause between probes, so that one probe's backlog does not weigh on the next (default: 3)",
    )
    .option(
      '--workers <count>',
      'worker threads that share the users, each with its own event loop; 1 runs all in one thread (default: the number of cores, at most the largest users step)',
    )
    .option(
      '--status-interval <seconds>',
      'not on a terminal, or with CI set: seconds between status lines (default: 10)',
    )
    .option(
      '--dashboard [host:port]',
      'serve the live report while the run goes, on 127.0.0.1 and a free port unless given (e.g. :8089, or 0.0.0.0:8089 for every interface); the URL goes to stderr',
    )
    .option(
      '--agents <count>',
      'distributed: run on this many agents of --broker, each running the whole load given (--agents 4 -u 10 --hits 100 is 4000 runs); --workers is then threads per agent',
    );
  // The broker options are the agent's too: one list for both binaries (distributed/broker.ts).
  for (const spec of BROKER_OPTION_SPECS) {
    program.option(spec.flags, spec.description);
  }
  return program
    .option(
      '--heartbeat-timeout <seconds>',
      'with --agents: an agent silent this long is lost; the run goes on without it (default: 5)',
    )
    .addOption(
      new Option(
        '--include-file <glob>',
        'with --agents: data files the test reads, shipped beside it to every agent, relative to the current folder; repeatable',
      ).argParser(collect),
    )
    .option(
      '--detach',
      'with --agents: print the run id once the agents have it and return; the run goes on (follow it with --attach)',
    )
    .option(
      '--attach [run_id]',
      'follow a run on --broker from where it is to its summary and exit status (the only run in progress when no id is given); a finished run prints its summary at once',
    )
    .option(
      '--ping-broker',
      'list the agents of --broker (free or busy, last heartbeat) and its runs in progress',
    )
    .option(
      '--check-cluster',
      'run a one-hit health test on every free agent of --broker and report each (with a test name: that test, -u 1 --hits 1)',
    )
    .option('--purge-broker', 'stop every run in progress on --broker and release its agents')
    .option(
      '--test-runner <command>',
      'run a test written in any language: one process per user per step of this command, {test} replaced by the test name, split into arguments without a shell; it reports over ZeroMQ as in Loads (see README "Tests in any language")',
    )
    .option(
      '--zmq-receiver <address>',
      'with --test-runner: where the processes send their messages, tcp://HOST:PORT or ipc://PATH (default: a private ipc:// address)',
    )
    .option(
      '--external-process-timeout <seconds>',
      'with --test-runner: a process still running past its share (--hits × this, or --duration + this) is terminated and counted as an error; 0 for none (default: 30)',
    )
    .option('--config <file>', 'INI file whose [loads] section takes the long option names')
    .option('-q, --quiet', 'print nothing on stdout and no progress bar')
    .option('--project-name <name>', 'name of the project, shown in reports')
    .option('--no-color', 'no colours, even on a terminal')
    .addHelpText(
      'after',
      `
Examples:
  $ loads-runner example.TestWebSite.test_es
  $ loads-runner example.TestWebSite.test_es -u 100 --hits 10
  $ loads-runner example.TestWebSite -u 10:20:30 --hits 20
  $ loads-runner tests/load.ts:TestApi.test_login -d 30 --server-url http://127.0.0.1:8080
  $ loads-runner example.TestWebSite --rate 50:100:200 -d 60 --max-users 500 --ramp-up 10
  $ loads-runner example.TestWebSite -u 20 --hits 50 --threshold 'p95<300ms' --threshold 'errors<1%' -o junit
  $ loads-runner example.TestWebSite.test_es --find-capacity --threshold 'p95<200ms' --threshold 'errors<1%'
  $ loads-runner example.TestWebSite -u 20 --hits 50 -o json | jq .latency
  $ loads-runner example.TestWebSite --server-url https://staging.local --ca ./staging-ca.pem --http2
  $ loads-runner example.TestWebSite -u 10:20 --hits 100 --agents 4 --broker nats://runner:PASS@broker:4222
  $ loads-runner example.TestWebSite -d 600 --agents 8 --broker nats://broker:4222 --detach
  $ loads-runner --attach --broker nats://broker:4222
  $ loads-runner --ping-broker --broker nats://broker:4222
  $ loads-runner --test-runner "python3 test_site.py {test}" test_site.TestSite -u 5 --hits 10

Outputs: the text summary (stdout) stays on beside the other outputs unless --quiet, -o null,
or json written to stdout (-o json without --output-json-filename): stdout then holds the
JSON document alone, and -o stdout given as well sends the text summary to stderr.

Exit status: 0 every run succeeded and every threshold passed, 1 a run failed or errored
or a threshold was crossed (distributed: or an agent was lost), 2 bad usage or input (or
too few free agents), 130 stopped by SIGINT (Ctrl-C), 143 stopped by SIGTERM: the summary
and outputs then cover what ran before the signal, and a second signal exits at once with
128 + its number. With --find-capacity the Capacity section is the verdict: 0 a rate held
(the capacity was found, --max-rate held, or the 12 probes ran out), 1 even the first rate
broke the thresholds, or a probe's generator was saturated (its limit, not the service's).`,
    );
}
