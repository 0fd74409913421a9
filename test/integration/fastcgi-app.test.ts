// --fastcgi-listen: the app served over FastCGI to an nginx kept in front in production, next to
// php-fpm: nginx sends PHP's 404s (error_page) and paths with no file (try_files) to the app.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startNginxFpm, startPhpFpm, type Nginx, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES, request, waitFor } from './support.ts';

describe('the app over FastCGI behind nginx (--fastcgi-listen)', () => {
  let fpm: PhpFpm;
  let nginx: Nginx;
  let bridge: ChildProcess;
  let dir: string;
  let output = '';
  let appSocket: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-fcgi-app-'));
    appSocket = join(dir, 'app.sock');
    fpm = await startPhpFpm({ workers: 2 });
    const port = await freePort();
    bridge = spawn(process.execPath, ['scripts/fpm-bridge.mjs', '--fpm', fpm.socket, '--root', FIXTURES, '--app', 'php/demo/apps/listener.ts',
      '--listen', `127.0.0.1:${port}`, '--fastcgi-listen', appSocket, '--fpm-connections', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    bridge.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    bridge.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    await waitFor(() => output.includes('over FastCGI on'), 15_000, 'the bridge to serve the app over FastCGI');
    nginx = await startNginxFpm({
      root: FIXTURES,
      fpmSocket: fpm.socket,
      locations: `
    location / { try_files $uri $uri/ @app; }
    location ~ \\.php$ {
      include snippets/fastcgi-php.conf;
      fastcgi_pass unix:${fpm.socket};
      fastcgi_intercept_errors on;
      error_page 404 = @app;
    }
    location @app { include fastcgi.conf; fastcgi_pass unix:${appSocket}; }`,
    });
  }, 30_000);

  afterAll(async () => {
    bridge?.kill('SIGTERM');
    await nginx?.stop();
    await fpm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('nginx hands a path with no file to the app, POST body included', async () => {
    const get = await request(nginx.port, '/hello');
    expect(get.status).toBe(200);
    expect(get.body.toString()).toBe('Hello from a plain listener\n');
    const post = await request(nginx.port, '/hello', { method: 'POST', body: 'over fastcgi', headers: { 'content-type': 'text/plain' } });
    expect(post.status).toBe(200);
    expect(post.body.toString()).toBe('over fastcgi');
  });

  it("PHP's own pages stay PHP's, and PHP's 404 goes to the app through error_page", async () => {
    expect((await request(nginx.port, '/hello.php')).body.toString()).toBe('Hello from PHP');
    const declined = await request(nginx.port, '/notfound.php');
    // The listener answers 404 for anything but /hello: nginx then serves that 404 of the app's.
    expect(declined.status).toBe(404);
    expect(declined.body.toString()).toBe('not found in the app\n');
  });

  it('a second bridge on the same socket exits 1 with a clear error, and the first keeps serving nginx', async () => {
    const port = await freePort();
    const second = spawn(process.execPath, ['scripts/fpm-bridge.mjs', '--fpm', fpm.socket, '--root', FIXTURES, '--app', 'php/demo/apps/listener.ts',
      '--listen', `127.0.0.1:${port}`, '--fastcgi-listen', appSocket], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    second.stdout!.on('data', (b: Buffer) => (text += b.toString()));
    second.stderr!.on('data', (b: Buffer) => (text += b.toString()));
    const code = await new Promise((r) => second.once('exit', r));
    expect(code).toBe(1);
    expect(text).toContain(`cannot serve the app over FastCGI on ${appSocket}: another process is already serving on ${appSocket}`);
    expect((await request(nginx.port, '/hello')).body.toString()).toBe('Hello from a plain listener\n');
  }, 20_000);
});
