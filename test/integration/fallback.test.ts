// PHP first, the app on PHP's 404: the app gets the request as it came (method, URL, headers, the
// whole body), PHP's own 404 stands when the app declines too, and paths with no PHP script go
// straight to the app.
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppExport } from '../../src/app/app-module.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { md5, recordingLogger, request, startBridge, waitFor, type RecordingLogger, type Running } from './support.ts';

/** What the app saw of a request. */
interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  length: number;
  md5: string;
}

/** The app's answer: 404 (declined) for any URL containing "app404", else 200 with what it saw. */
function answer(seen: Seen): { status: number; headers: Record<string, string>; body: string } {
  if (seen.url.includes('app404')) {
    return { status: 404, headers: { 'content-type': 'text/plain', 'x-app': 'declined' }, body: 'app says no' };
  }
  return { status: 200, headers: { 'content-type': 'application/json', 'x-served-by': 'app' }, body: JSON.stringify(seen) };
}

/**
 * A replayed body that stops short of its end must fail a test at once and say so, not by the
 * test's 30 s timeout: the app answers 599 after this long without the end of its body.
 */
const REPLAY_DEADLINE_MS = 3000;
const stalled = (length: number) => JSON.stringify({ error: `body replay stalled: no end after ${REPLAY_DEADLINE_MS} ms, ${length} bytes in` });

function nodeApp(seenLog: Seen[]): AppExport {
  return (req: IncomingMessage, res: ServerResponse) => {
    const hash = createHash('md5');
    let length = 0;
    const deadline = setTimeout(() => {
      res.writeHead(599, { 'content-type': 'application/json' });
      res.end(stalled(length));
    }, REPLAY_DEADLINE_MS);
    req.on('data', (c: Buffer) => {
      hash.update(c);
      length += c.length;
    });
    req.on('end', () => {
      clearTimeout(deadline);
      if (res.headersSent) return;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
      const seen: Seen = { method: req.method ?? '', url: req.url ?? '', headers, length, md5: hash.digest('hex') };
      seenLog.push(seen);
      const a = answer(seen);
      if (seen.url.includes('style=set')) {
        // Express style: headers and status set on the response, then end().
        for (const [k, v] of Object.entries(a.headers)) res.setHeader(k, v);
        res.setHeader('set-cookie', ['app=1', 'app2=2']);
        res.statusCode = a.status;
        res.end(a.body);
      } else {
        res.writeHead(a.status, a.headers);
        res.end(a.body);
      }
    });
  };
}

function fetchApp(seenLog: Seen[]): AppExport {
  return {
    async fetch(request: Request): Promise<Response> {
      let timer: NodeJS.Timeout | undefined;
      const read = await Promise.race([
        request.arrayBuffer(),
        new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), REPLAY_DEADLINE_MS))),
      ]);
      clearTimeout(timer);
      if (read === null) return new Response(stalled(-1), { status: 599, headers: { 'content-type': 'application/json' } });
      const body = Buffer.from(read);
      const url = new URL(request.url);
      const headers: Record<string, string> = {};
      request.headers.forEach((v, k) => (headers[k] = v));
      const seen: Seen = { method: request.method, url: url.pathname + url.search, headers, length: body.length, md5: md5(body) };
      seenLog.push(seen);
      const a = answer(seen);
      return new Response(a.body, { status: a.status, headers: a.headers });
    },
  };
}

const BOGUS_FPM = '/nonexistent/fpm-bridge-test/php-fpm.sock';

let fpm: PhpFpm;
beforeAll(async () => {
  fpm = await startPhpFpm({ workers: 4 });
}, 20_000);
afterAll(async () => {
  await fpm?.stop();
});

describe.each([
  ['a Node (req, res) listener', nodeApp],
  ['a fetch-style app', fetchApp],
])('fallback to %s', (_name, makeApp) => {
  const seen: Seen[] = [];
  let direct: Running; // PHP scripts by path, the app behind
  let front: Running; // front controller notfound.php, the app behind
  let noFpm: Running; // php-fpm unreachable: only paths without a PHP script can work
  let log: RecordingLogger;
  let noFpmLog: RecordingLogger;

  beforeAll(async () => {
    log = recordingLogger();
    noFpmLog = recordingLogger();
    direct = await startBridge({ fpm: fpm.socket, app: makeApp(seen), fpmConnections: 1, logger: log });
    front = await startBridge({ fpm: fpm.socket, app: makeApp(seen), frontController: 'notfound.php', fpmConnections: 1 });
    noFpm = await startBridge({ fpm: BOGUS_FPM, app: makeApp(seen), logger: noFpmLog, connectTimeoutMs: 500 });
  });
  afterAll(async () => {
    await direct?.close();
    await front?.close();
    await noFpm?.close();
  });

  const last = () => seen[seen.length - 1]!;

  it('GET: PHP 404 → the app answers, with the same method, URL and headers', async () => {
    const res = await request(direct.port, '/notfound.php?q=a%20b&x=1', {
      headers: { 'x-test': 'fallback', cookie: 'sid=42; theme=dark', 'accept-language': 'fr' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-served-by']).toBe('app');
    // Nothing of PHP's held 404 leaks into the app's answer.
    expect(res.headers['x-from']).toBeUndefined();
    const got = JSON.parse(res.body.toString()) as Seen;
    expect(got).toMatchObject({ method: 'GET', url: '/notfound.php?q=a%20b&x=1', length: 0 });
    expect(got.headers).toMatchObject({ 'x-test': 'fallback', cookie: 'sid=42; theme=dark', 'accept-language': 'fr', host: `127.0.0.1:${direct.port}` });
    await waitFor(() => log.accessLog.some((e) => e.url === '/notfound.php?q=a%20b&x=1'), 2000, 'access log');
    expect(log.accessLog.find((e) => e.url === '/notfound.php?q=a%20b&x=1')!.servedBy).toBe('php→app');
  });

  it('POST: the app gets the whole 3 MiB body PHP already consumed (checksum equal)', async () => {
    const body = randomBytes(3 * 1024 * 1024);
    const res = await request(direct.port, '/notfound.php?upload=1', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'x-test': 'big' },
      body,
    });
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body.toString()) as Seen;
    expect(got).toMatchObject({ method: 'POST', url: '/notfound.php?upload=1', length: body.length, md5: md5(body) });
    expect(got.headers).toMatchObject({ 'content-type': 'application/octet-stream', 'content-length': String(body.length), 'x-test': 'big' });
  });

  it('PUT with a chunked body: the app gets it all too', async () => {
    const body = randomBytes(100_000);
    const res = await request(direct.port, '/notfound.php', { method: 'PUT', headers: { 'transfer-encoding': 'chunked' }, body });
    const got = JSON.parse(res.body.toString()) as Seen;
    expect(got).toMatchObject({ method: 'PUT', length: body.length, md5: md5(body) });
  });

  it('front controller 404 → the app, for GET and for a 3 MiB POST', async () => {
    const get = await request(front.port, '/api/users/7?expand=1', { headers: { 'x-test': 'front' } });
    expect(get.status).toBe(200);
    expect(JSON.parse(get.body.toString())).toMatchObject({ method: 'GET', url: '/api/users/7?expand=1', headers: { 'x-test': 'front' } });

    const body = randomBytes(3 * 1024 * 1024);
    const post = await request(front.port, '/api/upload', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
    expect(post.status).toBe(200);
    expect(JSON.parse(post.body.toString())).toMatchObject({ method: 'POST', url: '/api/upload', length: body.length, md5: md5(body) });
  });

  it('the app declines too (404) → the client gets PHP\'s original 404: status, headers, body', async () => {
    for (const [port, path] of [
      [direct.port, '/notfound.php?app404'],
      [front.port, '/app404/route'],
      [front.port, '/app404/route?style=set'],
    ] as const) {
      const before = seen.length;
      const res = await request(port, path, { method: 'POST', body: 'some body' });
      expect(seen.length).toBe(before + 1); // the app did get it
      expect(last().url).toBe(path);
      expect(last().md5).toBe(md5('some body'));
      expect(res.status).toBe(404);
      expect(res.headers['x-from']).toBe('php');
      expect(res.headers['x-app']).toBeUndefined();
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.body.toString()).toBe('Package X does not exist');
    }
  });

  it.each([200, 301, 403, 405, 410, 500])('PHP %i stays PHP\'s with an app present (GET and POST): only 404 falls back', async (code) => {
    for (const method of ['GET', 'POST']) {
      const before = seen.length;
      const res = await request(direct.port, `/status.php?code=${code}&m=${method}`, { method, body: method === 'POST' ? 'a body' : undefined });
      expect({ method, status: res.status, body: res.body.toString() }).toEqual({ method, status: code, body: `status ${code}` });
      expect(res.headers['x-served-by']).toBeUndefined();
      expect(seen.length).toBe(before);
      await waitFor(() => log.accessLog.some((e) => e.url === `/status.php?code=${code}&m=${method}`), 2000, 'access log');
      expect(log.accessLog.find((e) => e.url === `/status.php?code=${code}&m=${method}`)!.servedBy).toBe('php');
    }
  });

  it('other PHP statuses are not handed to the app', async () => {
    const before = seen.length;
    const res = await request(direct.port, '/status.php?code=410');
    expect(res.status).toBe(410);
    expect(res.body.toString()).toBe('status 410');
    const ok = await request(direct.port, '/hello.php');
    expect(ok.body.toString()).toBe('Hello from PHP');
    expect(seen.length).toBe(before);
  });

  it('a path with no PHP script goes straight to the app, never to php-fpm (fpm socket bogus)', async () => {
    const get = await request(noFpm.port, '/api/items?page=2', { headers: { 'x-test': 'direct' } });
    expect(get.status).toBe(200);
    expect(JSON.parse(get.body.toString())).toMatchObject({ method: 'GET', url: '/api/items?page=2', headers: { 'x-test': 'direct' } });

    const body = randomBytes(1024 * 1024);
    const post = await request(noFpm.port, '/api/items', { method: 'POST', body });
    expect(JSON.parse(post.body.toString())).toMatchObject({ method: 'POST', length: body.length, md5: md5(body) });

    // A .php path whose script does not exist is no PHP script either.
    const missing = await request(noFpm.port, '/missing.php/x');
    expect(JSON.parse(missing.body.toString())).toMatchObject({ url: '/missing.php/x' });

    // A dotfile is "no file" too: the app gets the path, the file itself never goes out.
    const env = await request(noFpm.port, '/.env');
    expect(env.body.toString()).not.toContain('SECRET');
    expect(JSON.parse(env.body.toString())).toMatchObject({ url: '/.env' });

    // The app's own 404 stands when PHP was never asked.
    const declined = await request(noFpm.port, '/app404');
    expect(declined.status).toBe(404);
    expect(declined.body.toString()).toBe('app says no');
    expect(declined.headers['x-app']).toBe('declined');

    expect(noFpm.bridge.client.stats.open).toBe(0);
    await waitFor(() => noFpmLog.accessLog.length >= 5, 2000, 'access log');
    expect(new Set(noFpmLog.accessLog.map((e) => e.servedBy))).toEqual(new Set(['app']));
    expect(noFpmLog.errors).toEqual([]);

    // Whereas an existing script does need php-fpm: 502.
    const php = await request(noFpm.port, '/hello.php');
    expect(php.status).toBe(502);
  });
});

describe('no app: a plain front', () => {
  let plain: Running;
  let front: Running;

  beforeAll(async () => {
    plain = await startBridge({ fpm: fpm.socket, fpmConnections: 1 });
    front = await startBridge({ fpm: fpm.socket, frontController: 'notfound.php', fpmConnections: 1 });
  });
  afterAll(async () => {
    await plain?.close();
    await front?.close();
  });

  it("returns PHP's 404 as it is", async () => {
    for (const [port, path] of [
      [plain.port, '/notfound.php'],
      [front.port, '/any/route'],
    ] as const) {
      const res = await request(port, path);
      expect(res.status).toBe(404);
      expect(res.headers['x-from']).toBe('php');
      expect(res.body.toString()).toBe('Package X does not exist');
    }
  });

  it('answers 404 itself for a path with no file', async () => {
    const res = await request(plain.port, '/api/items');
    expect(res.status).toBe(404);
    expect(res.headers['x-from']).toBeUndefined();
  });
});
