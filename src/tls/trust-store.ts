import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { shellQuote } from './config-dir.ts';

/**
 * `fpm-bridge trust` / `untrust`: put the local CA where this machine's browsers and tools look, or
 * take it out, as mkcert does: the system store (Debian/Ubuntu update-ca-certificates, Fedora
 * update-ca-trust), every NSS database certutil can reach (Chromium's ~/.pki/nssdb, Firefox
 * profiles), the macOS login keychain. What needs privileges we lack, or a tool that is missing,
 * becomes an exact command to run by hand.
 */

export interface TrustEnv {
  platform: NodeJS.Platform;
  home: string;
  isRoot: boolean;
  /** System store directories, by flavour (overridden in tests). */
  debianStore: string;
  fedoraStore: string;
  /** The full path of a command, or null. */
  which(cmd: string): string | null;
  run(cmd: string, args: readonly string[]): { ok: boolean; output: string };
}

export interface TrustReport {
  /** What was done, one line each. */
  done: string[];
  /** Commands or steps left for the user. */
  manual: string[];
}

export function systemTrustEnv(): TrustEnv {
  return {
    platform: process.platform,
    home: process.env.HOME ?? '',
    isRoot: process.getuid?.() === 0,
    debianStore: '/usr/local/share/ca-certificates',
    fedoraStore: '/etc/pki/ca-trust/source/anchors',
    which,
    run: (cmd, args) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
    },
  };
}

/** The name the CA goes by in stores: one per CA, so a new CA never clashes with an old entry. */
export function caNickname(caPem: string): string {
  return `fpm-bridge local CA ${fingerprint(caPem).slice(0, 12)}`;
}

function fingerprint(caPem: string): string {
  return new X509Certificate(caPem).fingerprint256.replace(/:/g, '').toLowerCase();
}

export function trust(caFile: string, env: TrustEnv): TrustReport {
  const report: TrustReport = { done: [], manual: [] };
  const pem = readFileSync(caFile, 'latin1');
  const nick = caNickname(pem);
  const fileName = `fpm-bridge-${fingerprint(pem).slice(0, 12)}.crt`;
  if (env.platform === 'darwin') {
    const keychain = join(env.home, 'Library/Keychains/login.keychain-db');
    const args = ['add-trusted-cert', '-r', 'trustRoot', '-k', keychain, caFile];
    const r = env.run('security', args);
    if (r.ok) report.done.push(`added to the login keychain (${keychain})`);
    else report.manual.push(`security ${args.map(shellQuote).join(' ')}    # failed: ${r.output}`);
  } else {
    systemStore(env, report, (store, update) => {
      const dest = join(store, fileName);
      if (!env.isRoot) {
        report.manual.push(`sudo cp ${shellQuote(caFile)} ${shellQuote(dest)} && sudo ${update}`);
        return;
      }
      copyFileSync(caFile, dest);
      const r = env.run(env.which(update) ?? update, []);
      if (r.ok) report.done.push(`system store: ${dest} (${update})`);
      else report.manual.push(`${update}    # failed: ${r.output}`);
    });
  }
  nssDatabases(env, report, (db) => {
    const r = env.run(env.which('certutil')!, ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', nick, '-i', caFile]);
    if (r.ok) report.done.push(`NSS database ${db} (Chromium/Firefox)`);
    else report.manual.push(`certutil -d sql:${shellQuote(db)} -A -t C,, -n ${shellQuote(nick)} -i ${shellQuote(caFile)}    # failed: ${r.output}`);
  }, `certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n ${shellQuote(nick)} -i ${shellQuote(caFile)}`);
  return report;
}

export function untrust(caFile: string, env: TrustEnv): TrustReport {
  const report: TrustReport = { done: [], manual: [] };
  if (!existsSync(caFile)) {
    report.done.push(`no local CA at ${caFile}: nothing to remove`);
    return report;
  }
  const pem = readFileSync(caFile, 'latin1');
  const nick = caNickname(pem);
  const fileName = `fpm-bridge-${fingerprint(pem).slice(0, 12)}.crt`;
  if (env.platform === 'darwin') {
    const r = env.run('security', ['remove-trusted-cert', caFile]);
    if (r.ok) report.done.push('removed from the keychain trust settings');
    else report.manual.push(`security remove-trusted-cert ${shellQuote(caFile)}    # failed: ${r.output}`);
  } else {
    systemStore(env, report, (store, update) => {
      const dest = join(store, fileName);
      if (!existsSync(dest)) return;
      if (!env.isRoot) {
        report.manual.push(`sudo rm ${shellQuote(dest)} && sudo ${update}${update === 'update-ca-certificates' ? ' --fresh' : ''}`);
        return;
      }
      rmSync(dest);
      const r = env.run(env.which(update) ?? update, update === 'update-ca-certificates' ? ['--fresh'] : []);
      if (r.ok) report.done.push(`system store: removed ${dest}`);
      else report.manual.push(`${update}    # failed: ${r.output}`);
    });
  }
  nssDatabases(env, report, (db) => {
    // Not there: certutil fails, and there was nothing to remove.
    const r = env.run(env.which('certutil')!, ['-d', `sql:${db}`, '-D', '-n', nick]);
    if (r.ok) report.done.push(`NSS database ${db}: removed`);
  }, null);
  return report;
}

/** Debian/Ubuntu, then Fedora/RHEL; none: the manual step. */
function systemStore(env: TrustEnv, report: TrustReport, act: (store: string, update: string) => void): void {
  if (env.which('update-ca-certificates') && existsSync(env.debianStore)) act(env.debianStore, 'update-ca-certificates');
  else if (env.which('update-ca-trust') && existsSync(env.fedoraStore)) act(env.fedoraStore, 'update-ca-trust');
  else report.manual.push('no system CA store found (update-ca-certificates or update-ca-trust): add the CA file to your system\'s trusted certificates by hand');
}

/** Chromium's ~/.pki/nssdb and Firefox profiles (plain and snap) that exist; certutil is libnss3-tools. */
function nssDatabases(env: TrustEnv, report: TrustReport, act: (db: string) => void, manualIfMissing: string | null): void {
  const dbs: string[] = [];
  const chromium = join(env.home, '.pki/nssdb');
  if (existsSync(join(chromium, 'cert9.db'))) dbs.push(chromium);
  for (const base of ['.mozilla/firefox', 'snap/firefox/common/.mozilla/firefox', 'Library/Application Support/Firefox/Profiles']) {
    const dir = join(env.home, base);
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const e of entries) if (existsSync(join(dir, e, 'cert9.db'))) dbs.push(join(dir, e));
  }
  if (dbs.length === 0) return;
  if (!env.which('certutil')) {
    if (manualIfMissing) report.manual.push(`browsers keep their own store (NSS): install certutil (Debian: apt-get install libnss3-tools; macOS: brew install nss) and run fpm-bridge trust again, or: ${manualIfMissing}`);
    return;
  }
  for (const db of dbs) act(db);
}

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}
