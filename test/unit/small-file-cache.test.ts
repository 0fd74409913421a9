import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import send from 'send';
import { serveStatic } from '../../src/static/serve-static.ts';
import { SmallFileCache } from '../../src/static/small-file-cache.ts';

const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-cache-'));
const cache = new SmallFileCache({ maxFileSize: 1024, maxTotalSize: 4096, ttlMs: 50 });
let withCache: Server;
let fromDisk: Server;
let sendOnly: Server;

function serve(how: 'cache' | 'disk' | 'send'): Server {
  return createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
    // The reference: the `send` library, which served every file before serve-static.ts did.
    if (how === 'send') send(req, path, { root: dir }).pipe(res);
    else serveStatic(req, res, dir + path, how === 'cache' ? cache : null, (status, _err, headers) => res.writeHead(status, headers).end());
  });
}
const listen = (s: Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
let cachedPort = 0;
let diskPort = 0;
let sendPort = 0;

beforeAll(async () => {
  writeFileSync(join(dir, 'a.css'), 'body { color: red }\n');
  writeFileSync(join(dir, 'big.bin'), Buffer.alloc(2048, 1));
  withCache = serve('cache');
  fromDisk = serve('disk');
  sendOnly = serve('send');
  cachedPort = await listen(withCache);
  diskPort = await listen(fromDisk);
  sendPort = await listen(sendOnly);
});
afterAll(() => {
  withCache.close();
  fromDisk.close();
  sendOnly.close();
  rmSync(dir, { recursive: true, force: true });
});

function get(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    request({ port, host: '127.0.0.1', path, headers }, (res) => {
      res.resume();
      const { date: _d, connection: _c, 'keep-alive': _k, ...rest } = res.headers;
      res.on('end', () => resolve({ status: res.statusCode!, headers: rest }));
    }).on('error', reject).end();
  });
}

const headersOf = (r: Response) => Object.fromEntries([...r.headers].filter(([k]) => !['date', 'connection', 'keep-alive'].includes(k)));

describe('SmallFileCache through serveStatic', () => {
  it('answers with exactly the headers and body send gives, from memory and from disk', async () => {
    const viaSend = await fetch(`http://127.0.0.1:${sendPort}/a.css`);
    for (const port of [cachedPort, cachedPort, diskPort]) {
      const ours = await fetch(`http://127.0.0.1:${port}/a.css`);
      expect(headersOf(ours)).toEqual(headersOf(viaSend));
      expect(await ours.text()).toBe('body { color: red }\n');
    }
    await viaSend.text();
  });

  it('answers 304, 206, 412 and 416 like send (If-None-Match, If-Modified-Since, Range, If-Match, If-Unmodified-Since)', async () => {
    const first = await fetch(`http://127.0.0.1:${cachedPort}/a.css`);
    await first.text();
    const etag = first.headers.get('etag')!;
    const lastModified = first.headers.get('last-modified')!;
    // node:http, not fetch: fetch adds Cache-Control: no-cache to conditional requests, which (rightly) defeats 304.
    const conditions: Array<[Record<string, string>, number]> = [
      [{ 'if-none-match': etag }, 304],
      [{ 'if-modified-since': lastModified }, 304],
      [{ range: 'bytes=0-3' }, 206],
      [{ range: 'bytes=5-' }, 206],
      [{ range: 'bytes=-4' }, 206],
      [{ range: 'bytes=0-1,5-6' }, 200],
      [{ range: 'bytes=x' }, 200],
      [{ 'if-match': '"other"' }, 412],
      [{ 'if-match': etag }, 200],
      [{ 'if-unmodified-since': 'Mon, 01 Jan 2001 00:00:00 GMT' }, 412],
      [{ 'if-unmodified-since': lastModified }, 200],
      [{ 'if-none-match': '"other"', 'if-modified-since': lastModified }, 200],
    ];
    for (const [h, status] of conditions) {
      const [a, b, c] = await Promise.all([get(cachedPort, '/a.css', h), get(diskPort, '/a.css', h), get(sendPort, '/a.css', h)]);
      expect(a.status, JSON.stringify(h)).toBe(status);
      expect(c.status, JSON.stringify(h)).toBe(status);
      if (status < 400) {
        expect(a.headers, JSON.stringify(h)).toEqual(c.headers);
        expect(b.headers, JSON.stringify(h)).toEqual(c.headers);
      }
      expect(b.status, JSON.stringify(h)).toBe(status);
    }
    const unsatisfiable = await Promise.all([get(cachedPort, '/a.css', { range: 'bytes=100-' }), get(diskPort, '/a.css', { range: 'bytes=100-' })]);
    for (const r of unsatisfiable) {
      expect(r.status).toBe(416);
      expect(r.headers['content-range']).toBe('bytes */20');
    }
    const head = await fetch(`http://127.0.0.1:${cachedPort}/a.css`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe('20');
  });

  it('sees an edited file once the TTL passed (new body, new ETag)', async () => {
    const before = await fetch(`http://127.0.0.1:${cachedPort}/a.css`);
    await before.text();
    writeFileSync(join(dir, 'a.css'), 'body { color: blue; }\n');
    utimesSync(join(dir, 'a.css'), new Date(), new Date(Date.now() + 5000));
    await new Promise((r) => setTimeout(r, 80));
    const after = await fetch(`http://127.0.0.1:${cachedPort}/a.css`);
    expect(await after.text()).toBe('body { color: blue; }\n');
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
  });

  it('leaves large files to the disk path, and answers Range from memory', async () => {
    expect(await cache.get(join(dir, 'big.bin'))).toBeNull();
    const big = await fetch(`http://127.0.0.1:${cachedPort}/big.bin`);
    expect((await big.arrayBuffer()).byteLength).toBe(2048);
    const range = await fetch(`http://127.0.0.1:${cachedPort}/a.css`, { headers: { range: 'bytes=0-3' } });
    expect(range.status).toBe(206);
    expect(await range.text()).toBe('body');
  });

  it('stays within its total size', async () => {
    const small = new SmallFileCache({ maxFileSize: 1024, maxTotalSize: 2048, ttlMs: 60_000 });
    for (let i = 0; i < 5; i++) writeFileSync(join(dir, `f${i}.txt`), Buffer.alloc(1000, 65 + i));
    for (let i = 0; i < 5; i++) await small.get(join(dir, `f${i}.txt`));
    // Only the two newest fit; the oldest were dropped and must be read again.
    const total = (small as unknown as { total: number }).total;
    expect(total).toBeLessThanOrEqual(2048);
    expect(((await small.get(join(dir, 'f4.txt'))) as { body: Buffer }).body[0]).toBe(69);
  });
});
