// The bridge owns the framing of what the app sends (issue 15, defects 2 and 3): a Content-Length the
// app gets wrong, a Transfer-Encoding of its own, or a 1xx as its final status never make a client read
// one response's end in the wrong place or wait for a response that never comes.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { rawRequest, recordingLogger, request, startBridge, waitFor, type Running } from './support.ts';

/** Writes `heads` back to back on one socket; everything received until the server closes, `until` holds or `ms` pass. */
function pipelined(port: number, heads: string[], ms = 2_000, until = (text: string) => text.endsWith('ok /next')): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let closed = false;
    const timer = setTimeout(() => sock.destroy(), ms);
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      if (until(Buffer.concat(chunks).toString('latin1'))) sock.destroy();
    });
    sock.on('error', reject);
    sock.on('end', () => (closed = true));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    });
    sock.write(heads.map((h) => `${h}\r\nHost: x\r\n\r\n`).join(''));
  });
}

describe('framing of the app responses (issue 15)', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  const logger = recordingLogger();

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 1 });
    bridge = await startBridge({
      fpm: fpm.socket,
      logger,
      app: (req, res) => {
        switch (req.url) {
          case '/short':
            res.writeHead(200, { 'content-length': '100' });
            return res.end('short\n');
          case '/short-later':
            res.setHeader('Content-Length', 100);
            res.write('short ');
            return setTimeout(() => res.end('later\n'), 10);
          case '/long':
            res.writeHead(200, { 'content-length': '5' });
            return res.end('hello, and more than five bytes');
          case '/long-writes':
            res.writeHead(200, ['Content-Length', '5', 'Content-Type', 'text/plain']);
            res.write('hel');
            res.write('lo HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged');
            return res.end();
          case '/bad-length':
            res.writeHead(200, { 'content-length': 'abc' });
            return res.end('chunked instead');
          case '/two-lengths':
            res.writeHead(200, ['Content-Length', '3', 'Content-Length', '30']);
            return res.end('two lengths');
          case '/own-te':
            res.writeHead(200, { 'transfer-encoding': 'gzip' });
            return res.end('raw bytes, no gzip');
          case '/head-length':
            res.writeHead(200, { 'content-length': '100' });
            return res.end();
          case '/103-final':
            res.writeHead(103, { link: '</style.css>; rel=preload; as=style' });
            return res.end('after a 103');
          case '/103-then-200':
            res.writeHead(103, { link: '</style.css>; rel=preload; as=style' });
            res.writeHead(200, { 'content-type': 'text/plain' });
            return res.end('final after a hint');
          case '/100-status':
            res.statusCode = 100;
            return res.end('a 100 as final');
          default:
            return res.end(`ok ${req.url}`);
        }
      },
    });
  });

  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it('a body shorter than its Content-Length: the connection is cut, never read into the next response', async () => {
    for (const path of ['/short', '/short-later']) {
      const { text, closed } = await pipelined(bridge.port, [`GET ${path} HTTP/1.1`, 'GET /next HTTP/1.1']);
      expect(closed, path).toBe(true);
      expect(text.match(/HTTP\/1\.1 \d{3}/g), path).toEqual(['HTTP/1.1 200']);
      expect(text).not.toContain('ok /next');
      await expect(request(bridge.port, path), path).rejects.toThrow();
    }
    expect(logger.errors.some((e) => /GET \/short: the app declared Content-Length: 100 and ended after 6 bytes; connection cut/.test(e.message))).toBe(true);
    await waitFor(() => logger.accessLog.filter((e) => e.url === '/short').length >= 2, 5_000, 'the access log lines');
    expect(logger.accessLog.filter((e) => e.url === '/short').map((e) => e.status)).toEqual([500, 500]);
  });

  it('bytes past the Content-Length are dropped: the next response is where the client expects it', async () => {
    for (const path of ['/long', '/long-writes']) {
      const { text } = await pipelined(bridge.port, [`GET ${path} HTTP/1.1`, 'GET /next HTTP/1.1']);
      const responses = text.split(/(?=HTTP\/1\.1 \d{3} )/);
      expect(responses, path).toHaveLength(2);
      expect(responses[0]!.endsWith('\r\n\r\nhello'), path).toBe(true);
      expect(responses[1]!.endsWith('ok /next'), path).toBe(true);
      expect(text).not.toContain('forged');
    }
    expect(logger.errors.some((e) => /GET \/long: the app wrote more than its Content-Length: 5/.test(e.message))).toBe(true);
  });

  it('an invalid or conflicting Content-Length and a Transfer-Encoding of the app are dropped: Node frames the body', async () => {
    for (const [path, body] of [['/bad-length', 'chunked instead'], ['/two-lengths', 'two lengths'], ['/own-te', 'raw bytes, no gzip']]) {
      const { text } = await pipelined(bridge.port, [`GET ${path} HTTP/1.1`, 'GET /next HTTP/1.1']);
      const responses = text.split(/(?=HTTP\/1\.1 \d{3} )/);
      expect(responses, path).toHaveLength(2);
      expect(responses[0], path).toMatch(/\r\ntransfer-encoding: chunked\r\n/i);
      expect(responses[0]!.split('\r\n\r\n')[0], path).not.toMatch(/content-length|gzip/i);
      expect(responses[0], path).toContain(body);
      expect(responses[1]!.endsWith('ok /next'), path).toBe(true);
    }
  });

  it('HEAD with a Content-Length and no body is not a short body', async () => {
    const { text, closed } = await pipelined(bridge.port, ['HEAD /head-length HTTP/1.1', 'GET /next HTTP/1.1'], 500);
    expect(closed).toBe(false);
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*content-length: 100\r\n/i);
    expect(text.endsWith('ok /next')).toBe(true);
  });

  it('a 103 is an early hint, never the final status: ending on it answers 500, and the client does not hang', async () => {
    const r = await rawRequest(bridge.port, 'GET /103-final HTTP/1.1\r\nHost: x');
    expect(r.text).toMatch(/^HTTP\/1\.1 103 Early Hints\r\nlink: <\/style.css>; rel=preload; as=style\r\n\r\nHTTP\/1\.1 500 /i);
    expect(r.text).not.toContain('after a 103');
    const { text } = await pipelined(bridge.port, ['GET /103-final HTTP/1.1', 'GET /next HTTP/1.1']);
    expect(text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 103', 'HTTP/1.1 500', 'HTTP/1.1 200']);
    expect(logger.errors.some((e) => /GET \/103-final: the app ended its response with 103/.test(e.message))).toBe(true);
    // Node's client takes the 103 as information and returns the final response.
    expect((await request(bridge.port, '/103-final')).status).toBe(500);
  });

  it('a 103 followed by a real status: the hint, then the response', async () => {
    const r = await rawRequest(bridge.port, 'GET /103-then-200 HTTP/1.1\r\nHost: x');
    expect(r.text).toMatch(/^HTTP\/1\.1 103 Early Hints\r\n[^]*\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(r.body.toString()).toContain('final after a hint');
  });

  it('a 1xx set as statusCode and ended on: 500, not a response with no final status', async () => {
    const r = await rawRequest(bridge.port, 'GET /100-status HTTP/1.1\r\nHost: x');
    expect(r.status).toBe(500);
    expect(r.text).not.toContain('a 100 as final');
  });
});

describe('a response cut after its head went out is logged as failed, with its request (issue 15)', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  const logger = recordingLogger();

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 1 });
    bridge = await startBridge({
      fpm: fpm.socket,
      logger,
      // A fetch-style app whose body stream fails after two chunks.
      app: {
        fetch: (request: Request) => {
          if (!request.url.endsWith('/broken-stream')) return new Response('fine');
          let n = 0;
          return new Response(
            new ReadableStream({
              async pull(c) {
                if (n++ < 2) {
                  c.enqueue(new TextEncoder().encode('part '));
                  await new Promise((r) => setTimeout(r, 20));
                } else c.error(new Error('the stream broke'));
              },
            }),
          );
        },
      },
    });
  });

  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it('a fetch-style app whose stream fails mid-way: cut, logged with GET /broken-stream, recorded as 500 (not 200)', async () => {
    await expect(request(bridge.port, '/broken-stream')).rejects.toThrow();
    await waitFor(() => logger.accessLog.some((e) => e.url === '/broken-stream'), 5_000, 'the access log line');
    const line = logger.accessLog.find((e) => e.url === '/broken-stream')!;
    expect(line.status).toBe(500);
    expect(logger.errors.some((e) => /^GET \/broken-stream: the app's response failed after its head went out; connection cut/.test(e.message) && /the stream broke/.test(String(e.err)))).toBe(true);
    expect((await request(bridge.port, '/fine')).body.toString()).toBe('fine');
  });
});
