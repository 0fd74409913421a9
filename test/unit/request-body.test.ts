// readBody on a stand-in request: the limits hold whatever the framing, and a spool file never
// outlives its request, even when the client goes away in the same tick the file is created.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { BodyTimeoutError, BodyTooLargeError, MemoryBudget, readBody, type BodyLimits } from '../../src/http/request-body.ts';
import { SpoolDir } from '../../src/http/spool.ts';

const base = mkdtempSync(join(tmpdir(), 'fpm-bridge-body-unit-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const spool = new SpoolDir(base);
const spoolDir = spool.prepare();
const limits: BodyLimits = { maxBody: 4 * 1024 * 1024, memoryLimit: 1024 * 1024, budget: new MemoryBudget(16 * 1024 * 1024), spool, idleTimeoutMs: 0 };

function fakeRequest(headers: Record<string, string>): PassThrough & { headers: Record<string, string>; complete: boolean } {
  return Object.assign(new PassThrough(), { headers, complete: false });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('readBody', () => {
  it('removes the spool file when the client goes away in the very tick the file is being created', async () => {
    for (let i = 0; i < 10; i++) {
      const req = fakeRequest({ 'content-length': String(3 * 1024 * 1024) });
      const reading = readBody(req as unknown as IncomingMessage, limits);
      req.write(Buffer.alloc(1024 * 1024 + 1));
      await new Promise((r) => setImmediate(r)); // the data event: the spool file is opening now
      req.emit('close');
      await expect(reading).rejects.toThrow(/closed the connection/);
    }
    await sleep(100);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('stops a chunked body (no length declared) at maxBody', async () => {
    const req = fakeRequest({ 'transfer-encoding': 'chunked' });
    const reading = readBody(req as unknown as IncomingMessage, limits);
    for (let i = 0; i < 5; i++) req.write(Buffer.alloc(1024 * 1024));
    await expect(reading).rejects.toBeInstanceOf(BodyTooLargeError);
    await sleep(50);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('fails with BodyTimeoutError when nothing arrives for idleTimeoutMs, not while bytes keep coming', async () => {
    const req = fakeRequest({ 'content-length': '100' });
    const reading = readBody(req as unknown as IncomingMessage, { ...limits, idleTimeoutMs: 150 });
    for (let i = 0; i < 5; i++) {
      req.write('x');
      await sleep(80); // 400 ms in all, each gap under 150 ms
    }
    const started = performance.now();
    await expect(reading).rejects.toBeInstanceOf(BodyTimeoutError);
    expect(performance.now() - started).toBeLessThan(300);
  });
});
