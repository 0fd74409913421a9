// X-Accel-Redirect and X-Sendfile (issue 13) against a real php-fpm: PHP names a file under a
// --sendfile-root and the bridge sends it as a static file (Range, HEAD, 304), with PHP's
// Content-Type, Content-Disposition and Set-Cookie kept; nothing outside the roots is ever sent.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { recordingLogger, request, startBridge, type Running } from './support.ts';

describe('X-Accel-Redirect / X-Sendfile (issue 13)', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  let off: Running;
  let base: string;
  let root: string;
  let files: string;
  const logger = recordingLogger();
  const report = Buffer.alloc(200 * 1024);
  for (let i = 0; i < report.length; i++) report[i] = (i * 31) % 256;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'fpm-bridge-sendfile-'));
    root = join(base, 'public');
    files = join(base, 'files');
    mkdirSync(root);
    mkdirSync(files);
    writeFileSync(join(files, 'report.pdf'), report);
    writeFileSync(join(base, 'secret.txt'), 'the secret outside the roots');
    symlinkSync(join(base, 'secret.txt'), join(files, 'link-out.txt'));
    // The script hands over whatever the query names, as a careless download controller would.
    writeFileSync(
      join(root, 'download.php'),
      `<?php
      header('Content-Type: application/pdf');
      header('Content-Disposition: attachment; filename="report.pdf"');
      header('Cache-Control: private, max-age=60');
      setcookie('seen', '1');
      header('X-Powered-By: not-kept');
      if (isset($_GET['sendfile'])) header('X-Sendfile: ' . $_GET['sendfile']);
      else header('X-Accel-Redirect: ' . ($_GET['f'] ?? '/private/report.pdf'));
      echo "PHP's own body, never sent";`,
    );
    writeFileSync(join(root, 'type.php'), `<?php header('Content-Type: text/plain'); echo ($_SERVER['HTTP_X_SENDFILE_TYPE'] ?? '-') . '|' . ($_SERVER['HTTP_X_ACCEL_MAPPING'] ?? '-');`);
    fpm = await startPhpFpm({ workers: 2 });
    bridge = await startBridge({ fpm: fpm.socket, root, logger, sendfileRoots: [`/private=${files}`] });
    off = await startBridge({ fpm: fpm.socket, root });
  });

  afterAll(async () => {
    await bridge?.close();
    await off?.close();
    await fpm?.stop();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it("sends the file PHP names, with PHP's Content-Type, Content-Disposition, Cache-Control and cookie; not its body or other headers", async () => {
    const r = await request(bridge.port, '/download.php');
    expect(r.status).toBe(200);
    expect(r.body.equals(report)).toBe(true);
    expect(r.headers['content-type']).toBe('application/pdf');
    expect(r.headers['content-disposition']).toBe('attachment; filename="report.pdf"');
    expect(r.headers['cache-control']).toBe('private, max-age=60');
    expect(r.headers['set-cookie']?.[0]).toMatch(/^seen=1/);
    expect(r.headers['content-length']).toBe(String(report.length));
    expect(r.headers['x-accel-redirect']).toBeUndefined();
    expect(r.headers['x-powered-by']).toBeUndefined();
    expect(r.headers.etag).toBeDefined();
  });

  it('Range, HEAD and If-None-Match work on the file', async () => {
    const ranged = await request(bridge.port, '/download.php', { headers: { range: 'bytes=1000-1999' } });
    expect(ranged.status).toBe(206);
    expect(ranged.body.equals(report.subarray(1000, 2000))).toBe(true);
    expect(ranged.headers['content-range']).toBe(`bytes 1000-1999/${report.length}`);
    const head = await request(bridge.port, '/download.php', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(report.length));
    const first = await request(bridge.port, '/download.php');
    const again = await request(bridge.port, '/download.php', { headers: { 'if-none-match': first.headers.etag! } });
    expect(again.status).toBe(304);
  });

  it('X-Sendfile with an absolute path under a root', async () => {
    const r = await request(bridge.port, `/download.php?sendfile=${encodeURIComponent(join(files, 'report.pdf'))}`);
    expect(r.status).toBe(200);
    expect(r.body.equals(report)).toBe(true);
  });

  it('never a file outside the roots: traversal, encoded traversal, a symlink out, another path, a missing file', async () => {
    const tries = [
      '/download.php?f=' + encodeURIComponent('/private/../secret.txt'),
      '/download.php?f=' + encodeURIComponent('/private/%2e%2e/secret.txt'),
      '/download.php?f=' + encodeURIComponent('/private/link-out.txt'),
      '/download.php?f=' + encodeURIComponent('/etc/passwd'),
      '/download.php?f=' + encodeURIComponent('/private/missing.pdf'),
      '/download.php?sendfile=' + encodeURIComponent(join(base, 'secret.txt')),
      '/download.php?sendfile=' + encodeURIComponent(`${files}/../secret.txt`),
      '/download.php?sendfile=' + encodeURIComponent('/etc/passwd'),
    ];
    for (const path of tries) {
      const r = await request(bridge.port, path);
      expect(r.status, path).toBe(404);
      expect(r.body.toString(), path).not.toContain('secret');
      expect(r.body.toString(), path).not.toContain('root:');
      expect(r.body.toString(), path).not.toContain("PHP's own body");
    }
    expect(logger.warnings.filter((w) => w.includes("PHP's file not sent")).length).toBeGreaterThanOrEqual(tries.length);
  });

  it('PHP is told: X-Sendfile-Type and X-Accel-Mapping, as Symfony and Laravel read them; a client cannot set them', async () => {
    const r = await request(bridge.port, '/type.php', { headers: { 'x-sendfile-type': 'X-Sendfile', 'x-accel-mapping': '/=/' } });
    expect(r.body.toString()).toBe(`X-Accel-Redirect|${files}/=/private/`);
    expect((await request(off.port, '/type.php')).body.toString()).toBe('-|-');
  });
});
