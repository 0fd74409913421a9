// A client that never reads must not hold a PHP worker (issue 9, defect 5). Past a window in memory,
// PHP's answer is read into a spool file (private 0700 directory, unlinked at once), so the worker is
// free when PHP is done; a client that takes nothing for --send-timeout is cut (nginx send_timeout).
// Unbuffered responses (SSE, X-Accel-Buffering: no) still stream as PHP flushes.
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { bigPatternMd5, recordingLogger, request, sleep, startBridge, waitFor, type Reply, type Running } from './support.ts';

/** A client that sends its request and never reads a byte of the answer. */
function neverReads(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port }, () => {
      sock.pause();
      sock.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      resolve(sock);
    });
    sock.on('error', () => {}); // the bridge may cut it
    sock.once('error', reject);
  });
}

/** The reply, or a clear failure after `ms` (never a wait until the suite's own timeout). */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  return Promise.race([p, sleep(ms).then((): T => { throw new Error(`${what}: no answer within ${ms} ms`); })]);
}

const spoolDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith(`fpm-bridge-spool-${process.pid}-`)).map((n) => join(tmpdir(), n));

describe('clients that never read', () => {
  let fpm: PhpFpm;
  /** No send timeout: the workers must come free by the spool alone. */
  let bridge: Running;
  /** A short send timeout. */
  let cutting: Running;
  const logger = recordingLogger();
  const sockets: Socket[] = [];
  const sendTimeouts = () => logger.errors.filter((e) => /send timeout/.test(e.message)).length;

  beforeAll(async () => {
    // Four workers for `bridge` (its kept connections hold them) and two for `cutting`.
    fpm = await startPhpFpm({ workers: 6 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 4, sendTimeoutMs: 0 });
    cutting = await startBridge({ fpm: fpm.socket, fpmConnections: 2, sendTimeoutMs: 1000, logger });
  }, 20_000);
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await bridge?.close();
    await cutting?.close();
    await fpm?.stop();
  });

  it('four never-reading clients of a 13 MB page on four workers hold no worker: other PHP requests are served at once', async () => {
    const idle = () => bridge.bridge.client.stats.idle;
    // Warm: four connections open (and idle) first.
    await Promise.all(Array.from({ length: 4 }, () => request(bridge.port, '/slow.php?ms=50')));
    const readers = [];
    for (let i = 0; i < 4; i++) readers.push(await neverReads(bridge.port, `/big.php?mb=13&i=${i}`));
    sockets.push(...readers);
    await waitFor(() => idle() < 4, 5000, 'the big pages to start');
    // Every worker wrote a 13 MB answer; each is free once PHP is done, not when its client reads
    // (before: all four stayed busy for as long as the clients stayed connected).
    await waitFor(() => idle() === 4, 20_000, 'four idle php-fpm connections');
    const started = performance.now();
    const replies: Reply[] = await within(5000, 'hello requests', Promise.all(Array.from({ length: 8 }, () => request(bridge.port, '/hello.php'))));
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(performance.now() - started).toBeLessThan(3000);
    // The spool: a private directory, 0700, with no file in it that anyone could open (unlinked at once).
    const dirs = spoolDirs();
    expect(dirs.length).toBeGreaterThan(0);
    for (const d of dirs) {
      expect(statSync(d).mode & 0o777).toBe(0o700);
      expect(readdirSync(d)).toEqual([]);
    }
    for (const s of readers) s.destroy();
  }, 40_000);

  it('--send-timeout cuts a client that takes nothing, and says why', async () => {
    sockets.push(await neverReads(cutting.port, '/big.php?mb=13'));
    await waitFor(() => sendTimeouts() === 1, 15_000, 'a send timeout');
    await waitFor(() => cutting.bridge.client.stats.open === cutting.bridge.client.stats.idle, 5000, 'the worker to be free');
    const open = await new Promise<number>((resolve) => cutting.server.getConnections((_e, n) => resolve(n)));
    expect(open).toBe(0);
  }, 30_000);

  it('a slow but steady reader is not cut by the send timeout, and gets every byte', async () => {
    const sock = connect({ host: '127.0.0.1', port: cutting.port });
    sockets.push(sock);
    let received = 0;
    sock.on('data', (c: Buffer) => {
      received += c.length;
      sock.pause();
      setTimeout(() => sock.resume(), 200);
    });
    const ended = new Promise<void>((resolve) => sock.on('end', () => resolve()));
    sock.write('GET /big.php?mb=2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    await within(25_000, 'the slow download', ended);
    expect(received).toBeGreaterThan(2 * 1024 * 1024);
    expect(sendTimeouts()).toBe(1);
  }, 30_000);
});

describe('a spool that cannot be written', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 2 });
    // A spool directory that cannot be made: the response falls back to pausing php-fpm.
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 2, spoolDir: '/nonexistent/fpm-bridge-test' });
  }, 20_000);
  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it('a slow client still gets every byte (php-fpm is paused instead)', async () => {
    const sock = connect({ host: '127.0.0.1', port: bridge.port });
    const hash = createHash('md5');
    let head: Buffer | null = Buffer.alloc(0);
    let bodyBytes = 0;
    sock.on('data', (c: Buffer) => {
      if (head !== null) {
        head = Buffer.concat([head, c]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        c = head.subarray(end + 4);
        head = null;
      }
      bodyBytes += c.length;
      hash.update(c);
    });
    const ended = new Promise<void>((resolve) => sock.on('end', () => resolve()));
    sock.write('GET /big.php?mb=40 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    sock.pause();
    await sleep(1000);
    sock.resume();
    await within(20_000, 'the download', ended);
    expect(bodyBytes).toBe(40 * 1024 * 1024);
    expect(hash.digest('hex')).toBe(bigPatternMd5(40 * 1024 * 1024));
  }, 30_000);
});
