// PATH_INFO front controller mode (`--index index.php --path-info`) against nginx configured the way
// aurweb 5.0 and CodeIgniter 3 are deployed, same php-fpm pool, same document root, same request bytes:
//
//   location ~ ^/[^/]+\.php($|/) { include snippets/fastcgi-php.conf; fastcgi_pass unix:...; }
//   location ~ .* { rewrite ^/(.*)$ /index.php/$1 last; }
//
// $_SERVER is compared key by key; every difference must be on the list in params-parity.test.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginxFpm, startPhpFpm, type Nginx, type PhpFpm } from '../helpers/php-fpm.ts';
import { rawRequest, startBridge, type Running } from './support.ts';
import { EXPECTED_DIFFERENCES, NORMALISE } from './parity.ts';

/** What every script of the docroot prints: $_SERVER, $_GET, and the routing keys picked out. */
const dumpScript = (name: string) => `<?php
header('Content-Type: application/json');
$s = $_SERVER;
echo json_encode([
    'script' => '${name}',
    'server' => $s,
    'get' => $_GET,
    'routing' => [
        'PHP_SELF' => $s['PHP_SELF'] ?? null,
        'PATH_INFO' => $s['PATH_INFO'] ?? null,
        'PATH_TRANSLATED' => $s['PATH_TRANSLATED'] ?? null,
        'SCRIPT_NAME' => $s['SCRIPT_NAME'] ?? null,
        'REQUEST_URI' => $s['REQUEST_URI'] ?? null,
    ],
], JSON_UNESCAPED_SLASHES | JSON_PARTIAL_OUTPUT_ON_ERROR | JSON_INVALID_UTF8_SUBSTITUTE);
`;

type Dump = { script: string; server: Record<string, unknown>; get: unknown; routing: Record<string, string | null> };

describe('PATH_INFO front controller: $_SERVER parity with nginx (aurweb / CodeIgniter config)', () => {
  let fpm: PhpFpm;
  let nginx: Nginx;
  let bridge: Running;
  let root: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-pathinfo-'));
    writeFileSync(join(root, 'index.php'), dumpScript('index'));
    writeFileSync(join(root, 'other.php'), dumpScript('other'));
    mkdirSync(join(root, 'css'));
    writeFileSync(join(root, 'css', 'site.css'), 'body { color: #333 }\n');
    mkdirSync(join(root, 'sub'));
    writeFileSync(join(root, 'sub', 'nested.php'), dumpScript('nested'));
    writeFileSync(join(root, '.hidden.php'), dumpScript('hidden'));
    fpm = await startPhpFpm({ workers: 3 });
    nginx = await startNginxFpm({
      root,
      fpmSocket: fpm.socket,
      // aurweb 5.0's conf/nginx.conf.proto and CodeIgniter 3's documented nginx setup.
      locations: [
        '    location ~ ^/[^/]+\\.php($|/) {',
        '      include snippets/fastcgi-php.conf;',
        `      fastcgi_pass unix:${fpm.socket};`,
        '    }',
        '    location ~ .* {',
        '      rewrite ^/(.*)$ /index.php/$1 last;',
        '    }',
      ].join('\n'),
    });
    bridge = await startBridge({ fpm: fpm.socket, root, frontController: 'index.php', pathInfo: true, fpmConnections: 2 });
  }, 20_000);

  afterAll(async () => {
    await bridge?.close();
    await nginx?.stop();
    await fpm?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** The same request bytes to both fronts (Host names the front's own port). */
  async function both(target: string) {
    const head = (port: number) => [`GET ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'User-Agent: parity-test/1.0'].join('\r\n');
    const [n, b] = await Promise.all([rawRequest(nginx.port, head(nginx.port)), rawRequest(bridge.port, head(bridge.port))]);
    return { nginx: n, bridge: b };
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

  async function expectParity(target: string): Promise<Dump> {
    const r = await both(target);
    expect({ nginx: r.nginx.status, bridge: r.bridge.status }).toEqual({ nginx: 200, bridge: 200 });
    const n = JSON.parse(r.nginx.body.toString('latin1')) as Dump;
    const b = JSON.parse(r.bridge.body.toString('latin1')) as Dump;
    const cn = comparable(n.server);
    const cb = comparable(b.server);
    // Key by key, so a failure names every key that differs.
    const diffs: Record<string, { nginx: unknown; bridge: unknown }> = {};
    for (const key of new Set([...Object.keys(cn), ...Object.keys(cb)])) {
      if (JSON.stringify(cn[key]) !== JSON.stringify(cb[key])) diffs[key] = { nginx: cn[key], bridge: cb[key] };
    }
    expect(diffs).toEqual({});
    expect(b.script).toBe(n.script);
    expect(b.get).toEqual(n.get);
    expect(b.routing).toEqual(n.routing);
    return b;
  }

  it.each([
    // [target, script, PATH_INFO]
    ['/', 'index', '/'],
    ['/packages/foo', 'index', '/packages/foo'],
    ['/packages/foo/?x=1&y=%20', 'index', '/packages/foo/'],
    ['/a%20b/c', 'index', '/a b/c'],
    ['/index.php', 'index', ''],
    ['/index.php/x/y', 'index', '/x/y'],
    ['/other.php', 'other', ''],
    ['/other.php/z', 'other', '/z'],
    // No --path-info-static: a static file is a route like any other, as with the nginx rewrite.
    ['/css/site.css', 'index', '/css/site.css'],
    ['/css/', 'index', '/css/'],
    ['/packages/%C3%A9t%C3%A9?q=%C3%A9', 'index', '/packages/été'],
    ['/packages//foo/./bar/../baz', 'index', '/packages/foo/baz'],
    // Only scripts at the top level run (`^/[^/]+\.php`): a nested one is the router's path.
    ['/sub/nested.php', 'index', '/sub/nested.php'],
    ['/sub/missing.php/x', 'index', '/sub/missing.php/x'],
  ])('%s', async (target, script, pathInfo) => {
    const b = await expectParity(target);
    expect(b.script).toBe(script);
    expect(b.routing.PATH_INFO).toBe(pathInfo);
    expect(b.routing.PHP_SELF).toBe(`/${script}.php${pathInfo}`);
    expect(b.routing.REQUEST_URI).toBe(target);
    expect(b.routing.SCRIPT_NAME).toBe(`/${script}.php`);
  });

  it('the routing keys are what an aurweb / CodeIgniter router reads', async () => {
    const b = await expectParity('/packages/foo?x=1');
    expect(b.routing).toMatchObject({
      SCRIPT_NAME: '/index.php',
      PATH_INFO: '/packages/foo',
      PHP_SELF: '/index.php/packages/foo',
      REQUEST_URI: '/packages/foo?x=1',
    });
    expect(b.server.QUERY_STRING).toBe('x=1');
    expect(b.server.SCRIPT_FILENAME).toBe(join(root, 'index.php'));
    expect(b.get).toEqual({ x: '1' });
  });

  it('PATH_TRANSLATED is left unset, as nginx leaves it (fastcgi.conf does not send it, php-fpm does not derive it)', async () => {
    for (const target of ['/packages/foo', '/index.php/x', '/index.php']) {
      const b = await expectParity(target);
      expect(b.server).not.toHaveProperty('PATH_TRANSLATED');
    }
    // PATH_INFO is sent empty for a script without one, PHP_SELF is then the script alone.
    const plain = await expectParity('/index.php');
    expect(plain.routing).toMatchObject({ PATH_INFO: '', PHP_SELF: '/index.php' });
  });

  it('the one deliberate difference: a top-level dot-script (/.hidden.php) never runs, it is the router\'s path', async () => {
    // nginx's `^/[^/]+\.php` matches it and runs it; the bridge never runs or serves a dotfile
    // (file-policy.ts isHidden), so in PATH_INFO mode it is a path for the front controller.
    const r = await both('/.hidden.php');
    expect(JSON.parse(r.nginx.body.toString()).script).toBe('hidden');
    const b = JSON.parse(r.bridge.body.toString()) as Dump;
    expect(b.script).toBe('index');
    expect(b.routing.PATH_INFO).toBe('/.hidden.php');
  });

  it('--path-info-static: existing static files first (nginx: a static location before the rewrite), the rest the router\'s', async () => {
    const withStatic = await startBridge({ fpm: fpm.socket, root, frontController: 'index.php', pathInfo: true, pathInfoStatic: true, fpmConnections: 1 });
    try {
      const get = (target: string) => rawRequest(withStatic.port, `GET ${target} HTTP/1.1\r\nHost: localhost`);
      const css = await get('/css/site.css');
      expect(css.status).toBe(200);
      expect(css.head).toMatch(/content-type: text\/css/i);
      expect(css.body.toString()).toBe('body { color: #333 }\n');
      for (const [target, pathInfo] of [['/css/missing.css', '/css/missing.css'], ['/css/', '/css/'], ['/packages/foo', '/packages/foo']]) {
        const r = await get(target!);
        expect(r.status).toBe(200);
        expect((JSON.parse(r.body.toString()) as Dump).routing.PATH_INFO).toBe(pathInfo);
      }
    } finally {
      await withStatic.close();
    }
  });

  it('a missing top-level script is 404 on both', async () => {
    const r = await both('/missing.php/x');
    expect(r.nginx.status).toBe(404);
    expect(r.bridge.status).toBe(404);
  });
});
