// Reads a saved `-o json` document for `loads-runner report`: the file's
// errors (missing, a directory, unreadable) become one-line input errors
// (exit 2); what the text must be is report/summary-document.ts's to check.
import { readFileSync } from 'node:fs';
import type { Summary } from '../metrics/summary.ts';
import { parseSummaryDocument, summaryDocumentError } from '../report/summary-document.ts';
import { readVersion } from './version.ts';

export function readSummaryDocument(path: string): Summary {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : `it cannot be read (${code ?? String(err)})`;
    throw summaryDocumentError(
      `cannot read ${path}: ${problem}; give the json document a run wrote with -o json`,
    );
  }
  return parseSummaryDocument(text, path, readVersion());
}
