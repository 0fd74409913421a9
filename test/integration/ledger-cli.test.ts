// The ledger through the real command, in front of a real php-fpm: requests are counted in the file
// it names; a kill -9 loses at most the batch of the last second and leaves a file the next start
// goes on with; `fpm-bridge report` reads it (table and JSON); a file that is not a ledger stops
// start-up with exit 1 naming it; --no-ledger writes nothing. On a Node without node:sqlite the
// command says once that it runs without the ledger, and `report` exits 1 saying why.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LedgerStore } from '../../src/ledger/ledger-store.ts';
import { ledgerAvailable } from '../../src/ledger/sqlite.ts';
import { readReport, type ReportData } from '../../src/report/report-data.ts';
import { findPhpFpm } from '../helpers/php-fpm.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO, 'scripts/fpm-bridge.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const running = new Set<ChildProcess>();
const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-ledger-cli-'));
const available = ledgerAvailable();

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(args: string[], cwd = dir) {
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

function report(args: string[]) {
  return spawnSync(process.execPath, [CLI, 'report', ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
}

function countIn(file: string): number {
  const store = new LedgerStore(file, { readonly: true });
  try {
    return readReport(store, 0).totals.requests;
  } finally {
    store.close();
  }
}

const root = join(dir, 'public');
mkdirSync(root, { recursive: true });
writeFileSync(join(root, 'index.php'), '<?php echo "php " . $_SERVER["REQUEST_URI"] . "\\n";');
const base = ['--root', root, '--index', 'index.php', '--listen', '127.0.0.1:0', '--quiet'];

async function serving(args: string[]) {
  const s = start([...base, ...args]);
  await until(() => s.out.stderr.includes('Ctrl-C') || s.child.exitCode !== null, 'banner');
  const url = /(http:\/\/\S+)/.exec(s.out.stderr)?.[1];
  if (!url) throw new Error(`no banner: ${s.out.stderr}`);
  return { ...s, url };
}

async function get(url: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await (await fetch(url)).text();
}

describe.skipIf(!available)('the ledger through the command', () => {
  findPhpFpm();

  it('counts requests; a kill -9 loses at most the last batch; the next start goes on; report reads it', async () => {
    const file = join(dir, 'kill9', 'ledger.sqlite');
    const first = await serving(['--ledger', file]);
    await until(() => first.out.stderr.includes(`ledger ${file} (fpm-bridge report)`), 'the ledger line');
    await get(`${first.url}packages/1`, 20);
    // Past the once-a-second write: these are in the file.
    await sleep(1_600);
    await get(`${first.url}packages/2`, 5);
    first.child.kill('SIGKILL');
    await first.exited;
    const afterKill = countIn(file);
    expect(afterKill).toBeGreaterThanOrEqual(20);
    expect(afterKill).toBeLessThanOrEqual(25);

    const second = await serving(['--ledger', file]);
    await get(`${second.url}other/page`, 3);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(countIn(file)).toBe(afterKill + 3);

    const json = report(['--ledger', file, '--json', '--since', '1h']);
    expect(json.status, json.stderr).toBe(0);
    const data = JSON.parse(json.stdout) as ReportData;
    expect(data.version).toBe(1);
    expect(data.totals.requests).toBe(afterKill + 3);
    expect(data.routes[0]).toMatchObject({ method: 'GET', route: '/packages/:id', sides: { php: afterKill }, phpShare: 1, appShare: 0, claimed: false });
    expect(data.routes[0]!.p95Ms).toBeGreaterThan(0);
    expect(data.routes.find((r) => r.route === '/other/page')).toMatchObject({ requests: 3 });

    const table = report(['--ledger', file]);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^route\s+requests\s+php\s+app\s+PHP last served/m);
    expect(table.stdout).toMatch(new RegExp(`^GET /packages/:id\\s+${afterKill}\\s+100%\\s+0%`, 'm'));
  }, 120_000);

  it('--admin-listen serves /ledger and /ledger.json from the file, and the ledger\'s failures in /metrics', async () => {
    const file = join(dir, 'admin', 'ledger.sqlite');
    const s = await serving(['--ledger', file, '--admin-listen', '127.0.0.1:0']);
    await until(() => /admin (http:\/\/\S+) \(healthz, readyz, metrics, ledger\)/.test(s.out.stderr), 'the admin line');
    const admin = /admin (http:\/\/\S+) /.exec(s.out.stderr)![1]!;
    await get(`${s.url}packages/7`, 4);
    let data: ReportData | undefined;
    for (let i = 0; i < 50 && data?.totals.requests !== 4; i++) {
      await sleep(200);
      data = (await (await fetch(`${admin}ledger.json?since=1h`)).json()) as ReportData;
    }
    expect(data!.routes[0]).toMatchObject({ route: '/packages/:id', requests: 4, sides: { php: 4 } });
    const page = await fetch(`${admin}ledger`);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('<code>GET /packages/:id</code>');
    const metrics = await (await fetch(`${admin}metrics`)).text();
    expect(metrics).toMatch(/^fpm_bridge_ledger_failed_batches 0$/m);
    expect(metrics).toMatch(/^fpm_bridge_ledger_dropped_requests 0$/m);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  }, 90_000);

  it('--workers 2: every worker writes its batches to the one file, nothing lost on a stop', async () => {
    const file = join(dir, 'workers', 'ledger.sqlite');
    const s = await serving(['--ledger', file, '--workers', '2']);
    // Separate connections, so both workers get some.
    await Promise.all(Array.from({ length: 4 }, () => get(`${s.url}w/1`, 10)));
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(countIn(file)).toBe(40);
  }, 90_000);

  it('--shadow: the shadow results and the route\'s requests are one row, ready to claim after 100 matches', async () => {
    const file = join(dir, 'shadow', 'ledger.sqlite');
    const appFile = join(dir, 'shadow-app.mjs');
    writeFileSync(appFile, `export default (req, res) => { res.writeHead(200, { 'content-type': 'text/html; charset=UTF-8' }); res.end('php ' + req.url + '\\n'); };\n`);
    const s = await serving(['--ledger', file, '--app', appFile, '--shadow', 'GET /items/:name @1']);
    await get(`${s.url}items/a`, 3);
    await get(`${s.url}items/b`, 2);
    // The shadows run in the background, after their responses: give the last one time to finish.
    await sleep(2_000);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    const r = report(['--ledger', file, '--json', '--since', '1h']);
    expect(r.status, r.stderr).toBe(0);
    const data = JSON.parse(r.stdout) as ReportData;
    expect(data.routes.find((x) => x.route === '/items/:name')).toMatchObject({ requests: 5, sides: { php: 5 }, shadow: { matched: 5, mismatched: 0, streak: 5, readyToClaim: false } });
  }, 90_000);

  it('the default file is .fpm-bridge/ledger.sqlite under the working directory; --no-ledger writes none', async () => {
    const cwd = join(dir, 'cwd');
    mkdirSync(cwd);
    const s = start([...base], cwd);
    await until(() => s.out.stderr.includes('Ctrl-C'), 'banner');
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(existsSync(join(cwd, '.fpm-bridge/ledger.sqlite'))).toBe(true);

    const off = join(dir, 'off');
    mkdirSync(off);
    const t = start([...base, '--no-ledger'], off);
    await until(() => t.out.stderr.includes('Ctrl-C'), 'banner');
    t.child.kill('SIGTERM');
    expect(await t.exited).toBe(0);
    expect(existsSync(join(off, '.fpm-bridge'))).toBe(false);
    expect(t.out.stderr).not.toMatch(/ledger \/|the ledger needs/);
  }, 90_000);

  it('a file that is not a ledger stops start-up with exit 1 naming it, before php-fpm starts', async () => {
    const file = join(dir, 'corrupt.sqlite');
    writeFileSync(file, 'not a database at all; '.repeat(200));
    const s = start([...base, '--ledger', file]);
    expect(await s.exited).toBe(1);
    expect(s.out.stderr).toContain(`the ledger ${file} cannot be used`);
    expect(s.out.stderr).not.toContain('Ctrl-C');
    const r = report(['--ledger', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`the ledger ${file} cannot be used`);
  }, 60_000);

  it('report: a missing file is exit 1 naming it; bad flags are exit 2', () => {
    const missing = join(dir, 'nope.sqlite');
    const r = report(['--ledger', missing]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cannot open the ledger ${missing}`);
    expect(report(['--since', 'soon']).status).toBe(2);
    expect(report(['--bogus']).stderr).toContain('unknown flag --bogus');
  });
});

describe.skipIf(available)('on a Node without node:sqlite', () => {
  findPhpFpm();

  it('the bridge says once that it runs without the ledger; report exits 1 saying why', async () => {
    const s = await serving([]);
    expect(s.out.stderr.match(/the ledger needs Node 22\.5 or newer/g)).toHaveLength(1);
    expect(await (await fetch(`${s.url}x`)).text()).toBe('php /x\n');
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    const r = report([]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the ledger needs Node 22\.5 or newer/);
  }, 60_000);
});
