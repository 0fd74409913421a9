/**
 * Turns the raw request target into the decoded, normalised path that routing works on, the way
 * nginx does before it looks at any location: percent-decoded once, `.`/`..`/`//` resolved, never
 * above the root. Paths are byte strings (one char per byte), so any byte sequence round-trips.
 */

export type RequestTarget =
  | {
      ok: true;
      path: string;
      query: string;
      rawPath: string;
      /** The target in origin-form (`/p?q`): REQUEST_URI, also for an absolute-form request. */
      originForm: string;
      /** Host and port of an absolute-form target; it overrides the Host header (RFC 9112 3.2.2). */
      authority: string | null;
    }
  | { ok: false; reason: string };

const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^/?#@]*@)?([^/?#]*)/;

export function parseRequestTarget(rawUrl: string): RequestTarget {
  let target = rawUrl;
  let authority: string | null = null;
  if (target[0] !== '/') {
    // RFC 9112 3.2.2 absolute-form (`GET http://host/path`): route on the path part.
    const m = ABSOLUTE_FORM.exec(target);
    if (!m) return { ok: false, reason: 'request target is not a path' };
    target = target.slice(m[0].length);
    authority = m[1] || null;
    // An empty path is "/" (RFC 9110 4.2.3), with or without a query: nginx routes `http://h?q=1`
    // as $uri `/` with $args `q=1` rather than rejecting it.
    if (target === '' || target[0] === '?') target = '/' + target;
    if (target[0] !== '/') return { ok: false, reason: 'request target is not a path' };
  }
  // A fragment is never sent by a conforming client; nginx ends the target at '#' if one comes.
  const hash = target.indexOf('#');
  if (hash >= 0) target = target.slice(0, hash);
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q + 1);
  const decoded = percentDecode(rawPath);
  if (decoded === null) return { ok: false, reason: 'bad percent-encoding in path' };
  if (decoded.includes('\0')) return { ok: false, reason: 'NUL byte in path' };
  const path = normalizePath(decoded);
  if (path === null) return { ok: false, reason: 'path climbs above the document root' };
  return { ok: true, path, query, rawPath, originForm: target, authority };
}

/** Decodes %XX escapes to bytes; null on a malformed escape (nginx answers those with 400). */
export function percentDecode(s: string): string | null {
  if (!s.includes('%')) return s;
  let out = '';
  let last = 0;
  for (let i = s.indexOf('%'); i >= 0; i = s.indexOf('%', last)) {
    const hex = s.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
    out += s.slice(last, i) + String.fromCharCode(parseInt(hex, 16));
    last = i + 3;
  }
  return out + s.slice(last);
}

/**
 * Resolves `.` and `..` segments and merges repeated slashes (nginx merge_slashes). Keeps a trailing
 * slash. Returns null when `..` would leave the root.
 */
export function normalizePath(path: string): string | null {
  if (!path.includes('/.') && !path.includes('//')) return path;
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return null;
      out.pop();
      continue;
    }
    out.push(seg);
  }
  const last = segments[segments.length - 1];
  const trailing = last === '' || last === '.' || last === '..';
  const joined = '/' + out.join('/');
  return trailing && out.length > 0 ? joined + '/' : joined;
}

const UNRESERVED_PATH = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/]/g;

/** Byte-string path back to a URL path (for Location headers and the static file server). */
export function encodePath(path: string): string {
  return path.replace(UNRESERVED_PATH, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
}
