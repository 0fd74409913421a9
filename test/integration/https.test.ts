// fpm-bridge --https as a developer runs it: the real CLI with a real php-fpm, a local CA made in a
// temp XDG_CONFIG_HOME, and clients that trust only that CA (curl --cacert, openssl, no -k).
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/php-fpm.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO, 'scripts/fpm-bridge.mjs');
const FIXTURES = join(REPO, 'php/fixtures');
const run = promisify(execFile);

const temps: string[] = [];
const running = new Set<ChildProcess>();
afterEach(() => {
  for (const c of running) c.kill('SIGTERM');
});
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function xdg(): string {
  const d = mkdtempSync(join(tmpdir(), 'fpm-bridge-https-'));
  temps.push(d);
  return d;
}

function launch(args: string[], xdgHome: string): { child: ChildProcess; out: { text: string }; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, '--root', FIXTURES, ...args], { cwd: REPO, env: { ...process.env, XDG_CONFIG_HOME: xdgHome }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const out = { text: '' };
  child.stdout!.on('data', (b: Buffer) => (out.text += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out.text += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (running.delete(child), resolve(code))));
  return { child, out, exited };
}

async function start(args: string[], xdgHome: string): Promise<{ child: ChildProcess; banner: () => string }> {
  const { child, out } = launch(args, xdgHome);
  const deadline = Date.now() + 45_000;
  while (!/Ctrl-C stops/.test(out.text)) {
    if (child.exitCode !== null) throw new Error(`exited:\n${out.text}`);
    if (Date.now() > deadline) throw new Error(`no banner:\n${out.text}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return { child, banner: () => out.text };
}

async function curl(args: string[]): Promise<string> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', ...args]);
  return stdout;
}

// Each test starts the CLI (php-fpm included) up to three times: minutes on a loaded machine.
describe('--https with the local CA', { timeout: 120_000 }, () => {
  it('serves PHP over HTTPS to clients that trust the CA (HTTPS=on, REQUEST_SCHEME=https), and openssl sees the chain', async () => {
    const home = xdg();
    const port = await freePort();
    const { banner } = await start(['--https', '--listen', `127.0.0.1:${port}`, '--host', 'app.test', '--host', 'shop.localhost'], home);
    expect(banner()).toContain(`https://127.0.0.1:${port}/`);
    expect(banner()).toContain(`made a local CA in ${home}/fpm-bridge`);
    const ca = join(home, 'fpm-bridge/ca.pem');
    // (*.localhost is in the certificate too, but curl and browsers honour no wildcard right under a
    // top-level name: a subdomain of localhost in use is given with --host.)
    for (const name of ['localhost', 'app.test', 'shop.localhost']) {
      const body = await curl(['--cacert', ca, '--resolve', `${name}:${port}:127.0.0.1`, `https://${name}:${port}/server.php?q=1`]);
      const server = JSON.parse(body).server as Record<string, string>;
      expect(server.HTTPS).toBe('on');
      expect(server.REQUEST_SCHEME).toBe('https');
      expect(server.HTTP_HOST).toBe(`${name}:${port}`);
    }
    // By IP too (the certificate has 127.0.0.1 as an IP SAN).
    expect(await curl(['--cacert', ca, '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${port}/hello.php`])).toBe('200');
    // A name the certificate lacks is refused by a verifying client.
    const wrong = spawnSync('curl', ['-sS', '--cacert', ca, '--resolve', `other.test:${port}:127.0.0.1`, `https://other.test:${port}/`], { encoding: 'utf8' });
    expect(wrong.status).toBe(60);
    const s = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-verify_hostname', 'localhost', '-CAfile', ca], { input: '', encoding: 'utf8' });
    expect(s.stdout + s.stderr).toMatch(/depth=1 CN = fpm-bridge local CA/);
    expect(s.stdout + s.stderr).toMatch(/depth=0 CN = localhost/);
    expect(s.stdout).toContain('Verify return code: 0 (ok)');
  });

  it('keeps the CA across starts and listens on HTTP and HTTPS at once, redirecting with --redirect-https', async () => {
    const home = xdg();
    const [https, http] = [await freePort(), await freePort()];
    const first = await start(['--https', '--listen', `127.0.0.1:${https}`], home);
    first.child.kill('SIGTERM');
    await new Promise((r) => first.child.once('exit', r));
    const ca = readFileSync(join(home, 'fpm-bridge/ca.pem'), 'latin1');
    const { banner } = await start(['--https', '--listen', `127.0.0.1:${https}`, '--listen', `http://127.0.0.1:${http}`, '--redirect-https'], home);
    expect(banner()).not.toContain('made a local CA');
    expect(readFileSync(join(home, 'fpm-bridge/ca.pem'), 'latin1')).toBe(ca);
    const head = await curl(['-D', '-', '-o', '/dev/null', '-X', 'POST', '--data', 'a=1', `http://localhost:${http}/echo.php?x=%2F`]);
    expect(head).toMatch(/^HTTP\/1.1 308/);
    expect(head).toContain(`location: https://localhost:${https}/echo.php?x=%2F`);
    // curl follows the 308 with the POST body, onto HTTPS.
    const body = await curl(['-L', '--cacert', join(home, 'fpm-bridge/ca.pem'), '--data', 'a=1', `http://localhost:${http}/server.php`]);
    expect(JSON.parse(body).post).toEqual({ a: '1' });
  });

  it('without --redirect-https, HTTP and HTTPS listeners both serve PHP', async () => {
    const home = xdg();
    const [https, http] = [await freePort(), await freePort()];
    await start(['--listen', `https://127.0.0.1:${https}`, '--listen', `127.0.0.1:${http}`], home);
    const plain = JSON.parse(await curl([`http://127.0.0.1:${http}/server.php`])).server;
    expect(plain.HTTPS).toBeUndefined();
    expect(plain.REQUEST_SCHEME).toBe('http');
    const tls = JSON.parse(await curl(['--cacert', join(home, 'fpm-bridge/ca.pem'), `https://localhost:${https}/server.php`])).server;
    expect(tls.HTTPS).toBe('on');
  });
});

describe('bad TLS input', { timeout: 120_000 }, () => {
  it('an unreadable or mismatched --cert/--key exits 2 naming the file', async () => {
    const home = xdg();
    const d = xdg();
    // Two unrelated key pairs from openssl.
    for (const n of ['a', 'b']) {
      spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(d, `${n}.key`), '-out', join(d, `${n}.crt`)]);
    }
    const mismatched = launch(['--cert', join(d, 'a.crt'), '--key', join(d, 'b.key'), '--listen', '0'], home);
    expect(await mismatched.exited).toBe(2);
    expect(mismatched.out.text).toContain(`--key ${join(d, 'b.key')} does not match the certificate in --cert ${join(d, 'a.crt')}`);
    const missing = launch(['--cert', join(d, 'nope.crt'), '--key', join(d, 'a.key'), '--listen', '0'], home);
    expect(await missing.exited).toBe(2);
    expect(missing.out.text).toContain(`--cert ${join(d, 'nope.crt')}: cannot read it (ENOENT)`);
    // A pair that matches serves.
    const port = await freePort();
    await start(['--cert', join(d, 'a.crt'), '--key', join(d, 'a.key'), '--listen', `127.0.0.1:${port}`], home);
    expect(await curl(['--cacert', join(d, 'a.crt'), '-o', '/dev/null', '-w', '%{http_code}', `https://localhost:${port}/hello.php`])).toBe('200');
  });

  it('a CA directory open to others is refused with the chmod that fixes it, before php-fpm starts', async () => {
    const home = xdg();
    mkdirSync(join(home, 'fpm-bridge'));
    chmodSync(join(home, 'fpm-bridge'), 0o775);
    writeFileSync(join(home, 'marker'), '');
    const r = launch(['--https', '--listen', '0'], home);
    expect(await r.exited).toBe(1);
    expect(r.out.text).toContain(`chmod 700 ${join(home, 'fpm-bridge')}`);
    expect(r.out.text).not.toContain('php-fpm');
  });
});
