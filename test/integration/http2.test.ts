// HTTPS listener with HTTP/2 (ALPN) and HTTP/1.1 on one port, behind a real php-fpm: what PHP sees
// against nginx `listen ... ssl http2`, the app kinds and the fallback with body replay over h2,
// streaming, and the h2 abuse limits. Clients trust only the test's local CA (no -k).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as http2Connect, constants as h2Constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { constants as zlibConstants, createGunzip, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadApp } from '../../src/app/load-app.ts';
import { listen } from '../../src/index.ts';
import { H2_LIMITS } from '../../src/http/listen-secure.ts';
import { caFiles, localCredentials, type ServerCredentials } from '../../src/tls/local-ca.ts';
import { freePort, startNginxFpm, startPhpFpm, type Nginx, type PhpFpm } from '../helpers/php-fpm.ts';
import { bigPatternMd5, FIXTURES, md5, recordingLogger, type RecordingLogger } from './support.ts';
import { EXPECTED_DIFFERENCES, NORMALISE } from './parity.ts';

const APPS = fileURLToPath(new URL('../../php/demo/apps/', import.meta.url));
const run = promisify(execFile);

let fpm: PhpFpm;
let dir: string;
let creds: ServerCredentials;
let caFile: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-h2-'));
  creds = await localCredentials(join(dir, 'ca'));
  caFile = caFiles(join(dir, 'ca')).caCert;
  fpm = await startPhpFpm({ workers: 4 });
});
afterAll(async () => {
  await fpm?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Bridge = Awaited<ReturnType<typeof listen>>;
function startTls(options: Omit<Parameters<typeof listen>[0], 'root' | 'fpm'> & { root?: string } = {}): Promise<Bridge> {
  return listen({ root: FIXTURES, fpm: fpm.socket, ...options, listen: '127.0.0.1:0', tls: creds });
}

interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function h2session(port: number): ClientHttp2Session {
  return http2Connect(`https://localhost:${port}`, { ca: creds.ca });
}

function h2request(session: ClientHttp2Session, path: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': opts.method ?? 'GET', ':path': path, ...opts.headers });
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => (headers = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function h2get(port: number, path: string, opts: Parameters<typeof h2request>[2] = {}): Promise<H2Reply> {
  const session = h2session(port);
  try {
    return await h2request(session, path, opts);
  } finally {
    session.close();
  }
}

describe('PHP over HTTP/2', () => {
  let bridge: Bridge;
  beforeAll(async () => {
    bridge = await startTls();
  });
  afterAll(async () => {
    await bridge?.close();
  });

  it('curl --http2 and --http1.1 with --cacert both work on the one port; PHP sees HTTP/2.0, HTTPS on', async () => {
    const url = `https://localhost:${bridge.port}/server.php?x=1`;
    const h2 = await run('curl', ['-sS', '--http2', '--cacert', caFile, '-w', '\\n%{http_version}', url]);
    const [body2, version2] = h2.stdout.split('\n');
    expect(version2).toBe('2');
    const s2 = JSON.parse(body2!).server as Record<string, string>;
    expect(s2.SERVER_PROTOCOL).toBe('HTTP/2.0');
    expect(s2.HTTPS).toBe('on');
    expect(s2.REQUEST_SCHEME).toBe('https');
    expect(s2.HTTP_HOST).toBe(`localhost:${bridge.port}`);
    expect(s2.REQUEST_URI).toBe('/server.php?x=1');
    expect(Object.keys(s2).filter((k) => k.startsWith('HTTP_:'))).toEqual([]);
    const h1 = await run('curl', ['-sS', '--http1.1', '--cacert', caFile, '-w', '\\n%{http_version}', url]);
    const [body1, version1] = h1.stdout.split('\n');
    expect(version1).toBe('1.1');
    expect((JSON.parse(body1!).server as Record<string, string>).SERVER_PROTOCOL).toBe('HTTP/1.1');
  });

  it('POST bodies, HEAD, static files with Range, and PHP headers HTTP/2 forbids (dropped)', async () => {
    const body = randomBytes(200 * 1024);
    const echo = await h2get(bridge.port, '/echo.php', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(echo.status).toBe(200);
    expect(JSON.parse(echo.body.toString()).md5).toBe(md5(body));
    const head = await h2get(bridge.port, '/info.txt', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    const range = await h2get(bridge.port, '/info.txt', { headers: { range: 'bytes=0-3' } });
    expect(range.status).toBe(206);
    expect(range.body.length).toBe(4);
    const notFound = await h2get(bridge.port, '/nope');
    expect(notFound.status).toBe(404);
    // A bridge error page carries Connection: close over HTTP/1.1; over h2 it must still arrive.
    const tooMany = await h2get(bridge.port, '/hello.php', { headers: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`x-h${i}`, '1'])) });
    expect(tooMany.status).toBe(431);
    expect(tooMany.headers.connection).toBeUndefined();
  });

  it('a slow h2 reader of 8 MiB: the rest goes through the spool and every byte arrives in order', async () => {
    const session = h2session(bridge.port);
    try {
      const body = await new Promise<Buffer>((resolve, reject) => {
        const req = session.request({ ':path': '/big.php?mb=8' });
        const chunks: Buffer[] = [];
        // Nothing read for 300 ms (past the bridge's 50 ms grace: it spools), then in slow sips.
        req.pause();
        setTimeout(() => req.resume(), 300);
        req.on('data', (c: Buffer) => {
          chunks.push(c);
          req.pause();
          setTimeout(() => req.resume(), 2);
        });
        req.on('end', () => resolve(Buffer.concat(chunks)));
        req.on('error', reject);
        req.end();
      });
      expect(body.length).toBe(8 * 1024 * 1024);
      expect(md5(body)).toBe(bigPatternMd5(8 * 1024 * 1024));
    } finally {
      session.close();
    }
  }, 30_000);

  it('streams: each PHP flush() arrives on its own, 200 ms apart', async () => {
    const session = h2session(bridge.port);
    const arrivals: number[] = [];
    const start = Date.now();
    await new Promise<void>((resolve, reject) => {
      const req = session.request({ ':path': '/stream.php' });
      req.on('data', () => arrivals.push(Date.now() - start));
      req.on('end', resolve);
      req.on('error', reject);
      req.end();
    });
    session.close();
    expect(arrivals.length).toBeGreaterThanOrEqual(5);
    // 800 ms of sleeps between the first and the last flush; the margin is for a busy CI core.
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(500);
  });

  it('compressed over h2 too (issue 13): gzip of a streamed page, each flush() still on its own', async () => {
    const session = h2session(bridge.port);
    // Each tick is timed when it decodes, not when a frame arrives: a gzip header or trailer frame
    // carries no tick, and a busy CI core can delay one frame, so only the spread of the ticks counts.
    const decoded: Array<{ at: number; text: string }> = [];
    const chunks: Buffer[] = [];
    let headers: IncomingHttpHeaders = {};
    const start = performance.now();
    await new Promise<void>((resolve, reject) => {
      const gunzip = createGunzip();
      gunzip.on('data', (d: Buffer) => decoded.push({ at: performance.now() - start, text: d.toString() }));
      gunzip.on('end', resolve);
      gunzip.on('error', reject);
      const req = session.request({ ':path': '/stream.php', 'accept-encoding': 'gzip' });
      req.on('response', (h) => (headers = h));
      req.on('data', (c: Buffer) => {
        chunks.push(c);
        gunzip.write(c, () => gunzip.flush(zlibConstants.Z_SYNC_FLUSH));
      });
      req.on('end', () => gunzip.end());
      req.on('error', reject);
      req.end();
    });
    session.close();
    expect(headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(Buffer.concat(chunks)).toString()).toBe('tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n');
    const tick = (n: number) => decoded.find((d) => d.text.includes(`tick ${n}`))!.at;
    // 800 ms of sleeps lie between tick 1 and tick 5; held back by the encoder they would come together.
    expect(tick(5) - tick(1)).toBeGreaterThan(500);
    expect(tick(2) - tick(1)).toBeGreaterThan(100);
  });

  it('many requests at once on one connection all get their own answer', async () => {
    const session = h2session(bridge.port);
    const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => h2request(session, `/server.php?n=${i}`)));
    session.close();
    replies.forEach((r, i) => expect((JSON.parse(r.body.toString()).get as Record<string, string>).n).toBe(String(i)));
  });
});

// A client's RST_STREAM must reach the bridge as "client gone", as a closed HTTP/1.1 connection
// does: Node's compat response says 'finish' for a reset stream too, and the h2 view once passed it
// on, so a PHP request queued behind a busy connection still ran after its client had cancelled it.
describe('h2 streams the client resets', () => {
  let bridge: Bridge;
  beforeAll(async () => {
    bridge = await startTls({ fpmConnections: 1 });
  });
  afterAll(async () => {
    await bridge?.close();
  });

  it('a queued PHP request whose stream the client reset never runs PHP', async () => {
    const log = `fpm-bridge-h2-runs-${randomBytes(6).toString('hex')}.log`;
    const logPath = join(tmpdir(), log);
    const session = h2session(bridge.port);
    try {
      // The one php-fpm connection is busy for 1 s; the second request waits in the queue, and its
      // client resets the stream.
      const first = h2request(session, '/slow.php?ms=1000');
      await new Promise((r) => setTimeout(r, 100));
      const queued = session.request({ ':method': 'POST', ':path': `/runs.php?log=${log}`, 'content-length': '1' });
      queued.on('error', () => {});
      queued.end('x');
      await new Promise((r) => setTimeout(r, 200));
      queued.close(h2Constants.NGHTTP2_CANCEL);
      expect((await first).status).toBe(200);
      expect((await h2request(session, '/hello.php')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(logPath) ? readFileSync(logPath, 'utf8') : '').toBe('');
      expect(bridge.bridge.client.stats.queued).toBe(0);
    } finally {
      session.close();
      rmSync(logPath, { force: true });
    }
  }, 20_000);
});

describe('$_SERVER over h2 against nginx listen ssl http2, key by key', () => {
  let nginx: Nginx;
  let nginxTlsPort: number;
  let bridge: Bridge;
  beforeAll(async () => {
    nginxTlsPort = await freePort();
    const cert = join(dir, 'nginx-cert.pem');
    const key = join(dir, 'nginx-key.pem');
    writeFileSync(cert, creds.cert);
    writeFileSync(key, creds.key);
    nginx = await startNginxFpm({ root: FIXTURES, fpmSocket: fpm.socket, extraServer: `    listen 127.0.0.1:${nginxTlsPort} ssl http2;\n    ssl_certificate ${cert};\n    ssl_certificate_key ${key};` });
    bridge = await startTls();
  });
  afterAll(async () => {
    await bridge?.close();
    await nginx?.stop();
  });

  it('same keys and values but for the listed differences (GET with query, cookies; POST form)', async () => {
    const cases: Array<{ path: string; method?: string; headers?: Record<string, string>; body?: string }> = [
      { path: '/server.php?a=1&b=%20x', headers: { cookie: 'a=1', 'user-agent': 'parity', accept: 'text/html' } },
      { path: '/server.php', method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '7' }, body: 'x=1&y=2' },
    ];
    for (const c of cases) {
      const [n, b] = await Promise.all([h2get(nginxTlsPort, c.path, c), h2get(bridge.port, c.path, c)]);
      expect(n.status).toBe(200);
      expect(b.status).toBe(200);
      const sn = comparable(JSON.parse(n.body.toString()).server);
      const sb = comparable(JSON.parse(b.body.toString()).server);
      const diffs: Record<string, unknown> = {};
      for (const k of new Set([...Object.keys(sn), ...Object.keys(sb)])) if (sn[k] !== sb[k]) diffs[k] = { nginx: sn[k], bridge: sb[k] };
      expect(diffs, c.path).toEqual({});
      expect(sb.SERVER_PROTOCOL).toBe('HTTP/2.0');
    }
  });

  function comparable(server: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(server)) {
      if (k in process.env || k in EXPECTED_DIFFERENCES) continue;
      out[k] = k in NORMALISE && typeof v === 'string' ? NORMALISE[k]![1](v) : v;
    }
    return out;
  }
});

const KINDS = [
  { file: 'listener.ts', greeting: 'Hello from a plain listener\n' },
  { file: 'express.ts', greeting: 'Hello from Express\n' },
  { file: 'hono.ts', greeting: 'Hello from Hono\n' },
  { file: 'fastify.ts', greeting: 'Hello from Fastify\n' },
];

describe.each(KINDS)('$file over h2, behind php-fpm', ({ file, greeting }) => {
  let bridge: Bridge;
  let logger: RecordingLogger;
  beforeAll(async () => {
    logger = recordingLogger();
    bridge = await startTls({ app: await loadApp(APPS + file), frontController: 'notfound.php', logger });
  });
  afterAll(async () => {
    await bridge?.close();
  });

  it('PHP says 404, the app answers; a POST body reaches it intact (replayed); both 404: PHP’s body', async () => {
    const r = await h2get(bridge.port, '/hello');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(greeting);
    const body = randomBytes(300 * 1024);
    const p = await h2get(bridge.port, '/hello?binary', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(p.status).toBe(200);
    expect(md5(p.body)).toBe(md5(body));
    const none = await h2get(bridge.port, '/no-such-page');
    expect(none.status).toBe(404);
    expect(none.body.toString()).toContain('does not exist');
    expect(logger.accessLog.filter((e) => e.url === '/hello').at(-1)?.servedBy).toBe('php→app');
  });
});

describe('h2 abuse limits', () => {
  let bridge: Bridge;
  beforeAll(async () => {
    bridge = await startTls();
  });
  afterAll(async () => {
    await bridge?.close();
  });

  const stillServes = async () => expect((await h2get(bridge.port, '/hello.php')).status).toBe(200);

  it(`advertises at most ${H2_LIMITS.maxConcurrentStreams} concurrent streams and a header list bound`, async () => {
    const session = h2session(bridge.port);
    await new Promise((r) => session.once('remoteSettings', r));
    expect(session.remoteSettings.maxConcurrentStreams).toBe(H2_LIMITS.maxConcurrentStreams);
    expect(session.remoteSettings.maxHeaderListSize).toBe(16 * 1024);
    expect(session.remoteSettings.enablePush).toBe(false);
    session.close();
  });

  it('a header block past the limit is refused, not served, and the server goes on', async () => {
    const session = h2session(bridge.port);
    const outcome = await new Promise<string>((resolve) => {
      const req = session.request({ ':path': '/hello.php', 'x-big': 'a'.repeat(20 * 1024) });
      req.on('response', (h) => resolve(`status ${h[':status']}`));
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      req.on('close', () => resolve(`closed ${req.rstCode}`));
      req.end();
    });
    session.destroy();
    expect(outcome).not.toBe('status 200');
    await stillServes();
  });

  it('rapid reset (CVE-2023-44487): HEADERS + RST_STREAM pairs by the thousand end that connection, not the server', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port: bridge.port, servername: 'localhost', ca: creds.ca, ALPNProtocols: ['h2'] });
    socket.on('error', () => {});
    await new Promise((r) => socket.once('secureConnect', r));
    let goaway = false;
    let seen = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      seen = Buffer.concat([seen, d]);
      // Walk the frames the server sent, looking for GOAWAY (type 7).
      let at = 0;
      while (at + 9 <= seen.length) {
        const len = seen.readUIntBE(at, 3);
        if (seen[at + 3] === 0x7) goaway = true;
        at += 9 + len;
      }
      seen = seen.subarray(Math.min(at, seen.length));
    });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'));
    socket.write(frame(0x4, 0, Buffer.alloc(0)));
    // GET https://localhost/hello.php from HPACK's static table plus two literals.
    const path = Buffer.from('/hello.php');
    const block = Buffer.concat([Buffer.from([0x82, 0x87, 0x44, path.length]), path, Buffer.from([0x41, 9]), Buffer.from('localhost')]);
    const cancel = Buffer.from([0, 0, 0, 8]);
    for (let batch = 0; batch < 20 && !socket.destroyed && !goaway; batch++) {
      const frames: Buffer[] = [];
      for (let i = 0; i < 500; i++) {
        const id = 1 + 2 * (batch * 500 + i);
        frames.push(frame(0x1, 0x5 /* END_STREAM | END_HEADERS */, block, id), frame(0x3, 0, cancel, id));
      }
      socket.write(Buffer.concat(frames));
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const until = Date.now() + 5_000; !goaway && !socket.destroyed && Date.now() < until; ) await Promise.race([closed, new Promise((r) => setTimeout(r, 50))]);
    const ended = goaway || socket.destroyed || socket.readableEnded;
    socket.destroy();
    expect(ended).toBe(true);
    await stillServes();
  });

  it('a PING flood and a SETTINGS flood whose ACKs are never read: bounded memory, others still served', async () => {
    for (const type of [0x6 /* PING */, 0x4 /* SETTINGS */]) {
      const rssBefore = process.memoryUsage().rss;
      let sentFrames = 0;
      const socket = tlsConnect({ host: '127.0.0.1', port: bridge.port, servername: 'localhost', ca: creds.ca, ALPNProtocols: ['h2'] });
      socket.on('error', () => {});
      await new Promise((r) => socket.once('secureConnect', r));
      socket.pause(); // never read the ACKs
      socket.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'));
      socket.write(frame(0x4, 0, Buffer.alloc(0)));
      const one = type === 0x6 ? frame(0x6, 0, Buffer.alloc(8)) : frame(0x4, 0, Buffer.from([0, 3, 0, 0, 0, 100]));
      const burst = Buffer.concat(Array.from({ length: 1000 }, () => one));
      // Write until the server stops reading us (TCP backpressure) or closes the connection.
      const deadline = Date.now() + 5_000;
      while (!socket.destroyed && Date.now() < deadline && sentFrames < 500_000) {
        sentFrames += 1000;
        if (!socket.write(burst)) await Promise.race([new Promise((r) => socket.once('drain', r)), new Promise((r) => setTimeout(r, 200))]);
      }
      // Meanwhile another client is served.
      await stillServes();
      const growth = process.memoryUsage().rss - rssBefore;
      socket.destroy();
      expect(growth, `rss growth under a flood of frame type ${type} (${sentFrames} frames sent)`).toBeLessThan(64 * 1024 * 1024);
    }
  });
});

function frame(type: number, flags: number, payload: Buffer, stream = 0): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}
