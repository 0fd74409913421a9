// Response compression (issue 13) against a real php-fpm: PHP, static files and the app, by
// Accept-Encoding with q-values; bodies decompress to the exact bytes; never twice; each PHP flush()
// and SSE event still arrives as it is written; ETags made weak and still matched.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_ZSTD } from '../../src/http/content-coding.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { request, startBridge, type Running } from './support.ts';

const PAGE_BYTES = 100 * 1024;

/** A deterministic HTML page of about `bytes`, text that compresses but not to nothing. */
function page(bytes: number): string {
  let out = '<!doctype html><title>t</title>\n';
  for (let i = 0; out.length < bytes; i++) out += `<p id="p${i}">row ${i} of ${(i * 7919) % 10007} in the table</p>\n`;
  return out.slice(0, bytes);
}

function decode(coding: string | undefined, body: Buffer): Buffer {
  switch (coding) {
    case 'gzip':
      return zlib.gunzipSync(body);
    case 'br':
      return zlib.brotliDecompressSync(body);
    case 'zstd':
      return (zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync(body);
    default:
      return body;
  }
}

describe('compression (issue 13)', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  let off: Running;
  let root: string;
  let outside: string;
  const html = page(PAGE_BYTES);
  const js = `export const rows = ${JSON.stringify(Array.from({ length: 2000 }, (_, i) => `row ${i}`))};\n`;
  const brJs = zlib.brotliCompressSync(js, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } });
  const gzJs = zlib.gzipSync(js, { level: 9 });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg">${'<rect width="1" height="1"/>'.repeat(200)}</svg>`;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-compress-'));
    writeFileSync(join(root, 'page.html'), html);
    writeFileSync(join(root, 'page.php'), `<?php header('Content-Type: text/html; charset=utf-8'); header('ETag: "v1"'); readfile(__DIR__ . '/page.html');`);
    writeFileSync(join(root, 'small.php'), `<?php echo 'hello';`);
    writeFileSync(join(root, 'png.php'), `<?php header('Content-Type: image/png'); echo str_repeat('x', 50000);`);
    writeFileSync(join(root, 'own-gzip.php'), `<?php header('Content-Type: text/html'); header('Content-Encoding: gzip'); echo gzencode(file_get_contents(__DIR__ . '/page.html'));`);
    writeFileSync(join(root, 'no-transform.php'), `<?php header('Content-Type: text/html'); header('Cache-Control: public, no-transform'); readfile(__DIR__ . '/page.html');`);
    writeFileSync(join(root, 'vary.php'), `<?php header('Content-Type: text/html'); header('Vary: Cookie'); readfile(__DIR__ . '/page.html');`);
    writeFileSync(
      join(root, 'sse.php'),
      `<?php header('Content-Type: text/event-stream'); header('Cache-Control: no-cache'); while (ob_get_level() > 0) ob_end_flush();
       for ($i = 1; $i <= 4; $i++) { echo "data: tick $i\\n\\n"; flush(); if ($i < 4) usleep(300000); }`,
    );
    // Past the link's hold (256 KiB): the held part goes into a streaming encoder, the rest follows.
    writeFileSync(join(root, 'big.html'), page(1024 * 1024));
    writeFileSync(join(root, 'big.php'), `<?php header('Content-Type: text/html'); readfile(__DIR__ . '/big.html');`);
    // An HTML page that flushes as it goes (not an event stream): held at most briefly, then streamed.
    writeFileSync(
      join(root, 'ticks.php'),
      `<?php header('Content-Type: text/html'); while (ob_get_level() > 0) ob_end_flush();
       for ($i = 1; $i <= 4; $i++) { echo str_repeat("<p>tick $i</p>\\n", 200); flush(); if ($i < 4) usleep(300000); }`,
    );
    writeFileSync(join(root, 'gone.php'), `<?php http_response_code(404); header('Content-Type: text/html'); echo str_repeat("<p>PHP's own not-found page</p>\\n", 100);`);
    writeFileSync(join(root, 'style.css'), `body { color: red; }\n`.repeat(4000));
    // Precompressed copies, at the highest levels (what a build step makes): their exact bytes prove
    // the copy was sent, not an encoding made on the fly.
    writeFileSync(join(root, 'app.js'), js);
    writeFileSync(join(root, 'app.js.br'), brJs);
    writeFileSync(join(root, 'app.js.gz'), gzJs);
    writeFileSync(join(root, 'only-gz.svg'), svg);
    writeFileSync(join(root, 'only-gz.svg.gz'), zlib.gzipSync(svg, { level: 9 }));
    outside = mkdtempSync(join(tmpdir(), 'fpm-bridge-compress-outside-'));
    writeFileSync(join(outside, 'secret.br'), 'not for the client');
    writeFileSync(join(root, 'linked.css'), `a { color: blue; }\n`.repeat(200));
    symlinkSync(join(outside, 'secret.br'), join(root, 'linked.css.br'));
    fpm = await startPhpFpm({ workers: 2 });
    const app = (req: IncomingMessage, res: import('node:http').ServerResponse) => {
      if (req.url === '/api/big.json') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ rows: Array.from({ length: 3000 }, (_, i) => ({ i, name: `row ${i}` })) }));
      } else if (req.url === '/api/small.json') {
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
      } else if (req.url === '/api/reused-buffer') {
        // A writer that reuses its buffer once the write's callback says the chunk was taken (as the
        // bridge's pooled copies of PHP's output are): the link holds this small body before encoding
        // it, and calls back only once it has read it.
        res.setHeader('content-type', 'text/plain');
        const buf = Buffer.from('first half of the body. '.repeat(100));
        res.write(buf, () => {
          buf.fill('X');
          res.end('second half.');
        });
      } else if (req.url === '/api/head-object') {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(PAGE_BYTES) });
        res.end(html);
      } else {
        res.statusCode = 404;
        res.end('app 404');
      }
    };
    bridge = await startBridge({ fpm: fpm.socket, root, app });
    off = await startBridge({ fpm: fpm.socket, root, app, compress: false });
  });

  afterAll(async () => {
    await bridge?.close();
    await off?.close();
    await fpm?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
    if (outside) rmSync(outside, { recursive: true, force: true });
  });

  const codings = ['gzip', 'br', ...(HAS_ZSTD ? ['zstd'] : [])];
  for (const coding of codings) {
    it(`PHP's 100 KiB page as ${coding}: decompresses to the exact bytes, Vary, no Content-Length, a weak ETag`, async () => {
      const r = await request(bridge.port, '/page.php', { headers: { 'accept-encoding': coding } });
      expect(r.status).toBe(200);
      expect(r.headers['content-encoding']).toBe(coding);
      expect(r.headers.vary).toBe('Accept-Encoding');
      expect(r.headers['content-length']).toBeUndefined();
      expect(r.headers.etag).toBe('W/"v1"');
      expect(r.body.length).toBeLessThan(PAGE_BYTES / 3);
      expect(decode(coding, r.body).toString()).toBe(html);
    });
  }

  it('chooses by q-values: br refused with q=0 gives gzip; identity only gives identity; * takes the best', async () => {
    const take = async (ae: string) => (await request(bridge.port, '/page.php', { headers: { 'accept-encoding': ae } })).headers['content-encoding'];
    expect(await take('br;q=0, gzip')).toBe('gzip');
    expect(await take('gzip;q=0.5, br;q=0.9')).toBe('br');
    expect(await take('gzip;q=1.0, br;q=0.1')).toBe('gzip');
    expect(await take('identity')).toBeUndefined();
    expect(await take('*')).toBe('br');
    expect(await take('*, br;q=0, zstd;q=0')).toBe('gzip');
    expect(await take('x-gzip')).toBe('gzip');
    const none = await request(bridge.port, '/page.php');
    expect(none.headers['content-encoding']).toBeUndefined();
    expect(none.body.toString()).toBe(html);
  });

  it('not below 1 KiB, not for images, never twice, not with no-transform, not for HEAD or a Range request', async () => {
    const gz = { 'accept-encoding': 'gzip' };
    const small = await request(bridge.port, '/small.php', { headers: gz });
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(small.body.toString()).toBe('hello');
    expect((await request(bridge.port, '/png.php', { headers: gz })).headers['content-encoding']).toBeUndefined();
    const own = await request(bridge.port, '/own-gzip.php', { headers: gz });
    expect(own.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(own.body).toString()).toBe(html); // once, not gzip of gzip
    const nt = await request(bridge.port, '/no-transform.php', { headers: gz });
    expect(nt.headers['content-encoding']).toBeUndefined();
    expect(nt.body.toString()).toBe(html);
    const head = await request(bridge.port, '/page.html', { method: 'HEAD', headers: gz });
    expect(head.headers['content-encoding']).toBeUndefined();
    const ranged = await request(bridge.port, '/page.html', { headers: { ...gz, range: 'bytes=0-99' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers['content-encoding']).toBeUndefined();
    expect(ranged.body.toString()).toBe(html.slice(0, 100));
  });

  it("adds Accept-Encoding to PHP's own Vary", async () => {
    const r = await request(bridge.port, '/vary.php', { headers: { 'accept-encoding': 'gzip' } });
    expect(r.headers.vary).toBe('Cookie, Accept-Encoding');
    expect(zlib.gunzipSync(r.body).toString()).toBe(html);
  });

  it('static files: compressed with a weak ETag that still gives 304; the small-file cache too', async () => {
    const css = `body { color: red; }\n`.repeat(4000);
    const first = await request(bridge.port, '/style.css', { headers: { 'accept-encoding': 'gzip' } });
    expect(first.status).toBe(200);
    expect(first.headers['content-encoding']).toBe('gzip');
    expect(first.headers.etag).toMatch(/^W\//);
    expect(zlib.gunzipSync(first.body).toString()).toBe(css);
    const again = await request(bridge.port, '/style.css', { headers: { 'accept-encoding': 'gzip', 'if-none-match': first.headers.etag! } });
    expect(again.status).toBe(304);
    const plain = await request(bridge.port, '/style.css');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers['content-length']).toBe(String(css.length));
  });

  it("a chunk whose write callback has run may be reused by its writer: the link calls back once it has read a held chunk", async () => {
    const r = await request(bridge.port, '/api/reused-buffer', { headers: { 'accept-encoding': 'gzip' } });
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(r.body).toString()).toBe('first half of the body. '.repeat(100) + 'second half.');
  });

  it("the app: a big JSON compressed, a small one not, writeHead with an object's Content-Length dropped", async () => {
    const big = await request(bridge.port, '/api/big.json', { headers: { 'accept-encoding': 'br' } });
    expect(big.headers['content-encoding']).toBe('br');
    expect(JSON.parse(zlib.brotliDecompressSync(big.body).toString()).rows).toHaveLength(3000);
    const small = await request(bridge.port, '/api/small.json', { headers: { 'accept-encoding': 'br' } });
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(small.body.toString()).toBe('{"ok":true}');
    const obj = await request(bridge.port, '/api/head-object', { headers: { 'accept-encoding': 'gzip' } });
    expect(obj.headers['content-encoding']).toBe('gzip');
    expect(obj.headers['content-length']).toBeUndefined();
    expect(zlib.gunzipSync(obj.body).toString()).toBe(html);
  });

  it("PHP's 404 that stands after the app declined too: PHP's page, compressed", async () => {
    const r = await request(bridge.port, '/gone.php', { headers: { 'accept-encoding': 'gzip' } });
    expect(r.status).toBe(404);
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(r.body).toString()).toBe("<p>PHP's own not-found page</p>\n".repeat(100));
  });

  /** When each decoded piece of a gzip response arrived, in ms from the request. */
  async function gzipArrivals(path: string): Promise<Array<{ at: number; text: string }>> {
    const arrivals: Array<{ at: number; text: string }> = [];
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: bridge.port, path, headers: { 'accept-encoding': 'gzip' }, agent: false }, (res) => {
        expect(res.headers['content-encoding']).toBe('gzip');
        const gunzip = zlib.createGunzip();
        res.on('data', (c: Buffer) => gunzip.write(c, () => gunzip.flush(zlib.constants.Z_SYNC_FLUSH)));
        gunzip.on('data', (d: Buffer) => arrivals.push({ at: performance.now() - started, text: d.toString() }));
        res.on('end', () => gunzip.end());
        gunzip.on('end', resolve);
        gunzip.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    return arrivals;
  }

  it('SSE over gzip: each event decodes on arrival, about 300 ms apart, not all at the end', async () => {
    const arrivals = await gzipArrivals('/sse.php');
    const text = arrivals.map((a) => a.text).join('');
    expect(text).toBe('data: tick 1\n\ndata: tick 2\n\ndata: tick 3\n\ndata: tick 4\n\n');
    const tick = (n: number) => arrivals.find((a) => a.text.includes(`tick ${n}`))!.at;
    // tick 1 long before tick 4 (900 ms of sleeps between them): not held back by the encoder.
    expect(tick(4) - tick(1)).toBeGreaterThan(600);
    expect(tick(2) - tick(1)).toBeGreaterThan(150);
  });

  it('an HTML page that flushes: each piece decodes on arrival (the link holds a body only briefly)', async () => {
    const arrivals = await gzipArrivals('/ticks.php');
    const text = arrivals.map((a) => a.text).join('');
    expect(text).toBe([1, 2, 3, 4].map((i) => `<p>tick ${i}</p>\n`.repeat(200)).join(''));
    const tick = (n: number) => arrivals.find((a) => a.text.includes(`tick ${n}`))!.at;
    expect(tick(4) - tick(1)).toBeGreaterThan(600);
    expect(tick(2) - tick(1)).toBeGreaterThan(150);
  });

  for (const coding of codings) {
    it(`a 1 MiB page as ${coding}, past the hold: decodes to the exact bytes`, async () => {
      const r = await request(bridge.port, '/big.php', { headers: { 'accept-encoding': coding } });
      expect(r.headers['content-encoding']).toBe(coding);
      expect(decode(coding, r.body).equals(Buffer.from(page(1024 * 1024)))).toBe(true);
    });
  }

  it('precompressed static files: the .br or .gz copy beside the file, by what the client takes', async () => {
    const br = await request(bridge.port, '/app.js', { headers: { 'accept-encoding': 'gzip, br' } });
    expect(br.status).toBe(200);
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(br.headers.vary).toBe('Accept-Encoding');
    expect(Number(br.headers['content-length'])).toBe(brJs.length);
    expect(br.body.equals(brJs)).toBe(true);
    const gz = await request(bridge.port, '/app.js', { headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.body.equals(gzJs)).toBe(true);
    // The copy has its own validators: a 304 for it.
    const again = await request(bridge.port, '/app.js', { headers: { 'accept-encoding': 'gzip', 'if-none-match': gz.headers.etag! } });
    expect(again.status).toBe(304);
    // br preferred, but only a .gz copy exists: the copy, not brotli made on the fly.
    const svgReply = await request(bridge.port, '/only-gz.svg', { headers: { 'accept-encoding': 'gzip;q=0.5, br' } });
    expect(svgReply.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(svgReply.body).toString()).toBe(svg);
    // Range and identity clients get the file itself.
    const ranged = await request(bridge.port, '/app.js', { headers: { 'accept-encoding': 'br', range: 'bytes=0-9' } });
    expect(ranged.status).toBe(206);
    expect(ranged.body.toString()).toBe(js.slice(0, 10));
    const plain = await request(bridge.port, '/app.js');
    expect(plain.body.toString()).toBe(js);
  });

  it('a precompressed copy that is a symlink out of the root is not used', async () => {
    const r = await request(bridge.port, '/linked.css', { headers: { 'accept-encoding': 'br' } });
    expect(r.status).toBe(200);
    expect(r.body.toString()).not.toContain('not for the client');
    expect(zlib.brotliDecompressSync(r.body).toString()).toBe(`a { color: blue; }\n`.repeat(200));
  });

  it('compress: false sends everything as it is', async () => {
    const r = await request(off.port, '/page.php', { headers: { 'accept-encoding': 'gzip, br' } });
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.headers.vary).toBeUndefined();
    expect(r.body.toString()).toBe(html);
  });
});
