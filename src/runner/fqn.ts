// Parses the test name given on the command line (SPEC §2) into the
// readings the loader should try. A dotted name is ambiguous: in
// `a.b.C.m` the last part may be a method (module a.b, class C) or a class
// (module a.b.C). Nothing here touches the file system: the loader tries
// the candidates in order and the first whose module exists wins, which
// makes "the longest module path that exists" the rule.
import { FqnError } from '../errors.ts';

/** One way to read the test name: where the module is, the class, the method. */
export interface FqnTarget {
  /** Dotted form: the module path split on dots (`['project','tests','test_server']`); null for the file form. */
  modulePath: string[] | null;
  /** File form: the path before the colon, as written (relative to cwd or absolute); null for the dotted form. */
  filePath: string | null;
  className: string;
  /** null: every method whose name starts with `test`. */
  methodName: string | null;
}

export interface ParsedFqn {
  fqn: string;
  /** The readings to try, in order; the first whose module exists wins. Never empty. */
  candidates: FqnTarget[];
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const FORMS =
  'write module.Class[.method] (e.g. example.TestWebSite.test_es) or path/to/file.ts:Class[.method]';

/** Splits a test name into candidate readings; throws FqnError part 'syntax'. */
export function parseFqn(fqn: string): ParsedFqn {
  const name = fqn.trim();
  if (name === '') {
    throw syntaxError(name, 'the test name is empty');
  }
  // The last colon: a Windows drive letter (C:\x.ts:Class) keeps its own.
  const colon = name.lastIndexOf(':');
  if (colon !== -1) {
    return { fqn: name, candidates: [parseFileForm(name, colon)] };
  }
  const parts = name.split('.');
  for (const part of parts) {
    if (part === '') {
      throw syntaxError(name, 'it has an empty part');
    }
    if (part.includes('/') || part.includes('\\')) {
      throw syntaxError(name, `'${part}' looks like a path; a file needs a colon before the class`);
    }
  }
  if (parts.length < 2) {
    throw syntaxError(name, 'it names no class');
  }
  const last = parts[parts.length - 1]!;
  const beforeLast = parts[parts.length - 2]!;
  if (!IDENTIFIER.test(last)) {
    throw syntaxError(name, `'${last}' is not a valid class or method name`);
  }
  // Longest module path first: module a.b.C, class m, all its test* methods.
  const candidates: FqnTarget[] = [
    { modulePath: parts.slice(0, -1), filePath: null, className: last, methodName: null },
  ];
  if (parts.length >= 3 && IDENTIFIER.test(beforeLast)) {
    candidates.push({
      modulePath: parts.slice(0, -2),
      filePath: null,
      className: beforeLast,
      methodName: last,
    });
  }
  return { fqn: name, candidates };
}

function parseFileForm(name: string, colon: number): FqnTarget {
  const filePath = name.slice(0, colon);
  const rest = name.slice(colon + 1);
  if (filePath === '') {
    throw syntaxError(name, 'the file path before the colon is empty');
  }
  const parts = rest.split('.');
  if (rest === '' || parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw syntaxError(name, `'${rest}' after the colon is not Class or Class.method`);
  }
  return { modulePath: null, filePath, className: parts[0]!, methodName: parts[1] ?? null };
}

function syntaxError(fqn: string, reason: string): FqnError {
  return new FqnError(`bad test name '${fqn}': ${reason}; ${FORMS}`, 'syntax');
}
