// Graceful shutdown of the real CLI: on SIGTERM the listener closes at once, a 10 s streaming PHP
// response in flight still completes, the pooled php-fpm connections close (so the spawned php-fpm
// stops gracefully, with no worker held), and the process exits 0.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/php-fpm.ts';
import { alive } from './support.ts';

const CLI = fileURLToPath(new URL('../../scripts/fpm-bridge.mjs', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET with the ticks' arrival times; keep-alive on, so the server must close the connection itself. */
function streamGet(port: number, path: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, headers: { connection: 'keep-alive' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/hello.php', agent: false }, (res) => {
      res.resume();
      resolve(false);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    req.end();
  });
}

describe('graceful shutdown (CLI)', () => {
  let child: ChildProcess | undefined;
  let root: string | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('SIGTERM: no new connections, a 10 s streaming response completes, php-fpm stops, exit 0', async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-shutdown-'));
    writeFileSync(join(root, 'hello.php'), "<?php echo 'hi';");
    writeFileSync(
      join(root, 'ten.php'),
      "<?php header('Content-Type: text/plain'); while (ob_get_level()) ob_end_flush();\nfor ($i = 1; $i <= 10; $i++) { echo \"tick $i\\n\"; flush(); sleep(1); }\necho \"done\\n\";\n",
    );
    const port = await freePort();
    child = spawn(process.execPath, [CLI, '--root', root, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child!.once('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + 15_000;
    let fpmPid = 0;
    while (!fpmPid) {
      fpmPid = Number(/spawned: \d+ workers, pid (\d+)/.exec(stderr)?.[1] ?? 0);
      if (!/http:\/\//.test(stderr)) fpmPid = 0;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no banner:\n${stderr}`);
      await sleep(20);
    }

    const started = performance.now();
    const stream = streamGet(port, '/ten.php');
    await sleep(1200);
    child.kill('SIGTERM');
    await sleep(300);
    expect(await connectRefused(port)).toBe(true);
    expect(alive(child.pid!)).toBe(true);

    const res = await stream;
    expect(res.status).toBe(200);
    expect(res.body).toBe([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => `tick ${i}\n`).join('') + 'done\n');
    const exit = await exited;
    expect(exit).toEqual({ code: 0, signal: null });
    // It waited for the stream, and no longer than needed (keep-alive did not hold it open).
    const took = performance.now() - started;
    expect(took).toBeGreaterThan(9_500);
    expect(took).toBeLessThan(14_000);
    expect(alive(fpmPid)).toBe(false);
    expect(stderr).not.toMatch(/uncaught|unhandled/i);
  }, 30_000);
});
