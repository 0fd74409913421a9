// Self-check of the test harness: private php-fpm + nginx (Debian's standard
// PHP setup) serving php/fixtures.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginxFpm, startPhpFpm, type Nginx, type PhpFpm } from '../helpers/php-fpm.ts';
import { waitFor } from './support.ts';

const root = fileURLToPath(new URL('../../php/fixtures', import.meta.url));

describe('php-fpm + nginx harness', () => {
  let fpm: PhpFpm;
  let nginx: Nginx;
  const url = (path: string) => `http://127.0.0.1:${nginx.port}${path}`;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 2 });
    nginx = await startNginxFpm({ root, fpmSocket: fpm.socket });
  }, 20_000);

  afterAll(async () => {
    await nginx?.stop();
    await fpm?.stop();
  });

  it('serves hello.php', async () => {
    const res = await fetch(url('/hello.php'));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('Hello from PHP');
  });

  it('passes the standard CGI params', async () => {
    const res = await fetch(url('/server.php?x=1'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as { server: Record<string, unknown>; get: Record<string, unknown> };
    expect(body.server['SCRIPT_NAME']).toBe('/server.php');
    expect(body.server['SCRIPT_FILENAME']).toBe(`${root}/server.php`);
    expect(body.server['QUERY_STRING']).toBe('x=1');
    expect(body.server['REQUEST_URI']).toBe('/server.php?x=1');
    expect(body.get).toEqual({ x: '1' });
  });

  it('survives a php-fpm restart on the same socket', async () => {
    const before = fpm.pid;
    await fpm.restart();
    expect(fpm.pid).not.toBe(before);
    const res = await fetch(url('/hello.php'));
    expect(await res.text()).toBe('Hello from PHP');
  }, 20_000);
});

// A test run stopped from outside (vitest killed by SIGTERM, or SIGKILL) runs no exit hook of the
// helper's. Its php-fpm and nginx used to keep running, their temp dirs left in TMPDIR.
describe('harness: a test process killed outright', () => {
  it('takes its php-fpm and nginx with it, and their temp dirs', async () => {
    const helper = fileURLToPath(new URL('../helpers/php-fpm.ts', import.meta.url));
    const script = `
      const { startPhpFpm, startNginxFpm } = await import(${JSON.stringify(helper)});
      const fpm = await startPhpFpm({ workers: 1 });
      const nginx = await startNginxFpm({ root: ${JSON.stringify(root)}, fpmSocket: fpm.socket });
      process.stdout.write(JSON.stringify({ fpm: fpm.pid, fpmDir: fpm.dir, nginxDir: nginx.dir }) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await waitFor(() => out.includes('\n'), 20_000);
    const { fpm, fpmDir, nginxDir } = JSON.parse(out) as { fpm: number; fpmDir: string; nginxDir: string };
    expect(existsSync(fpmDir)).toBe(true);
    expect(existsSync(nginxDir)).toBe(true);
    child.kill('SIGKILL');
    const alive = () => {
      try {
        process.kill(fpm, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(() => !alive() && !existsSync(fpmDir) && !existsSync(nginxDir), 10_000);
  }, 40_000);
});
