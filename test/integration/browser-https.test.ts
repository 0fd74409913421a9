// A real browser over HTTPS: Debian's headless Chromium, given the local CA in an NSS database (as
// `fpm-bridge trust` adds it) under a temp HOME, loads a PHP page over HTTP/2 with no certificate
// error, and takes a screenshot. Without the CA the same page is refused.
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../src/index.ts';
import { caFiles, localCredentials } from '../../src/tls/local-ca.ts';
import { caNickname } from '../../src/tls/trust-store.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';

const run = promisify(execFile);
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find(has);

describe.skipIf(!chromium || !has('certutil'))('headless Chromium over HTTPS with the local CA', () => {
  let dir: string;
  let fpm: PhpFpm;
  let bridge: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-browser-'));
    const root = join(dir, 'public');
    mkdirSync(root);
    writeFileSync(join(root, 'index.php'), '<!DOCTYPE html><title>fpm-bridge</title><body style="font:40px sans-serif;background:#dfd"><h1 id="p"><?= $_SERVER["SERVER_PROTOCOL"] ?> HTTPS=<?= $_SERVER["HTTPS"] ?? "off" ?></h1></body>\n');
    const creds = await localCredentials(join(dir, 'ca'));
    fpm = await startPhpFpm();
    bridge = await listen({ root, fpm: fpm.socket, listen: '127.0.0.1:0', tls: creds });
  });
  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  });

  async function load(home: string, what: '--dump-dom' | `--screenshot=${string}`): Promise<string> {
    const { stdout } = await run(
      chromium!,
      ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', `--user-data-dir=${join(home, 'profile')}`, '--window-size=800,300', what, `https://localhost:${bridge.port}/`],
      { env: { ...process.env, HOME: home }, timeout: 75_000 },
    );
    return stdout;
  }

  it('loads the page over h2 with the CA in ~/.pki/nssdb, and is refused without it', async () => {
    const trusted = join(dir, 'home-trusted');
    const nssdb = join(trusted, '.pki/nssdb');
    mkdirSync(nssdb, { recursive: true });
    spawnSync('certutil', ['-d', `sql:${nssdb}`, '-N', '--empty-password']);
    const ca = caFiles(join(dir, 'ca')).caCert;
    const add = spawnSync('certutil', ['-d', `sql:${nssdb}`, '-A', '-t', 'C,,', '-n', caNickname(readFileSync(ca, 'latin1')), '-i', ca], { encoding: 'utf8' });
    expect(add.status, add.stderr).toBe(0);

    const dom = await load(trusted, '--dump-dom');
    expect(dom).toContain('<h1 id="p">HTTP/2.0 HTTPS=on</h1>');
    const shot = join(dir, 'page.png');
    await load(trusted, `--screenshot=${shot}`);
    const png = readFileSync(shot);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(statSync(shot).size).toBeGreaterThan(2_000);
    if (process.env.FPM_BRIDGE_KEEP_SCREENSHOT) writeFileSync(process.env.FPM_BRIDGE_KEEP_SCREENSHOT, png);

    // The same browser without the CA gets no page from us (an interstitial, or nothing).
    const untrusted = join(dir, 'home-untrusted');
    mkdirSync(untrusted);
    const refused = await load(untrusted, '--dump-dom').catch(() => '');
    expect(refused).not.toContain('HTTPS=on');
  }, 240_000);
});
