// The local CA (made, kept, renewed; private files only), --cert/--key checks, and the trust stores
// driven through an injected environment (temp dirs for the system store, real certutil for NSS).
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CertFileError, loadCertFiles } from '../../src/tls/cert-files.ts';
import { configDir, TlsSetupError } from '../../src/tls/config-dir.ts';
import { caFiles, localCredentials, RENEW_BEFORE_MS } from '../../src/tls/local-ca.ts';
import { caNickname, trust, untrust, type TrustEnv } from '../../src/tls/trust-store.ts';

const temps: string[] = [];
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'fpm-bridge-tls-'));
  temps.push(d);
  return d;
}
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

const mode = (p: string) => statSync(p).mode & 0o777;
const sans = (pem: string) => new X509Certificate(pem).subjectAltName;

describe('config dir', () => {
  it('is $XDG_CONFIG_HOME/fpm-bridge, else ~/.config/fpm-bridge (a relative XDG value ignored)', () => {
    expect(configDir({ XDG_CONFIG_HOME: '/x/conf', HOME: '/home/u' })).toBe('/x/conf/fpm-bridge');
    expect(configDir({ HOME: '/home/u' })).toBe('/home/u/.config/fpm-bridge');
    expect(configDir({ XDG_CONFIG_HOME: 'rel', HOME: '/home/u' })).toBe('/home/u/.config/fpm-bridge');
  });
});

describe('local CA', () => {
  it('makes a CA and a leaf for the local names (dir 0700, keys 0600) that verifies, and keeps them', async () => {
    const dir = join(temp(), 'fpm-bridge');
    const first = await localCredentials(dir, ['app.test']);
    expect(first.created).toEqual({ ca: true, leaf: true });
    const f = caFiles(dir);
    expect(mode(dir)).toBe(0o700);
    expect(mode(f.caKey)).toBe(0o600);
    expect(mode(f.leafKey)).toBe(0o600);
    const ca = new X509Certificate(first.ca);
    expect(ca.ca).toBe(true);
    const leaf = new X509Certificate(first.cert);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(sans(first.cert)).toBe('DNS:localhost, DNS:*.localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:app.test');
    // openssl agrees: a server certificate for localhost, chained to the CA.
    const out = execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-verify_hostname', 'app.test', '-CAfile', f.caCert, f.leafCert], { encoding: 'utf8' });
    expect(out).toContain(': OK');

    const again = await localCredentials(dir, ['app.test']);
    expect(again.created).toEqual({ ca: false, leaf: false });
    expect(again.cert).toBe(first.cert);
  });

  it('makes a new leaf for a name it lacks, and before it expires; the CA stays', async () => {
    const dir = join(temp(), 'fpm-bridge');
    const first = await localCredentials(dir);
    const named = await localCredentials(dir, ['shop.test']);
    expect(named.created).toEqual({ ca: false, leaf: true });
    expect(named.ca).toBe(first.ca);
    expect(sans(named.cert)).toContain('DNS:shop.test');
    // Just inside the renewal window: a fresh leaf.
    const late = new Date(named.notAfter.getTime() - RENEW_BEFORE_MS + 60_000);
    const renewed = await localCredentials(dir, ['shop.test'], late);
    expect(renewed.created).toEqual({ ca: false, leaf: true });
    expect(renewed.notAfter.getTime()).toBeGreaterThan(named.notAfter.getTime());
  });

  it('makes a new leaf when the CA changed under it', async () => {
    const dir = join(temp(), 'fpm-bridge');
    await localCredentials(dir);
    rmSync(caFiles(dir).caCert);
    const next = await localCredentials(dir);
    expect(next.created).toEqual({ ca: true, leaf: true });
    expect(new X509Certificate(next.cert).checkIssued(new X509Certificate(next.ca))).toBe(true);
  });

  it('two starts at once make one CA', async () => {
    const dir = join(temp(), 'fpm-bridge');
    const [a, b] = await Promise.all([localCredentials(dir), localCredentials(dir)]);
    expect(a.ca).toBe(b.ca);
    expect([a.created.ca, b.created.ca].filter(Boolean)).toHaveLength(1);
  });

  it('refuses a CA dir open to others, with the chmod that fixes it', async () => {
    const dir = join(temp(), 'fpm-bridge');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const err = await localCredentials(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TlsSetupError);
    expect((err as Error).message).toContain(`chmod 700 ${dir}`);
    expect(existsSync(caFiles(dir).caKey)).toBe(false);
  });

  it('refuses a CA key readable by others, with the chmod that fixes it', async () => {
    const dir = join(temp(), 'fpm-bridge');
    await localCredentials(dir);
    chmodSync(caFiles(dir).caKey, 0o644);
    const err = await localCredentials(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TlsSetupError);
    expect((err as Error).message).toContain(`chmod 600 ${caFiles(dir).caKey}`);
  });
});

describe('--cert/--key', () => {
  it('loads a matching pair, and names the file that is unreadable, not PEM, or does not match', async () => {
    const a = await localCredentials(join(temp(), 'fpm-bridge'));
    const b = await localCredentials(join(temp(), 'fpm-bridge'));
    const d = temp();
    const file = (name: string, text: string) => (writeFileSync(join(d, name), text), join(d, name));
    const cert = file('cert.pem', a.cert);
    const key = file('key.pem', a.key);
    const otherKey = file('other-key.pem', b.key);
    const junk = file('junk.pem', 'hello\n');
    expect(loadCertFiles(cert, key)).toEqual({ cert: a.cert, key: a.key });
    const fail = (c: string, k: string) => {
      try {
        loadCertFiles(c, k);
      } catch (err) {
        expect(err).toBeInstanceOf(CertFileError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(fail(join(d, 'missing.pem'), key)).toBe(`--cert ${join(d, 'missing.pem')}: cannot read it (ENOENT)`);
    expect(fail(cert, join(d, 'nope.pem'))).toBe(`--key ${join(d, 'nope.pem')}: cannot read it (ENOENT)`);
    expect(fail(junk, key)).toContain(`--cert ${junk}: not a PEM certificate`);
    expect(fail(cert, junk)).toContain(`--key ${junk}: not a PEM private key`);
    expect(fail(cert, otherKey)).toContain(`--key ${otherKey} does not match the certificate in --cert ${cert}`);
  });
});

describe('trust / untrust', () => {
  const certutil = spawnSync('sh', ['-c', 'command -v certutil']).status === 0;

  function fakeEnv(home: string, store: string, isRoot: boolean, ran: string[][]): TrustEnv {
    return {
      platform: 'linux',
      home,
      isRoot,
      debianStore: store,
      fedoraStore: join(store, 'none'),
      which: (cmd) => (cmd === 'update-ca-certificates' ? '/usr/sbin/update-ca-certificates' : cmd === 'certutil' && certutil ? 'certutil' : null),
      run: (cmd, args) => {
        ran.push([cmd, ...args]);
        if (cmd === 'certutil') {
          const r = spawnSync(cmd, args, { encoding: 'utf8' });
          return { ok: r.status === 0, output: r.stderr };
        }
        return { ok: true, output: '' };
      },
    };
  }

  it('as root: copies into the system store and runs update-ca-certificates; untrust takes it out', async () => {
    const d = temp();
    const creds = await localCredentials(join(d, 'conf'));
    const store = join(d, 'store');
    mkdirSync(store);
    const ran: string[][] = [];
    const env = fakeEnv(join(d, 'home'), store, true, ran);
    const report = trust(caFiles(join(d, 'conf')).caCert, env);
    expect(report.manual).toEqual([]);
    const installed = join(store, `fpm-bridge-${caNickname(creds.ca).split(' ').pop()}.crt`);
    expect(readFileSync(installed, 'latin1')).toBe(creds.ca);
    expect(ran).toEqual([['/usr/sbin/update-ca-certificates']]);
    const removed = untrust(caFiles(join(d, 'conf')).caCert, env);
    expect(removed.manual).toEqual([]);
    expect(existsSync(installed)).toBe(false);
    expect(ran[1]).toEqual(['/usr/sbin/update-ca-certificates', '--fresh']);
  });

  it('not root: prints the exact sudo commands instead', async () => {
    const d = temp();
    await localCredentials(join(d, 'conf'));
    const store = join(d, 'store');
    mkdirSync(store);
    const ca = caFiles(join(d, 'conf')).caCert;
    const report = trust(ca, fakeEnv(join(d, 'home'), store, false, []));
    expect(report.done).toEqual([]);
    expect(report.manual).toHaveLength(1);
    expect(report.manual[0]).toMatch(new RegExp(`^sudo cp ${ca} ${store}/fpm-bridge-[0-9a-f]{12}\\.crt && sudo update-ca-certificates$`));
  });

  it.skipIf(!certutil)('adds the CA to an existing NSS database (as Chromium keeps one) and removes it', async () => {
    const d = temp();
    const creds = await localCredentials(join(d, 'conf'));
    const home = join(d, 'home');
    const nssdb = join(home, '.pki/nssdb');
    mkdirSync(nssdb, { recursive: true });
    execFileSync('certutil', ['-d', `sql:${nssdb}`, '-N', '--empty-password']);
    const store = join(d, 'store');
    mkdirSync(store);
    const env = fakeEnv(home, store, true, []);
    const report = trust(caFiles(join(d, 'conf')).caCert, env);
    expect(report.manual).toEqual([]);
    expect(report.done).toContain(`NSS database ${nssdb} (Chromium/Firefox)`);
    const list = () => execFileSync('certutil', ['-d', `sql:${nssdb}`, '-L'], { encoding: 'utf8' });
    expect(list()).toContain(caNickname(creds.ca));
    untrust(caFiles(join(d, 'conf')).caCert, env);
    expect(list()).not.toContain(caNickname(creds.ca));
  });
});
