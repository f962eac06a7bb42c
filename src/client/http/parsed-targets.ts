// Request URLs and origins parsed once per thread, shared by every user: a
// test calls the same few URLs on every run from every user, and a URL
// object with its context and strings is about 300 bytes, which each idle
// user kept twice (its Session's last URL and its undici Client's origin).
// The URL objects handed out are never mutated, by the Session or by undici.

/** A request target, parsed: its URL and the strings the Session sends it with. */
export class ParsedTarget {
  readonly origin: string;
  /** Path and query, as the request line carries them. */
  readonly path: string;

  constructor(
    /** The string it was parsed from (the cache key). */
    readonly target: string,
    readonly url: URL,
  ) {
    // URL getters build a new string on every call: read them once.
    this.origin = url.origin;
    this.path = url.pathname + url.search;
  }
}

/**
 * Entries kept at most: a test that builds a new URL per request (an id in
 * the path) would otherwise grow the cache without end; past the bound it
 * starts over, which costs one parse per URL again.
 */
const MAX_ENTRIES = 1024;

const targets = new Map<string, ParsedTarget>();
const origins = new Map<string, URL>();

/**
 * `target` parsed, from the thread's cache when another call already did:
 * an http: or https: URL without its fragment. Throws a TypeError for
 * anything else (the caller counts it as INVALID_URL).
 */
export function parseTarget(target: string): ParsedTarget {
  return targets.get(target) ?? remember(targets, target, newParsedTarget(target));
}

function newParsedTarget(target: string): ParsedTarget {
  const url = new URL(target);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`unsupported protocol ${url.protocol} (use http: or https:)`);
  }
  if (url.hash !== '') {
    url.hash = '';
  }
  return new ParsedTarget(target, url);
}

/** The URL of an origin ('http://host:port'), one per thread, for undici's Client (which keeps the URL it is given). */
export function originUrl(origin: string): URL {
  return origins.get(origin) ?? remember(origins, origin, new URL(origin));
}

/** Puts `value` in `cache`, which starts over once it holds MAX_ENTRIES. */
function remember<V>(cache: Map<string, V>, key: string, value: V): V {
  if (cache.size >= MAX_ENTRIES) {
    cache.clear();
  }
  cache.set(key, value);
  return value;
}
