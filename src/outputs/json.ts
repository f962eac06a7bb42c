// The `json` output: the Summary as one JSON document, written at the end to
// `--output-json-filename`, or to stdout with `-` (the default). The CLI
// refuses `--quiet` with json on stdout, so this output never has to choose.
import { writeFile } from 'node:fs/promises';
import { ExitCode, LoadsError } from '../errors.ts';
import type { Summary } from '../metrics/summary.ts';
import type { Output, OutputContext } from './output.ts';
import { checkWritablePath } from './writable-path.ts';

export const DEFAULT_JSON_FILENAME = '-';

export class JsonOutput implements Output {
  readonly name = 'json';
  readonly #path: string;
  readonly #write: (text: string) => void;

  constructor(context: OutputContext) {
    this.#path = context.options['output_json_filename'] ?? DEFAULT_JSON_FILENAME;
    this.#write = context.write;
  }

  onRunStart(): void {
    if (this.#path !== '-') {
      checkWritablePath(this.#path, 'json', '--output-json-filename');
    }
  }

  async onRunEnd(summary: Summary): Promise<void> {
    const text = JSON.stringify(summary, null, 2) + '\n';
    if (this.#path === '-') {
      this.#write(text);
      return;
    }
    try {
      await writeFile(this.#path, text);
    } catch (err) {
      throw new LoadsError(
        `the json output could not write '${this.#path}': ${err instanceof Error ? err.message : String(err)}`,
        'LOADS_ERR_OUTPUT',
        ExitCode.RUN_FAILED,
        { cause: err },
      );
    }
  }
}
