/**
 * Route patterns for claims and shadows: an optional method list and a path pattern.
 *
 *   GET,HEAD /packages/:name     these methods, one segment for :name
 *   /api/*                       any method, /api and everything below it
 *   POST /rpc                    one method, one path
 *   !GET /packages/:name         strict: the app's 404 stands (no PHP fallback)
 *
 * `:name` is one non-empty path segment; `*` (last segment only) is any rest, empty included. One
 * trailing slash in the request path is ignored (`/packages/yay/` is `/packages/:name`). GET implies
 * HEAD, as Node answers a HEAD with the GET's head. Paths are matched decoded and normalised (after
 * rewrites), the way the docroot sees them, so `%2e%2e` tricks cannot step around a pattern.
 */
export interface RoutePattern {
  /** The pattern as written, without the leading `!`: the route key in the ledger and the report. */
  readonly source: string;
  /** Uppercase methods, or null for any. */
  readonly methods: ReadonlySet<string> | null;
  readonly strict: boolean;
  readonly regex: RegExp;
}

export class PatternError extends Error {
  override name = 'PatternError';
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function parsePattern(text: string): RoutePattern {
  const trimmed = text.trim();
  let rest = trimmed;
  const strict = rest.startsWith('!');
  if (strict) rest = rest.slice(1).trimStart();
  let methods: Set<string> | null = null;
  let written = '';
  const space = rest.search(/\s/);
  if (!rest.startsWith('/')) {
    if (space < 0) throw new PatternError(`"${text}": want [METHODS ]/path, e.g. "GET,HEAD /packages/:name" or "/api/*"`);
    const list = rest.slice(0, space).split(',').map((m) => m.trim().toUpperCase());
    for (const m of list) if (!TOKEN.test(m)) throw new PatternError(`"${text}": "${m}" is not an HTTP method`);
    written = list.join(',') + ' ';
    methods = new Set(list);
    if (methods.has('GET')) methods.add('HEAD');
    rest = rest.slice(space).trim();
  }
  if (!rest.startsWith('/')) throw new PatternError(`"${text}": the path must start with /`);
  if (/\s/.test(rest)) throw new PatternError(`"${text}": a path pattern has no spaces`);
  const segments = rest.split('/').slice(1);
  let regex = '^';
  segments.forEach((seg, i) => {
    const last = i === segments.length - 1;
    if (seg === '*') {
      if (!last) throw new PatternError(`"${text}": * may only be the last segment`);
      regex += '(?:/.*)?';
      return;
    }
    if (seg.includes('*')) throw new PatternError(`"${text}": * stands alone as a segment (/api/*)`);
    if (seg.startsWith(':')) {
      if (!/^:[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) throw new PatternError(`"${text}": "${seg}" is not a parameter name`);
      regex += '/[^/]+';
      return;
    }
    if (seg === '.' || seg === '..') throw new PatternError(`"${text}": no . or .. segments`);
    if (seg === '' && !last) throw new PatternError(`"${text}": empty segment (//)`);
    regex += '/' + seg.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  });
  if (!regex.endsWith('(?:/.*)?')) regex += regex.endsWith('/') ? '' : '/?';
  regex += '$';
  return { source: written + rest, methods, strict, regex: new RegExp(regex) };
}

/** Whether the request matches the pattern. */
export function matchesPattern(p: RoutePattern, method: string, path: string): boolean {
  return (p.methods === null || p.methods.has(method)) && p.regex.test(path);
}

/** An ordered list of patterns: the first that matches wins. */
export class PatternList {
  readonly patterns: readonly RoutePattern[];

  constructor(texts: readonly string[]) {
    this.patterns = texts.map(parsePattern);
  }

  get size(): number {
    return this.patterns.length;
  }

  match(method: string, path: string): RoutePattern | null {
    for (const p of this.patterns) if (matchesPattern(p, method, path)) return p;
    return null;
  }
}
