/**
 * The comparison of PHP's answer with the app's shadow answer (pure: no I/O, no clock). Status, a
 * chosen set of headers, and the body: JSON structurally (key order ignored, ignored pointers
 * removed), text and HTML with whitespace normalised, anything else byte for byte. Ignore rules
 * (JSON pointers, regexes) take volatile values out before comparing: timestamps, CSRF tokens,
 * request ids. A difference comes back as one short line that says where the two first differ.
 */

/** One side's answer, as captured: lower-case header names, repeated names kept in order. */
export interface CapturedResponse {
  status: number;
  headers: ReadonlyArray<readonly [string, string]>;
  body: Buffer;
}

export interface CompareRules {
  /** Lower-case header names compared (the rest are not looked at). */
  headers: readonly string[];
  /** JSON pointers (RFC 6901) removed from both JSON bodies; a `*` segment stands for any key or index. */
  ignorePointers: readonly string[];
  /** Replaced in text bodies, in JSON string values and in compared header values before comparing. */
  ignorePatterns: readonly RegExp[];
  /** False for HEAD: no body to compare. */
  compareBody: boolean;
}

export type Comparison = { match: true } | { match: false; diff: string };

export const DEFAULT_SHADOW_HEADERS: readonly string[] = ['content-type', 'location', 'cache-control'];

/** Longest diff line, and longest quoted value in it. */
const MAX_DIFF = 400;
const MAX_VALUE = 60;
/** Context shown either side of the first differing character of a text body. */
const TEXT_CONTEXT = 24;

/**
 * Where PHP's two answers to the same request differ (Diffy's noise: timestamps, tokens, ids that no
 * ignore rule names): the comparison with the app leaves those places out.
 */
export interface Noise {
  status: boolean;
  headers: ReadonlySet<string>;
  /** JSON bodies: the pointers where the two differ. */
  pointers: readonly string[];
  /** Text bodies: the tokens that differ (same token count), or the differing middle (prefix and suffix kept); null: none. */
  text: { kind: 'tokens'; count: number; noisy: ReadonlySet<number> } | { kind: 'span'; prefix: number; suffix: number } | null;
}

export function compareResponses(php: CapturedResponse, app: CapturedResponse, rules: CompareRules, noise: Noise | null = null): Comparison {
  const parts: string[] = [];
  if (php.status !== app.status && !noise?.status) parts.push(`status: php ${php.status} | app ${app.status}`);
  if (noise) rules = { ...rules, headers: rules.headers.filter((h) => !noise.headers.has(h)), ignorePointers: [...rules.ignorePointers, ...noise.pointers] };
  for (const name of rules.headers) {
    const a = headerValue(php, name, rules.ignorePatterns);
    const b = headerValue(app, name, rules.ignorePatterns);
    if (a !== b) parts.push(`${name}: php ${quote(a)} | app ${quote(b)}`);
  }
  if (rules.compareBody) {
    const body = compareBodies(php, app, rules, noise?.text ?? null);
    if (body) parts.push(body);
  }
  if (parts.length === 0) return { match: true };
  const diff = parts.join('; ');
  return { match: false, diff: diff.length > MAX_DIFF ? diff.slice(0, MAX_DIFF - 1) + '…' : diff };
}

/** The header's values joined, normalised (content-type case and spacing), ignore rules applied; null when absent. */
function headerValue(r: CapturedResponse, name: string, ignore: readonly RegExp[]): string | null {
  const values = r.headers.filter(([n]) => n === name).map(([, v]) => v.trim());
  if (values.length === 0) return null;
  let v = values.join(', ').replace(/\s+/g, ' ');
  // `text/html; charset=UTF-8` and `text/html;charset=utf-8` are the same type (RFC 9110 8.3.1).
  // JSON is UTF-8 by definition (RFC 8259 8.1): Express's `; charset=utf-8` on it says nothing more.
  if (name === 'content-type') v = v.toLowerCase().replace(/\s*;\s*/g, '; ').replace(/^([^;]*json); charset="?utf-8"?$/, '$1');
  return scrub(v, ignore);
}

type BodyKind = 'json' | 'text' | 'bytes';

function bodyKind(r: CapturedResponse): BodyKind {
  const type = (r.headers.find(([n]) => n === 'content-type')?.[1] ?? '').toLowerCase().split(';')[0]!.trim();
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  if (type.startsWith('text/') || type.endsWith('+xml') || type === 'application/xml' || type === 'application/javascript' || type === 'application/x-www-form-urlencoded') return 'text';
  // PHP's default is text/html; an answer with no type at all is most likely text too.
  return type === '' ? 'text' : 'bytes';
}

/** What differs between the bodies, or null. The kind follows PHP's content type. */
function compareBodies(php: CapturedResponse, app: CapturedResponse, rules: CompareRules, textNoise: Noise['text']): string | null {
  const kind = bodyKind(php);
  if (kind === 'json') {
    const a = parseJson(php.body);
    const b = parseJson(app.body);
    if (a.ok && b.ok) {
      const left = prepareJson(a.value, rules);
      const right = prepareJson(b.value, rules);
      const d = firstJsonDifference(left, right, '');
      return d === null ? null : `body ${d}`;
    }
    if (a.ok !== b.ok) return `body: ${a.ok ? 'app' : 'php'}'s is not JSON`;
    // Neither is JSON: compare them as text.
  }
  if (kind === 'json' || kind === 'text') {
    let a = textOf(php, rules);
    let b = textOf(app, rules);
    if (textNoise) [a, b] = maskNoise(a, b, textNoise);
    if (a === b) return null;
    const at = firstDifference(a, b);
    return `body at char ${at}: php ${quote(around(a, at))} | app ${quote(around(b, at))}`;
  }
  if (php.body.equals(app.body)) return null;
  if (php.body.length !== app.body.length) return `body: php ${php.body.length} bytes | app ${app.body.length} bytes`;
  let i = 0;
  while (php.body[i] === app.body[i]) i++;
  return `body: ${php.body.length} bytes, first difference at byte ${i}`;
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

/**
 * Where PHP's two answers to one request differ (`a` and `b`, both PHP's): what compareResponses is
 * then told to leave out. Null when they are the same: no noise.
 */
export function findNoise(a: CapturedResponse, b: CapturedResponse, rules: CompareRules): Noise | null {
  const headers = new Set(rules.headers.filter((h) => headerValue(a, h, rules.ignorePatterns) !== headerValue(b, h, rules.ignorePatterns)));
  let pointers: string[] = [];
  let text: Noise['text'] = null;
  if (rules.compareBody) {
    const ja = bodyKind(a) === 'json' ? parseJson(a.body) : { ok: false as const };
    const jb = bodyKind(a) === 'json' ? parseJson(b.body) : { ok: false as const };
    if (ja.ok && jb.ok) pointers = allJsonDifferences(prepareJson(ja.value, rules), prepareJson(jb.value, rules), '');
    else if (bodyKind(a) !== 'bytes') text = textNoise(textOf(a, rules), textOf(b, rules));
  }
  const status = a.status !== b.status;
  return status || headers.size > 0 || pointers.length > 0 || text ? { status, headers, pointers, text } : null;
}

function textOf(r: CapturedResponse, rules: CompareRules): string {
  return normaliseText(scrub(r.body.toString('utf8'), rules.ignorePatterns));
}

/**
 * The unit a noisy value is masked in: runs of anything but spaces, `<>"'=`, and those one by one, so
 * `<small>10:00:01</small>` masks the time whole and `value="a1b2"` the value.
 */
function tokens(text: string): string[] {
  return text.match(/[^\s<>"'=]+|\s+|[<>"'=]/g) ?? [];
}

function textNoise(a: string, b: string): Noise['text'] {
  if (a === b) return null;
  const ta = tokens(a);
  const tb = tokens(b);
  if (ta.length === tb.length) {
    const noisy = new Set<number>();
    ta.forEach((t, i) => t !== tb[i] && noisy.add(i));
    return { kind: 'tokens', count: ta.length, noisy };
  }
  let prefix = 0;
  while (prefix < ta.length && prefix < tb.length && ta[prefix] === tb[prefix]) prefix++;
  let suffix = 0;
  while (suffix < ta.length - prefix && suffix < tb.length - prefix && ta[ta.length - 1 - suffix] === tb[tb.length - 1 - suffix]) suffix++;
  return { kind: 'span', prefix, suffix };
}

/** PHP's text and the app's with PHP's noisy places replaced by one marker in both (when the app's has them in the same places). */
function maskNoise(php: string, app: string, noise: NonNullable<Noise['text']>): [string, string] {
  const tp = tokens(php);
  const ta = tokens(app);
  let prefix: number;
  let suffix: number;
  if (noise.kind === 'tokens') {
    if (tp.length !== noise.count) return [php, app];
    if (ta.length === noise.count) {
      const mask = (t: string[]) => t.map((x, i) => (noise.noisy.has(i) ? '\u2026' : x)).join('');
      return [mask(tp), mask(ta)];
    }
    // The app's has another length there ("3 minutes ago" / "yesterday"): from the first noisy token to the last.
    prefix = Math.min(...noise.noisy);
    suffix = noise.count - 1 - Math.max(...noise.noisy);
  } else ({ prefix, suffix } = noise);
  const span = (t: string[]) => (t.length < prefix + suffix ? t.join('') : [...t.slice(0, prefix), '\u2026', ...t.slice(t.length - suffix)].join(''));
  return [span(tp), span(ta)];
}

/** Whitespace runs become one space, none between tags, none at the ends. */
export function normaliseText(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/> </g, '><').trim();
}

/** Each ignore pattern's matches replaced by one marker, so `token=abc` and `token=xyz` compare equal. */
function scrub(text: string, ignore: readonly RegExp[]): string {
  for (const re of ignore) text = text.replace(re, '\u2026');
  return text;
}

function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function around(text: string, at: number): string {
  const start = Math.max(0, at - TEXT_CONTEXT);
  const end = Math.min(text.length, at + TEXT_CONTEXT);
  return (start > 0 ? '…' : '') + text.slice(start, end) + (end < text.length ? '…' : '');
}

function quote(v: string | null): string {
  if (v === null) return '(none)';
  const s = JSON.stringify(v);
  return s.length > MAX_VALUE ? s.slice(0, MAX_VALUE - 2) + '…"' : s;
}

/** The JSON with the ignored pointers taken out and the ignore patterns applied to its strings. */
function prepareJson(value: unknown, rules: CompareRules): unknown {
  let v = rules.ignorePatterns.length > 0 ? scrubStrings(value, rules.ignorePatterns) : value;
  // `` (the whole document, from noise: PHP's two answers differ at the root) leaves nothing to compare.
  for (const pointer of rules.ignorePointers) v = pointer === '' ? null : removePointer(v, parsePointer(pointer));
  return v;
}

function scrubStrings(value: unknown, ignore: readonly RegExp[]): unknown {
  if (typeof value === 'string') return scrub(value, ignore);
  if (Array.isArray(value)) return value.map((v) => scrubStrings(v, ignore));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubStrings(v, ignore)]));
  return value;
}

export class PointerError extends Error {
  override name = 'PointerError';
}

/** RFC 6901: `/a/b~1c/0` → ['a', 'b/c', '0']; `` (the whole document) is refused: that ignores everything. */
export function parsePointer(pointer: string): string[] {
  if (!pointer.startsWith('/')) throw new PointerError(`"${pointer}" is not a JSON pointer (want /key/0/other, e.g. /meta/time)`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => {
      if (/~[^01]|~$/.test(s)) throw new PointerError(`"${pointer}": ~ must be followed by 0 or 1 (RFC 6901)`);
      return s.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

/** A copy of `value` without what `path` points at (`*`: every key or index at that level). */
function removePointer(value: unknown, path: readonly string[]): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(value)) {
    if (head === '*') return rest.length === 0 ? [] : value.map((v) => removePointer(v, rest));
    const i = /^(0|[1-9]\d*)$/.test(head) ? Number(head) : -1;
    if (i < 0 || i >= value.length) return value;
    if (rest.length === 0) return value.filter((_, j) => j !== i);
    return value.map((v, j) => (j === i ? removePointer(v, rest) : v));
  }
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (head === '*' || k === head) {
        if (rest.length > 0) out[k] = removePointer(v, rest);
      } else out[k] = v;
    }
    return out;
  }
  return value;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The first place two JSON values differ, as `/pointer: php X | app Y`; keys in any order; null when equal. */
function firstJsonDifference(a: unknown, b: unknown, at: string): string | null {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const d = firstJsonDifference(a[i], b[i], `${at}/${i}`);
      if (d) return d;
    }
    if (a.length !== b.length) return `${at || '/'}: php ${a.length} items | app ${b.length} items`;
    return null;
  }
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const path = `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (!(k in b)) return `${path}: only in php`;
      if (!(k in a)) return `${path}: only in app`;
      const d = firstJsonDifference(a[k], b[k], path);
      if (d) return d;
    }
    return null;
  }
  if (a === b) return null;
  return `${at || '/'}: php ${short(a)} | app ${short(b)}`;
}

/** Every pointer where two JSON values differ (the deepest place; a whole array when lengths differ). */
function allJsonDifferences(a: unknown, b: unknown, at: string): string[] {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return [at];
    return a.flatMap((x, i) => allJsonDifferences(x, b[i], `${at}/${i}`));
  }
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => {
      const path = `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      return k in a && k in b ? allJsonDifferences(a[k], b[k], path) : [path];
    });
  }
  return a === b ? [] : [at];
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > MAX_VALUE ? s.slice(0, MAX_VALUE - 1) + '…' : s;
}
