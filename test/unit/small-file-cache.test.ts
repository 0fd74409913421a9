import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStatic } from '../../src/static/serve-static.ts';
import { SmallFileCache } from '../../src/static/small-file-cache.ts';

const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-cache-'));
const cache = new SmallFileCache({ maxFileSize: 1024, maxTotalSize: 4096, ttlMs: 50 });
let withCache: Server;
let sendOnly: Server;

function serve(useCache: boolean): Server {
  return createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
    serveStatic(req, res, dir, path, dir + path, useCache ? cache : null, (status) => res.writeHead(status).end());
  });
}
const listen = (s: Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
let cachedPort = 0;
let sendPort = 0;

beforeAll(async () => {
  writeFileSync(join(dir, 'a.css'), 'body { color: red }\n');
  writeFileSync(join(dir, 'big.bin'), Buffer.alloc(2048, 1));
  withCache = serve(true);
  sendOnly = serve(false);
  cachedPort = await listen(withCache);
  sendPort = await listen(sendOnly);
});
afterAll(() => {
  withCache.close();
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
  it('answers with exactly the headers and body send gives', async () => {
    const viaSend = await fetch(`http://127.0.0.1:${sendPort}/a.css`);
    for (let i = 0; i < 2; i++) {
      const viaCache = await fetch(`http://127.0.0.1:${cachedPort}/a.css`);
      expect(headersOf(viaCache)).toEqual(headersOf(viaSend));
      expect(await viaCache.text()).toBe('body { color: red }\n');
    }
    await viaSend.text();
  });

  it('answers 304 like send for If-None-Match and If-Modified-Since, and HEAD without a body', async () => {
    const first = await fetch(`http://127.0.0.1:${cachedPort}/a.css`);
    await first.text();
    // node:http, not fetch: fetch adds Cache-Control: no-cache to conditional requests, which (rightly) defeats 304.
    const conditions: Array<Record<string, string>> = [{ 'if-none-match': first.headers.get('etag')! }, { 'if-modified-since': first.headers.get('last-modified')! }];
    for (const h of conditions) {
      const [a, b] = await Promise.all([get(cachedPort, '/a.css', h), get(sendPort, '/a.css', h)]);
      expect(a.status).toBe(304);
      expect(a.headers).toEqual(b.headers);
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

  it('leaves large files and Range requests to send', async () => {
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
