import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { closest } from './suggest.ts';

/**
 * `--config fpm-bridge.json`: a project keeps its flags (routing, rewrites) in its repo. Keys are the
 * long flag names, values what the flag takes (an array for a repeatable flag, true/false for a
 * switch). Paths are relative to the file, so the config works from any working directory.
 */
export type ConfigValues = Record<string, string | string[] | boolean>;

/** Flags whose values are file paths, resolved against the config file's folder. */
const PATH_FLAGS = new Set(['root', 'app', 'php-fpm-conf', 'php-fpm-bin', 'env-file', 'ledger']);

/**
 * `known`: the long flag names; `aliases`: other spellings (`--port` for `listen`), of which the
 * long ones are keys too (`"port": "8000"`).
 */
export function readConfigFile(file: string, known: ReadonlySet<string>, aliases: Readonly<Record<string, string>> = {}): ConfigValues {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error(`${file} must hold a JSON object of flags`);
  const out: ConfigValues = {};
  const base = dirname(resolve(file));
  const longAliases = Object.fromEntries(Object.entries(aliases).filter(([k]) => k.startsWith('--')).map(([k, v]) => [k.slice(2), v]));
  for (const [typed, value] of Object.entries(data)) {
    const key = longAliases[typed] ?? typed;
    if (!known.has(key) || key === 'config') {
      const near = closest(typed, [...known, ...Object.keys(longAliases)].filter((k) => k !== 'config'));
      const hint = near.length > 0 ? `did you mean ${near.map((n) => `"${n}"`).join(' or ')}?` : 'keys are the long flag names, e.g. "root", "rewrite"';
      throw new Error(`${file}: unknown key "${typed}" (${hint})`);
    }
    if (key in out) throw new Error(`${file}: "${typed}" and another key both set ${key}`);
    const ok = typeof value === 'string' || typeof value === 'boolean' || (Array.isArray(value) && value.every((v) => typeof v === 'string'));
    if (!ok) throw new Error(`${file}: "${typed}" must be a string, an array of strings or true/false`);
    const relative = (v: string) => (isAbsolute(v) ? v : resolve(base, v));
    out[key] = !PATH_FLAGS.has(key) || typeof value === 'boolean' ? (value as string | string[] | boolean) : Array.isArray(value) ? value.map(relative) : relative(value as string);
  }
  return out;
}

/** Long flag names given on the command line (`--x`, `--x=1`, `--no-x`), so they win over the file. */
export function flagsOnCommandLine(argv: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const arg of argv) {
    const m = /^--(?:no-)?([^=]+)/.exec(arg);
    if (m) names.add(m[1]!);
  }
  return names;
}
