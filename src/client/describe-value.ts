// Argument checks at the public API (session, app, createWs) name what the
// user passed the way they would say it, not as our internals see it.

/** A value as a user would say it in an error message: "the number 42", "an array". */
export function describeValue(value: unknown): string {
  if (value === undefined || value === null) {
    return String(value);
  }
  if (typeof value === 'string') {
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  }
  if (typeof value === 'function') {
    return 'a function';
  }
  if (typeof value !== 'object') {
    return `the ${typeof value} ${String(value)}`;
  }
  if (Array.isArray(value)) {
    return 'an array';
  }
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' && name !== 'Object' ? `a ${name}` : 'an object';
}
