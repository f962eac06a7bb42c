// --test-runner "CMD {test}" (SPEC §11): split into arguments as a shell
// would (quotes, backslashes) but never run through one, so that nothing in
// it is expanded, piped or redirected; `{test}` becomes the test name.
import type * as ShellQuote from 'shell-quote';
import { UsageError } from '../../errors.ts';
import { requireCjs } from '../../require-cjs.ts';

const { parse } = requireCjs('shell-quote') as typeof ShellQuote;

export const TEST_PLACEHOLDER = '{test}';

/** The argv template of a --test-runner value. Throws UsageError for an empty command or shell syntax. */
export function parseTestRunnerCommand(command: string): string[] {
  // Variables stay as written: there is no shell to expand them.
  const tokens = parse(command, (name) => `$${name}`);
  const argv: string[] = [];
  for (const token of tokens) {
    if (typeof token === 'string') {
      argv.push(token);
    } else if ('comment' in token) {
      break;
    } else if ('op' in token && token.op === 'glob') {
      argv.push(token.pattern);
    } else {
      const op = 'op' in token ? token.op : String(token);
      throw new UsageError(
        `--test-runner '${command}' uses the shell operator '${op}', but the command runs without a shell: wrap it in a script, or give sh -c '…' yourself`,
      );
    }
  }
  if (argv.length === 0) {
    throw new UsageError(
      `--test-runner is empty: give a command such as "python3 test_site.py {test}"`,
    );
  }
  return argv;
}

/** The arguments of one process: every `{test}` replaced by the test name. */
export function commandFor(argv: readonly string[], fqn: string): string[] {
  return argv.map((arg) => arg.split(TEST_PLACEHOLDER).join(fqn));
}
