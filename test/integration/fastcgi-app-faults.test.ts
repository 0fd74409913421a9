// --fastcgi-listen behind a real nginx, with and without fastcgi_keep_conn (issue 15): an app that
// answers before reading the upload (401), a 1xx or a wrong Content-Length from the app, and a second
// instance started on the same socket path.
import { connect } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runApp } from '../../src/app/run-app.ts';
import { serveAppOverFastCGI, type FastCGIAppServer } from '../../src/http/fastcgi-app-server.ts';
import { startNginxFpm, startPhpFpm, type Nginx, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES, recordingLogger, request } from './support.ts';

function app(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '').replace(/^\/(keep|close)/, '');
  if (path.startsWith('/upload-401')) {
    // The everyday early answer: refused without reading the upload.
    res.writeHead(401, { 'www-authenticate': 'Basic realm="x"', 'content-type': 'text/plain' });
    res.end('log in first\n');
    return;
  }
  if (path.startsWith('/echo-length')) {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(`read ${n}\n`));
    return;
  }
  if (path.startsWith('/103-final')) {
    res.writeHead(103, { link: '</style.css>; rel=preload' });
    res.end('after a 103');
    return;
  }
  if (path.startsWith('/103-then-200')) {
    res.writeHead(103, { link: '</style.css>; rel=preload' });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('final after a hint');
    return;
  }
  if (path.startsWith('/long')) {
    res.writeHead(200, { 'content-length': '5' });
    res.end('hello and more');
    return;
  }
  res.end(`app ${path}\n`);
}

describe('the app over FastCGI behind nginx: faults (issue 15)', () => {
  let fpm: PhpFpm;
  let nginx: Nginx;
  let dir: string;
  let socket: string;
  let server: FastCGIAppServer;
  const logger = recordingLogger();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-fcgi-faults-'));
    socket = join(dir, 'app.sock');
    fpm = await startPhpFpm({ workers: 1 });
    server = await serveAppOverFastCGI((req, res) => runApp(app, req, res, logger, null), socket);
    nginx = await startNginxFpm({
      root: FIXTURES,
      fpmSocket: fpm.socket,
      extraHttp: `  upstream app_keep { server unix:${socket}; keepalive 4; }`,
      locations: `
    client_max_body_size 8m;
    location /keep/ { include fastcgi.conf; fastcgi_keep_conn on; fastcgi_pass app_keep; }
    location /close/ { include fastcgi.conf; fastcgi_pass unix:${socket}; }`,
    });
  }, 30_000);

  afterAll(async () => {
    await nginx?.stop();
    await server?.close();
    await fpm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const nginxErrors = () => readFileSync(join(nginx.dir, 'error.log'), 'utf8').split('\n').filter((l) => /\[(error|crit|alert)\]/.test(l));

  for (const mode of ['keep', 'close']) {
    it(`an app that answers before reading the upload: nginx gets its answer, bodies of 100 KiB and 1 MiB (${mode === 'keep' ? 'with' : 'without'} fastcgi_keep_conn)`, async () => {
      for (const size of [100 * 1024, 1024 * 1024, 100 * 1024, 1024 * 1024, 1024 * 1024, 1024 * 1024, 100 * 1024, 1024 * 1024]) {
        const r = await request(nginx.port, `/${mode}/upload-401`, { method: 'POST', body: Buffer.alloc(size, 'u'), headers: { 'content-type': 'application/octet-stream' } });
        expect(r.status, `${size} bytes`).toBe(401);
        expect(r.body.toString()).toBe('log in first\n');
        expect(r.headers['www-authenticate']).toBe('Basic realm="x"');
      }
      // The connection (kept or not) is still good for the next request, body read in full.
      const after = await request(nginx.port, `/${mode}/echo-length`, { method: 'POST', body: Buffer.alloc(300_000, 'e') });
      expect(after.body.toString()).toBe('read 300000\n');
      expect(nginxErrors()).toEqual([]);
    }, 30_000);
  }

  it('a 103 ending the response does not become nginx\'s final status: 500; a 103 then 200 is the 200', async () => {
    for (const mode of ['keep', 'close']) {
      const r = await request(nginx.port, `/${mode}/103-final`);
      expect(r.status).toBe(500);
      expect(r.body.toString()).not.toContain('after a 103');
      const ok = await request(nginx.port, `/${mode}/103-then-200`);
      expect(ok.status).toBe(200);
      expect(ok.body.toString()).toBe('final after a hint');
    }
  });

  it('bytes past the app\'s Content-Length never reach nginx', async () => {
    for (const mode of ['keep', 'close']) {
      const r = await request(nginx.port, `/${mode}/long`);
      expect(r.body.toString()).toBe('hello');
      expect((await request(nginx.port, `/${mode}/after`)).body.toString()).toBe('app /after\n');
    }
  });

  it('a second instance on a live socket fails with EADDRINUSE and leaves the first serving', async () => {
    const err = await serveAppOverFastCGI(() => {}, socket).then(
      () => null,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(err?.code).toBe('EADDRINUSE');
    expect(err?.message).toMatch(/already serving on .*app\.sock/);
    expect((await request(nginx.port, '/close/still-mine')).body.toString()).toBe('app /still-mine\n');
    expect(statSync(socket).isSocket()).toBe(true);
  });

  it('a stale socket file is replaced; a file that is not a socket is refused; close removes only its own socket', async () => {
    const stale = join(dir, 'stale.sock');
    // A socket nobody listens on: what a killed instance leaves (its listener closed, the file kept).
    const first = await serveAppOverFastCGI(() => {}, stale);
    await new Promise<void>((r) => first.server.close(() => r()));
    expect(statSync(stale).isSocket()).toBe(true);
    const second = await serveAppOverFastCGI((_req, res) => res.end('second\n'), stale);
    await new Promise<void>((resolve, reject) => {
      const c = connect(stale, () => {
        c.destroy();
        resolve();
      });
      c.on('error', reject);
    });

    const plain = join(dir, 'plain-file');
    writeFileSync(plain, 'not a socket');
    await expect(serveAppOverFastCGI(() => {}, plain)).rejects.toThrow(/not a socket/);
    expect(readFileSync(plain, 'utf8')).toBe('not a socket');

    // Another instance replaced our socket file (an operator removed it and started another): on
    // close we leave theirs alone.
    rmSync(stale);
    const third = await serveAppOverFastCGI(() => {}, stale);
    const inode = statSync(stale).ino;
    await second.close();
    expect(statSync(stale).ino).toBe(inode);
    await third.close();
    expect(existsSync(stale)).toBe(false);
  });
});
