import { mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** A local CA that cannot be used safely: the CLI prints the message (with its fix) and exits 1. */
export class TlsSetupError extends Error {
  override name = 'TlsSetupError';
}

/** `$XDG_CONFIG_HOME/fpm-bridge`, else `~/.config/fpm-bridge` (where the local CA lives). */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  // The XDG spec says a relative value is invalid and must be ignored.
  return join(xdg && xdg.startsWith('/') ? xdg : join(env.HOME || homedir(), '.config'), 'fpm-bridge');
}

/**
 * Makes `dir` (0700) if missing, and refuses one that others can read or write, or that belongs to
 * someone else: a CA key there could be read, or swapped for an attacker's, and every browser that
 * trusts the CA would trust it.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (!st.isDirectory()) throw new TlsSetupError(`${dir} is not a directory: remove it, and fpm-bridge makes a fresh local CA there`);
  checkOwner(dir, st.uid);
  if ((st.mode & 0o077) !== 0) {
    throw new TlsSetupError(`${dir} is open to other users (mode ${octal(st.mode)}), and it holds the local CA's private key: fix it with\n  chmod 700 ${shellQuote(dir)}`);
  }
}

/** Refuses a private key file others can read (mode beyond 0600), printing the fix. */
export function checkPrivateFile(file: string): void {
  const st = statSync(file);
  checkOwner(file, st.uid);
  if ((st.mode & 0o077) !== 0) {
    throw new TlsSetupError(`${file} is a private key open to other users (mode ${octal(st.mode)}): fix it with\n  chmod 600 ${shellQuote(file)}`);
  }
}

function checkOwner(path: string, uid: number): void {
  const me = process.getuid?.();
  if (me !== undefined && uid !== me) {
    throw new TlsSetupError(`${path} belongs to uid ${uid}, not to you (uid ${me}): remove it (or chown it to yourself) so nobody else controls your local CA`);
  }
}

function octal(mode: number): string {
  return '0' + (mode & 0o777).toString(8);
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
