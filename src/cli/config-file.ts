import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

/**
 * `--config fpm-bridge.json`: a project keeps its flags (routing, rewrites) in its repo. Keys are the
 * long flag names, values what the flag takes (an array for a repeatable flag, true/false for a
 * switch). Paths are relative to the file, so the config works from any working directory.
 */
export type ConfigValues = Record<string, string | string[] | boolean>;

/** Flags whose values are file paths, resolved against the config file's folder. */
const PATH_FLAGS = new Set(['root', 'app', 'php-fpm-conf', 'php-fpm-bin']);

export function readConfigFile(file: string, known: ReadonlySet<string>): ConfigValues {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error(`${file} must hold a JSON object of flags`);
  const out: ConfigValues = {};
  const base = dirname(resolve(file));
  for (const [key, value] of Object.entries(data)) {
    if (!known.has(key) || key === 'config') throw new Error(`${file}: unknown key "${key}" (keys are the long flag names, e.g. "root", "rewrite")`);
    const ok = typeof value === 'string' || typeof value === 'boolean' || (Array.isArray(value) && value.every((v) => typeof v === 'string'));
    if (!ok) throw new Error(`${file}: "${key}" must be a string, an array of strings or true/false`);
    out[key] = PATH_FLAGS.has(key) && typeof value === 'string' && !isAbsolute(value) ? resolve(base, value) : (value as string | string[] | boolean);
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
