// The terminal side of the CLI: JSON lines when asked, PHP's stderr with its request, and a clean
// stop when the terminal goes away (SIGHUP with nowhere left to write).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { findPhpFpm } from '../helpers/php-fpm.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO, 'scripts/fpm-bridge.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const running = new Set<ChildProcess>();

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
});

function start(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (b: Buffer) => (out.stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out.stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (running.delete(child), resolve(code))));
  return { child, out, exited };
}

async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('the terminal', () => {
  findPhpFpm();

  it('--log-format json: one object per line on stdout, PHP stderr inside its request', async () => {
    const { child, out, exited } = start(['--root', 'php/fixtures', '--listen', '127.0.0.1:0', '--log-format', 'json']);
    await until(() => out.stderr.includes('Ctrl-C'), 'banner');
    // Every stderr line is a JSON object; the banner is the one with the URL (on a Node without
    // node:sqlite a warning about the ledger comes first).
    const lines = out.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; level: string; msg: string });
    const banner = lines.find((l) => l.msg.includes('http://'))!;
    expect(banner).toMatchObject({ type: 'log', level: 'info' });
    const url = /(http:\/\/\S+)/.exec(banner.msg)![1]!;
    await (await fetch(`${url}stderr.php`)).text();
    await (await fetch(`${url}hello.php`)).text();
    await until(() => out.stdout.split('\n').filter(Boolean).length === 2, 'two access records');
    const [first, second] = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({ type: 'access', method: 'GET', url: '/stderr.php', status: 200, servedBy: 'php' });
    expect(first!.phpStderr).toEqual([expect.stringContaining('note from php')]);
    expect(second).toMatchObject({ url: '/hello.php', status: 200 });
    expect(second!.phpStderr).toBeUndefined();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('stops cleanly (exit 0) on SIGHUP when its terminal is gone, instead of spinning on failed writes', async () => {
    const { child, out, exited } = start(['--root', 'php/fixtures', '--listen', '127.0.0.1:0']);
    await until(() => out.stderr.includes('Ctrl-C'), 'banner');
    // The terminal goes away: nothing reads stdout/stderr any more (writes fail with EPIPE, as EIO on a closed pty).
    child.stdout!.destroy();
    child.stderr!.destroy();
    child.kill('SIGHUP');
    const code = await Promise.race([exited, sleep(8_000).then(() => 'still running')]);
    expect(code).toBe(0);
  });
});
