// An app that never answers, goes quiet mid-response, or writes after end: that client gets 504 (or
// a cut connection once its response started), the process lives, and every other request is fine.
// (Throwing and rejecting apps are in failures.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { recordingLogger, request, sleep, startBridge, type Running } from './support.ts';

describe('an app that misbehaves', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  const logger = recordingLogger();
  const late: ServerResponse[] = [];

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 2 });
    bridge = await startBridge({
      fpm: fpm.socket,
      fpmConnections: 2,
      appTimeoutMs: 400,
      logger,
      app: (req, res) => {
        const url = req.url ?? '';
        if (url.startsWith('/hang') || url.endsWith('?hang')) {
          // Never answers; answers late once the bridge has given up.
          late.push(res);
          setTimeout(() => {
            res.setHeader('x-late', '1');
            res.writeHead(200);
            res.end('too late');
          }, 700);
          return;
        }
        if (url.startsWith('/quiet')) {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('started ');
          return; // and nothing more
        }
        if (url.startsWith('/trickle')) {
          // Slower than nothing at all for 400 ms, but never quiet that long: it lives.
          res.writeHead(200, { 'content-type': 'text/plain' });
          let n = 0;
          const timer = setInterval(() => {
            res.write(`${n} `);
            if (++n === 6) {
              clearInterval(timer);
              res.end('done');
            }
          }, 150);
          return;
        }
        if (url.startsWith('/after-end')) {
          res.end('first');
          res.write('second');
          res.end('third');
          return;
        }
        res.end(`app ok ${url}`);
      },
    });
  }, 20_000);
  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it('never answers → 504 after --app-timeout, while other requests go through; late writes go nowhere', async () => {
    const before = logger.errors.length;
    const started = performance.now();
    const hanging = request(bridge.port, '/hang');
    // Others are unaffected while it hangs.
    const others = await Promise.all([request(bridge.port, '/fine'), request(bridge.port, '/hello.php')]);
    expect(others.map((r) => r.body.toString())).toEqual(['app ok /fine', 'Hello from PHP']);
    const res = await hanging;
    expect(res.status).toBe(504);
    expect(res.headers['x-late']).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(logger.errors.slice(before).some((e) => e.message.includes('did not answer'))).toBe(true);
    // The app's late answer (at 700 ms) neither crashes the process nor reaches anyone.
    await sleep(500);
    expect((await request(bridge.port, '/fine')).status).toBe(200);
  });

  it('never answers after PHP declined (404 → app) → 504 too', async () => {
    const res = await request(bridge.port, '/notfound.php?hang');
    expect(res.status).toBe(504);
    expect(res.headers['x-from']).toBeUndefined();
    expect((await request(bridge.port, '/notfound.php')).body.toString()).toBe('app ok /notfound.php');
  });

  it('goes quiet mid-response → the connection is cut after --app-timeout (the client sees a short body)', async () => {
    const started = performance.now();
    const res = await rawText(bridge.port, 'GET /quiet HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expect(performance.now() - started).toBeLessThan(2000);
    expect(res.text).toMatch(/^HTTP\/1\.1 200/);
    expect(res.text).toContain('started');
    expect(res.text).not.toMatch(/\r\n0\r\n\r\n$/); // no last chunk: the response was cut, not ended
    expect((await request(bridge.port, '/fine')).status).toBe(200);
  });

  it('a slow stream that keeps writing is not cut', async () => {
    const res = await request(bridge.port, '/trickle');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('0 1 2 3 4 5 done');
  });

  it('writes after end → the client gets the first answer, the process lives, the error is logged', async () => {
    const before = logger.errors.length;
    const res = await request(bridge.port, '/after-end');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('first');
    await sleep(50);
    expect(logger.errors.slice(before).some((e) => e.message.includes('misused the response'))).toBe(true);
    expect((await request(bridge.port, '/fine')).body.toString()).toBe('app ok /fine');
  });
});

/** Everything the server sends on one connection until it closes it (no parsing: the body may be cut). */
function rawText(port: number, text: string): Promise<{ text: string }> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let got = '';
    sock.setEncoding('latin1');
    sock.on('data', (c: string) => (got += c));
    sock.on('error', () => {});
    sock.on('close', () => resolve({ text: got }));
    sock.write(text);
  });
}
