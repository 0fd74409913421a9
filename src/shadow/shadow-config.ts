import { parsePattern, type RoutePattern } from '../route/claim-pattern.ts';
import { DEFAULT_SHADOW_HEADERS, parsePointer, type CompareRules } from './compare.ts';

/** The shadow's options, as BridgeOptions carries them (each is a flag: --shadow, --shadow-rate ...). */
export interface ShadowOptions {
  /** `--shadow PATTERN[@RATE]`: routes whose requests also go to the app, in the background, to compare. */
  shadow?: readonly string[];
  /** `--shadow-rate`: the share of matching requests shadowed, 0 to 1, for patterns without their own `@RATE` (default 1). */
  shadowRate?: number;
  /** `--shadow-unsafe`: shadow any method, not only GET, HEAD and OPTIONS (the app runs a POST a second time: a staging copy only). */
  shadowUnsafe?: boolean;
  /** `--shadow-headers`: the response headers compared (default content-type, location, cache-control). */
  shadowHeaders?: readonly string[];
  /** `--shadow-ignore-json`: JSON pointers left out of the comparison (`/meta/time`, `/items/x/updated` with `*` for any). */
  shadowIgnoreJson?: readonly string[];
  /** `--shadow-ignore-text`: regexes whose matches are left out of text bodies, JSON strings and headers (CSRF tokens). */
  shadowIgnoreText?: readonly string[];
  /** `--shadow-concurrency`: most shadows at once (default 4); beyond, skipped and counted. */
  shadowConcurrency?: number;
  /**
   * `--shadow-noise`: ask PHP a second time (GET, HEAD, OPTIONS without a body) and leave out of the
   * comparison what differs between PHP's two answers (Diffy's noise). PHP runs twice for those requests.
   */
  shadowNoise?: boolean;
}

/** Methods sent twice without harm (RFC 9110 9.2.1), the only ones shadowed without --shadow-unsafe. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface ShadowRoute {
  pattern: RoutePattern;
  /** The share of its requests shadowed, 0 to 1. */
  rate: number;
}

export interface ShadowConfig {
  routes: readonly ShadowRoute[];
  unsafe: boolean;
  rules: Omit<CompareRules, 'compareBody'>;
  concurrency: number;
  /** Ask PHP twice and ignore what differs between its answers. */
  noise: boolean;
  /** Bodies (PHP's, the app's, the request's) past this are not compared. */
  maxBody: number;
}

export const SHADOW_DEFAULTS = {
  rate: 1,
  concurrency: 4,
  maxBody: 1024 * 1024,
} as const;

/** A shadow option that cannot be used; `flag` names it as the command line spells it. */
export class ShadowOptionError extends Error {
  override name = 'ShadowOptionError';
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(message);
  }
}

/** `0.1`, `1`, `10%`: a share from 0 to 1. */
export function parseRate(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)(%?)\s*$/.exec(text);
  const rate = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!(rate >= 0 && rate <= 1)) throw new Error(`"${text}" is not a rate from 0 to 1 (0.1, or 10%)`);
  return rate;
}

/**
 * `GET /packages/:name`, `/api/* @0.1`: a route pattern (route/claim-pattern.ts) with an optional
 * sampling rate after `@`. Methods other than GET, HEAD and OPTIONS need `unsafe`.
 */
export function parseShadowPattern(text: string, defaultRate: number, unsafe: boolean): ShadowRoute {
  const at = /^(.*?)\s*@\s*([0-9.]+%?)\s*$/.exec(text);
  const rate = at ? parseRate(at[2]!) : defaultRate;
  const source = at ? at[1]! : text;
  if (source.trim().startsWith('!')) throw new Error(`"${text}": ! (strict) is for --claim; a shadow never answers the client`);
  const pattern = parsePattern(source);
  if (!unsafe && pattern.methods) {
    const unsafeMethod = [...pattern.methods].find((m) => !SAFE_METHODS.has(m));
    if (unsafeMethod) throw new Error(`"${text}": ${unsafeMethod} would run a second time in the app; only GET, HEAD and OPTIONS are shadowed without --shadow-unsafe (for a staging copy)`);
  }
  return { pattern, rate };
}

/** `/meta/time` (a JSON pointer; `*` for any key or index). */
export function parseIgnoreJson(text: string): string {
  parsePointer(text);
  return text;
}

/** A regex (JavaScript syntax), applied everywhere it matches. */
export function parseIgnoreText(text: string): RegExp {
  if (text === '') throw new Error('an empty regex would match everywhere');
  try {
    return new RegExp(text, 'g');
  } catch (err) {
    throw new Error(`"${text}" is not a regex: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`);
  }
}

/** `content-type,location` (or repeated): header names, lower-cased. */
export function parseHeaderNames(values: readonly string[]): string[] {
  const names = values.flatMap((v) => v.split(',')).map((v) => v.trim().toLowerCase()).filter((v) => v !== '');
  for (const n of names) if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(n)) throw new Error(`"${n}" is not a header name`);
  return names;
}

/** The shadow's configuration, or null when nothing is shadowed. Throws ShadowOptionError naming the flag. */
export function shadowConfig(o: ShadowOptions): ShadowConfig | null {
  const check = <T>(flag: string, f: () => T): T => {
    try {
      return f();
    } catch (err) {
      throw new ShadowOptionError(flag, (err as Error).message);
    }
  };
  const rate = check('shadow-rate', () => {
    const r = o.shadowRate ?? SHADOW_DEFAULTS.rate;
    if (typeof r !== 'number' || !(r >= 0 && r <= 1)) throw new Error(`${JSON.stringify(r)} is not a rate from 0 to 1`);
    return r;
  });
  const unsafe = o.shadowUnsafe ?? false;
  const routes = check('shadow', () => (o.shadow ?? []).map((p) => parseShadowPattern(p, rate, unsafe)));
  const rules = {
    headers: check('shadow-headers', () => (o.shadowHeaders ? parseHeaderNames(o.shadowHeaders) : [...DEFAULT_SHADOW_HEADERS])),
    ignorePointers: check('shadow-ignore-json', () => (o.shadowIgnoreJson ?? []).map(parseIgnoreJson)),
    ignorePatterns: check('shadow-ignore-text', () => (o.shadowIgnoreText ?? []).map(parseIgnoreText)),
  };
  const concurrency = check('shadow-concurrency', () => {
    const c = o.shadowConcurrency ?? SHADOW_DEFAULTS.concurrency;
    if (!Number.isInteger(c) || c < 1) throw new Error(`${JSON.stringify(c)} is not a whole number of at least 1`);
    return c;
  });
  if (routes.length === 0) return null;
  return { routes, unsafe, rules, concurrency, noise: o.shadowNoise ?? false, maxBody: SHADOW_DEFAULTS.maxBody };
}
