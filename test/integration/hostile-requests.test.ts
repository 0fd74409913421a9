// Requests an attacker sends, over real sockets: path tricks beyond routing.test.ts, header
// injection, X-Forwarded-* spoofing, request smuggling shapes, oversized heads and bodies, and slow
// clients (slowloris must never hold a php-fpm worker).
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES, rawRequest, recordingLogger, request, sleep, startBridge, type Running } from './support.ts';

const EXECUTED = 'EXECUTED-AS-PHP';
const MARKER = 'SOURCE-MUST-NOT-RUN';
const get = (port: number, target: string) => rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: localhost`);

/** Sends `text` on a fresh socket as given (no Connection: close added); resolves with all it got back and when. */
function rawExchange(port: number, write: (sock: Socket) => void | Promise<void>): Promise<{ text: string; status: number; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const sock = connect({ host: '127.0.0.1', port });
    let text = '';
    sock.setEncoding('latin1');
    sock.on('data', (c: string) => (text += c));
    sock.on('error', () => {}); // a reset after the answer is fine: the text is what counts
    sock.on('close', () => resolve({ text, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), closedAfterMs: performance.now() - started }));
    sock.on('connect', () => void Promise.resolve(write(sock)).catch(reject));
  });
}

/** Writes `text` one byte every `everyMs` while the socket is open. */
async function trickle(sock: Socket, text: string, everyMs: number): Promise<void> {
  for (const ch of text) {
    if (sock.destroyed || !sock.writable) return;
    sock.write(ch, 'latin1');
    await sleep(everyMs);
  }
}

describe('hostile requests', () => {
  let fpm: PhpFpm;
  let root: string;
  let plain: Running;
  let withApp: Running;
  const appCalls: string[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-hostile-'));
    cpSync(FIXTURES, root, { recursive: true });
    // An "image" upload with PHP inside, and names that only look like .php.
    // Prints EXECUTED only when run: the source itself holds the reversed text.
    const evil = `<?php echo strrev('${[...EXECUTED].reverse().join('')}'); // ${MARKER}\n`;
    mkdirSync(join(root, 'uploads'));
    writeFileSync(join(root, 'uploads', 'evil.jpg'), evil);
    writeFileSync(join(root, 'evil.jpg'), evil);
    writeFileSync(join(root, 'evil.txt'), evil);
    // Fullwidth ．ｐｈｐ, Cyrillic р/һ, U+210E ℎ, U+0131 dotless ı, Ⱥ (which lower-cases to a longer
    // UTF-8 sequence: the Caddy split-path bug, GHSA-3g8v-8r37-cgjm), a combining mark after .php.
    for (const name of ['x．ｐｈｐ', 'x.ｐｈｐ', 'x.рһр', 'x.pℎp', 'x.phı', 'ȺȺȺȺ.txt', 'x.php\u0301', 'x.PHP\u200b']) {
      writeFileSync(join(root, name), evil);
    }
    // One worker per bridge below: an idle kept-alive connection holds its worker.
    fpm = await startPhpFpm({ workers: 8 });
    plain = await startBridge({ fpm: fpm.socket, root, fpmConnections: 1, maxBody: 1024 });
    withApp = await startBridge({
      fpm: fpm.socket,
      root,
      fpmConnections: 1,
      maxBody: 1024,
      app: (req, res) => {
        appCalls.push(req.url ?? '');
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => res.end(`app read ${Buffer.concat(chunks).length} bytes`));
      },
    });
  }, 20_000);

  afterAll(async () => {
    await plain?.close();
    await withApp?.close();
    await fpm?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  describe('path tricks', () => {
    it.each([
      '/uploads/evil.jpg/x.php',
      '/uploads/evil.jpg/.php',
      '/evil.jpg/index.php',
      '/evil.jpg%0a.php',
      '/evil.jpg%0d%0a.php',
      '/evil.jpg%20.php',
      '/evil.jpg.php',
      '/uploads/evil.jpg%2fx.php',
      '/evil.txt%2f.php',
      '/evil.jpg%3b.php',
      '/evil.jpg%3f.php',
      '/evil.jpg%23.php',
    ])('never runs an upload as PHP through %s (CVE-2019-11043 shapes): 404', async (target) => {
      for (const port of [plain.port, withApp.port]) {
        const res = await get(port, target);
        expect(res.text).not.toContain(EXECUTED);
      }
      expect((await get(plain.port, target)).status).toBe(404);
    });

    it.each([
      ['fullwidth ．ｐｈｐ', '/x%EF%BC%8E%EF%BD%90%EF%BD%88%EF%BD%90'],
      ['fullwidth ｐｈｐ', '/x.%EF%BD%90%EF%BD%88%EF%BD%90'],
      ['Cyrillic рһр', '/x.%D1%80%D2%BB%D1%80'],
      ['ℎ (U+210E)', '/x.p%E2%84%8Ep'],
      ['dotless ı', '/x.ph%C4%B1'],
      ['Ⱥ before .txt.php', '/%C8%BA%C8%BA%C8%BA%C8%BA.txt.php'],
      ['Ⱥ path split', '/%C8%BA%C8%BA%C8%BA%C8%BA.txt/x.php'],
      ['combining acute after .php', '/x.php%CC%81'],
      ['zero-width space after .PHP', '/x.PHP%E2%80%8B'],
      ['overlong UTF-8 dot', '/evil.txt%C0%AEphp'],
    ])('never runs a unicode look-alike of .php (%s) as PHP (GHSA-3g8v-8r37-cgjm, GHSA-v4h7-cj44-8fc8)', async (_what, target) => {
      for (const port of [plain.port, withApp.port]) {
        const res = await get(port, target);
        expect(res.text).not.toContain(EXECUTED);
      }
    });

    it.each([
      '/%252e%252e/%252e%252e/etc/passwd',
      '/static/%252e%252e%252f%252e%252e%252fetc/passwd',
      '/%25%32%65%25%32%65/etc/passwd',
      '/x%252ephp',
      '/%252eenv',
    ])('decodes once only: double-encoded %s is a literal name (404), never a climb or a script', async (target) => {
      const res = await get(plain.port, target);
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('root:');
      expect(res.text).not.toContain('SECRET');
    });

    it.each([
      '/..\\..\\..\\etc\\passwd',
      '/static\\..\\..\\..\\etc\\passwd',
      '/%5c..%5c..%5cetc%5cpasswd',
      '/static/..%5c..%5c.env',
      '/.env\\',
      '/hello.php\\',
      '/\\.env',
    ])('treats backslashes as plain bytes, not separators: %s → 404', async (target) => {
      const res = await get(plain.port, target);
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('root:');
      expect(res.text).not.toContain('SECRET');
    });

    it.each(['/hello.php.', '/hello.php%20', '/hello.php::$DATA', '/hello.php%00', '/hello.php/.', '/hello.p%00hp'])(
      'never serves PHP source through a Windows-style or NUL variant %s',
      async (target) => {
        const res = await get(plain.port, target);
        expect(res.text).not.toContain('<?php');
        expect([200, 400, 404]).toContain(res.status);
      },
    );
  });

  describe('headers', () => {
    const server = async (port: number, extra: string): Promise<Record<string, string>> => {
      const res = await rawRequest(port, `GET /server.php HTTP/1.1\r\nHost: localhost\r\n${extra}`);
      expect(res.status).toBe(200);
      return (JSON.parse(res.body.toString()) as { server: Record<string, string> }).server;
    };

    it('never turns a Proxy header into HTTP_PROXY (httpoxy, CVE-2016-5385)', async () => {
      const s = await server(plain.port, 'Proxy: http://evil.example:3128');
      expect(s.HTTP_PROXY).toBeUndefined();
    });

    it('drops names with _ or . that would shadow real headers (X_Forwarded_For, Remote_User)', async () => {
      const s = await server(plain.port, 'X_Forwarded_For: 6.6.6.6\r\nX.Forwarded.For: 6.6.6.7\r\nRemote_User: admin\r\nHTTP_HOST: evil.example\r\nContent_Length: 5');
      expect(s.HTTP_X_FORWARDED_FOR).toBeUndefined();
      expect(s.REMOTE_USER).toBe('');
      expect(s.HTTP_REMOTE_USER).toBeUndefined();
      expect(s.HTTP_HOST).toBe('localhost');
      expect(s.HTTP_HTTP_HOST).toBeUndefined();
      expect(s.CONTENT_LENGTH).toBe('');
    });

    it('without --trust-proxy, X-Forwarded-For/-Proto/-Host change nothing but the HTTP_X_* params', async () => {
      const s = await server(plain.port, 'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example');
      expect(s.REMOTE_ADDR).toBe('127.0.0.1');
      expect(s.HTTPS).toBeUndefined();
      expect(s.REQUEST_SCHEME).toBe('http');
      expect(s.HTTP_HOST).toBe('localhost');
      expect(s.SERVER_NAME).toBe('localhost');
      expect(s.HTTP_X_FORWARDED_FOR).toBe('6.6.6.6');
    });

    describe('--trust-proxy', () => {
      let trusted: Running; // trusts the test client (loopback) and 10.0.0.0/8
      let elsewhere: Running; // trusts only 10.0.0.0/8: the test client is no proxy of its
      beforeAll(async () => {
        trusted = await startBridge({ fpm: fpm.socket, root, fpmConnections: 1, trustProxy: ['loopback', '10.0.0.0/8'] });
        elsewhere = await startBridge({ fpm: fpm.socket, root, fpmConnections: 1, trustProxy: ['10.0.0.0/8', '::1'] });
      });
      afterAll(async () => {
        await trusted?.close();
        await elsewhere?.close();
      });

      it('from a trusted peer: REMOTE_ADDR, HTTPS, REQUEST_SCHEME, HTTP_HOST and SERVER_NAME come from X-Forwarded-*', async () => {
        const s = await server(trusted.port, 'X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example');
        expect(s.REMOTE_ADDR).toBe('203.0.113.7');
        expect(s.HTTPS).toBe('on');
        expect(s.REQUEST_SCHEME).toBe('https');
        expect(s.HTTP_HOST).toBe('shop.example');
        expect(s.SERVER_NAME).toBe('shop.example');
      });

      it('walks X-Forwarded-For from the right through trusted hops only: a spoofed left end is ignored', async () => {
        const s = await server(trusted.port, 'X-Forwarded-For: 6.6.6.6, 203.0.113.7, 10.1.2.3');
        expect(s.REMOTE_ADDR).toBe('203.0.113.7');
      });

      it('stops at a hop that is no IP address', async () => {
        const s = await server(trusted.port, 'X-Forwarded-For: 203.0.113.7, <script>');
        expect(s.REMOTE_ADDR).toBe('127.0.0.1');
      });

      it('from a peer not in the list: nothing is believed', async () => {
        const s = await server(elsewhere.port, 'X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example');
        expect(s.REMOTE_ADDR).toBe('127.0.0.1');
        expect(s.HTTPS).toBeUndefined();
        expect(s.HTTP_HOST).toBe('localhost');
      });
    });

    it.each([
      ['Content-Length with Transfer-Encoding', 'POST /echo.php HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
      ['two Content-Lengths', 'POST /echo.php HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
      ['obs-fold', 'GET /server.php HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n b\r\n\r\n'],
      ['Transfer-Encoding not ending in chunked', 'POST /echo.php HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\nhello'],
      ['a space before the colon', 'GET /server.php HTTP/1.1\r\nHost: localhost\r\nX-A : b\r\n\r\n'],
      ['a bare LF in a header value', 'GET /server.php HTTP/1.1\r\nHost: localhost\r\nX-A: a\nX-B: b\r\n\r\n'],
      ['a bad chunk size', 'POST /echo.php HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n'],
    ])('refuses a request smuggling shape (%s) with 400 and the connection closed; php-fpm never sees it', async (_what, text) => {
      const fresh = await startBridge({ fpm: fpm.socket, root, fpmConnections: 1 });
      try {
        const res = await rawExchange(fresh.port, (sock) => void sock.write(text, 'latin1'));
        expect(res.status).toBe(400);
        // The only answer on the connection: nothing after it was read as a second request.
        expect(res.text.match(/HTTP\/1\.1 /g)).toHaveLength(1);
        expect(fresh.bridge.client.stats.open).toBe(0);
      } finally {
        await fresh.close();
      }
    });

    it('answers 431 to a request head over the size limit (default 16 KiB), and serves one under it', async () => {
      const big = await rawRequest(plain.port, `GET /hello.php HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(17 * 1024)}`);
      expect(big.status).toBe(431);
      const ok = await rawRequest(plain.port, `GET /hello.php HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(12 * 1024)}`);
      expect(ok.status).toBe(200);
      const small = await startBridge({ fpm: fpm.socket, root, fpmConnections: 1, maxHeaderSize: 2048 });
      try {
        expect((await rawRequest(small.port, `GET /hello.php HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(3000)}`)).status).toBe(431);
        expect((await rawRequest(small.port, `GET /hello.php HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(1000)}`)).status).toBe(200);
      } finally {
        await small.close();
      }
    });

    it('answers 431 to more header fields than the limit (default 100) instead of dropping the rest', async () => {
      const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: ${i}`).join('\r\n');
      // Host + Connection (added by rawRequest) + n.
      const over = await rawRequest(plain.port, `GET /hello.php HTTP/1.1\r\nHost: localhost\r\n${fields(99)}`);
      expect(over.status).toBe(431);
      const at = await rawRequest(plain.port, `GET /hello.php HTTP/1.1\r\nHost: localhost\r\n${fields(98)}`);
      expect(at.status).toBe(200);
    });

    it('answers 413 to a body over --max-body before PHP runs: declared, and chunked with no length', async () => {
      const declared = await rawRequest(plain.port, 'POST /echo.php HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000', Buffer.alloc(2000, 'a'));
      expect(declared.status).toBe(413);
      const chunk = Buffer.alloc(600, 'b');
      const chunked = Buffer.concat([Buffer.from('258\r\n'), chunk, Buffer.from('\r\n258\r\n'), chunk, Buffer.from('\r\n0\r\n\r\n')]);
      const res = await rawRequest(plain.port, 'POST /echo.php HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked', chunked);
      expect(res.status).toBe(413);
      expect(res.text).not.toContain('"length"');
    });

    it('answers 413 to a body over --max-body on its way to the app, which never sees it (chunked too)', async () => {
      const before = appCalls.length;
      const chunk = Buffer.alloc(600, 'b');
      const chunked = Buffer.concat([Buffer.from('258\r\n'), chunk, Buffer.from('\r\n258\r\n'), chunk, Buffer.from('\r\n0\r\n\r\n')]);
      const res = await rawRequest(withApp.port, 'POST /api/upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked', chunked);
      expect(res.status).toBe(413);
      const declared = await rawRequest(withApp.port, 'POST /api/upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000', Buffer.alloc(2000));
      expect(declared.status).toBe(413);
      expect(appCalls.length).toBe(before);
      // Under the limit the app reads the whole body.
      const ok = await rawRequest(withApp.port, 'POST /api/upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked', Buffer.from('3\r\nabc\r\n0\r\n\r\n'));
      expect(ok.body.toString()).toBe('app read 3 bytes');
    });
  });

  describe('slow clients', () => {
    let timed: Running;
    const logger = recordingLogger();
    beforeAll(async () => {
      timed = await startBridge({
        fpm: fpm.socket,
        root,
        fpmConnections: 1,
        headerTimeoutMs: 400,
        bodyTimeoutMs: 400,
        keepAliveTimeoutMs: 300,
        logger,
        app: (req, res) => {
          req.resume();
          req.on('end', () => res.end('app'));
        },
      });
    });
    afterAll(() => timed?.close());

    it('slowloris: a head sent one byte at a time gets 408 after --header-timeout and never reaches php-fpm', async () => {
      const head = `GET /hello.php HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'a'.repeat(200)}\r\n\r\n`;
      const res = await rawExchange(timed.port, (sock) => trickle(sock, head, 20));
      expect(res.status).toBe(408);
      expect(res.closedAfterMs).toBeLessThan(1500);
      expect(timed.bridge.client.stats.open).toBe(0);
    });

    it('a trickled body does not hold a php-fpm worker: php-fpm is contacted only once the body is in', async () => {
      const body = 'x'.repeat(30);
      const slow = rawExchange(timed.port, async (sock) => {
        sock.write(`POST /echo.php HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`);
        await trickle(sock, body, 50); // 1.5 s in all, each gap under --body-timeout
      });
      await sleep(300);
      // Meanwhile the single php-fpm connection is free for others.
      for (let i = 0; i < 3; i++) {
        expect(timed.bridge.client.stats.open - timed.bridge.client.stats.idle).toBe(0);
        expect((await request(timed.port, '/hello.php')).body.toString()).toBe('Hello from PHP');
        await sleep(200);
      }
      const res = await slow;
      expect(res.status).toBe(200);
      expect(res.text).toContain('"length":30');
    });

    it.each([
      ['PHP', '/echo.php'],
      ['the app', '/api/upload'],
    ])('a body that stalls gets 408 after --body-timeout (%s)', async (_who, path) => {
      const res = await rawExchange(timed.port, (sock) => {
        sock.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n${'x'.repeat(10)}`);
      });
      expect(res.status).toBe(408);
      expect(res.closedAfterMs).toBeGreaterThan(350);
      expect(res.closedAfterMs).toBeLessThan(1500);
    });

    it('closes an idle kept-alive connection after --keepalive-timeout', async () => {
      const res = await rawExchange(timed.port, (sock) => void sock.write('GET /static/app.js HTTP/1.1\r\nHost: localhost\r\n\r\n'));
      expect(res.status).toBe(200);
      // Node adds a 1 s grace to keepAliveTimeout before it closes the socket.
      expect(res.closedAfterMs).toBeLessThan(2500);
    });
  });
});

// The slow-reader case (memory stays bounded while a client does not read a large PHP response) is
// in streaming.test.ts: "a slow reader does not make the bridge buffer the response".
