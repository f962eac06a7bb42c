// A small RFC 6265 cookie jar, one per Session (= per virtual user): domain
// and path matching, host-only cookies, Max-Age over Expires, Secure cookies
// only sent over https. Limits: no public-suffix list (a Domain attribute
// without a dot is accepted only when it equals the host), no SameSite
// handling (there is no "site" for a load tester), no size limits.

/** One stored cookie. */
export interface Cookie {
  name: string;
  value: string;
  /** Lower-case domain, without a leading dot. */
  domain: string;
  /** True when the server sent no Domain attribute: only sent to that exact host. */
  hostOnly: boolean;
  path: string;
  secure: boolean;
  httpOnly: boolean;
  /** Epoch ms; Infinity for a session cookie. */
  expiresAt: number;
}

interface StoredCookie extends Cookie {
  /** Insertion order, for the RFC's "earlier creation first" tie-break. */
  creation: number;
}

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** Per-session cookie storage. Methods take the request URL; none throws on a bad cookie. */
export class CookieJar {
  #cookies: StoredCookie[] = [];
  #creation = 0;
  readonly #now: () => number;

  /** `now` returns epoch ms; injectable for expiry tests. */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Number of cookies stored, expired ones included until the next lookup. */
  get size(): number {
    return this.#cookies.length;
  }

  /**
   * Stores the cookie of one Set-Cookie header value received from `url`.
   * Returns false when the cookie was rejected (bad syntax or domain).
   */
  setCookie(setCookie: string, url: URL | string): boolean {
    const u = typeof url === 'string' ? new URL(url) : url;
    const parts = setCookie.split(';');
    const pair = parts[0] ?? '';
    const eq = pair.indexOf('=');
    if (eq < 0) {
      return false;
    }
    const name = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    if (name === '') {
      return false;
    }
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    const host = u.hostname.toLowerCase();
    let domain = '';
    let path = '';
    let secure = false;
    let httpOnly = false;
    let maxAgeMs: number | undefined;
    let expiresAt: number | undefined;
    for (let i = 1; i < parts.length; i++) {
      const attr = parts[i] ?? '';
      const aeq = attr.indexOf('=');
      const key = (aeq < 0 ? attr : attr.slice(0, aeq)).trim().toLowerCase();
      const val = aeq < 0 ? '' : attr.slice(aeq + 1).trim();
      if (key === 'domain') {
        domain = val.startsWith('.') ? val.slice(1).toLowerCase() : val.toLowerCase();
      } else if (key === 'path') {
        path = val.startsWith('/') ? val : '';
      } else if (key === 'secure') {
        secure = true;
      } else if (key === 'httponly') {
        httpOnly = true;
      } else if (key === 'max-age') {
        if (/^-?\d+$/.test(val)) {
          maxAgeMs = Number(val) * 1000;
        }
      } else if (key === 'expires') {
        const t = Date.parse(val);
        if (!Number.isNaN(t)) {
          expiresAt = t;
        }
      }
    }
    let hostOnly = true;
    if (domain !== '') {
      if (!domainMatches(host, domain)) {
        return false;
      }
      if (!domain.includes('.') && domain !== host) {
        return false;
      }
      // A dotless domain (localhost) or an IP address cannot cover other hosts.
      hostOnly = !domain.includes('.') || IPV4.test(host);
    } else {
      domain = host;
    }
    if (path === '') {
      path = defaultPath(u.pathname);
    }
    const now = this.#now();
    const expires = maxAgeMs !== undefined ? now + maxAgeMs : (expiresAt ?? Infinity);
    const index = this.#cookies.findIndex(
      (c) => c.name === name && c.domain === domain && c.path === path,
    );
    if (expires <= now) {
      if (index >= 0) {
        this.#cookies.splice(index, 1);
      }
      return true;
    }
    const cookie: StoredCookie = {
      name,
      value,
      domain,
      hostOnly,
      path,
      secure,
      httpOnly,
      expiresAt: expires,
      creation: index >= 0 ? this.#cookies[index]!.creation : this.#creation++,
    };
    if (index >= 0) {
      this.#cookies[index] = cookie;
    } else {
      this.#cookies.push(cookie);
    }
    return true;
  }

  /** Sets a cookie directly, as if `domain` had sent it host-only (path '/' by default). */
  set(name: string, value: string, domain: string, path = '/'): void {
    this.setCookie(`${name}=${value}; Path=${path}`, `http://${domain}/`);
  }

  /**
   * The Cookie header value for a request to `url`, '' when no cookie
   * matches. `extra` cookies (a request's own) override stored ones of the
   * same name.
   */
  cookieHeader(url: URL, extra?: Record<string, string>): string {
    let header = '';
    if (this.#cookies.length > 0) {
      const matched = this.matching(url);
      for (let i = 0; i < matched.length; i++) {
        const c = matched[i]!;
        if (extra !== undefined && Object.hasOwn(extra, c.name)) {
          continue;
        }
        header = header === '' ? `${c.name}=${c.value}` : `${header}; ${c.name}=${c.value}`;
      }
    }
    if (extra !== undefined) {
      for (const name of Object.keys(extra)) {
        const pair = `${name}=${extra[name]!}`;
        header = header === '' ? pair : `${header}; ${pair}`;
      }
    }
    return header;
  }

  /** The live cookies that a request to `url` would send, in sending order. */
  matching(url: URL | string): Cookie[] {
    const u = typeof url === 'string' ? new URL(url) : url;
    this.#dropExpired();
    const host = u.hostname.toLowerCase();
    const isSecure = u.protocol === 'https:' || u.protocol === 'wss:';
    const path = u.pathname === '' ? '/' : u.pathname;
    const out: StoredCookie[] = [];
    for (const c of this.#cookies) {
      if (c.hostOnly ? c.domain !== host : !domainMatches(host, c.domain)) {
        continue;
      }
      if (!pathMatches(path, c.path)) {
        continue;
      }
      if (c.secure && !isSecure) {
        continue;
      }
      out.push(c);
    }
    out.sort((a, b) => b.path.length - a.path.length || a.creation - b.creation);
    return out.map(publicCookie);
  }

  /** The value of the first live cookie named `name` (any domain), if any. */
  get(name: string): string | undefined {
    this.#dropExpired();
    return this.#cookies.find((c) => c.name === name)?.value;
  }

  /** Every live cookie, in creation order. */
  all(): Cookie[] {
    this.#dropExpired();
    return this.#cookies.map(publicCookie);
  }

  /** Forgets every cookie. */
  clear(): void {
    this.#cookies = [];
  }

  #dropExpired(): void {
    const now = this.#now();
    let expired = false;
    for (const c of this.#cookies) {
      if (c.expiresAt <= now) {
        expired = true;
        break;
      }
    }
    if (expired) {
      this.#cookies = this.#cookies.filter((c) => c.expiresAt > now);
    }
  }
}

function publicCookie(c: StoredCookie): Cookie {
  return {
    name: c.name,
    value: c.value,
    domain: c.domain,
    hostOnly: c.hostOnly,
    path: c.path,
    secure: c.secure,
    httpOnly: c.httpOnly,
    expiresAt: c.expiresAt,
  };
}

/** RFC 6265 §5.1.3. */
function domainMatches(host: string, domain: string): boolean {
  if (host === domain) {
    return true;
  }
  return host.endsWith(domain) && host[host.length - domain.length - 1] === '.' && !IPV4.test(host);
}

/** RFC 6265 §5.1.4. */
function defaultPath(pathname: string): string {
  if (!pathname.startsWith('/')) {
    return '/';
  }
  const last = pathname.lastIndexOf('/');
  return last <= 0 ? '/' : pathname.slice(0, last);
}

/** RFC 6265 §5.1.4. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) {
    return true;
  }
  if (!requestPath.startsWith(cookiePath)) {
    return false;
  }
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}
