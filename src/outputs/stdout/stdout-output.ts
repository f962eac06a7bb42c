// The `stdout` output (the default): the SPEC §6 summary at the end of the
// run, on stdout, or on stderr when the json output holds stdout (the CLI
// passes the writer), unless --quiet. The progress bar is not part of it: the
// CLI drives Progress on stderr while the run goes.
import type { Summary } from '../../metrics/summary.ts';
import type { Output, OutputContext } from '../output.ts';
import { formatSummary } from './summary-text.ts';

export class StdoutOutput implements Output {
  readonly name = 'stdout';
  readonly #context: OutputContext;

  constructor(context: OutputContext) {
    this.#context = context;
  }

  onRunEnd(summary: Summary): void {
    if (!this.#context.quiet) {
      this.#context.write(formatSummary(summary, this.#context.color));
    }
  }
}
