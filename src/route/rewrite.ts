import { encodePath } from './request-target.ts';

/**
 * nginx-style rewrite rules (`--rewrite 'REGEX TARGET [last|break|redirect|permanent]'`), applied to
 * the decoded, normalised path before the route decision, in order, like nginx's server-level
 * `rewrite` directives (https://nginx.org/en/docs/http/ngx_http_rewrite_module.html#rewrite).
 */

export type RewriteFlag = 'last' | 'break' | 'redirect' | 'permanent';

export interface RewriteRule {
  source: string;
  regex: RegExp;
  target: string;
  /** null: no flag, processing goes on with the next rule (nginx's default). */
  flag: RewriteFlag | null;
}

export type RewriteResult =
  | { kind: 'internal'; path: string; query: string }
  | { kind: 'redirect'; status: 301 | 302; location: string };

export class RewriteError extends Error {
  override name = 'RewriteError';
}

/** Parses one `--rewrite` value; throws RewriteError naming the problem (a bad regex included). */
export function parseRewrite(text: string): RewriteRule {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 2 || parts.length > 3) throw new RewriteError(`want 'REGEX TARGET [last|break|redirect|permanent]', got '${text}'`);
  const [source, target, flagText] = parts as [string, string, string | undefined];
  if (flagText !== undefined && !['last', 'break', 'redirect', 'permanent'].includes(flagText)) {
    throw new RewriteError(`unknown rewrite flag '${flagText}' in '${text}' (want last, break, redirect or permanent)`);
  }
  let regex: RegExp;
  try {
    regex = new RegExp(source);
  } catch (err) {
    throw new RewriteError(`bad regex in '${text}': ${(err as Error).message}`);
  }
  return { source, regex, target, flag: (flagText as RewriteFlag | undefined) ?? null };
}

/** Characters that cannot stand in a query string as they are: a capture put there is escaped. */
const QUERY_UNSAFE = /[^A-Za-z0-9\-._~!$'()*,;:@/?]/g;
const escapeQuery = (s: string) => s.replace(QUERY_UNSAFE, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));

/** At most this many rules may apply to one request (nginx stops after 10 internal redirects with 500). */
export const MAX_REWRITES = 10;

/**
 * Applies the rules to a decoded path. Returns null when no rule matched, 'loop' past MAX_REWRITES.
 * The original query is appended to the target's unless the target ends with `?` (nginx's rule).
 */
export function applyRewrites(rules: readonly RewriteRule[], path: string, query: string): RewriteResult | null | 'loop' {
  let matched = false;
  let applied = 0;
  for (const rule of rules) {
    const m = rule.regex.exec(path);
    if (!m) continue;
    if (++applied > MAX_REWRITES) return 'loop';
    matched = true;
    const keepQuery = !rule.target.endsWith('?');
    const target = keepQuery ? rule.target : rule.target.slice(0, -1);
    const q = target.indexOf('?');
    const fill = (s: string, inQuery: boolean) =>
      s.replace(/\$(\d)/g, (_, d: string) => (inQuery ? escapeQuery(m[Number(d)] ?? '') : (m[Number(d)] ?? '')));
    const newPath = fill(q < 0 ? target : target.slice(0, q), false);
    const ownQuery = q < 0 ? '' : fill(target.slice(q + 1), true);
    const newQuery = !keepQuery ? ownQuery : ownQuery && query ? `${ownQuery}&${query}` : ownQuery || query;
    const isUrl = /^https?:\/\//i.test(newPath);
    if (isUrl || rule.flag === 'redirect' || rule.flag === 'permanent') {
      // The path is decoded bytes: escape it again for the Location header (an absolute URL is left as written).
      const location = (isUrl ? newPath : encodePath(newPath)) + (newQuery ? `?${newQuery}` : '');
      return { kind: 'redirect', status: rule.flag === 'permanent' ? 301 : 302, location };
    }
    path = newPath;
    query = newQuery;
    if (rule.flag === 'last' || rule.flag === 'break') break;
  }
  return matched ? { kind: 'internal', path, query } : null;
}
