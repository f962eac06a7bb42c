// The `html` output (SPEC §9): the report page — one self-contained file
// that opens offline — written at the end to `--output-html-filename`
// (default loads-report.html). Its path is checked when the run starts, as
// json's and junit's are, so a typo costs a usage error, not the report.
import { writeFile } from 'node:fs/promises';
import { ExitCode, LoadsError } from '../errors.ts';
import type { Summary } from '../metrics/summary.ts';
import { renderReport } from '../report/render.ts';
import type { Output, OutputContext } from './output.ts';
import { checkWritablePath } from './writable-path.ts';

export const DEFAULT_HTML_FILENAME = 'loads-report.html';

export class HtmlOutput implements Output {
  readonly name = 'html';
  readonly #path: string;

  constructor(context: OutputContext) {
    this.#path = context.options['output_html_filename'] ?? DEFAULT_HTML_FILENAME;
  }

  onRunStart(): void {
    checkWritablePath(this.#path, 'html', '--output-html-filename');
  }

  async onRunEnd(summary: Summary): Promise<void> {
    const html = renderReport({ summary });
    try {
      await writeFile(this.#path, html);
    } catch (err) {
      throw new LoadsError(
        `the html output could not write '${this.#path}': ${err instanceof Error ? err.message : String(err)}`,
        'LOADS_ERR_OUTPUT',
        ExitCode.RUN_FAILED,
        { cause: err },
      );
    }
  }
}
