import { readdirSync, realpathSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PhpFpmNotFoundError } from './errors.ts';
import { INSTALL_HINT } from './install-hint.ts';

export interface FindPhpFpmOptions {
  /** `--php-fpm-bin`: a path, or a name looked up like the others. Wins over the search. */
  bin?: string | undefined;
  /** The PATH to search (default: process.env.PATH). */
  path?: string | undefined;
  /**
   * Searched after PATH: php-fpm lives in sbin, which a normal user's PATH often lacks (Debian puts
   * it in /usr/sbin, source builds in /usr/local/sbin, Homebrew on Apple silicon in /opt/homebrew/sbin).
   */
  extraDirs?: readonly string[];
}

export const SBIN_DIRS: readonly string[] = ['/usr/sbin', '/usr/local/sbin', '/opt/homebrew/sbin'];

/**
 * The php-fpm to spawn. A plain `php-fpm` wins (on Debian it is the update-alternatives default, on
 * Fedora and Homebrew the only one); otherwise the newest `php-fpmX.Y` / `php-fpmXY` (Alpine).
 * Throws PhpFpmNotFoundError, whose message has the install commands.
 */
export function findPhpFpm(options: FindPhpFpmOptions = {}): string {
  const dirs = searchDirs(options.path ?? process.env['PATH'] ?? '', options.extraDirs ?? SBIN_DIRS);
  if (options.bin !== undefined) {
    const found = options.bin.includes('/') ? (isExecutableFile(options.bin) ? options.bin : undefined) : inDirs(options.bin, dirs);
    if (found) return found;
    throw new PhpFpmNotFoundError(`--php-fpm-bin ${options.bin}: no such executable file.\n${INSTALL_HINT}`);
  }
  const found = inDirs('php-fpm', dirs) ?? versionedCandidates(dirs)[0];
  if (found) return found;
  throw new PhpFpmNotFoundError(`php-fpm not found (looked for php-fpm and php-fpmX.Y in ${dirs.join(', ')}).\n${INSTALL_HINT}`);
}

function searchDirs(pathEnv: string, extra: readonly string[]): string[] {
  const dirs = pathEnv.split(delimiter).filter(Boolean);
  for (const d of extra) if (!dirs.includes(d)) dirs.push(d);
  return dirs;
}

function inDirs(name: string, dirs: readonly string[]): string | undefined {
  for (const dir of dirs) {
    const p = join(dir, name);
    if (isExecutableFile(p)) return p;
  }
  return undefined;
}

/** `php-fpm8.2`, `php-fpm83` (Alpine: 8.3), `php-fpm7` → [major, minor]; null for anything else. */
export function versionOfName(name: string): [number, number] | null {
  const m = /^php-fpm(\d+)(?:\.(\d+))?$/.exec(name);
  if (!m?.[1]) return null;
  if (m[2] !== undefined) return [Number(m[1]), Number(m[2])];
  return m[1].length > 1 ? [Number(m[1][0]), Number(m[1].slice(1))] : [Number(m[1]), 0];
}

/** Every versioned php-fpm in `dirs`, newest first; the same file reached twice (symlinks) counted once. */
function versionedCandidates(dirs: readonly string[]): string[] {
  const found: Array<{ path: string; version: [number, number] }> = [];
  const seen = new Set<string>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const version = versionOfName(name);
      const path = join(dir, name);
      if (!version || !isExecutableFile(path)) continue;
      const real = realpathOr(path);
      if (seen.has(real)) continue;
      seen.add(real);
      found.push({ path, version });
    }
  }
  // Stable sort: for equal versions the earlier directory (PATH order) stays first.
  found.sort((a, b) => b.version[0] - a.version[0] || b.version[1] - a.version[1]);
  return found.map((f) => f.path);
}

/** A regular file with an execute bit (what a PATH lookup would run). */
export function isExecutableFile(p: string): boolean {
  try {
    const st = statSync(p);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}
