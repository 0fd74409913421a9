// Requests the front refuses before any routing, compared with nginx on the same pool (issue 9):
// two Host headers, a Host nginx or RFC 9110 rejects, a transfer coding other than chunked, CONNECT.
// Each gets an HTTP answer and never reaches PHP; a valid Host of every legal shape still does.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginxFpm, startPhpFpm, type Nginx, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES, startBridge, type Running } from './support.ts';

/** Writes `text` as given and returns the status line's code (0: the socket closed with no answer). */
function exchange(port: number, text: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let out = '';
    sock.setEncoding('latin1');
    sock.on('data', (c: string) => (out += c));
    sock.on('error', () => {});
    sock.on('close', () => resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(out)?.[1] ?? 0), text: out }));
    sock.write(text, 'latin1');
    setTimeout(() => sock.destroy(), 5_000).unref();
  });
}

const get = (host: string) => `GET /server.php HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

describe('requests refused at the door, as nginx refuses them', () => {
  let fpm: PhpFpm;
  let nginx: Nginx;
  let bridge: Running;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 2 });
    nginx = await startNginxFpm({ root: FIXTURES, fpmSocket: fpm.socket });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 1 });
  }, 30_000);
  afterAll(async () => {
    await bridge?.close();
    await nginx?.stop();
    await fpm?.stop();
  });

  const both = async (text: string) => ({ nginx: (await exchange(nginx.port, text)).status, bridge: (await exchange(bridge.port, text)).status });

  it('two Host headers → 400 (PHP would get "a.example, evil.example")', async () => {
    expect(await both(`GET /server.php HTTP/1.1\r\nHost: a.example\r\nHost: evil.example\r\nConnection: close\r\n\r\n`)).toEqual({ nginx: 400, bridge: 400 });
  });

  it.each(['a/b', '..', 'a..b', 'a/../b', 'a b', '', ':80', 'a..', 'a\tb'])('Host %j → 400, as nginx', async (host) => {
    expect(await both(get(host))).toEqual({ nginx: 400, bridge: 400 });
  });

  // Where RFC 9110's uri-host is stricter than nginx (which passes these on to SERVER_NAME): 400 here.
  it.each(['a\\b', 'a"b', 'a<b', 'a{b', 'a|b', 'a`b', 'caf\xe9', 'a:abc', 'a:80:90', '[::1'])('Host %j → 400 (nginx passes it on: stricter, per RFC 9110)', async (host) => {
    expect(await both(get(host))).toEqual({ nginx: 200, bridge: 400 });
  });

  it.each(['example.com', 'EXAMPLE.com:8080', 'a-b_c~d.example', '127.0.0.1:80', '[::1]:8080', 'a.', 'xn--caf-dma.example', 'a:'])('Host %j is served, as by nginx', async (host) => {
    const r = await exchange(bridge.port, get(host));
    expect(r.status).toBe(200);
    expect((await exchange(nginx.port, get(host))).status).toBe(200);
  });

  it('an absolute-form target with a bad host → 400', async () => {
    expect((await exchange(bridge.port, `GET http://a..b/server.php HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)).status).toBe(400);
    expect((await exchange(bridge.port, `GET http://ok.example/server.php HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)).status).toBe(200);
  });

  it('Transfer-Encoding: gzip, chunked → 501, as nginx; PHP never sees gzip bytes', async () => {
    const text = `POST /echo.php HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`;
    expect(await both(text)).toEqual({ nginx: 501, bridge: 501 });
    // Chunked alone, in any letter case, is fine.
    const ok = `POST /echo.php HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`;
    expect(await both(ok)).toEqual({ nginx: 200, bridge: 200 });
  });

  it('CONNECT gets an answer (501; nginx 1.22: 400), never a dropped socket', async () => {
    const r = await both(`CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`);
    expect(r.nginx).toBe(400);
    expect(r.bridge).toBe(501);
  });
});
