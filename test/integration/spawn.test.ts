// The embedded default: fpm-bridge started as a command (no --fpm) spawns, restarts and always
// removes its own php-fpm. Runs the real CLI and a real php-fpm.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { findPhpFpm, freePort } from '../helpers/php-fpm.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO, 'scripts/fpm-bridge.mjs');

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Cli {
  child: ChildProcess;
  url: string;
  /** The spawned php-fpm's private dir (socket, config, pid file). */
  dir: string;
  /** The master's pid at start-up: also the process group of the instance. */
  fpmPid: number;
  stderr(): string;
  exited: Promise<Exit>;
}

const running = new Set<ChildProcess>();

function launch(args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; out: { stdout: string; stderr: string }; exited: Promise<Exit> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (b: Buffer) => (out.stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out.stderr += b.toString()));
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, out, exited };
}

/** Runs the CLI to its end (a start-up failure): exit code and output. */
async function runToEnd(args: string[], timeoutMs = 10_000): Promise<Exit & { stderr: string; stdout: string }> {
  const { child, out, exited } = launch(args);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exit = await exited;
  clearTimeout(timer);
  return { ...exit, ...out };
}

/** Starts the CLI and waits for its banner. */
async function startCli(args: string[], env?: NodeJS.ProcessEnv): Promise<Cli> {
  const { child, out, exited } = launch(args, env);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const url = /(http:\/\/\S+)/.exec(out.stderr)?.[1];
    const fpm = /spawned: \d+ workers, pid (\d+) \(.*; config (\S+)\/php-fpm\.conf\)/.exec(out.stderr);
    if (url && fpm) return { child, url, fpmPid: Number(fpm[1]), dir: fpm[2]!, stderr: () => out.stderr, exited };
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`fpm-bridge exited before its banner:\n${out.stderr}`);
    if (Date.now() > deadline) throw new Error(`no banner within 15 s:\n${out.stderr}`);
    await sleep(20);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Live (not zombie) processes in a process group, from /proc. */
function liveInGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Processes whose command line mentions `text` (pgrep -f), zombies aside. */
function pgrep(text: string): number[] {
  try {
    const out = execFileSync('pgrep', ['-f', text], { encoding: 'utf8' });
    return out.split('\n').filter(Boolean).map(Number).filter((pid) => pid !== process.pid && liveInGroupOf(pid));
  } catch {
    return []; // exit 1: none
  }
}

function liveInGroupOf(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Polls until nothing of the instance is left; returns what is left after `ms`. */
async function leftovers(cli: Cli, ms: number): Promise<{ group: number[]; byDir: number[]; dir: boolean }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = { group: liveInGroup(cli.fpmPid), byDir: pgrep(cli.dir), dir: existsSync(cli.dir) };
    if ((left.group.length === 0 && left.byDir.length === 0 && !left.dir) || Date.now() > deadline) return left;
    await sleep(50);
  }
}

async function get(url: string, timeoutMs = 3_000): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

afterEach(() => {
  // A failed test must not leave a bridge behind (its watchdog then removes php-fpm).
  for (const child of running) child.kill('SIGKILL');
});

describe('spawned php-fpm (no --fpm)', () => {
  const bin = findPhpFpm(); // fails the suite, with an install hint, when php-fpm is missing

  it('serves PHP through its own php-fpm and says so in the banner', async () => {
    const port = await freePort();
    const cli = await startCli(['--root', 'php/fixtures', '--listen', `127.0.0.1:${port}`]);
    expect(cli.url).toBe(`http://127.0.0.1:${port}/`);
    const banner = cli.stderr();
    expect(banner).toMatch(/root +\S*php\/fixtures/);
    expect(banner).toMatch(/php +php-fpm \d+\.\d+\.\d+\S*, spawned: \d+ workers, pid \d+/);
    expect(banner).toContain(bin);
    expect(banner).toMatch(/mode +PHP only/);
    // The private dir: 0700, socket 0600.
    expect(execFileSync('stat', ['-c', '%a', cli.dir], { encoding: 'utf8' }).trim()).toBe('700');
    expect(execFileSync('stat', ['-c', '%a', join(cli.dir, 'php-fpm.sock')], { encoding: 'utf8' }).trim()).toBe('600');

    expect(await get(`${cli.url}hello.php`)).toEqual({ status: 200, body: 'Hello from PHP' });
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  });

  it('restarts php-fpm after kill -9: 502/503 meanwhile, never a hang, back within seconds', async () => {
    const port = await freePort();
    const cli = await startCli(['--root', 'php/fixtures', '--listen', `127.0.0.1:${port}`]);
    expect((await get(`${cli.url}hello.php`)).status).toBe(200);
    const pid = Number(readFileSync(join(cli.dir, 'php-fpm.pid'), 'utf8'));
    expect(pid).toBe(cli.fpmPid);

    process.kill(pid, 'SIGKILL');
    const seen: number[] = [];
    const started = Date.now();
    let recoveredAfter = -1;
    while (Date.now() - started < 8_000) {
      // A hang would throw here (the timeout aborts the fetch).
      const r = await get(`${cli.url}hello.php`, 2_000);
      seen.push(r.status);
      expect([200, 502, 503]).toContain(r.status);
      // A 200 before the bridge noticed the crash comes from the dead master's orphaned workers.
      if (r.status === 200 && /php-fpm: restarted/.test(cli.stderr())) {
        recoveredAfter = Date.now() - started;
        break;
      }
      await sleep(20);
    }
    expect(recoveredAfter).toBeGreaterThanOrEqual(0);
    expect(recoveredAfter).toBeLessThan(5_000);
    expect(seen.filter((s) => s !== 200).length).toBeGreaterThan(0);
    // The killed master's orphaned workers went with it; a new master is in charge.
    expect(liveInGroup(pid)).toEqual([]);
    const newPid = Number(readFileSync(join(cli.dir, 'php-fpm.pid'), 'utf8'));
    expect(newPid).not.toBe(pid);
    expect(cli.stderr()).toMatch(/php-fpm was killed by SIGKILL after [\d.]+ s.*Restarting in 100 ms/);
    expect(cli.stderr()).toMatch(/php-fpm: restarted \(pid \d+\)/);
    for (let i = 0; i < 5; i++) expect((await get(`${cli.url}hello.php`)).status).toBe(200);

    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
    const left = await leftovers({ ...cli, fpmPid: newPid }, 3_000);
    expect(left).toEqual({ group: [], byDir: [], dir: false });
    console.info(`php-fpm back ${recoveredAfter} ms after kill -9; statuses meanwhile: ${seen.join(' ')}`);
  });

  it('exits 0 on SIGTERM and SIGINT, leaving no php-fpm and no temp dir', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const cli = await startCli(['--root', 'php/fixtures', '--listen', `127.0.0.1:${await freePort()}`]);
      expect(liveInGroup(cli.fpmPid).length).toBeGreaterThan(1); // master and workers
      const t0 = Date.now();
      cli.child.kill(signal);
      expect(await cli.exited).toEqual({ code: 0, signal: null });
      const stopMs = Date.now() - t0;
      // Gone by the time the bridge has exited: no polling needed.
      expect(await leftovers(cli, 0)).toEqual({ group: [], byDir: [], dir: false });
      expect(cli.stderr()).toContain(`${signal}: stopping`);
      console.info(`${signal}: bridge and php-fpm gone in ${stopMs} ms`);
    }
  });

  it('leaves no php-fpm behind when the bridge is killed with -9', async () => {
    const cli = await startCli(['--root', 'php/fixtures', '--listen', `127.0.0.1:${await freePort()}`]);
    expect((await get(`${cli.url}hello.php`)).status).toBe(200);
    const t0 = Date.now();
    cli.child.kill('SIGKILL');
    await cli.exited;
    const left = await leftovers(cli, 3_000);
    expect(left).toEqual({ group: [], byDir: [], dir: false });
    console.info(`kill -9 of the bridge: php-fpm gone in ${Date.now() - t0} ms`);
  });

  it('passes --php-ini, --max-body and --php-env to PHP; clamps --fpm-connections to the workers', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fpm-bridge-spawn-root-'));
    try {
      writeFileSync(
        join(root, 'ini.php'),
        `<?php header('Content-Type: application/json'); echo json_encode([
          'memory_limit' => ini_get('memory_limit'),
          'post_max_size' => ini_get('post_max_size'),
          'upload_max_filesize' => ini_get('upload_max_filesize'),
          'opcache' => ini_get('opcache.enable'),
          'env' => getenv('FPM_BRIDGE_TEST_ENV'),
        ]);`,
      );
      const cli = await startCli(
        [
          '--root', root,
          '--listen', `127.0.0.1:${await freePort()}`,
          '--max-body', '3m',
          '--php-ini', 'memory_limit=77M',
          '--php-ini', 'opcache.enable=0',
          '--fpm-connections', '99',
          '--php-env', 'FPM_BRIDGE_TEST_ENV',
        ],
        { ...process.env, FPM_BRIDGE_TEST_ENV: 'from the bridge' },
      );
      const r = await get(`${cli.url}ini.php`);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({
        memory_limit: '77M',
        post_max_size: String(3 * 1024 * 1024),
        upload_max_filesize: String(3 * 1024 * 1024),
        opcache: '0',
        env: 'from the bridge',
      });
      expect(cli.stderr()).toMatch(/--fpm-connections 99 is more than the spawned php-fpm's \d+ workers; using \d+/);
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a missing php-fpm binary: exit 1 with the install commands', async () => {
    const r = await runToEnd(['--root', 'php/fixtures', '--php-fpm-bin', '/nonexistent']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--php-fpm-bin /nonexistent');
    for (const hint of ['sudo apt-get install php-fpm', 'sudo dnf install php-fpm', 'apk add php82-fpm', 'brew install php']) expect(r.stderr).toContain(hint);
  });

  it("a php-fpm that refuses its config: exit 1 with php-fpm's words and the line of --php-fpm-conf", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-spawn-conf-'));
    try {
      const conf = join(dir, 'extra.conf');
      writeFileSync(conf, 'env[A] = 1\nno_such_directive = 1\n');
      const r = await runToEnd(['--root', 'php/fixtures', '--listen', `127.0.0.1:${await freePort()}`, '--php-fpm-conf', conf]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/php-fpm \(.*\) failed to start: it exited with code \d+/);
      expect(r.stderr).toContain(`unknown entry 'no_such_directive'  (line 2 of ${conf})`);
      expect(r.stderr).toContain(`check --php-fpm-conf ${conf}`);
      // Nothing left of the failed start.
      expect(readdirSync(tmpdir()).filter((n) => /^fpm-bridge-[A-Za-z0-9]{6}$/.test(n) && r.stderr.includes(n))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bad flags: exit 2', async () => {
    for (const args of [['--no-such-flag'], ['--php-ini', 'nonsense'], ['--fpm', '/run/x.sock', '--php-fpm-bin', '/usr/sbin/php-fpm']]) {
      const r = await runToEnd(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('usage: fpm-bridge');
    }
  });
});

afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});
