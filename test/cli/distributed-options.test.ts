// In-process checks of the distributed options (SPEC §10): which command
// the options ask for, what each needs, the combinations refused (one line
// each, exit 2), and the INI keys. The spawned checks are in
// distributed.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateOptions, type RunOptions } from '../../src/cli/validate.ts';
import { parseConfig, type ConfigValues } from '../../src/cli/config.ts';
import type { RawOptions } from '../../src/cli/options.ts';
import { UsageErrors } from '../../src/errors.ts';

const OUTPUTS = ['stdout', 'null', 'file', 'json', 'funkload', 'junit', 'html'];
const BROKER = 'nats://127.0.0.1:4222';

function valid(fqn: string | undefined, cli: RawOptions, config: ConfigValues = {}): RunOptions {
  return validateOptions(fqn, cli, config, OUTPUTS);
}

/** The problems' messages, one per line as the CLI prints them. */
function problems(fqn: string | undefined, cli: RawOptions, config: ConfigValues = {}): string[] {
  try {
    validateOptions(fqn, cli, config, OUTPUTS);
  } catch (err) {
    assert.ok(err instanceof UsageErrors, String(err));
    assert.equal(err.exitCode, 2);
    for (const e of err.errors) {
      assert.doesNotMatch(e.message, /\n/);
    }
    return err.errors.map((e) => e.message);
  }
  assert.fail('no usage error');
}

describe('distributed options: a run on agents', () => {
  it('when --agents and --broker are given then the run is distributed with the defaults', () => {
    const options = valid('m.C.t', { agents: '3', broker: BROKER, workers: '2' });
    assert.deepEqual(options.command, { kind: 'run' });
    assert.deepEqual(options.distributed, {
      broker: {
        broker: BROKER,
        brokerCreds: undefined,
        brokerNkey: undefined,
        brokerTlsCa: undefined,
        brokerTlsCert: undefined,
        brokerTlsKey: undefined,
        brokerToken: undefined,
        brokerUser: undefined,
        brokerPassword: undefined,
      },
      agents: 3,
      heartbeatTimeoutMs: 5000,
      includeFiles: [],
      detach: false,
    });
    assert.equal(options.workers, 2, '--workers is threads per agent');
  });

  it('when no distributed option is given then the run is on this machine', () => {
    const options = valid('m.C.t', {});
    assert.equal(options.distributed, null);
    assert.deepEqual(options.command, { kind: 'run' });
  });

  it('when --agents has no --broker then one line says to give it', () => {
    assert.deepEqual(problems('m.C.t', { agents: '3' }), [
      '--agents needs --broker nats://HOST:PORT, the NATS server the agents are connected to (or broker = … in the config file)',
    ]);
  });

  it('when --agents is not a whole number ≥ 1 then it is refused', () => {
    for (const bad of ['0', '-2', '1.5', 'three']) {
      assert.deepEqual(problems('m.C.t', { agents: bad, broker: BROKER }), [
        `--agents '${bad}' is not a whole number ≥ 1; use e.g. --agents 4`,
      ]);
    }
  });

  it('when --broker is on the command line without --agents then it says what it is for', () => {
    assert.deepEqual(problems('m.C.t', { broker: BROKER, brokerCreds: 'x.creds' }), [
      '--broker without --agents: add --agents N to run on N agents (or use --attach, --ping-broker, --check-cluster or --purge-broker)',
      '--broker-creds applies to --broker, which is not used here; drop it',
    ]);
  });

  it("when the config file names a broker but no agents then the run is on this machine (the file's broker waits for a run that uses it)", () => {
    assert.equal(valid('m.C.t', {}, { broker: BROKER }).distributed, null);
  });

  it('when --detach, --include-file or --heartbeat-timeout come without --agents then each is one line', () => {
    assert.deepEqual(
      problems('m.C.t', { detach: true, includeFile: ['data/*.csv'], heartbeatTimeout: '3' }),
      [
        '--detach without --agents: only a run on agents goes on without the runner; add --agents N --broker …',
        '--include-file without --agents: files are shipped to agents only; a run on this machine reads them where they are',
        '--heartbeat-timeout without --agents: it applies to a run on agents; add --agents N --broker …',
      ],
    );
  });

  it('when --detach comes with outputs or thresholds then it says they belong to --attach', () => {
    assert.deepEqual(
      problems('m.C.t', {
        agents: '2',
        broker: BROKER,
        detach: true,
        output: ['json'],
        threshold: ['p95<1s'],
      }),
      [
        "--output with --detach: the run's summary is made by --attach; give --output to --attach RUN_ID instead",
        "--threshold with --detach: the run's summary is made by --attach; give --threshold to --attach RUN_ID instead",
      ],
    );
  });

  it('when --include-file and --heartbeat-timeout are given with --agents then they are kept', () => {
    const options = valid('m.C.t', {
      agents: '2',
      broker: BROKER,
      includeFile: ['data/*.csv', 'users.json'],
      heartbeatTimeout: '2.5',
      detach: true,
    });
    assert.deepEqual(options.distributed?.includeFiles, ['data/*.csv', 'users.json']);
    assert.equal(options.distributed?.heartbeatTimeoutMs, 2500);
    assert.equal(options.distributed?.detach, true);
  });

  it('when --heartbeat-timeout is not a number of seconds > 0 then it is refused', () => {
    assert.deepEqual(problems('m.C.t', { agents: '2', broker: BROKER, heartbeatTimeout: '0' }), [
      "--heartbeat-timeout '0' is not a number of seconds > 0; use e.g. --heartbeat-timeout 30",
    ]);
  });
});

describe('distributed options: --attach and the broker commands', () => {
  it('when --attach has no id then it follows the only run in progress; with one it names it', () => {
    assert.deepEqual(valid(undefined, { attach: true, broker: BROKER }).command, {
      kind: 'attach',
      runId: null,
    });
    const options = valid(undefined, { attach: '20261203-081500-3fa2c1', broker: BROKER });
    assert.deepEqual(options.command, { kind: 'attach', runId: '20261203-081500-3fa2c1' });
    assert.equal(options.fqn, '');
    assert.equal(options.distributed?.agents, null);
  });

  it('when --attach is given a test name (as its value or as the argument) then one line says it takes a run id', () => {
    assert.deepEqual(
      problems(undefined, { attach: 'example.TestWebSite.test_es', broker: BROKER }),
      [
        "--attach with a test name ('example.TestWebSite.test_es'): --attach follows a run that is on the broker already; give its run id (or none), not a test",
      ],
    );
    assert.deepEqual(problems('example.TestWebSite', { attach: true, broker: BROKER }), [
      "--attach with a test name ('example.TestWebSite'): --attach follows a run that is on the broker already; give its run id (or none), not a test",
    ]);
  });

  it('when --attach comes with load options or --agents then they are refused: the run keeps its own', () => {
    assert.deepEqual(
      problems(undefined, { attach: true, broker: BROKER, users: '10', hits: '5', agents: '2' }),
      [
        '--attach follows a run that has its agents already; drop --agents',
        '--users, --hits with --attach: the run keeps the load it was started with; drop them',
      ],
    );
  });

  it('when --attach comes with outputs and thresholds then they are kept (the attached summary has them)', () => {
    const options = valid(undefined, {
      attach: true,
      broker: BROKER,
      output: ['json'],
      outputJsonFilename: 'run.json',
      threshold: ['p95<1s'],
    });
    assert.deepEqual(options.outputs, ['stdout', 'json']);
    assert.equal(options.thresholds.length, 1);
  });

  it('when a broker command has no --broker then one line says to give it', () => {
    for (const [cli, flag] of [
      [{ pingBroker: true }, '--ping-broker'],
      [{ checkCluster: true }, '--check-cluster'],
      [{ purgeBroker: true }, '--purge-broker'],
      [{ attach: true }, '--attach'],
    ] as const) {
      assert.deepEqual(problems(undefined, cli), [
        `${flag} needs --broker nats://HOST:PORT, the NATS server the agents are connected to (or broker = … in the config file)`,
      ]);
    }
  });

  it('when a broker command is given a test name then it is refused, except --check-cluster', () => {
    assert.deepEqual(problems('m.C.t', { pingBroker: true, broker: BROKER }), [
      "--ping-broker takes no test name ('m.C.t'); drop it",
    ]);
    assert.deepEqual(problems('m.C.t', { purgeBroker: true, broker: BROKER }), [
      "--purge-broker takes no test name ('m.C.t'); drop it",
    ]);
    const check = valid('m.C.t', {
      checkCluster: true,
      broker: BROKER,
      serverUrl: 'http://127.0.0.1:1',
    });
    assert.deepEqual(check.command, { kind: 'check-cluster' });
    assert.equal(check.fqn, 'm.C.t');
    assert.equal(valid(undefined, { checkCluster: true, broker: BROKER }).fqn, '');
  });

  it('when two broker commands are given together then one line says to pick one', () => {
    assert.deepEqual(problems(undefined, { pingBroker: true, purgeBroker: true, broker: BROKER }), [
      '--ping-broker and --purge-broker cannot be used together; pick one',
    ]);
  });

  it('when a broker command comes with --detach, load options or outputs then each is refused', () => {
    assert.deepEqual(
      problems(undefined, {
        pingBroker: true,
        broker: BROKER,
        detach: true,
        hits: '3',
        output: ['json'],
      }),
      [
        '--detach with --ping-broker: --detach applies to a run started with --agents',
        '--hits with --ping-broker: it sends no load; drop it',
        '--output with --ping-broker: it prints its own report; drop it',
      ],
    );
    assert.deepEqual(problems(undefined, { checkCluster: true, broker: BROKER, users: '5' }), [
      '--users with --check-cluster: the health check is one run of one user on each agent; drop it',
    ]);
  });
});

describe('distributed options: the config file', () => {
  it('when the [loads] section names the broker, agents, timeout and files then a run uses them; the command line wins', () => {
    const config = parseConfig(
      [
        '[loads]',
        `broker = ${BROKER}`,
        'broker_user = runner',
        'broker_password = s3cret',
        'agents = 4',
        'heartbeat_timeout = 8',
        'include_file = data/*.csv',
        'include_file = users.json',
        '',
      ].join('\n'),
      'x.ini',
    );
    const options = valid('m.C.t', { agents: '2' }, config);
    assert.equal(options.distributed?.agents, 2);
    assert.equal(options.distributed?.heartbeatTimeoutMs, 8000);
    assert.deepEqual(options.distributed?.includeFiles, ['data/*.csv', 'users.json']);
    assert.equal(options.distributed?.broker.brokerUser, 'runner');
    assert.equal(options.distributed?.broker.brokerPassword, 's3cret');
    assert.equal(valid('m.C.t', {}, config).distributed?.agents, 4);
  });
});
