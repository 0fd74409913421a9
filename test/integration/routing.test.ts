// What is served, run or refused, with raw request targets no client normalises: dotfiles, PHP
// source and its copies, traversal, path info, front controller.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES, rawRequest, request, startBridge, type Running } from './support.ts';

const SOURCE_MARKER = 'SOURCE-MUST-NOT-LEAK';
const get = (port: number, target: string) => rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: localhost`);

describe('routing and file policy', () => {
  let fpm: PhpFpm;
  let plain: Running; // no app, no front controller: like nginx with try_files $uri $uri/ =404
  let front: Running; // front controller hello.php
  let root: string;

  beforeAll(async () => {
    // A copy of the fixtures plus PHP source in every disguise that must never go out as text.
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-routing-'));
    cpSync(FIXTURES, root, { recursive: true });
    const source = `<?php echo 'ran'; // ${SOURCE_MARKER}\n`;
    for (const name of ['x.php', 'x.php~', 'x.php.bak', 'x.php.orig', 'x.php.swp', '.x.php.swp', 'x.php.dist', 'x.php.1', 'x.phps', 'x.phtml', 'x.inc', 'X.PHP', 'x.Php', 'x.php5', 'x.phar']) {
      writeFileSync(join(root, name), source);
    }
    fpm = await startPhpFpm({ workers: 2 });
    plain = await startBridge({ fpm: fpm.socket, root, fpmConnections: 1 });
    front = await startBridge({ fpm: fpm.socket, root, frontController: 'hello.php', fpmConnections: 1 });
  }, 20_000);

  afterAll(async () => {
    await plain?.close();
    await front?.close();
    await fpm?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('runs x.php instead of sending its source', async () => {
    const res = await get(plain.port, '/x.php');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('ran');
  });

  it.each(['/x.php~', '/x.php.bak', '/x.php.orig', '/x.php.swp', '/.x.php.swp', '/x.php.dist', '/x.php.1', '/x.phps', '/x.phtml', '/x.inc', '/X.PHP', '/x.Php', '/x.php5', '/x.phar', '/x%2ephp.bak', '/x.ph%70~'])(
    'never serves PHP source as %s',
    async (target) => {
      for (const port of [plain.port, front.port]) {
        const res = await get(port, target);
        expect(res.text).not.toContain(SOURCE_MARKER);
        expect(res.text).not.toContain('<?php');
      }
      expect((await get(plain.port, target)).status).toBe(404);
    },
  );

  it.each(['/.env', '/%2eenv', '/static/../.env', '/static/%2e%2e/.env', '/./.env', '//.env', '/.git/config', '/dir/../.env'])(
    'never serves the dotfile %s (404 without an app)',
    async (target) => {
      const res = await get(plain.port, target);
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('SECRET');
      // With a front controller the path is "no file": the front controller runs instead.
      const viaFront = await get(front.port, target);
      expect(viaFront.text).not.toContain('SECRET');
      expect(viaFront.body.toString()).toBe('Hello from PHP');
    },
  );

  it('serves /.well-known/ files (RFC 8615)', async () => {
    const res = await get(plain.port, '/.well-known/security.txt');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toContain('Contact: mailto:security@example.invalid');
  });

  it.each(['/../etc/passwd', '/static/../../etc/passwd', '/%2e%2e/etc/passwd', '/static/..%2f..%2fetc/passwd', '/..'])(
    'refuses %s, which climbs above the root, with 400',
    async (target) => {
      const res = await get(plain.port, target);
      expect(res.status).toBe(400);
      expect(res.text).not.toContain('root:');
    },
  );

  it('normalises dot segments and double slashes before routing', async () => {
    expect((await get(plain.port, '/static/../hello.php')).body.toString()).toBe('Hello from PHP');
    expect((await get(plain.port, '//static///style.css')).status).toBe(200);
    expect((await get(plain.port, '/%68ello.php')).body.toString()).toBe('Hello from PHP');
  });

  it('refuses malformed percent-encoding and NUL bytes with 400', async () => {
    expect((await get(plain.port, '/hello%zz.php')).status).toBe(400);
    expect((await get(plain.port, '/hello.php%00.txt')).status).toBe(400);
    expect((await get(plain.port, '/x.php%00')).status).toBe(400);
  });

  it('splits PATH_INFO after the first .php segment', async () => {
    const res = await request(plain.port, '/sub/page.php/extra/p%20q?x=1');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ SCRIPT_NAME: '/sub/page.php', PATH_INFO: '/extra/p q' });
  });

  it('does not run a script whose name only contains .php (x.php.txt is no PHP script)', async () => {
    writeFileSync(join(root, 'y.php.txt'), `<?php // ${SOURCE_MARKER}`);
    const res = await get(plain.port, '/y.php.txt');
    expect(res.text).not.toContain(SOURCE_MARKER);
  });

  it('gives a missing .php script 404 even with a front controller (try_files $fastcgi_script_name =404)', async () => {
    expect((await get(plain.port, '/missing.php')).status).toBe(404);
    expect((await get(front.port, '/missing.php')).status).toBe(404);
  });

  it('runs the front controller for paths that are no file, keeping REQUEST_URI', async () => {
    const res = await get(front.port, '/some/route?q=1');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('Hello from PHP');
    // Existing files are still served directly.
    expect((await get(front.port, '/static/app.js')).body.toString()).toBe("console.log('app.js loaded');\n");
  });

  it('accepts an absolute-form request target', async () => {
    const res = await get(plain.port, 'http://example.test/hello.php');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('Hello from PHP');
  });
});
