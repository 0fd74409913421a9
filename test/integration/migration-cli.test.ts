// The migration flags through the real command: claims from flags and from the app module's own
// `export const claims` shown in the banner and served app-first; a bad pattern stops start-up with
// exit 2 naming where it came from.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { findPhpFpm } from '../helpers/php-fpm.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO, 'scripts/fpm-bridge.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const running = new Set<ChildProcess>();
const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-migration-cli-'));

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(args: string[], cwd = REPO) {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (b: Buffer) => (out.stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out.stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (running.delete(child), resolve(code))));
  return { child, out, exited };
}

async function until(cond: () => boolean, what: string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('migration flags on the command line', () => {
  findPhpFpm();
  const root = join(dir, 'public');
  const app = join(dir, 'app.mjs');
  writeFileSync(
    app,
    `export const claims = ['GET /from-module/:id'];
export default (req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('app ' + req.url + '\\n'); };
`,
  );

  it('claims from --claim and from the module are in the banner and go to the app first', async () => {
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'index.php'), '<?php echo "php " . $_SERVER["REQUEST_URI"] . "\\n";');
    const { out, child, exited } = start(['--root', root, '--app', app, '--index', 'index.php', '--listen', '127.0.0.1:0', '--quiet', '--claim', '!GET /flag/*']);
    await until(() => out.stderr.includes('Ctrl-C'), 'banner');
    expect(out.stderr).toContain('claim !GET /flag/*');
    expect(out.stderr).toContain('claim GET /from-module/:id');
    const url = /(http:\/\/\S+)/.exec(out.stderr)![1]!;
    expect(await (await fetch(`${url}from-module/7`)).text()).toBe('app /from-module/7\n');
    expect(await (await fetch(`${url}flag/x/y`)).text()).toBe('app /flag/x/y\n');
    expect(await (await fetch(`${url}other`)).text()).toBe('php /other\n');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 90_000);

  it('a bad --claim exits 2 naming the flag, before anything starts', async () => {
    const { out, exited } = start(['--root', 'php/fixtures', '--app', app, '--claim', 'GET /a/*/b']);
    expect(await exited).toBe(2);
    expect(out.stderr).toMatch(/--claim: "GET \/a\/\*\/b": \* may only be the last segment/);
  });

  it("a bad pattern in the module's claims exits 2 naming the module", async () => {
    const bad = join(dir, 'bad-app.mjs');
    writeFileSync(bad, `export const claims = ['nope'];\nexport default (req, res) => res.end('x');\n`);
    const { out, exited } = start(['--root', 'php/fixtures', '--app', bad, '--listen', '127.0.0.1:0']);
    expect(await exited).toBe(2);
    expect(out.stderr).toContain(`export const claims in ${bad}`);
  });

  it('--shadow: in the banner; the client gets PHP, a difference is one log line with the diff', async () => {
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'index.php'), '<?php echo "php " . $_SERVER["REQUEST_URI"] . "\\n";');
    const { out, child, exited } = start(['--root', root, '--app', app, '--index', 'index.php', '--listen', '127.0.0.1:0', '--quiet', '--shadow', 'GET /shadowed/*']);
    await until(() => out.stderr.includes('Ctrl-C'), 'banner');
    expect(out.stderr).toContain('shadow GET /shadowed/*');
    const url = /(http:\/\/\S+)/.exec(out.stderr)![1]!;
    expect(await (await fetch(`${url}shadowed/x`)).text()).toBe('php /shadowed/x\n');
    await until(() => out.stderr.includes('shadow GET /shadowed/x'), 'the mismatch line');
    expect(out.stderr).toContain('shadow GET /shadowed/x: the app differs from PHP (GET /shadowed/*): content-type: php "text/html; charset=utf-8" | app "text/plain"; body at char 0: php "php /shadowed/x" | app "app /shadowed/x"');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 90_000);

  it('a bad --shadow exits 2 naming the flag, before anything starts', async () => {
    const { out, exited } = start(['--root', 'php/fixtures', '--app', app, '--shadow', 'GET /a @2']);
    expect(await exited).toBe(2);
    expect(out.stderr).toMatch(/--shadow: "2" is not a rate from 0 to 1/);
  });
});
