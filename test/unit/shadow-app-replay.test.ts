import express from 'express';
import { Hono } from 'hono';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/app/app-module.ts';
import { parseResponse, replayToApp, type ShadowRequest } from '../../src/shadow/app-replay.ts';

const GET: ShadowRequest = { method: 'GET', url: '/x?y=1', httpVersion: '1.1', rawHeaders: ['Host', 'a.test', 'Accept', 'text/html', 'Cookie', 'a=1', 'Cookie', 'b=2'], body: null, remoteAddress: '203.0.113.9', remotePort: 5555, encrypted: false };
const LIMITS = { maxBody: 1024 * 1024, timeoutMs: 1_000 };

describe("the shadow's replay to the app (captured, never sent)", () => {
  it('a plain listener sees the request as it came; its chunked answer is read back', async () => {
    const app = (req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('content-type', 'text/plain');
      res.write('a');
      res.end(`|${req.method} ${req.url} ${req.headers.host} ${req.headers.cookie} ${req.socket.remoteAddress}`);
    };
    const a = await replayToApp(app, GET, LIMITS);
    expect(a.kind).toBe('answer');
    if (a.kind !== 'answer') return;
    expect(a.response.status).toBe(200);
    expect(a.response.headers).toContainEqual(['content-type', 'text/plain']);
    expect(a.response.body.toString()).toBe('a|GET /x?y=1 a.test a=1; b=2 203.0.113.9');
  });

  it('Express reads a replayed JSON body; Hono (fetch-style) answers too', async () => {
    const ex = express();
    ex.use(express.json());
    ex.post('/x', (req, res) => res.status(201).json({ got: req.body }));
    const post = { ...GET, method: 'POST', rawHeaders: ['Host', 'a.test', 'Content-Type', 'application/json', 'Content-Length', '7'], body: [Buffer.from('{"a"'), Buffer.from(':1}')] };
    const a = await replayToApp(ex as unknown as (req: IncomingMessage, res: ServerResponse) => void, post, LIMITS);
    expect(a).toMatchObject({ kind: 'answer', response: { status: 201 } });
    if (a.kind === 'answer') expect(JSON.parse(a.response.body.toString())).toEqual({ got: { a: 1 } });
    const hono = new Hono();
    hono.get('/x', (c) => c.json({ y: c.req.query('y') }));
    const h = await replayToApp(toNodeListener(hono), GET, LIMITS);
    expect(h.kind === 'answer' && h.response.body.toString()).toBe('{"y":"1"}');
  });

  it('HEAD: no body', async () => {
    const a = await replayToApp((_req, res) => res.end('body'), { ...GET, method: 'HEAD' }, LIMITS);
    expect(a.kind === 'answer' && a.response.body.length).toBe(0);
  });

  it('a throw, a rejection, a cut response and a hang are failures, never a crash', async () => {
    expect(await replayToApp(() => { throw new Error('boom'); }, GET, LIMITS)).toEqual({ kind: 'failed', reason: 'the app failed: boom' });
    expect(await replayToApp(async () => { throw new Error('later'); }, GET, LIMITS)).toEqual({ kind: 'failed', reason: 'the app failed: later' });
    expect(await replayToApp((_req, res) => res.destroy(), GET, LIMITS)).toEqual({ kind: 'failed', reason: 'the app cut its response' });
    const started = performance.now();
    expect(await replayToApp(() => {}, GET, { ...LIMITS, timeoutMs: 200 })).toEqual({ kind: 'failed', reason: 'the app did not finish within 200 ms (--app-timeout)' });
    expect(performance.now() - started).toBeLessThan(1_000);
    // Late writes after the cut go nowhere.
    let late: ServerResponse | undefined;
    await replayToApp((_req, res) => void (late = res), GET, { ...LIMITS, timeoutMs: 50 });
    late!.end('too late');
  });

  it('a body past the limit is large (and not kept)', async () => {
    expect(await replayToApp((_req, res) => res.end(Buffer.alloc(2 * 1024 * 1024)), GET, LIMITS)).toEqual({ kind: 'large' });
    expect(await replayToApp((_req, res) => res.end(Buffer.alloc(1024)), GET, { ...LIMITS, maxBody: 1000 })).toEqual({ kind: 'large' });
  });

  it('parseResponse reads what Node writes: lengths, chunks, HEAD', () => {
    expect(parseResponse(Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nX-A: b\r\n\r\nno'), false)).toEqual({ status: 404, headers: [['content-length', '2'], ['x-a', 'b']], body: Buffer.from('no') });
    expect(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\na;x=1\r\n0123456789\r\n0\r\n\r\n'), false)?.body.toString()).toBe('abc0123456789');
    expect(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'), true)?.body.length).toBe(0);
    expect(parseResponse(Buffer.from('garbage'), false)).toBeNull();
  });
});
