// Development mode, seen where the developer looks: the browser. The real CLI with its own php-fpm;
// the pages rendered by Debian's chromium, headless. FPM_BRIDGE_SCREENSHOTS=1 also saves the error
// pages as test/screenshots/*.png.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/php-fpm.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO, 'scripts/fpm-bridge.mjs');
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const SAVE = process.env.FPM_BRIDGE_SCREENSHOTS === '1';

const running = new Set<ChildProcess>();
const dirs: string[] = [];
afterEach(() => {
  for (const c of running) c.kill('SIGKILL');
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'fpm-bridge-dev-'));
  dirs.push(d);
  return d;
}

/** A project: public/warn.php warns, app.ts answers /hello and throws on /boom. */
function project(): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'public'));
  writeFileSync(join(dir, 'public/warn.php'), '<?php\necho "before ";\necho $undefined_var;\necho "after";\n');
  writeFileSync(join(dir, 'app.ts'), GOOD_APP);
  return dir;
}

const GOOD_APP = `import type { IncomingMessage, ServerResponse } from 'node:http';

function total(items: number[]): number {
  if (items.length === 0) throw new Error('the basket is empty');
  return items.reduce((a, b) => a + b, 0);
}

export default (req: IncomingMessage, res: ServerResponse) => {
  if (req.url === '/boom') {
    res.end(String(total([])));
    return;
  }
  res.end('hello from the app');
};
`;

async function startCli(args: string[], cwd: string): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  // The access log and PHP's lines under it go to stdout; both are the terminal.
  child.stdout!.on('data', (b: Buffer) => (err += b.toString()));
  child.once('exit', () => running.delete(child));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const url = /(http:\/\/\S+)/.exec(err)?.[1];
    if (url && /Ctrl-C/.test(err)) return { child, url, stderr: () => err };
    if (child.exitCode !== null) throw new Error(`fpm-bridge exited:\n${err}`);
    if (Date.now() > deadline) throw new Error(`no banner:\n${err}`);
    await sleep(50);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => boolean, log: () => string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the log:\n${log()}`);
    await sleep(50);
  }
}

/** What chromium renders: the DOM after load (--dump-dom), and a screenshot when asked. */
function chromium(url: string, screenshot?: string): Promise<string> {
  const profile = tempDir();
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`];
  const run = (extra: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(CHROMIUM!, [...flags, ...extra, url], { timeout: 90_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => (err && !stdout ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
    );
  return (async () => {
    if (screenshot) await run([`--screenshot=${screenshot}`, '--window-size=1100,760', '--hide-scrollbars']);
    return run(['--dump-dom']);
  })();
}

const html = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

describe.skipIf(!CHROMIUM)('development mode (on with a spawned php-fpm and --watch)', () => {
  it('a throw: the browser gets the page (message, file:line, source), a JSON client JSON, curl the plain 500', { timeout: 240_000 }, async () => {
    const dir = project();
    const cli = await startCli(['-t', 'public', '--app', 'app.ts', '--watch', '-p', `127.0.0.1:${await freePort()}`], dir);
    expect(cli.stderr()).toMatch(/dev +development: errors shown in the browser/);

    const page = await fetch(`${cli.url}boom`, { headers: html });
    expect(page.status).toBe(500);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const text = await page.text();
    expect(text).toContain('Error: the basket is empty');
    expect(text).toContain(`${join(dir, 'app.ts')}:4`);
    expect(text).toContain('throw new Error(&#39;the basket is empty&#39;)');

    const json = await fetch(`${cli.url}boom`, { headers: { accept: 'application/json' } });
    expect(json.status).toBe(500);
    expect(await json.json()).toMatchObject({ message: 'Error: the basket is empty', file: join(dir, 'app.ts'), line: 4 });

    const plain = await fetch(`${cli.url}boom`);
    expect(plain.status).toBe(500);
    expect(await plain.text()).not.toContain('basket');
    // Still logged under its request in the terminal.
    expect(cli.stderr()).toContain('the app failed on GET /boom');

    const shot = SAVE ? join(REPO, 'test/screenshots/app-threw.png') : join(tempDir(), 'threw.png');
    const dom = await chromium(`${cli.url}boom`, shot);
    expect(dom).toContain('The app threw an error');
    expect(dom).toContain('the basket is empty');
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
    cli.child.kill('SIGTERM');
  });

  it('a failed reload: the browser gets that error with the last good load time, not the old answer', { timeout: 240_000 }, async () => {
    const dir = project();
    const cli = await startCli(['-t', 'public', '--app', 'app.ts', '--watch', '-p', `127.0.0.1:${await freePort()}`], dir);
    expect(await (await fetch(`${cli.url}hello`, { headers: html })).text()).toBe('hello from the app');

    writeFileSync(join(dir, 'app.ts'), GOOD_APP.replace("res.end('hello from the app');", "res.end('hello again'"));
    await waitFor('the failed reload', () => /app reload failed/.test(cli.stderr()), cli.stderr);
    const page = await fetch(`${cli.url}hello`, { headers: html });
    expect(page.status).toBe(500);
    const text = await page.text();
    expect(text).toContain('The app failed to reload');
    expect(text).toMatch(/last good load at \d\d:\d\d:\d\d/);
    expect(text).toContain(`${join(dir, 'app.ts')}:14`);
    expect(text).toContain('Expected &#34;)&#34; but found &#34;}&#34;');
    // Other clients keep the last good app, as before.
    expect(await (await fetch(`${cli.url}hello`)).text()).toBe('hello from the app');

    const shot = SAVE ? join(REPO, 'test/screenshots/error-page.png') : join(tempDir(), 'reload.png');
    const dom = await chromium(`${cli.url}hello`, shot);
    expect(dom).toContain('The app failed to reload');
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');

    // Fixed: the page goes away.
    writeFileSync(join(dir, 'app.ts'), GOOD_APP.replace('hello from the app', 'hello, fixed'));
    await waitFor('the reload', () => /the error is fixed/.test(cli.stderr()), cli.stderr);
    expect(await (await fetch(`${cli.url}hello`, { headers: html })).text()).toBe('hello, fixed');
    cli.child.kill('SIGTERM');
  });

  it("PHP's warning is in the page in development mode and logged; production mode (--no-dev) hides it and still logs it", { timeout: 240_000 }, async () => {
    const dir = project();
    const dev = await startCli(['-t', 'public', '-p', `127.0.0.1:${await freePort()}`], dir);
    const shown = await (await fetch(`${dev.url}warn.php`, { headers: html })).text();
    expect(shown).toMatch(/Warning.*Undefined variable \$undefined_var/s);
    expect(shown).toContain('after');
    await waitFor('the logged warning', () => /Undefined variable \$undefined_var/.test(dev.stderr()), dev.stderr);
    const dom = await chromium(`${dev.url}warn.php`);
    expect(dom).toContain('Undefined variable $undefined_var');
    dev.child.kill('SIGTERM');

    const prod = await startCli(['-t', 'public', '--no-dev', '--app', 'app.ts', '-p', `127.0.0.1:${await freePort()}`], dir);
    expect(prod.stderr()).toMatch(/dev +production/);
    const hidden = await (await fetch(`${prod.url}warn.php`, { headers: html })).text();
    expect(hidden).toBe('before after');
    await waitFor('the logged warning', () => /Undefined variable \$undefined_var/.test(prod.stderr()), prod.stderr);
    // No error page in production mode, even for a browser.
    const boom = await fetch(`${prod.url}boom`, { headers: html });
    expect(boom.status).toBe(500);
    expect(await boom.text()).not.toContain('basket');
    prod.child.kill('SIGTERM');
  });
});
