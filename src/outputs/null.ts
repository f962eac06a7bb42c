// The `null` output: writes nothing. Useful with --output null to silence
// the default stdout summary while keeping the exit status.
import type { Output } from './output.ts';

export class NullOutput implements Output {
  readonly name = 'null';
}
