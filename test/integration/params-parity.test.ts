// $_SERVER through the bridge against nginx with Debian's fastcgi-php.conf snippet, same php-fpm pool,
// same document root, same request bytes. Every difference must be on this list, with its reason.
import { copyFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginxFpm, startPhpFpm, type Nginx, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES, rawRequest, startBridge, type Running } from './support.ts';
import { EXPECTED_DIFFERENCES, NORMALISE } from './parity.ts';

type Dump = { server: Record<string, unknown>; get: unknown; post: unknown; files: unknown };

describe('$_SERVER parity with nginx + php-fpm', () => {
  let fpm: PhpFpm;
  let nginx: Nginx;
  let bridge: Running;
  let root: string;

  beforeAll(async () => {
    // The fixtures plus a copy of symfony.php one directory down, for a script not at the root.
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-parity-'));
    cpSync(FIXTURES, root, { recursive: true });
    copyFileSync(join(FIXTURES, 'symfony.php'), join(root, 'sub', 'app.php'));
    fpm = await startPhpFpm({ workers: 3 });
    nginx = await startNginxFpm({
      root,
      fpmSocket: fpm.socket,
      // Debian's default site only runs paths ending in .php; this adds /x.php/path/info, which the
      // bridge always supports (the snippet's fastcgi_split_path_info is made for it).
      extraServer: `    location ~ ^.+?\\.php/ {\n      include snippets/fastcgi-php.conf;\n      fastcgi_pass unix:${fpm.socket};\n    }`,
    });
    bridge = await startBridge({ fpm: fpm.socket, root, fpmConnections: 2 });
  }, 20_000);

  afterAll(async () => {
    await bridge?.close();
    await nginx?.stop();
    await fpm?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** The same request bytes to both fronts (Host names the front's own port). */
  async function both(head: (port: number) => string, body?: Buffer): Promise<{ nginx: string; bridge: string; nginxStatus: number; bridgeStatus: number }> {
    const [n, b] = await Promise.all([rawRequest(nginx.port, head(nginx.port), body), rawRequest(bridge.port, head(bridge.port), body)]);
    return { nginx: n.body.toString('latin1'), bridge: b.body.toString('latin1'), nginxStatus: n.status, bridgeStatus: b.status };
  }

  /** $_SERVER minus the process environment (clear_env = no copies it in), the expected differences removed. */
  function comparable(server: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(server)) {
      if (k in process.env) continue;
      if (k in EXPECTED_DIFFERENCES) continue;
      out[k] = k in NORMALISE && typeof v === 'string' ? NORMALISE[k]![1](v) : v;
    }
    return out;
  }

  function expectSameServer(nginxBody: string, bridgeBody: string, skip: readonly string[] = []): { nginx: Dump; bridge: Dump } {
    const n = JSON.parse(nginxBody) as Dump;
    const b = JSON.parse(bridgeBody) as Dump;
    const cn = comparable(n.server);
    const cb = comparable(b.server);
    for (const key of skip) {
      delete cn[key];
      delete cb[key];
    }
    // Key by key, so a failure names every key that differs.
    const diffs: Record<string, { nginx: unknown; bridge: unknown }> = {};
    for (const key of new Set([...Object.keys(cn), ...Object.keys(cb)])) {
      if (JSON.stringify(cn[key]) !== JSON.stringify(cb[key])) diffs[key] = { nginx: cn[key], bridge: cb[key] };
    }
    expect(diffs).toEqual({});
    expect(b.get).toEqual(n.get);
    expect(b.post).toEqual(n.post);
    expect(b.files).toEqual(n.files);
    return { nginx: n, bridge: b };
  }

  it('GET /server.php?a=1&b=%20x with cookies and custom headers', async () => {
    const r = await both(
      (port) =>
        [
          'GET /server.php?a=1&b=%20x HTTP/1.1',
          `Host: 127.0.0.1:${port}`,
          'User-Agent: parity-test/1.0',
          'Accept: text/html, */*;q=0.8',
          'Accept-Language: de-CH, en;q=0.5',
          'Cookie: session=abc123; theme=dark',
          'X-Forwarded-For: 203.0.113.7',
          'X-Custom-Header: some value',
          'X-Empty:',
        ].join('\r\n'),
    );
    expect(r.nginxStatus).toBe(200);
    expect(r.bridgeStatus).toBe(200);
    const { bridge: b } = expectSameServer(r.nginx, r.bridge);
    expect(b.get).toEqual({ a: '1', b: ' x' });
    expect(b.server.HTTP_COOKIE).toBe('session=abc123; theme=dark');
    expect(b.server.QUERY_STRING).toBe('a=1&b=%20x');
  });

  it('POST with an urlencoded body', async () => {
    const body = Buffer.from('name=J%C3%BCrgen&n=1');
    const r = await both(
      (port) =>
        [
          'POST /server.php?q=1 HTTP/1.1',
          `Host: 127.0.0.1:${port}`,
          'Content-Type: application/x-www-form-urlencoded',
          `Content-Length: ${body.length}`,
        ].join('\r\n'),
      body,
    );
    const { bridge: b } = expectSameServer(r.nginx, r.bridge);
    expect(b.post).toEqual({ name: 'Jürgen', n: '1' });
    expect(b.server.CONTENT_LENGTH).toBe(String(body.length));
  });

  it('POST with a chunked body', async () => {
    const body = Buffer.from('5\r\na=1&b\r\n4\r\n=two\r\n0\r\n\r\n');
    const r = await both(
      (port) =>
        ['POST /server.php HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Content-Type: application/x-www-form-urlencoded', 'Transfer-Encoding: chunked'].join('\r\n'),
      body,
    );
    expect(r.bridgeStatus).toBe(200);
    // Both buffer the body and send its length as CONTENT_LENGTH.
    const { bridge: b } = expectSameServer(r.nginx, r.bridge);
    expect(b.post).toEqual({ a: '1', b: 'two' });
    expect(b.server.CONTENT_LENGTH).toBe('9');
  });

  it.each([
    ['Content-Length: 0', 'Content-Length: 0', Buffer.alloc(0)],
    ['an empty chunked body', 'Transfer-Encoding: chunked', Buffer.from('0\r\n\r\n')],
  ])('POST with %s: CONTENT_LENGTH as nginx sends it, key by key', async (_name, framing, body) => {
    const r = await both(
      (port) => ['POST /server.php HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Content-Type: application/x-www-form-urlencoded', framing].join('\r\n'),
      body,
    );
    expect(r.nginxStatus).toBe(200);
    expect(r.bridgeStatus).toBe(200);
    const { nginx: n, bridge: b } = expectSameServer(r.nginx, r.bridge);
    // Frameworks read it: "0", never empty, for a POST that declared a body of nothing.
    expect(b.server.CONTENT_LENGTH).toBe(n.server.CONTENT_LENGTH);
    expect(b.server.CONTENT_LENGTH).toBe('0');
  });

  it('the listed differences are real and as described', async () => {
    const r = await both((port) => ['GET /server.php HTTP/1.1', `Host: 127.0.0.1:${port}`].join('\r\n'));
    const n = (JSON.parse(r.nginx) as Dump).server;
    const b = (JSON.parse(r.bridge) as Dump).server;
    expect(n.SERVER_SOFTWARE).toMatch(/^nginx\//);
    expect(b.SERVER_SOFTWARE).toMatch(/^fpm-bridge\//);
    expect(n.SERVER_NAME).toBe('localhost');
    expect(b.SERVER_NAME).toBe('127.0.0.1');
    expect(n.SERVER_PORT).toBe(String(nginx.port));
    expect(b.SERVER_PORT).toBe(String(bridge.port));
    expect(b.HTTP_HOST).toBe(`127.0.0.1:${bridge.port}`);
    for (const key of Object.keys(EXPECTED_DIFFERENCES)) {
      expect(n).toHaveProperty(key);
      expect(b).toHaveProperty(key);
    }
  });

  it('HTTP/1.0 request with a fixed Host (SERVER_PROTOCOL, HTTP_HOST exact)', async () => {
    const r = await both(() => ['GET /server.php HTTP/1.0', 'Host: example.test'].join('\r\n'));
    const { nginx: n, bridge: b } = expectSameServer(r.nginx, r.bridge);
    expect(b.server.SERVER_PROTOCOL).toBe('HTTP/1.0');
    expect(b.server.HTTP_HOST).toBe(n.server.HTTP_HOST);
  });

  it('percent-encoded path: SCRIPT_NAME decoded, REQUEST_URI raw', async () => {
    const r = await both((port) => ['GET /%73erver.php?x=%2F HTTP/1.1', `Host: 127.0.0.1:${port}`].join('\r\n'));
    const { bridge: b } = expectSameServer(r.nginx, r.bridge);
    expect(b.server.SCRIPT_NAME).toBe('/server.php');
    expect(b.server.REQUEST_URI).toBe('/%73erver.php?x=%2F');
  });

  it('path info: /server.php/a/b%20c', async () => {
    const r = await both((port) => ['GET /server.php/a/b%20c?z=1 HTTP/1.1', `Host: 127.0.0.1:${port}`].join('\r\n'));
    expect(r.nginxStatus).toBe(200);
    const { bridge: b } = expectSameServer(r.nginx, r.bridge);
    expect(b.server.PATH_INFO).toBe('/a/b c');
    expect(b.server.SCRIPT_NAME).toBe('/server.php');
  });

  it('directory index: /dir/ runs dir/index.php with the same params', async () => {
    const r = await both((port) => ['GET /dir/ HTTP/1.1', `Host: 127.0.0.1:${port}`].join('\r\n'));
    expect(r.nginx).toBe('dir index');
    expect(r.bridge).toBe('dir index');
  });

  it.each([
    ['/symfony.php'],
    ['/symfony.php?x=1'],
    ['/symfony.php/blog/post%201?page=2'],
    ['/sub/app.php'],
    ['/sub/app.php/api/items?x=1'],
    ['/%73ymfony.php/x'],
  ])('Symfony-style baseUrl/pathInfo/host/scheme/clientIp for %s', async (target) => {
    const r = await both(() => [`GET ${target} HTTP/1.1`, 'Host: Example.TEST:8080'].join('\r\n'));
    expect(r.nginxStatus).toBe(200);
    expect(r.bridgeStatus).toBe(200);
    const n = JSON.parse(r.nginx) as Record<string, unknown>;
    const b = JSON.parse(r.bridge) as Record<string, unknown>;
    expect(b).toEqual(n);
    expect(b.host).toBe('example.test');
    expect(b.scheme).toBe('http');
    expect(b.clientIp).toBe('127.0.0.1');
  });

  it('Symfony-style clientIp behind a trusted proxy (X-Forwarded-For)', async () => {
    const r = await both(() =>
      ['GET /symfony.php?trusted_proxies=127.0.0.1 HTTP/1.1', 'Host: example.test', 'X-Forwarded-For: 198.51.100.1, 203.0.113.9', 'X-Forwarded-Proto: https'].join('\r\n'),
    );
    const n = JSON.parse(r.nginx) as Record<string, unknown>;
    const b = JSON.parse(r.bridge) as Record<string, unknown>;
    expect(b).toEqual(n);
    expect(b).toMatchObject({ clientIp: '203.0.113.9', scheme: 'https' });
  });

  it('repeated headers: the bridge joins them like nginx >= 1.23 (nginx 1.22 passes each, PHP keeps the last)', async () => {
    const repeated = ['HTTP_X_MULTI', 'HTTP_ACCEPT', 'HTTP_COOKIE'];
    const r = await both((port) =>
      ['GET /server.php HTTP/1.1', `Host: 127.0.0.1:${port}`, 'X-Multi: one', 'X-Multi: two', 'Accept: text/html', 'Accept: */*', 'Cookie: a=1', 'Cookie: b=2'].join('\r\n'),
    );
    // Everything else is the same.
    const { nginx: n, bridge: b } = expectSameServer(r.nginx, r.bridge, repeated);
    // The bridge: one param per header name, joined with ", " (Cookie with "; ", RFC 6265 5.4).
    expect(b.server.HTTP_X_MULTI).toBe('one, two');
    expect(b.server.HTTP_ACCEPT).toBe('text/html, */*');
    expect(b.server.HTTP_COOKIE).toBe('a=1; b=2');
    expect(b.server).not.toHaveProperty('HTTP_X_MULTI_1');
    // nginx 1.23.0 joins the same way; before that (Debian 12's 1.22.1) it sends one param per line
    // and php-fpm keeps the last, so the first Cookie line is lost there. Either is accepted here.
    expect([['one, two', 'text/html, */*', 'a=1; b=2'], ['two', '*/*', 'b=2']]).toContainEqual(repeated.map((k) => n.server[k]));
  });

  it.each([
    ['Basic dXNlcjpwYXNz', 'user'],
    ['basic  ' + Buffer.from('Jürgen:pw').toString('base64'), 'Jürgen'],
    ['Basic ' + Buffer.from('nocolon').toString('base64'), ''],
    ['Basic ' + Buffer.from(':pw').toString('base64'), ''],
    ['Basic !!!', ''],
    ['Bearer abc.def', ''],
  ])('REMOTE_USER and PHP_AUTH_* for Authorization: %s', async (authorization, user) => {
    const r = await both((port) => ['GET /server.php HTTP/1.1', `Host: 127.0.0.1:${port}`, `Authorization: ${authorization}`].join('\r\n'));
    const { bridge: b } = expectSameServer(r.nginx, r.bridge);
    expect(b.server.REMOTE_USER).toBe(user);
  });

  it('drops header names with underscores and the Proxy header, like nginx', async () => {
    const r = await both((port) =>
      ['GET /server.php HTTP/1.1', `Host: 127.0.0.1:${port}`, 'X_Under: shadow', 'X-Under: real', 'Proxy: http://evil.test/'].join('\r\n'),
    );
    const { nginx: n, bridge: b } = expectSameServer(r.nginx, r.bridge);
    expect(b.server.HTTP_X_UNDER).toBe('real');
    expect(b.server.HTTP_PROXY).toBeUndefined();
    expect(n.server.HTTP_PROXY).toBeUndefined();
  });
});
