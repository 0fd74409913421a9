// The bridge owns HTTP framing (issue 9, defect 1): nothing PHP sends decides where a response ends on
// the client's connection. Each case pipelines a lying script and a plain one on one raw socket, as a
// pipelining client or a shared proxy would, and reads what comes back by the server's own framing.
// nginx 1.22 on the same php-fpm is asked the same, where the test states its behaviour.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginxFpm, startPhpFpm, type Nginx, type PhpFpm } from '../helpers/php-fpm.ts';
import { pipelined, type PipelinedResult } from '../helpers/pipelined-client.ts';
import { FIXTURES, recordingLogger, startBridge, type Running } from './support.ts';

const get = (path: string, close = false) => `GET ${path} HTTP/1.1\r\nHost: localhost${close ? '\r\nConnection: close' : ''}`;
const pair = (port: number, mode: string, stream: boolean): Promise<PipelinedResult> =>
  pipelined(port, [get(`/framing.php?mode=${mode}${stream ? '&stream=1' : ''}`), get('/hello.php', true)]);
const header = (r: { headers: Array<[string, string]> }, name: string) => r.headers.filter(([k]) => k === name).map(([, v]) => v);
const FORGED = 'forged';

describe.each([false, true])('PHP framing (streamed: %s)', (stream) => {
  let fpm: PhpFpm;
  let bridge: Running;
  let nginx: Nginx;
  const logger = recordingLogger();

  beforeAll(async () => {
    // The bridge keeps its connections (and their workers); nginx needs workers of its own.
    fpm = await startPhpFpm({ workers: 4 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 2, logger });
    nginx = await startNginxFpm({ root: FIXTURES, fpmSocket: fpm.socket });
  }, 20_000);
  afterAll(async () => {
    await bridge?.close();
    await nginx?.stop();
    await fpm?.stop();
  });

  it('a body longer than its Content-Length: exactly the declared bytes go out, the rest never reads as the next response', async () => {
    for (const port of [bridge.port, nginx.port]) {
      const r = await pair(port, 'short', stream);
      expect(r.responses[0]!.body.toString()).toBe('hello');
      expect(r.responses[0]!.complete).toBe(true);
      expect(r.raw.toString('latin1')).not.toContain(FORGED);
      expect(r.responses.every((x) => x.body.toString() !== FORGED)).toBe(true);
      expect(r.leftover.length).toBe(0);
    }
    // The bridge also closes the connection after the suspect response (nginx keeps it).
    const mine = await pair(bridge.port, 'short', stream);
    expect(mine.responses).toHaveLength(1);
    expect(mine.closed).toBe(true);
    expect(logger.warnings.some((w) => /more than its Content-Length 5/.test(w))).toBe(true);
  });

  it('a body shorter than its Content-Length: the connection is cut, so the next response is never swallowed into it', async () => {
    for (const port of [bridge.port, nginx.port]) {
      const r = await pair(port, 'long', stream);
      expect(r.closed).toBe(true);
      expect(r.responses).toHaveLength(1);
      expect(r.responses[0]!.complete).toBe(false);
      expect(r.responses[0]!.body.toString()).toBe('hello');
      expect(r.raw.toString('latin1')).not.toContain('Hello from PHP');
    }
    expect(logger.errors.some((e) => /fewer than its Content-Length 100/.test(e.message))).toBe(true);
  });

  it.each(['exact', 'same'])('a true Content-Length (%s) is kept and the connection serves the next request', async (mode) => {
    const r = await pair(bridge.port, mode, stream);
    expect(r.responses.map((x) => [x.status, x.body.toString(), x.complete])).toEqual([
      [200, mode === 'exact' ? 'helloworld' : 'hello', true],
      [200, 'Hello from PHP', true],
    ]);
    expect(header(r.responses[0]!, 'content-length')).toEqual([mode === 'exact' ? '10' : '5']);
    expect(r.leftover.length).toBe(0);
  });

  it.each(['minus', 'abc', 'two'])('an invalid Content-Length (%s) is dropped: the bridge frames the body itself', async (mode) => {
    const r = await pair(bridge.port, mode, stream);
    expect(r.responses.map((x) => [x.status, x.body.toString(), x.complete])).toEqual([
      [200, 'hello', true],
      [200, 'Hello from PHP', true],
    ]);
    const first = r.responses[0]!;
    // Its own length when the answer came whole, chunked when it streamed (as nginx does for -1 and
    // abc); which one depends on whether PHP's output came in one socket read, so either is right.
    const framing = [...header(first, 'content-length'), ...header(first, 'transfer-encoding')];
    expect([['5'], ['chunked']]).toContainEqual(framing);
    if (!stream) expect(framing).toEqual(['5']);
    expect(logger.warnings.some((w) => w.includes('invalid Content-Length'))).toBe(true);
  });

  it('Transfer-Encoding, Connection and Keep-Alive from PHP never decide framing (nginx: the same)', async () => {
    for (const port of [bridge.port, nginx.port]) {
      const r = await pair(port, 'hop', stream);
      expect(r.responses).toHaveLength(2);
      // PHP's "chunked" bytes are the body, byte for byte, forged response and all.
      expect(r.responses[0]!.body.toString('latin1')).toBe(`5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n${FORGED}`);
      expect(r.responses[1]!.body.toString()).toBe('Hello from PHP');
      expect(header(r.responses[0]!, 'keep-alive').every((v) => v !== 'timeout=1')).toBe(true);
    }
  });

  it('Transfer-Encoding with a Content-Length from PHP: the length frames, the chunked claim is dropped', async () => {
    const r = await pair(bridge.port, 'te-length', stream);
    expect(r.responses[0]!.body.toString()).toBe('hello');
    expect(header(r.responses[0]!, 'transfer-encoding')).toEqual([]);
    expect(r.raw.toString('latin1')).not.toContain(FORGED);
  });

  it('HEAD: PHP\'s Content-Length is passed on with no body, and the next response follows intact', async () => {
    const r = await pipelined(bridge.port, [`HEAD /framing.php?mode=exact${stream ? '&stream=1' : ''} HTTP/1.1\r\nHost: localhost`, get('/hello.php', true)], 3000, [true]);
    expect(r.responses.map((x) => [x.status, x.body.toString()])).toEqual([
      [200, ''],
      [200, 'Hello from PHP'],
    ]);
    expect(header(r.responses[0]!, 'content-length')).toEqual(['10']);
  });

  it.each([100, 101, 103])('PHP Status %i never goes out as the final response: 502, and the next response pairs with its own request', async (code) => {
    const r = await pipelined(bridge.port, [get(`/status.php?code=${code}`), get('/hello.php', true)]);
    expect(r.responses.map((x) => x.status)).toEqual([502, 200]);
    expect(r.responses[1]!.body.toString()).toBe('Hello from PHP');
    expect(logger.errors.some((e) => e.message.includes(`Status ${code} is informational`))).toBe(true);
  });
});
