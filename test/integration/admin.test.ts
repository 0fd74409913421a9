// --admin-listen on the real CLI: /healthz, /readyz that follows php-fpm (a real one, stopped and
// started again), /metrics parsed by a Prometheus text-format parser with counters equal to the
// requests sent, php-fpm's status page in it, nothing of it on the public port; and with --workers 2,
// the workers' counters summed by the primary.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { parsePrometheusText, type Family } from '../helpers/prometheus-text.ts';
import { alive, waitFor } from './support.ts';

const CLI = fileURLToPath(new URL('../../scripts/fpm-bridge.mjs', import.meta.url));

function call(port: number, path: string, method = 'GET', body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, agent: false, headers: { connection: 'close' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error('no answer in 15 s')));
    req.end(body);
  });
}

/** /metrics, read by a strict text-format parser; `sum(name, labels)` adds the samples whose labels include `labels`. */
async function scrape(adminPort: number): Promise<{ families: Map<string, Family>; sum(name: string, labels?: Record<string, string>): number; has(name: string): boolean }> {
  const r = await call(adminPort, '/metrics');
  expect(r.status).toBe(200);
  const families = parsePrometheusText(r.body);
  return {
    families,
    has: (name) => families.has(name),
    sum: (name, labels = {}) =>
      (families.get(name.replace(/_count$/, ''))?.samples ?? [])
        .filter((m) => m.name === name && Object.entries(labels).every(([k, v]) => m.labels[k] === v))
        .reduce((a, m) => a + m.value, 0),
  };
}

function startCli(args: string[]): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(process.execPath, [CLI, ...args, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  return { child, output: () => out };
}

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fpm-bridge-admin-'));
  writeFileSync(join(root, 'hello.php'), "<?php echo 'hello';");
  writeFileSync(join(root, 'page.txt'), 'static text\n');
  writeFileSync(join(root, 'app.mjs'), "export default (req, res) => { if (req.url === '/app') { res.end(String(process.pid)); } else { res.statusCode = 404; res.end('no'); } };\n");
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('--admin-listen, one process', () => {
  let fpm: PhpFpm;
  let cli: ReturnType<typeof startCli>;
  let port: number;
  let admin: number;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 2, pool: ['ping.path = /fpm-ping', 'pm.status_path = /fpm-status'] });
    port = await freePort();
    admin = await freePort();
    cli = startCli(['--fpm', fpm.socket, '--fpm-connections', '1', '--root', root, '--app', join(root, 'app.mjs'), '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${admin}`, '--fpm-ping-path', '/fpm-ping', '--fpm-status-path', '/fpm-status']);
    await waitFor(() => /admin http:/.test(cli.output()) || cli.child.exitCode !== null, 120_000, 'the admin line');
    expect(cli.child.exitCode, cli.output()).toBeNull();
  }, 150_000);

  afterAll(async () => {
    cli.child.kill('SIGKILL');
    await fpm.stop();
  });

  it('/healthz and /readyz answer; the public port has none of them', async () => {
    expect(await call(admin, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    const ready = await call(admin, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatch(/^ready\n.* up\n$/);
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      const r = await call(port, path);
      expect(r.status).toBe(404);
      expect(r.body).not.toMatch(/fpm_bridge_|^ok/);
    }
    expect((await call(admin, '/nope')).status).toBe(404);
    expect((await call(admin, '/metrics', 'POST')).status).toBe(405);
  });

  it('/metrics: counters equal the requests sent, by served-by, status class and method', async () => {
    const before = await scrape(admin);
    const sent = { phpGet: 5, phpPost: 2, static: 4, app: 3, fallbackMiss: 2 };
    for (let i = 0; i < sent.phpGet; i++) expect((await call(port, '/hello.php')).status).toBe(200);
    for (let i = 0; i < sent.phpPost; i++) expect((await call(port, '/hello.php', 'POST', 'x=1')).status).toBe(200);
    for (let i = 0; i < sent.static; i++) expect((await call(port, '/page.txt')).status).toBe(200);
    for (let i = 0; i < sent.app; i++) expect((await call(port, '/app')).status).toBe(200);
    for (let i = 0; i < sent.fallbackMiss; i++) expect((await call(port, '/nothing-here')).status).toBe(404);
    const delta = (after: Awaited<ReturnType<typeof scrape>>, labels: Record<string, string>) => after.sum('fpm_bridge_requests_total', labels) - before.sum('fpm_bridge_requests_total', labels);
    const total = Object.values(sent).reduce((a, b) => a + b);
    let after = await scrape(admin);
    // The event of the last request is published as its response ends, which may trail our read.
    const deadline = Date.now() + 5_000;
    while (delta(after, {}) < total && Date.now() < deadline) after = await scrape(admin);
    expect(delta(after, {})).toBe(total);
    expect(delta(after, { served_by: 'php', method: 'GET', status_class: '2xx' })).toBe(sent.phpGet);
    expect(delta(after, { served_by: 'php', method: 'POST', status_class: '2xx' })).toBe(sent.phpPost);
    expect(delta(after, { served_by: 'static', method: 'GET' })).toBe(sent.static);
    expect(delta(after, { served_by: 'app', status_class: '2xx' })).toBe(sent.app);
    expect(delta(after, { status_class: '4xx' })).toBe(sent.fallbackMiss);
    // The duration histogram counted each request once.
    const count = (s: typeof after) => s.sum('fpm_bridge_request_duration_seconds_count');
    expect(count(after) - count(before)).toBe(total);
    // The pool and the process.
    expect(after.sum('fpm_bridge_pool_up')).toBe(1);
    expect(after.sum('fpm_bridge_pool_connections')).toBeLessThanOrEqual(1);
    expect(after.has('fpm_bridge_pool_queued')).toBe(true);
    expect(after.has('fpm_bridge_event_loop_delay_seconds')).toBe(true);
    expect(after.has('fpm_bridge_fallbacks_total')).toBe(true);
    expect(after.has('process_cpu_seconds_total')).toBe(true);
    // php-fpm's own status page: its two workers.
    expect(after.sum('fpm_bridge_php_fpm_total_processes')).toBe(2);
    expect(after.has('fpm_bridge_php_fpm_listen_queue')).toBe(true);
  }, 30_000);

  it('/readyz flips to 503 when php-fpm stops, and back when it is up again', async () => {
    const fpmPid = fpm.pid;
    fpm.kill('SIGTERM');
    await waitFor(() => !alive(fpmPid), 10_000, 'php-fpm to stop');
    let r = await call(admin, '/readyz');
    const deadline = Date.now() + 5_000;
    while (r.status !== 503 && Date.now() < deadline) r = await call(admin, '/readyz');
    expect(r.status).toBe(503);
    expect(r.body).toMatch(/^not ready: no php-fpm pool answers\n.* down: /);
    expect((await scrape(admin)).sum('fpm_bridge_pool_up')).toBe(0);
    await fpm.restart();
    const deadline2 = Date.now() + 5_000;
    while (r.status !== 200 && Date.now() < deadline2) r = await call(admin, '/readyz');
    expect(r.status).toBe(200);
  }, 30_000);
});

describe('--admin-listen with --workers 2', () => {
  let cli: ReturnType<typeof startCli>;
  let port: number;
  let admin: number;

  beforeAll(async () => {
    port = await freePort();
    admin = await freePort();
    cli = startCli(['--workers', '2', '--root', root, '--app', join(root, 'app.mjs'), '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${admin}`]);
    await waitFor(() => /2 workers \(pids/.test(cli.output()) || cli.child.exitCode !== null, 150_000, 'the workers');
    expect(cli.child.exitCode, cli.output()).toBeNull();
  }, 180_000);

  afterAll(() => {
    if (cli.child.exitCode === null) cli.child.kill('SIGTERM');
  });

  it('sums the workers: counters equal the requests sent, both workers counted', async () => {
    const pids = new Set<string>();
    const n = 12;
    for (let i = 0; i < n; i++) {
      const r = await call(port, '/app');
      expect(r.status).toBe(200);
      pids.add(r.body);
    }
    expect(pids.size).toBe(2);
    let s = await scrape(admin);
    const deadline = Date.now() + 5_000;
    while (s.sum('fpm_bridge_requests_total', { served_by: 'app' }) < n && Date.now() < deadline) s = await scrape(admin);
    expect(s.sum('fpm_bridge_requests_total', { served_by: 'app', status_class: '2xx', method: 'GET' })).toBe(n);
    // One event-loop series per worker.
    const loop = s.families.get('fpm_bridge_event_loop_delay_seconds')!;
    expect(new Set(loop.samples.map((m) => m.labels.worker))).toEqual(new Set(['0', '1']));
    expect(s.sum('fpm_bridge_pool_up')).toBe(1);
    expect((await call(admin, '/readyz')).status).toBe(200);
  }, 60_000);
});
