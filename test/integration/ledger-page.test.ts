// The ledger over the seed's scenario, against a real php-fpm: aurweb's PHP router serves
// /packages/:name, the app takes what PHP answers 404, then claims the route; the ledger counts every
// side (php, php→app, app, app→php, declined), keeps it across a restart of the ledger, takes shadow
// results, and the admin page shows it: rendered in Debian's headless Chromium (driven over the
// DevTools protocol, measuring the rendered table and chart, not only the HTML text), with a route
// made of HTML by a client shown as text, never run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../src/bridge/request-event.ts';
import { listenAdmin, type AdminServer } from '../../src/http/admin-server.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import { LedgerStore } from '../../src/ledger/ledger-store.ts';
import { ledgerAvailable } from '../../src/ledger/sqlite.ts';
import type { ReportData } from '../../src/report/report-data.ts';
import { ledgerPages } from '../../src/report/report-pages.ts';
import { ShadowEvents } from '../../src/shadow/shadow-event.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { recordingLogger, request, startBridge, waitFor, type Running } from './support.ts';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find(has);
const available = ledgerAvailable();

const INDEX_PHP = `<?php
$path = $_SERVER['PATH_INFO'] ?? '/';
$packages = ['pacman-git' => 'A library-based package manager', 'yay' => 'Yet another yogurt'];
if (preg_match('#^/packages/([^/]+)/?$#', $path, $m) && isset($packages[$m[1]])) {
    echo "<h2>Package Details: " . htmlspecialchars($m[1]) . "</h2>\\n";
    exit;
}
http_response_code(404);
echo "<h2>404 - Page Not Found</h2>\\n";
`;

/** The app: /packages/yay only (so far), and /api/stats. */
function app(req: IncomingMessage, res: ServerResponse) {
  if (/^\/packages\/yay\/?$/.test(req.url ?? '') || req.url === '/api/stats') {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<h2>Package Details: yay</h2>\n');
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('app: not found\n');
}

describe.skipIf(!available)('the ledger over the migration, and its admin page', () => {
  let fpm: PhpFpm;
  let dir: string;
  let file: string;
  let admin: AdminServer;
  const bridges: Running[] = [];
  let ledger: Ledger;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-ledger-page-'));
    const root = join(dir, 'public');
    mkdirSync(root);
    writeFileSync(join(root, 'index.php'), INDEX_PHP);
    file = join(dir, 'state', 'ledger.sqlite');
    fpm = await startPhpFpm({ workers: 2 });
    const opts = { fpm: fpm.socket, root, frontController: 'index.php', pathInfo: true, app, fpmConnections: 1 };
    bridges.push(await startBridge(opts));
    bridges.push(await startBridge({ ...opts, claims: ['GET /packages/:name', 'GET /api/*'] }));
  }, 30_000);

  afterAll(async () => {
    ledger?.close();
    await admin?.close();
    for (const b of bridges) await b.close();
    await fpm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  });

  /** One request, and its event seen by the bridge (so the ledger has queued it). */
  async function get(b: Running, path: string): Promise<number> {
    let seen = 0;
    const off = b.bridge.events.subscribe(() => seen++);
    try {
      const res = await request(b.port, path);
      await waitFor(() => seen === 1, 2_000, `the event of ${path}`);
      return res.status;
    } finally {
      off();
    }
  }

  function open(): Ledger {
    const l = new Ledger(new LedgerStore(file), { logger: recordingLogger(), flushMs: 60_000, patterns: ['GET /search'] });
    for (const b of bridges) l.attach(b.bridge.events);
    return l;
  }

  it('counts every side of the migration, and keeps it across a restart', async () => {
    const [phpFirst, claimed] = bridges as [Running, Running];
    ledger = open();
    // Earlier hours: PHP served most, then less (what the chart shows).
    const now = Date.now();
    const HOUR = 3_600_000;
    let id = 1e6;
    for (let h = 5; h >= 1; h--) {
      for (let i = 0; i < 10; i++) {
        const event: RequestEvent = { id: id++, method: 'GET', url: '/history', path: '/history', claim: null, servedBy: i < 2 * (6 - h) ? 'php→app' : 'php', appDeclined: false, status: 200, bytes: 1, durationMs: 2, remoteAddress: '127.0.0.1', startedAt: now - h * HOUR };
        ledger.record(event);
      }
    }
    expect(await get(phpFirst, '/packages/pacman-git')).toBe(200); // php
    expect(await get(phpFirst, '/packages/pacman-git')).toBe(200); // php
    expect(await get(phpFirst, '/packages/yay')).toBe(200); // php (PHP has it too)
    expect(await get(phpFirst, '/api/stats')).toBe(200); // php→app
    expect(await get(phpFirst, '/%3Cimg%20src=x%20onerror=alert(1)%3E')).toBe(404); // declined
    ledger.close();

    // A restart: a new ledger on the same file goes on counting.
    ledger = open();
    expect(await get(claimed, '/packages/yay')).toBe(200); // app
    expect(await get(claimed, '/packages/yay')).toBe(200); // app
    expect(await get(claimed, '/packages/pacman-git')).toBe(200); // app→php (the app's 404 declines)
    expect(await get(claimed, '/api/stats')).toBe(200); // app
    // Shadow results (the shadow publishes them; here, this test does): one route ready, one not.
    const shadows = new ShadowEvents();
    ledger.attach(bridges[0]!.bridge.events, shadows);
    const fail = (err: unknown) => {
      throw err;
    };
    for (let i = 0; i < 100; i++) shadows.publish({ id: i, method: 'GET', path: '/search', pattern: 'GET /search', outcome: 'match', diff: null, at: Date.now() }, fail);
    shadows.publish({ id: 200, method: 'GET', path: '/history', pattern: 'GET /history', outcome: 'mismatch', diff: 'body: <script>alert("diff")</script> vs <p>', at: Date.now() }, fail);
    ledger.flush();

    const pages = ledgerPages(file, () => ledger.health);
    admin = await listenAdmin({ host: '127.0.0.1', port: 0 });
    for (const [path, handler] of Object.entries(pages)) admin.route(path, handler);
    const res = await fetch(`${admin.url}ledger.json?since=24h`);
    expect(res.headers.get('content-type')).toBe('application/json');
    const data = (await res.json()) as ReportData;
    const route = (r: string) => data.routes.find((x) => x.route === r);
    // The paths counted before the claims (PHP first) are folded into the claims' rows.
    expect(route('/packages/pacman-git')).toBeUndefined();
    expect(route('/packages/yay')).toBeUndefined();
    expect(route('/api/stats')).toBeUndefined();
    expect(route('/packages/:name')).toMatchObject({ claimed: true, folded: 2, sides: { php: 3, app: 2, 'app→php': 1 }, appShare: 0.333 });
    expect(route('/api/*')).toMatchObject({ claimed: true, folded: 1, sides: { app: 1, 'php→app': 1 }, lastPhp: null, phpIdleDays: null });
    expect(route('/<img src=x onerror=alert(1)>')).toMatchObject({ sides: { declined: 1 }, statuses: { '4xx': 1 } });
    expect(route('/search')!.shadow).toMatchObject({ matched: 100, readyToClaim: true, matchRate: 1 });
    expect(route('/history')!.shadow).toMatchObject({ mismatched: 1, readyToClaim: false, lastDiffs: [{ diff: 'body: <script>alert("diff")</script> vs <p>' }] });
    expect(data.progress.length).toBeGreaterThanOrEqual(6);
    expect((await fetch(`${admin.url}ledger.json?since=soon`)).status).toBe(400);
    const page = await fetch(`${admin.url}ledger`);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
  }, 60_000);

  it.skipIf(!chromium || typeof WebSocket === 'undefined')('the admin page renders in headless Chromium: the table, the chart, and routes as text', async () => {
    const profile = join(dir, 'chromium');
    mkdirSync(profile, { recursive: true });
    const url = `${admin.url}ledger?since=24h`;
    const browser: ChildProcess = spawn(
      chromium!,
      ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--window-size=1200,900', url],
      // Its own process group, so its helpers (zygote, renderer) are killed with it below.
      { stdio: 'ignore', env: { ...process.env, HOME: dir }, detached: true },
    );
    try {
      const portFile = join(profile, 'DevToolsActivePort');
      await waitFor(() => existsSync(portFile) && readFileSync(portFile, 'utf8').includes('\n'), 60_000, 'chromium to listen');
      const port = readFileSync(portFile, 'utf8').split('\n')[0]!;
      let target: { webSocketDebuggerUrl: string; url: string } | undefined;
      for (let i = 0; i < 300 && !target; i++) {
        const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ type: string; url: string; webSocketDebuggerUrl: string }>;
        target = list.find((t) => t.type === 'page' && t.url.startsWith(admin.url));
        if (!target) await new Promise((r) => setTimeout(r, 100));
      }
      expect(target, 'the page in chromium').toBeDefined();
      const cdp = await devtools(target!.webSocketDebuggerUrl);
      try {
        await waitForValue(cdp, "document.readyState === 'complete' && document.querySelector('#summary') !== null", true);
        const seen = (await cdp.evaluate(`(() => {
          const rows = [...document.querySelectorAll('#routes tbody tr')].map((tr) => [...tr.cells].map((td) => td.innerText.trim()));
          const bars = [...document.querySelectorAll('#progress rect.app-bar')].map((r) => ({ share: Number(r.dataset.share), height: r.getBoundingClientRect().height, fill: getComputedStyle(r).fill }));
          const diffs = [...document.querySelectorAll('#routes pre')].map((p) => p.textContent);
          const table = document.querySelector('#routes').getBoundingClientRect();
          return { rows, bars, table: { width: table.width, height: table.height }, images: document.images.length, scripts: document.scripts.length,
                   summary: document.querySelector('#summary').innerText, diffs, chartHeight: document.querySelector('#progress').getBoundingClientRect().height };
        })()`)) as {
          rows: string[][];
          bars: Array<{ share: number; height: number; fill: string }>;
          table: { width: number; height: number };
          images: number;
          scripts: number;
          summary: string;
          diffs: string[];
          chartHeight: number;
        };
        const byRoute = new Map(seen.rows.map((r) => [r[0]!.replace(/\s+claimed$/, ''), r]));
        // route, requests, php, app, PHP last served, p50, p95, shadow, note
        expect(byRoute.get('GET /history')!.slice(1, 4)).toEqual(['50', '40%', '60%']);
        expect(byRoute.get('GET /packages/:name')!.slice(1, 4)).toEqual(['6', '67%', '33%']);
        expect(byRoute.get('GET /packages/:name')![8]).toBe('+2 earlier paths');
        expect(byRoute.get('GET /search')![8]).toBe('ready to claim');
        expect(byRoute.get('GET /api/*')![4]).toBe('never');
        expect(byRoute.get('GET /api/*')![8]).toBe('PHP never served this; +1 earlier path');
        // The client's HTML is text on the page: no image element, no script ran or exists.
        expect(byRoute.get('GET /<img src=x onerror=alert(1)>')).toBeDefined();
        expect(seen.images).toBe(0);
        expect(seen.scripts).toBe(0);
        expect(seen.diffs).toHaveLength(1);
        expect(seen.diffs[0]).toContain('<script>alert("diff")</script>');
        expect(seen.table.width).toBeGreaterThan(400);
        expect(seen.table.height).toBeGreaterThan(7 * 15);
        expect(seen.summary).toMatch(/^Since .* UTC: \d+ requests; the app answered \d+% of what PHP or the app answered/);
        // The chart: one bar per hour with traffic, as tall as the app's share of the 160 px plot.
        expect(seen.chartHeight).toBeGreaterThan(150);
        expect(seen.bars.length).toBeGreaterThanOrEqual(6);
        for (const b of seen.bars) expect(Math.abs(b.height - b.share * 160)).toBeLessThan(1.5);
        expect(seen.bars.slice(0, 5).map((b) => b.share)).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
        expect(seen.bars[0]!.fill).toBe('rgb(42, 125, 46)');
        const shot = (await cdp.send('Page.captureScreenshot', { format: 'png' })) as { data: string };
        const png = Buffer.from(shot.data, 'base64');
        expect(png.subarray(1, 4).toString()).toBe('PNG');
        if (process.env.FPM_BRIDGE_KEEP_SCREENSHOT) writeFileSync(process.env.FPM_BRIDGE_KEEP_SCREENSHOT, png);
      } finally {
        cdp.close();
      }
    } finally {
      // The whole group, and wait: a helper still writing the profile made the rm below fail (ENOTEMPTY).
      const exited = new Promise((r) => (browser.exitCode !== null || browser.signalCode !== null ? r(null) : browser.once('exit', r)));
      try {
        process.kill(-browser.pid!, 'SIGKILL');
      } catch {
        browser.kill('SIGKILL');
      }
      await exited;
    }
  }, 120_000);
});

/** A minimal DevTools-protocol client over Node's WebSocket (Node 22+). */
async function devtools(wsUrl: string) {
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let next = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data)) as { id?: number; result?: unknown; error?: { message: string } };
    const w = msg.id !== undefined ? waiting.get(msg.id) : undefined;
    if (!w) return;
    waiting.delete(msg.id!);
    if (msg.error) w.reject(new Error(msg.error.message));
    else w.resolve(msg.result);
  };
  const send = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    send,
    evaluate: async (expression: string) => {
      const r = (await send('Runtime.evaluate', { expression, returnByValue: true })) as { result: { value: unknown }; exceptionDetails?: { text: string } };
      if (r.exceptionDetails) throw new Error(`in the page: ${JSON.stringify(r.exceptionDetails)}`);
      return r.result.value;
    },
    close: () => ws.close(),
  };
}

async function waitForValue(cdp: Awaited<ReturnType<typeof devtools>>, expression: string, value: unknown): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await cdp.evaluate(expression)) !== value) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression} to be ${String(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
