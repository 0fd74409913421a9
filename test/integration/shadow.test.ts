// The shadow (issue 10) against a real php-fpm: aurweb's PHP router serves /packages/:name, the new app
// implements it, and --shadow runs the app beside PHP on those requests. The client always gets PHP's
// answer, byte for byte and not delayed by the app; the app's answer is compared with PHP's and one
// ShadowEvent is published per shadowed request (match, mismatch with a diff, skipped, app-failed).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBridge } from '../../src/bridge/create-bridge.ts';
import type { BridgeOptions } from '../../src/bridge/options.ts';
import type { ShadowEvent } from '../../src/shadow/shadow-event.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { recordingLogger, request, sleep, startBridge, waitFor, type RecordingLogger, type Reply, type Running } from './support.ts';

const INDEX_PHP = `<?php
file_put_contents(__DIR__ . '/../runs.log', $_SERVER['REQUEST_METHOD'] . ' ' . $_SERVER['REQUEST_URI'] . "\\n", FILE_APPEND | LOCK_EX);
$path = $_SERVER['PATH_INFO'] ?? '/';
$packages = ['pacman-git' => 'A library-based package manager', 'yay' => 'Yet another yogurt'];
if (preg_match('#^/(?:packages|slow|busy)/([^/]+)/?$#', $path, $m)) {
    header('Content-Type: text/html; charset=UTF-8');
    header('Cache-Control: no-cache');
    $name = $m[1];
    if (isset($packages[$name])) {
        echo "<div class=\\"pkg\\">\\n  <h2>Package Details: " . htmlspecialchars($name) . "</h2>\\n  <p>" . $packages[$name] . "</p>\\n</div>\\n";
        exit;
    }
    http_response_code(404);
    echo "<p>Package " . htmlspecialchars($name) . " does not exist.</p>\\n";
    exit;
}
if (preg_match('#^/api/packages/([^/]+)$#', $path, $m)) {
    header('Content-Type: application/json');
    echo json_encode(['name' => $m[1], 'description' => $packages[$m[1]] ?? null, 'meta' => ['time' => microtime(true), 'version' => 5]]);
    exit;
}
if ($path === '/form') {
    echo '<form method="post"><input type="hidden" name="csrf" value="' . bin2hex(random_bytes(8)) . '"><button>Vote</button></form>';
    exit;
}
if ($path === '/big') {
    header('Content-Type: text/plain');
    echo str_repeat('x', 2 * 1024 * 1024);
    exit;
}
if ($path === '/hang') {
    echo "PHP answers /hang at once\\n";
    exit;
}
if ($path === '/rpc') {
    header('Content-Type: text/plain');
    echo 'rpc got: ' . file_get_contents('php://input');
    exit;
}
http_response_code(404);
echo "<h2>404 - Page Not Found</h2>\\n";
`;

/** The app's side of the same routes: equal but for whitespace, key order and volatile values, except where noted. */
function packagesApp(seen: string[]) {
  const descriptions: Record<string, string> = { yay: 'Yet another yogurt', 'pacman-git': 'A library based package manager' /* deliberately different */ };
  return (req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${req.method} ${req.url}`);
    const url = req.url ?? '';
    const page = /^\/(packages|slow|busy)\/([^/?]+)\/?(?:\?.*)?$/.exec(url);
    if (page && descriptions[page[2]!]) {
      const send = () => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', 'x-from': 'app' });
        res.end(`<div class="pkg"><h2>Package Details: ${page[2]}</h2> <p>${descriptions[page[2]!]}</p></div>`);
      };
      if (page[1] === 'slow') setTimeout(send, 2_000);
      else if (page[1] === 'busy') setTimeout(send, 1_000);
      else send();
      return;
    }
    const api = /^\/api\/packages\/([^/?]+)$/.exec(url);
    if (api) {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ meta: { version: 5, time: Date.now() / 1000 }, description: descriptions[api[1]!] ?? null, name: api[1] }));
      return;
    }
    if (url === '/form') {
      res.writeHead(200, { 'content-type': 'text/html; charset=UTF-8' });
      res.end(`<form method="post"><input type="hidden" name="csrf" value="${Math.random().toString(16).slice(2)}"><button>Vote</button></form>`);
      return;
    }
    if (url === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('x'.repeat(2 * 1024 * 1024));
      return;
    }
    if (url === '/hang') return; // never answers
    if (url === '/rpc') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8' });
        res.end(`rpc got: ${Buffer.concat(chunks).toString()}`);
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain', 'x-from': 'app' });
    res.end('app: not found\n');
  };
}

describe('--shadow: the app runs beside PHP, the client gets PHP', () => {
  let fpm: PhpFpm;
  let dir: string;
  let root: string;
  const open: Running[] = [];
  const seen: string[] = [];

  /** A bridge in front of the pool; with `keepOthers` false the ones before it are closed (their kept-alive connections hold the pool's workers). */
  async function bridgeWith(options: Partial<BridgeOptions>, keepOthers = false): Promise<{ b: Running; events: ShadowEvent[]; logger: RecordingLogger }> {
    if (!keepOthers) for (const old of open.splice(0)) await old.close();
    const logger = recordingLogger();
    const b = await startBridge({ fpm: fpm.socket, root, frontController: 'index.php', pathInfo: true, app: packagesApp(seen), fpmConnections: 2, logger, ...options });
    open.push(b);
    const events: ShadowEvent[] = [];
    b.bridge.shadowEvents.subscribe((e) => events.push(e));
    return { b, events, logger };
  }
  const runs = (line: string) => readFileSync(join(dir, 'runs.log'), 'utf8').split('\n').filter((l) => l === line).length;
  const without = (r: Reply) => r.rawHeaders.filter((_, i, all) => i % 2 === 0 ? all[i]!.toLowerCase() !== 'date' : all[i - 1]!.toLowerCase() !== 'date');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-shadow-'));
    root = join(dir, 'public');
    mkdirSync(root);
    writeFileSync(join(root, 'index.php'), INDEX_PHP);
    writeFileSync(join(dir, 'runs.log'), '');
    fpm = await startPhpFpm({ workers: 4 });
  }, 20_000);

  afterAll(async () => {
    for (const b of open) await b.close();
    await fpm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a shadowed route: the client gets PHP, the app gets a replay, and the two match', async () => {
    const { b, events } = await bridgeWith({ shadow: ['GET /packages/:name'] });
    const r = await request(b.port, '/packages/yay?from=test', { headers: { 'x-trace': 'abc' } });
    expect(r.status).toBe(200);
    expect(r.headers['x-from']).toBeUndefined();
    expect(r.body.toString()).toContain('<h2>Package Details: yay</h2>');
    await waitFor(() => events.length === 1, 5_000, 'the shadow event');
    expect(events[0]).toMatchObject({ method: 'GET', path: '/packages/yay', pattern: 'GET /packages/:name', outcome: 'match', diff: null });
    expect(seen).toContain('GET /packages/yay?from=test');
  });

  it('the shadow event comes after the request event, with the same id', async () => {
    const { b } = await bridgeWith({ shadow: ['GET /packages/:name'] });
    const order: string[] = [];
    b.bridge.events.subscribe((e) => order.push(`request ${e.id}`));
    b.bridge.shadowEvents.subscribe((e) => order.push(`shadow ${e.id}`));
    await request(b.port, '/packages/yay');
    await waitFor(() => order.length === 2, 5_000, 'both events');
    expect(order[0]).toMatch(/^request (\d+)$/);
    expect(order[1]).toBe(order[0]!.replace('request', 'shadow'));
  });

  it('a deliberate difference is caught, with a diff that shows it, in one log line', async () => {
    const { b, events, logger } = await bridgeWith({ shadow: ['GET /packages/:name'] });
    const r = await request(b.port, '/packages/pacman-git');
    expect(r.body.toString()).toContain('A library-based package manager');
    await waitFor(() => events.length === 1, 5_000, 'the shadow event');
    expect(events[0]!.outcome).toBe('mismatch');
    expect(events[0]!.diff).toMatch(/^body at char \d+: php ".*A library-based.*" \| app ".*A library based.*"$/);
    const lines = logger.warnings.filter((w) => w.startsWith('shadow GET /packages/pacman-git'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(events[0]!.diff);
    expect(lines[0]).not.toContain('\n');
  });

  it('a route that keeps differing logs its first mismatch, then counts the rest (the events still carry each)', async () => {
    const { b, events, logger } = await bridgeWith({ shadow: ['GET /packages/:name'] });
    for (let i = 0; i < 6; i++) await request(b.port, '/packages/pacman-git');
    await waitFor(() => events.length === 6, 5_000, 'six shadow events');
    expect(events.every((e) => e.outcome === 'mismatch' && e.diff !== null)).toBe(true);
    expect(logger.warnings.filter((w) => w.startsWith('shadow GET /packages/pacman-git'))).toHaveLength(1);
  });

  it("ignore rules: JSON pointers take PHP's timestamp out, regexes the CSRF token", async () => {
    const strict = await bridgeWith({ shadow: ['GET /api/packages/:name', 'GET /form'] });
    await request(strict.b.port, '/api/packages/yay');
    await request(strict.b.port, '/form');
    await waitFor(() => strict.events.length === 2, 5_000, 'two shadow events');
    const byPath = (events: ShadowEvent[], p: string) => events.find((e) => e.path === p)!;
    expect(byPath(strict.events, '/api/packages/yay')).toMatchObject({ outcome: 'mismatch', diff: expect.stringMatching(/^body \/meta\/time: php [\d.]+ \| app [\d.]+$/) });
    expect(byPath(strict.events, '/form')).toMatchObject({ outcome: 'mismatch', diff: expect.stringContaining('csrf') });

    const lenient = await bridgeWith({ shadow: ['GET /api/packages/:name', 'GET /form'], shadowIgnoreJson: ['/meta/time'], shadowIgnoreText: ['name="csrf" value="[0-9a-f]*"'] });
    await request(lenient.b.port, '/api/packages/yay');
    await request(lenient.b.port, '/form');
    await waitFor(() => lenient.events.length === 2, 5_000, 'two shadow events');
    expect(lenient.events.map((e) => e.outcome)).toEqual(['match', 'match']);
  });

  it("the client's answer is PHP's byte for byte, and a 2 s app does not delay it", async () => {
    const plain = await bridgeWith({});
    const shadowed = await bridgeWith({ shadow: ['GET /slow/:name'] }, true);
    const before = await request(plain.b.port, '/slow/yay');
    const started = performance.now();
    const r = await request(shadowed.b.port, '/slow/yay');
    const took = performance.now() - started;
    expect(r.status).toBe(before.status);
    expect(without(r)).toEqual(without(before));
    expect(r.body.equals(before.body)).toBe(true);
    // PHP answers in milliseconds; the app takes 2 s, after the client has its answer.
    expect(took).toBeLessThan(1_000);
    expect(shadowed.events).toHaveLength(0);
    await waitFor(() => shadowed.events.length === 1, 5_000, 'the slow shadow');
    expect(shadowed.events[0]!.outcome).toBe('match');
  });

  it('closing the bridge waits for the shadows still running: their events are not lost', async () => {
    const { b, events } = await bridgeWith({ shadow: ['GET /busy/:name'] });
    expect((await request(b.port, '/busy/yay')).status).toBe(200);
    // The app takes 1 s: the shadow is still running when the bridge closes.
    const closing = b.close();
    open.splice(open.indexOf(b), 1);
    await closing;
    expect(events.map((e) => e.outcome)).toEqual(['match']);
  });

  it('POST is not shadowed without shadowUnsafe; with it, the app gets the body', async () => {
    const safe = await bridgeWith({ shadow: ['/rpc'] });
    const n = seen.length;
    const r = await request(safe.b.port, '/rpc', { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(r.body.toString()).toBe('rpc got: hello');
    await sleep(200);
    expect(safe.events).toHaveLength(0);
    expect(seen.slice(n)).toEqual([]);
    expect(() => createBridge({ fpm: fpm.socket, root, app: packagesApp(seen), shadow: ['POST /rpc'] })).toThrow(/shadow: "POST \/rpc": POST would run a second time in the app/);

    const unsafe = await bridgeWith({ shadow: ['POST /rpc'], shadowUnsafe: true });
    await request(unsafe.b.port, '/rpc', { method: 'POST', body: 'x'.repeat(5000), headers: { 'content-type': 'text/plain' } });
    await waitFor(() => unsafe.events.length === 1, 5_000, 'the POST shadow');
    expect(unsafe.events[0]).toMatchObject({ method: 'POST', outcome: 'match', diff: null });
    expect(seen.slice(n)).toEqual(['POST /rpc']);
  });

  it('at most shadowConcurrency at once: the rest are skipped-busy, and the clients still get PHP', async () => {
    const { b, events } = await bridgeWith({ shadow: ['GET /busy/:name'], shadowConcurrency: 1 });
    // The first holds the one slot for the app's second; the next ones come while it does.
    for (let i = 0; i < 3; i++) expect((await request(b.port, '/busy/yay')).status).toBe(200);
    await waitFor(() => events.length === 3, 5_000, 'three shadow events');
    expect(events.map((e) => e.outcome).sort()).toEqual(['match', 'skipped-busy', 'skipped-busy']);
    // Once the slot is free, the next one is shadowed again.
    await request(b.port, '/busy/yay');
    await waitFor(() => events.length === 4, 5_000, 'the fourth');
    expect(events[3]!.outcome).toBe('match');
  });

  it('an app that hangs is cut by appTimeoutMs: app-failed, logged', async () => {
    const { b, events, logger } = await bridgeWith({ shadow: ['GET /hang'], appTimeoutMs: 300 });
    const r = await request(b.port, '/hang');
    expect(r.body.toString()).toBe('PHP answers /hang at once\n');
    await waitFor(() => events.length === 1, 5_000, 'the failed shadow');
    expect(events[0]!.outcome).toBe('app-failed');
    expect(logger.warnings.some((w) => w.startsWith('shadow GET /hang: the app did not finish within 300 ms'))).toBe(true);
  });

  it('a body past 1 MiB is not compared: skipped-large, and the app is not asked', async () => {
    const { b, events } = await bridgeWith({ shadow: ['GET /big'] });
    const n = seen.length;
    const r = await request(b.port, '/big');
    expect(r.body.length).toBe(2 * 1024 * 1024);
    await waitFor(() => events.length === 1, 5_000, 'the large shadow');
    expect(events[0]!.outcome).toBe('skipped-large');
    expect(seen.slice(n)).toEqual([]);
  });

  it("PHP's 404 on a shadowed route goes to the app as without --shadow (php→app), and is not shadowed", async () => {
    const { b, events } = await bridgeWith({ shadow: ['GET /packages/:name'] });
    const r = await request(b.port, '/packages/no-such-pkg');
    expect(r.status).toBe(404);
    expect(r.body.toString()).toBe('<p>Package no-such-pkg does not exist.</p>\n');
    await sleep(200);
    expect(events).toHaveLength(0);
  });

  it('a route both claimed and shadowed is the app\'s: served by it, not shadowed', async () => {
    const { b, events } = await bridgeWith({ claims: ['GET /packages/:name'], shadow: ['GET /packages/:name'] });
    const r = await request(b.port, '/packages/yay');
    expect(r.headers['x-from']).toBe('app');
    await sleep(200);
    expect(events).toHaveLength(0);
  });

  it('--shadow-noise: PHP asked twice says what is volatile (its timestamp, its CSRF token); the rest is still compared', async () => {
    const { b, events } = await bridgeWith({ shadow: ['GET /api/packages/:name', 'GET /form', 'GET /packages/:name'], shadowNoise: true });
    const before = runs('GET /form');
    await request(b.port, '/api/packages/yay');
    await request(b.port, '/form');
    await request(b.port, '/packages/pacman-git');
    await waitFor(() => events.length === 3, 5_000, 'three shadow events');
    const byPath = (p: string) => events.find((e) => e.path === p)!;
    expect(byPath('/api/packages/yay')).toMatchObject({ outcome: 'match' });
    expect(byPath('/form')).toMatchObject({ outcome: 'match' });
    // PHP's two answers to this one are equal: the app's real difference is still caught.
    expect(byPath('/packages/pacman-git')).toMatchObject({ outcome: 'mismatch', diff: expect.stringContaining('library-based') });
    expect(runs('GET /form')).toBe(before + 2);
  });

  it('--shadow-noise never sends a POST to PHP twice, even with shadowUnsafe', async () => {
    const { b, events } = await bridgeWith({ shadow: ['POST /rpc'], shadowUnsafe: true, shadowNoise: true });
    const before = runs('POST /rpc');
    await request(b.port, '/rpc', { method: 'POST', body: 'once', headers: { 'content-type': 'text/plain' } });
    await waitFor(() => events.length === 1, 5_000, 'the POST shadow');
    expect(runs('POST /rpc')).toBe(before + 1);
  });

  it('sampling: shadowRate 0 shadows nothing, a pattern of its own @1 everything', async () => {
    const { b, events } = await bridgeWith({ shadow: ['GET /packages/:name', 'GET /api/packages/:name @1'], shadowRate: 0 });
    for (let i = 0; i < 3; i++) await request(b.port, '/packages/yay');
    await request(b.port, '/api/packages/yay');
    await waitFor(() => events.length === 1, 5_000, 'one shadow');
    await sleep(200);
    expect(events.map((e) => e.path)).toEqual(['/api/packages/yay']);
  });
});
