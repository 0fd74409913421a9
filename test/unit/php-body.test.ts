import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PhpBody, SPOOL_AFTER_MS, STREAM_WINDOW } from '../../src/php/php-body.ts';

/** The part of a ServerResponse PhpBody uses: bytes wait until the test drains them. */
class FakeResponse extends EventEmitter {
  writableLength = 0;
  destroyed = false;
  socket = null;
  ended = false;
  out: Buffer[] = [];
  write(chunk: Buffer): boolean {
    this.out.push(chunk);
    this.writableLength += chunk.length;
    return this.writableLength < 16 * 1024;
  }
  end(): void {
    this.ended = true;
  }
  /** The client took everything that waited. */
  drain(): void {
    this.writableLength = 0;
    this.emit('drain');
  }
}

/** Copies each chunk as it is written, and runs the write callbacks when the client drains. */
class TakingResponse extends FakeResponse {
  pending: Array<() => void> = [];
  buffers = new Set<ArrayBufferLike>();
  override write(chunk: Buffer, cb?: () => void): boolean {
    this.buffers.add(chunk.buffer);
    if (cb) this.pending.push(cb);
    return super.write(Buffer.from(chunk));
  }
  override drain(): void {
    for (const cb of this.pending.splice(0)) cb();
    super.drain();
  }
}

const KiB = 1024;

describe('PhpBody: a client over the window gets SPOOL_AFTER_MS to drain before the spool', () => {
  let dir: string;
  beforeEach(() => {
    vi.useFakeTimers();
    dir = mkdtempSync(join(tmpdir(), 'php-body-test-'));
  });
  afterEach(() => {
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  function body(res: FakeResponse) {
    const calls = { resume: 0, spoolDir: 0, done: [] as Array<string | undefined> };
    const b = new PhpBody(res as unknown as ServerResponse, {
      declared: null,
      carriesBody: true,
      unbuffered: false,
      spoolDir: () => (calls.spoolDir++, dir),
      sendTimeoutMs: 0,
      resume: () => calls.resume++,
      done: (p) => calls.done.push(p),
      warn: () => {},
    });
    return { b, calls };
  }

  it('a client that drains in time: php-fpm paused, then resumed; no spool file is made', () => {
    const res = new FakeResponse();
    const { b, calls } = body(res);
    const chunk = Buffer.alloc(64 * KiB, 1);
    let more = true;
    for (let i = 0; more && i < 10; i++) more = b.write(chunk);
    expect(more).toBe(false); // paused past the window
    expect(res.writableLength).toBeGreaterThan(STREAM_WINDOW);
    vi.advanceTimersByTime(SPOOL_AFTER_MS - 10);
    res.drain();
    expect(calls.resume).toBe(1);
    vi.advanceTimersByTime(SPOOL_AFTER_MS * 2);
    // Still in memory: the next bytes are written to the response, not spooled.
    expect(b.write(chunk)).toBe(true);
    expect(calls.spoolDir).toBe(0);
    b.end();
    expect(res.ended).toBe(true);
    expect(calls.done).toEqual([undefined]);
  });

  it('a client that drains nothing: after SPOOL_AFTER_MS php-fpm goes on and the rest goes to the spool', () => {
    const res = new FakeResponse();
    const { b, calls } = body(res);
    const chunk = Buffer.alloc(64 * KiB, 2);
    let more = true;
    let n = 0;
    while (more && n < 10) (more = b.write(chunk)), n++;
    expect(more).toBe(false);
    expect(calls.resume).toBe(0);
    vi.advanceTimersByTime(SPOOL_AFTER_MS);
    expect(calls.resume).toBe(1);
    const inMemory = res.writableLength;
    expect(b.write(chunk)).toBe(true); // spooled: reading php-fpm goes on
    expect(calls.spoolDir).toBe(1);
    expect(res.writableLength).toBe(inMemory);
    b.end();
    expect(res.ended).toBe(false); // the spool still holds bytes for the client
    for (let i = 0; i < 20 && !res.ended; i++) res.drain();
    expect(res.ended).toBe(true);
    expect(Buffer.concat(res.out).length).toBe((n + 1) * chunk.length);
  });

  it('reads the spool back into a few buffers, each reused once the connection took it (the write callback)', () => {
    const res = new TakingResponse();
    const { b } = body(res);
    let more = true;
    let n = 0;
    const chunkOf = (i: number) => Buffer.alloc(64 * KiB, i % 251);
    while (more && n < 10) (more = b.write(chunkOf(n))), n++;
    vi.advanceTimersByTime(SPOOL_AFTER_MS);
    // 4 MiB more, to the spool; each byte value says which chunk it came from.
    for (let i = 0; i < 64; i++, n++) expect(b.write(chunkOf(n))).toBe(true);
    b.end();
    const before = res.buffers.size;
    for (let i = 0; i < 100 && !res.ended; i++) res.drain();
    expect(res.ended).toBe(true);
    const out = Buffer.concat(res.out);
    expect(out.length).toBe(n * 64 * KiB);
    for (let i = 0; i < n; i++) expect(out[i * 64 * KiB]).toBe(i % 251);
    // 4 MiB read back through the window (256 KiB): a handful of read buffers, not one a read.
    expect(res.buffers.size - before).toBeLessThanOrEqual(STREAM_WINDOW / (64 * KiB) + 2);
  });

  it("copies PHP's pieces of 4 KiB or more into pooled buffers that come back once written; small ones as before", () => {
    const res = new TakingResponse();
    const { b } = body(res);
    const before = res.buffers.size;
    // 200 pieces of 16 KiB (3 MiB) to a client that takes each at once: a few buffers serve them all.
    for (let i = 0; i < 200; i++) {
      b.write(Buffer.alloc(16 * KiB, i % 251));
      res.drain();
    }
    expect(res.buffers.size - before).toBeLessThanOrEqual(2);
    const out = Buffer.concat(res.out);
    for (let i = 0; i < 200; i++) expect(out[i * 16 * KiB]).toBe(i % 251);
    b.write(Buffer.from('tail'));
    b.end();
    expect(Buffer.concat(res.out).subarray(-4).toString()).toBe('tail');
  });
});

