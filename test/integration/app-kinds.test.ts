// The app kinds users bring, each the example in php/demo/apps/, behind a real php-fpm: a plain
// (req, res) listener, Express, Hono (fetch style) and Fastify (its Node request handler). With a
// front controller that answers 404 (php/fixtures/notfound.php), every path is PHP's first: the
// app gets the fallback with the body intact, and when the app says 404 too, PHP's body wins.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadApp } from '../../src/app/load-app.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { md5, recordingLogger, request, startBridge, waitFor, type RecordingLogger, type Running } from './support.ts';

const APPS = fileURLToPath(new URL('../../php/demo/apps/', import.meta.url));
const DEMO_PUBLIC = fileURLToPath(new URL('../../php/demo/public', import.meta.url));

const KINDS = [
  { file: 'listener.ts', greeting: 'Hello from a plain listener\n' },
  { file: 'express.ts', greeting: 'Hello from Express\n' },
  { file: 'hono.ts', greeting: 'Hello from Hono\n' },
  { file: 'fastify.ts', greeting: 'Hello from Fastify\n' },
];

let fpm: PhpFpm;
beforeAll(async () => {
  fpm = await startPhpFpm();
});
afterAll(async () => {
  await fpm?.stop();
});

describe.each(KINDS)('$file behind php-fpm', ({ file, greeting }) => {
  let bridge: Running;
  let direct: Running;
  let logger: RecordingLogger;

  beforeAll(async () => {
    const app = await loadApp(APPS + file);
    logger = recordingLogger();
    // Every path runs notfound.php first (404 "Package X does not exist"), so each request is a fallback.
    bridge = await startBridge({ fpm: fpm.socket, app, frontController: 'notfound.php', logger });
    // The demo's docroot: /hello is no file there, so it goes straight to the app.
    direct = await startBridge({ fpm: fpm.socket, root: DEMO_PUBLIC, app, logger: recordingLogger() });
  });
  afterAll(async () => {
    await bridge?.close();
    await direct?.close();
  });

  const servedBy = async (method: string, url: string) => {
    await waitFor(() => logger.accessLog.some((e) => e.method === method && e.url === url), 3_000, `access log for ${method} ${url}`);
    return logger.accessLog.filter((e) => e.method === method && e.url === url).at(-1)!.servedBy;
  };

  it('GET: PHP says 404, the app answers', async () => {
    const r = await request(bridge.port, '/hello');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(greeting);
    expect(r.headers['x-from']).toBeUndefined(); // nothing of PHP's held 404 leaks
    expect(await servedBy('GET', '/hello')).toBe('php→app');
  });

  it('POST: the body PHP read first reaches the app intact (binary, 300 KB)', async () => {
    const body = randomBytes(300 * 1024);
    const r = await request(bridge.port, '/hello?binary', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(body.length);
    expect(md5(r.body)).toBe(md5(body));
    expect(await servedBy('POST', '/hello?binary')).toBe('php→app');
  });

  it('POST: a form body and its content type come through', async () => {
    const body = 'message=h%C3%A9llo+from+a+form&n=1';
    const r = await request(bridge.port, '/hello?form', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(r.body.toString()).toBe(body);
  });

  it('both say 404: PHP’s 404 and body win, for GET and for a POST with a body', async () => {
    for (const method of ['GET', 'POST']) {
      const r = await request(bridge.port, '/no-such-page', { method, ...(method === 'POST' ? { body: 'x=1', headers: { 'content-type': 'text/plain' } } : {}) });
      expect(r.status).toBe(404);
      expect(r.body.toString()).toBe('Package X does not exist');
      expect(r.headers['x-from']).toBe('php');
      expect(await servedBy(method, '/no-such-page')).toBe('php→app→php');
    }
  });

  it('a path with no PHP script goes straight to the app', async () => {
    const r = await request(direct.port, '/hello', { method: 'POST', body: 'straight', headers: { 'content-type': 'text/plain' } });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('straight');
    expect((await request(direct.port, '/hello')).body.toString()).toBe(greeting);
  });
});
