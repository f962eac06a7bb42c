// The `file` output: every event as one JSON line (JSON Lines) to
// `--output-file-filename`. Events are serialized at onEvent, because the
// producer may reuse the event object, and buffered; BufferedFile flushes.
import type { LoadsEvent } from '../metrics/events.ts';
import { BufferedFile } from './buffered-file.ts';
import type { Output, OutputContext } from './output.ts';

export const DEFAULT_FILE_FILENAME = 'loads-events.jsonl';

export class FileOutput implements Output {
  readonly name = 'file';
  readonly #file: BufferedFile;

  constructor(context: OutputContext, flushIntervalMs?: number) {
    const path = context.options['output_file_filename'] ?? DEFAULT_FILE_FILENAME;
    this.#file = new BufferedFile(path, 'file', flushIntervalMs);
  }

  onRunStart(): void {
    this.#file.open();
  }

  onEvent(event: LoadsEvent): void {
    this.#file.append(JSON.stringify(event) + '\n');
  }

  async onRunEnd(): Promise<void> {
    await this.#file.close();
  }

  /** Every event buffered so far reaches the file, each a whole line. */
  onExitNow(): void {
    this.#file.flushSync();
  }
}
