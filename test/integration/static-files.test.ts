// Static files through the bridge (issue 15): a file truncated while it is sent cuts the connection
// (nginx: "file has been truncated"), names that are not UTF-8 are served whole and by range, a 416
// keeps its Content-Range, If-Range compares strongly, and preconditions answer 412 from memory too.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { recordingLogger, request, startBridge, waitFor, type Running } from './support.ts';

describe('static files (issue 15)', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  let root: string;
  const logger = recordingLogger();
  const big = Buffer.alloc(100 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-static-'));
    // Latin-1 names, as a Windows-era upload or an old archive leaves them: byte 0xE9 alone, not UTF-8.
    writeFileSync(Buffer.from(join(root, 'caf\xE9.txt'), 'latin1'), 'un caf\xE9 noir\n', 'latin1');
    writeFileSync(Buffer.from(join(root, 'gro\xDF.bin'), 'latin1'), big);
    writeFileSync(join(root, 'small.txt'), 'small and cached\n');
    writeFileSync(join(root, 'big.bin'), big);
    fpm = await startPhpFpm({ workers: 1 });
    bridge = await startBridge({ fpm: fpm.socket, root, logger });
  });

  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('a file truncated while it is sent: the connection is cut after what was sent, and the log says so', async () => {
    const file = join(root, 'growing-then-cut.bin');
    const size = 48 * 1024 * 1024;
    writeFileSync(file, Buffer.alloc(size, 'z'));
    const sock = connect({ host: '127.0.0.1', port: bridge.port });
    let received = 0;
    let text = '';
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('data', (c: Buffer) => {
      received += c.length;
      if (text.length < 4096) text += c.toString('latin1');
      // Reads slowly at first, so the bridge is mid-file when it shrinks.
      if (received < 2 * 1024 * 1024) {
        sock.pause();
        setTimeout(() => sock.resume(), 5);
      }
    });
    sock.write('GET /growing-then-cut.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => received > 512 * 1024, 10_000, 'the first half MiB');
    truncateSync(file, 100 * 1024);
    const timer = setTimeout(() => sock.destroy(), 15_000);
    await closed;
    clearTimeout(timer);
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*Content-Length: 50331648\r\n/);
    expect(received).toBeLessThan(size);
    // The pipelined second request got no answer on this connection: it would have been read as body.
    expect(text.match(/HTTP\/1\.1 200/g)).toHaveLength(1);
    expect(logger.errors.some((e) => /growing-then-cut\.bin has been truncated while it was sent/.test(String(e.err)))).toBe(true);
    // Logged as the failure it is, not as the 200 its head said.
    await waitFor(() => logger.accessLog.some((e) => e.url === '/growing-then-cut.bin'), 5_000, 'the access log line');
    expect(logger.accessLog.find((e) => e.url === '/growing-then-cut.bin')!.status).toBe(500);
  }, 30_000);

  it('a name that is not UTF-8 is served by its file: whole, by range, small (from memory) and large', async () => {
    const small = await request(bridge.port, '/caf%E9.txt');
    expect(small.status).toBe(200);
    expect(small.body.toString('latin1')).toBe('un caf\xE9 noir\n');
    const smallRange = await request(bridge.port, '/caf%E9.txt', { headers: { range: 'bytes=3-6' } });
    expect(smallRange.status).toBe(206);
    expect(smallRange.body.toString('latin1')).toBe('caf\xE9');
    const large = await request(bridge.port, '/gro%DF.bin');
    expect(large.status).toBe(200);
    expect(large.body.equals(big)).toBe(true);
    const largeRange = await request(bridge.port, '/gro%DF.bin', { headers: { range: 'bytes=70000-70009' } });
    expect(largeRange.status).toBe(206);
    expect(largeRange.headers['content-range']).toBe(`bytes 70000-70009/${big.length}`);
    expect(largeRange.body.equals(big.subarray(70000, 70010))).toBe(true);
  });

  it('a 416 keeps Content-Range: bytes */SIZE, from memory and from disk', async () => {
    for (const [path, size] of [['/small.txt', 17], ['/big.bin', big.length]] as const) {
      const r = await request(bridge.port, path, { headers: { range: `bytes=${size + 10}-` } });
      expect(r.status, path).toBe(416);
      expect(r.headers['content-range'], path).toBe(`bytes */${size}`);
    }
  });

  it('If-Range with a weak validator gives the whole file (RFC 9110 strong comparison); the exact date gives the range', async () => {
    for (const path of ['/small.txt', '/big.bin']) {
      const first = await request(bridge.port, path);
      const etag = first.headers.etag!;
      expect(etag.startsWith('W/')).toBe(true);
      const weak = await request(bridge.port, path, { headers: { range: 'bytes=0-3', 'if-range': etag } });
      expect(weak.status, path).toBe(200);
      expect(weak.body.length).toBe(first.body.length);
      const dated = await request(bridge.port, path, { headers: { range: 'bytes=0-3', 'if-range': first.headers['last-modified']! } });
      expect(dated.status, path).toBe(206);
      const older = await request(bridge.port, path, { headers: { range: 'bytes=0-3', 'if-range': new Date(Date.parse(first.headers['last-modified']!) - 60_000).toUTCString() } });
      expect(older.status, path).toBe(200);
    }
  });

  it('a mismatched If-Match or a past If-Unmodified-Since: 412, from memory as from disk; matching ones pass', async () => {
    for (const path of ['/small.txt', '/big.bin']) {
      const first = await request(bridge.port, path);
      const etag = first.headers.etag!;
      expect((await request(bridge.port, path, { headers: { 'if-match': '"something-else"' } })).status, path).toBe(412);
      expect((await request(bridge.port, path, { headers: { 'if-unmodified-since': 'Mon, 01 Jan 2001 00:00:00 GMT' } })).status, path).toBe(412);
      expect((await request(bridge.port, path, { headers: { 'if-match': etag } })).status, path).toBe(200);
      expect((await request(bridge.port, path, { headers: { 'if-match': '*' } })).status, path).toBe(200);
      expect((await request(bridge.port, path, { headers: { 'if-unmodified-since': first.headers['last-modified']! } })).status, path).toBe(200);
      // If-Match is evaluated first: a stale If-Unmodified-Since does not matter once it matched.
      expect((await request(bridge.port, path, { headers: { 'if-match': etag, 'if-unmodified-since': 'Mon, 01 Jan 2001 00:00:00 GMT' } })).status, path).toBe(200);
    }
  });
});
