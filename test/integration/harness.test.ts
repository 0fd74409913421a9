// Self-check of the test harness: private php-fpm + nginx (Debian's standard
// PHP setup) serving php/fixtures.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginxFpm, startPhpFpm, type Nginx, type PhpFpm } from '../helpers/php-fpm.ts';

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
