// Expect: 100-continue (issue 15): a body longer than --max-body is refused with 413 before the client
// sends it, with no 100 first, whatever serves the path (PHP, a static file, the app, nothing), as nginx
// does with client_max_body_size. A body within the limit is still invited and arrives whole. The same
// on the HTTPS listener, over HTTP/1.1 and h2 (there the 100 was sent to every such request).
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as http2Connect, type IncomingHttpHeaders } from 'node:http2';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../src/index.ts';
import { localCredentials, type ServerCredentials } from '../../src/tls/local-ca.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES, startBridge, type Running } from './support.ts';

/** Sends only the head, then the body once a 100 arrives; everything received until the server closes or 3 s pass. */
function expectContinue(port: number, path: string, length: number, tls?: ServerCredentials): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tls ? tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: tls.ca, ALPNProtocols: ['http/1.1'] }) : connect({ host: '127.0.0.1', port });
    let text = '';
    let sent = false;
    const timer = setTimeout(() => sock.destroy(), 3_000);
    sock.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (!sent && text.startsWith('HTTP/1.1 100 ')) {
        sent = true;
        sock.write(Buffer.alloc(length, 'b'));
      }
    });
    sock.on('error', reject);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
  });
}

describe('Expect: 100-continue (issue 15)', () => {
  let fpm: PhpFpm;
  let withApp: Running;
  let withoutApp: Running;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 1 });
    const app = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`app read ${n}`));
    };
    withApp = await startBridge({ fpm: fpm.socket, maxBody: 1024, app });
    withoutApp = await startBridge({ fpm: fpm.socket, maxBody: 1024 });
  });

  afterAll(async () => {
    await withApp?.close();
    await withoutApp?.close();
    await fpm?.stop();
  });

  it('a body over the limit: 413 without a 100, for PHP, a static file, the app and a path nobody serves', async () => {
    for (const [bridge, path] of [[withApp, '/echo.php'], [withApp, '/info.txt'], [withApp, '/no-such-page'], [withoutApp, '/no-such-page']] as const) {
      const text = await expectContinue(bridge.port, path, 5000);
      expect(text, path).toMatch(/^HTTP\/1\.1 413 /);
      expect(text, path).not.toContain('100 Continue');
    }
  });

  it('a body within the limit is invited with a 100 and read whole', async () => {
    const text = await expectContinue(withApp.port, '/no-such-page', 1000);
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(text.endsWith('app read 1000')).toBe(true);
  });
});

/** An h2 POST that declares `length` and sends its body only once a 100 came: the 100s seen, the status, the body. */
function expectContinueH2(port: number, ca: string, path: string, length: number): Promise<{ continues: number; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://localhost:${port}`, { ca });
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/octet-stream', 'content-length': String(length), expect: '100-continue' }, { endStream: false });
    let continues = 0;
    let headers: IncomingHttpHeaders = {};
    let body = '';
    req.on('continue', () => {
      continues++;
      req.end(Buffer.alloc(length, 'b'));
    });
    req.on('response', (h) => (headers = h));
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('error', () => {});
    req.on('close', () => {
      session.close();
      resolve({ continues, status: Number(headers[':status']), body });
    });
  });
}

describe('Expect: 100-continue on the HTTPS listener (issue 15)', () => {
  let fpm: PhpFpm;
  let dir: string;
  let creds: ServerCredentials;
  let bridge: Awaited<ReturnType<typeof listen>>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-continue-'));
    creds = await localCredentials(join(dir, 'ca'));
    fpm = await startPhpFpm({ workers: 1 });
    const app = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`app read ${n}`));
    };
    bridge = await listen({ root: FIXTURES, fpm: fpm.socket, maxBody: 1024, app, listen: '127.0.0.1:0', tls: creds });
  });

  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('HTTP/1.1 over TLS: a body over the limit gets 413 without a 100, for PHP, a static file, the app', async () => {
    for (const path of ['/echo.php', '/info.txt', '/no-such-page']) {
      const text = await expectContinue(bridge.port, path, 5000, creds);
      expect(text, path).toMatch(/^HTTP\/1\.1 413 /);
      expect(text, path).not.toContain('100 Continue');
    }
  });

  it('HTTP/1.1 over TLS: a body within the limit is invited with a 100 and read whole', async () => {
    const text = await expectContinue(bridge.port, '/no-such-page', 1000, creds);
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(text.endsWith('app read 1000')).toBe(true);
  });

  it('h2: a body over the limit gets 413 and no 100; within it, a 100 and the body read whole', async () => {
    for (const path of ['/echo.php', '/info.txt', '/no-such-page']) {
      const over = await expectContinueH2(bridge.port, creds.ca, path, 5000);
      expect(over, path).toMatchObject({ continues: 0, status: 413 });
    }
    const within = await expectContinueH2(bridge.port, creds.ca, '/no-such-page', 1000);
    expect(within).toEqual({ continues: 1, status: 200, body: 'app read 1000' });
  });

  it('CONNECT over TLS gets 501 like on the plain listener (HTTP/1.1 dropped the socket unanswered, h2 got 405)', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const sock = tlsConnect({ host: '127.0.0.1', port: bridge.port, servername: 'localhost', ca: creds.ca, ALPNProtocols: ['http/1.1'] });
      let got = '';
      sock.on('data', (c: Buffer) => (got += c.toString('latin1')));
      sock.on('error', reject);
      sock.on('close', () => resolve(got));
      sock.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
      setTimeout(() => sock.destroy(), 3_000);
    });
    expect(text).toMatch(/^HTTP\/1\.1 501 /);
    // h2: Node answered 405 by itself.
    const h2 = await new Promise<number>((resolve, reject) => {
      const session = http2Connect(`https://localhost:${bridge.port}`, { ca: creds.ca });
      session.on('error', reject);
      const req = session.request({ ':method': 'CONNECT', ':authority': 'example.com:443' });
      req.on('response', (h) => {
        resolve(Number(h[':status']));
        session.destroy();
      });
      req.on('error', () => {});
    });
    expect(h2).toBe(501);
  });
});
