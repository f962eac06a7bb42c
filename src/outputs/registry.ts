// Output names → factories (Loads' loads/output/__init__.py registry).
// The CLI validates every `--output NAME` with createOutput before the run.
import { UsageError } from '../errors.ts';
import { FileOutput } from './file.ts';
import { FunkloadOutput } from './funkload.ts';
import { HtmlOutput } from './html.ts';
import { JsonOutput } from './json.ts';
import { JunitOutput } from './junit.ts';
import { NullOutput } from './null.ts';
import type { Output, OutputContext } from './output.ts';
import { StdoutOutput } from './stdout/stdout-output.ts';

export const OUTPUT_NAMES: readonly string[] = Object.freeze([
  'stdout',
  'null',
  'file',
  'json',
  'funkload',
  'junit',
  'html',
]);

/** Creates the output named `name`; an unknown name is a UsageError (exit 2). */
export function createOutput(name: string, context: OutputContext): Output {
  switch (name) {
    case 'stdout':
      return new StdoutOutput(context);
    case 'null':
      return new NullOutput();
    case 'file':
      return new FileOutput(context);
    case 'json':
      return new JsonOutput(context);
    case 'funkload':
      return new FunkloadOutput(context);
    case 'junit':
      return new JunitOutput(context);
    case 'html':
      return new HtmlOutput(context);
    default:
      throw new UsageError(`unknown output '${name}'; choose one of: ${OUTPUT_NAMES.join(', ')}`);
  }
}
