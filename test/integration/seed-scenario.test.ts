// The seed's own scenario (../shared/seed: "Proof-of-concept of a dual PHP–Python stack", aurweb,
// March 2020), with fpm-bridge in place of nginx `proxy_next_upstream http_404 non_idempotent` and the
// Flask server: aurweb's PHP runs as a PATH_INFO front controller (`--index index.php --path-info`),
// the new app serves /hello like the patch's Flask hello, and PHP's 404 body ("Package X does not
// exist"), which the nginx setup lost, reaches the client.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { MiB, recordingLogger, request, startBridge, waitFor, type RecordingLogger, type Running } from './support.ts';

/** aurweb 5.0's web/html/index.php in small: routes on PATH_INFO, unknown packages get 404 with a body. */
const INDEX_PHP = `<?php
$path = $_SERVER['PATH_INFO'] ?? '/';
$packages = ['pacman-git' => 'A library-based package manager', 'yay' => 'Yet another yogurt'];
header('Content-Type: text/html; charset=UTF-8');
if ($path === '/' || $path === '') {
    echo "<h1>AUR Home</h1>\\n";
    exit;
}
if (preg_match('#^/packages/([^/]+)/?$#', $path, $m)) {
    $name = $m[1];
    if (isset($packages[$name])) {
        echo "<h2>Package Details: " . htmlspecialchars($name) . "</h2><p>" . $packages[$name] . "</p>\\n";
        exit;
    }
    http_response_code(404);
    echo "<p>Package " . htmlspecialchars($name) . " does not exist.</p>\\n";
    exit;
}
// 404.php
http_response_code(404);
echo "<h2>404 - Page Not Found</h2><p>Sorry, the page you've requested does not exist.</p>\\n";
`;

/** What the app saw of each request. */
interface Seen {
  method: string;
  url: string;
}

/**
 * The patch's aurweb/wsgi.py as a Node listener: /hello for GET and POST answers
 * "{method} {url}\n{headers}{body}\n" in text/plain; everything else is 404 (Flask's default).
 */
function helloApp(seen: Seen[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '' });
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/hello' || (req.method !== 'GET' && req.method !== 'POST')) {
        res.writeHead(404, { 'content-type': 'text/html' });
        res.end('<h1>Not Found</h1>');
        return;
      }
      let headers = '';
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      const head = Buffer.from(`${req.method} http://${req.headers.host}${req.url}\n${headers}\r\n`);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(Buffer.concat([head, ...chunks, Buffer.from('\n')]));
    });
  };
}

describe("the seed's scenario: aurweb PHP (PATH_INFO front controller) + a new app on PHP's 404", () => {
  let fpm: PhpFpm;
  let bridge: Running;
  let root: string;
  let log: RecordingLogger;
  const seen: Seen[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-seed-'));
    writeFileSync(join(root, 'index.php'), INDEX_PHP);
    fpm = await startPhpFpm({ workers: 2 });
    log = recordingLogger();
    bridge = await startBridge({ fpm: fpm.socket, root, frontController: 'index.php', pathInfo: true, app: helloApp(seen), fpmConnections: 2, logger: log });
  }, 20_000);

  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** The access log's servedBy for `method url` (waits for the entry: it is written once the response ends). */
  async function servedBy(method: string, url: string): Promise<string> {
    const find = () => log.accessLog.find((e) => e.method === method && e.url === url);
    await waitFor(() => find() !== undefined, 2000, `access log entry for ${method} ${url}`);
    return find()!.servedBy;
  }

  it('/ is PHP', async () => {
    const res = await request(bridge.port, '/');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('<h1>AUR Home</h1>\n');
    expect(await servedBy('GET', '/')).toBe('php');
  });

  it.each(['/packages/pacman-git', '/packages/yay/', '/packages/yay?O=0'])('known package %s is PHP', async (url) => {
    const res = await request(bridge.port, url);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=UTF-8');
    expect(res.body.toString()).toMatch(/^<h2>Package Details: (pacman-git|yay)<\/h2>/);
    expect(await servedBy('GET', url)).toBe('php');
  });

  it('GET /hello is the app (PHP said 404 first), with method, URL and headers as the client sent them', async () => {
    const res = await request(bridge.port, '/hello?lang=en', { headers: { 'X-Aur-Test': 'get', 'Accept-Language': 'de' } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain');
    const text = res.body.toString();
    expect(text.startsWith(`GET http://127.0.0.1:${bridge.port}/hello?lang=en\n`)).toBe(true);
    expect(text).toContain('X-Aur-Test: get\r\n');
    expect(text).toContain('Accept-Language: de\r\n');
    expect(await servedBy('GET', '/hello?lang=en')).toBe('php→app');
  });

  it('POST /hello is the app, the form body replayed intact', async () => {
    const body = 'name=J%C3%BCrgen&comment=hello+world&x=' + 'a'.repeat(5000);
    const res = await request(bridge.port, '/hello', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(Buffer.byteLength(body)) },
      body,
    });
    expect(res.status).toBe(200);
    const text = res.body.toString();
    expect(text.startsWith(`POST http://127.0.0.1:${bridge.port}/hello\n`)).toBe(true);
    expect(text).toContain('Content-Type: application/x-www-form-urlencoded\r\n');
    expect(text.endsWith(`\r\n\r\n${body}\n`)).toBe(true);
    expect(await servedBy('POST', '/hello')).toBe('php→app');
  });

  it('POST /hello with a 2 MiB binary body (spooled to disk for the replay): every byte reaches the app', async () => {
    const body = randomBytes(2 * MiB);
    const url = '/hello?big=1';
    const res = await request(bridge.port, url, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body });
    expect(res.status).toBe(200);
    expect(res.body.length).toBeGreaterThan(body.length);
    expect(res.body.subarray(-body.length - 1, -1).equals(body)).toBe(true);
    const first = `POST http://127.0.0.1:${bridge.port}${url}\n`;
    expect(res.body.toString('latin1', 0, first.length)).toBe(first);
    expect(await servedBy('POST', url)).toBe('php→app');
  });

  it("an unknown package gets PHP's 404, status and body (the body nginx's proxy_next_upstream lost)", async () => {
    const res = await request(bridge.port, '/packages/no-such-pkg');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('text/html; charset=UTF-8');
    expect(res.body.toString()).toBe('<p>Package no-such-pkg does not exist.</p>\n');
    expect(await servedBy('GET', '/packages/no-such-pkg')).toBe('php→app→php');
    // The app was asked and declined with its own 404, which the client never sees.
    expect(seen).toContainEqual({ method: 'GET', url: '/packages/no-such-pkg' });
  });

  it("a path neither knows gets PHP's 404 page; a POST there too (non_idempotent in the patch)", async () => {
    const get = await request(bridge.port, '/nowhere');
    expect(get.status).toBe(404);
    expect(get.body.toString()).toContain("Sorry, the page you've requested does not exist.");
    const post = await request(bridge.port, '/packages/gone', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' });
    expect(post.status).toBe(404);
    expect(post.body.toString()).toBe('<p>Package gone does not exist.</p>\n');
    expect(await servedBy('GET', '/nowhere')).toBe('php→app→php');
    expect(await servedBy('POST', '/packages/gone')).toBe('php→app→php');
  });

  it('the app never sees what PHP serves', () => {
    expect(seen.map((s) => s.url)).not.toContain('/');
    expect(seen.some((s) => s.url.startsWith('/packages/yay') || s.url.startsWith('/packages/pacman-git'))).toBe(false);
  });
});
