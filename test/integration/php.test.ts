// The bridge as a plain PHP front (no app): scripts, forms, uploads, cookies, redirects, directory
// indexes, static files, stderr to the logger.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { md5, rawRequest, recordingLogger, request, startBridge, waitFor, type Running } from './support.ts';

type ServerDump = {
  server: Record<string, string>;
  get: Record<string, unknown>;
  post: Record<string, unknown>;
  files: Record<string, { name: string; size: number; md5: string | null }>;
};

describe('PHP through the bridge', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  const logger = recordingLogger();
  const url = (path: string) => new URL(path, bridge.url).href;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 3 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 3, logger });
  }, 20_000);

  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it('runs hello.php', async () => {
    const res = await fetch(url('/hello.php'));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('Hello from PHP');
  });

  it('passes the query string to $_GET and QUERY_STRING as received', async () => {
    const res = await fetch(url('/server.php?a=1&b=%20x&list[]=p&list[]=q'));
    expect(res.status).toBe(200);
    const dump = (await res.json()) as ServerDump;
    expect(dump.get).toEqual({ a: '1', b: ' x', list: ['p', 'q'] });
    expect(dump.server.QUERY_STRING).toBe('a=1&b=%20x&list[]=p&list[]=q');
    expect(dump.server.REQUEST_URI).toBe('/server.php?a=1&b=%20x&list[]=p&list[]=q');
    expect(dump.server.REQUEST_METHOD).toBe('GET');
  });

  it('populates $_POST from an urlencoded form', async () => {
    const res = await fetch(url('/server.php?from=query'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=J%C3%BCrgen&tags%5B%5D=a&tags%5B%5D=b&empty=',
    });
    expect(res.status).toBe(200);
    const dump = (await res.json()) as ServerDump;
    expect(dump.post).toEqual({ name: 'Jürgen', tags: ['a', 'b'], empty: '' });
    expect(dump.get).toEqual({ from: 'query' });
    expect(dump.server.CONTENT_TYPE).toBe('application/x-www-form-urlencoded');
    expect(dump.server.CONTENT_LENGTH).toBe(String(Buffer.byteLength('name=J%C3%BCrgen&tags%5B%5D=a&tags%5B%5D=b&empty=')));
  });

  it('sends a raw body to php://input unchanged (chunked request body too)', async () => {
    const body = randomBytes(300_000);
    const sized = await request(bridge.port, '/echo.php', { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body });
    expect(JSON.parse(sized.body.toString())).toEqual({ method: 'PUT', length: body.length, md5: md5(body), contentType: 'application/octet-stream' });

    // No Content-Length: the bridge buffers the chunked body and gives PHP its length.
    const chunked = await request(bridge.port, '/echo.php', {
      method: 'POST',
      headers: { 'transfer-encoding': 'chunked', 'content-type': 'application/octet-stream' },
      body,
    });
    expect(JSON.parse(chunked.body.toString())).toMatchObject({ method: 'POST', length: body.length, md5: md5(body) });
  });

  it('handles a multipart upload: $_FILES has the file with the right size and md5', async () => {
    const file = randomBytes(200_000);
    const form = new FormData();
    form.append('title', 'a picture');
    form.append('upload', new Blob([file], { type: 'image/png' }), 'pic.png');
    const res = await fetch(url('/server.php'), { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const dump = (await res.json()) as ServerDump;
    expect(dump.post).toEqual({ title: 'a picture' });
    expect(dump.files.upload).toEqual({ name: 'pic.png', size: file.length, md5: md5(file) });
    expect(dump.server.CONTENT_TYPE).toMatch(/^multipart\/form-data; boundary=/);
  });

  it('keeps several Set-Cookie headers separate', async () => {
    const res = await fetch(url('/cookies.php'));
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2', 'c=3']);
    // On the wire: three header lines, not one joined line.
    const raw = await rawRequest(bridge.port, `GET /cookies.php HTTP/1.1\r\nHost: localhost`);
    expect(raw.head.match(/^set-cookie: .*$/gim)).toEqual(['Set-Cookie: a=1', 'Set-Cookie: b=2', 'Set-Cookie: c=3']);
  });

  it('turns a Location header from PHP into a 302', async () => {
    const res = await fetch(url('/redirect.php'), { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/hello.php');
  });

  it('passes PHP status codes and reason phrases', async () => {
    for (const code of [201, 400, 403, 410, 500, 503]) {
      const res = await request(bridge.port, `/status.php?code=${code}`);
      expect(res.status).toBe(code);
      expect(res.body.toString()).toBe(`status ${code}`);
    }
  });

  it('redirects /dir to /dir/ (query kept) and runs dir/index.php for /dir/', async () => {
    const res = await fetch(url('/dir'), { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/dir/');
    const withQuery = await fetch(url('/dir?x=1'), { redirect: 'manual' });
    expect(withQuery.status).toBe(301);
    expect(withQuery.headers.get('location')).toBe('/dir/?x=1');

    const index = await fetch(url('/dir/'));
    expect(index.status).toBe(200);
    expect(await index.text()).toBe('dir index');
  });

  it('serves /static/ from its index.html', async () => {
    const res = await fetch(url('/static/'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toContain('static index');
  });

  it('serves a static file with an ETag, then 304 on If-None-Match', async () => {
    const res = await fetch(url('/static/style.css'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/css/);
    expect(await res.text()).toBe('body { font-family: sans-serif; color: #222; }\n');
    const etag = res.headers.get('etag');
    expect(etag).toBeTruthy();
    expect(res.headers.get('last-modified')).toBeTruthy();

    const again = await request(bridge.port, '/static/style.css', { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
  });

  it('answers a Range request with 206 and the slice', async () => {
    const res = await request(bridge.port, '/static/4k.txt', { headers: { range: 'bytes=64-127' } });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toMatch(/^bytes 64-127\/\d+$/);
    expect(res.headers['content-length']).toBe('64');
    expect(res.body.toString()).toBe('010000000000000000000000000000000000000000000000000000000000000\n');
  });

  it('answers HEAD with the headers and no body, for static files and PHP', async () => {
    const stat = await rawRequest(bridge.port, 'HEAD /static/4k.txt HTTP/1.1\r\nHost: localhost');
    expect(stat.status).toBe(200);
    expect(stat.head).toMatch(/^content-length: [1-9]\d*$/im);
    expect(stat.body.length).toBe(0);

    const php = await rawRequest(bridge.port, 'HEAD /hello.php HTTP/1.1\r\nHost: localhost');
    expect(php.status).toBe(200);
    expect(php.body.length).toBe(0);
  });

  it('refuses methods other than GET/HEAD on a static file', async () => {
    const res = await request(bridge.port, '/static/style.css', { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it('gives PHP stderr to the logger with its request', async () => {
    const res = await fetch(url('/stderr.php?x=1'));
    expect(await res.text()).toBe('ok');
    await waitFor(() => logger.stderr.some((e) => e.line.includes('note from php')), 3000, 'php stderr');
    const entry = logger.stderr.find((e) => e.line.includes('note from php'))!;
    expect(entry.method).toBe('GET');
    expect(entry.url).toBe('/stderr.php?x=1');
  });

  it('logs each request with who served it', async () => {
    await fetch(url('/hello.php?log=1')).then((r) => r.text());
    await fetch(url('/static/app.js?log=1')).then((r) => r.text());
    await fetch(url('/nothing/here?log=1')).then((r) => r.text());
    await waitFor(() => logger.accessLog.filter((e) => e.url.endsWith('?log=1')).length === 3, 3000, 'access log');
    const entries = logger.accessLog.filter((e) => e.url.endsWith('?log=1'));
    expect(entries.map((e) => [e.url, e.status, e.servedBy])).toEqual([
      ['/hello.php?log=1', 200, 'php'],
      ['/static/app.js?log=1', 200, 'static'],
      ['/nothing/here?log=1', 404, 'bridge'],
    ]);
    expect(entries[0]!.remoteAddress).toBe('127.0.0.1');
    expect(entries[0]!.bytes).toBeGreaterThan('Hello from PHP'.length);
  });
});
