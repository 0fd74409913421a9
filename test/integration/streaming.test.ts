// PHP output streams through as it is flushed, large responses arrive whole, and a slow client
// slows php-fpm down instead of making the bridge buffer the response.
import { execFile, spawn } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { bigPatternMd5, heldAfterFullGc, MiB, sleep, startBridge, withRssPeak, type Running } from './support.ts';

interface Timed {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  chunks: Array<{ at: number; text: string }>;
  start: number;
  end: number;
}

/** GETs `path`, noting when each piece of the body arrives. */
function timedGet(port: number, path: string): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const chunks: Timed['chunks'] = [];
    httpGet({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.on('data', (c: Buffer) => chunks.push({ at: performance.now() - start, text: c.toString() }));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, chunks, start, end: performance.now() - start }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** Runs a client `script` in another Node process and parses the JSON it prints. */
function clientElsewhere<T>(script: string): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`client failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as T);
    });
  });
}

/**
 * GETs `path` from another process that hashes the body as it streams, so this process's memory is
 * the bridge's alone (a client in the same process would add its own garbage).
 */
function hashedGetElsewhere(port: number, path: string): Promise<{ status: number; contentLength: string | undefined; length: number; md5: string }> {
  const script = `
    const { get } = require('node:http');
    const { createHash } = require('node:crypto');
    get({ host: '127.0.0.1', port: ${port}, path: ${JSON.stringify(path)}, agent: false }, (res) => {
      const hash = createHash('md5');
      let length = 0;
      res.on('data', (c) => { hash.update(c); length += c.length; });
      res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, contentLength: res.headers['content-length'], length, md5: hash.digest('hex') })));
    }).on('error', (e) => { console.error(e); process.exit(1); });`;
  return clientElsewhere(script);
}

type SlowResult = { status: number; stalledBytes: number; bodyBytes: number; md5: string };

/**
 * GETs `path` on a raw socket from another process (so this process's memory is the bridge's alone):
 * reads the head and the first piece, then does not read for `stallMs`, then trickles (short read
 * bursts) before reading the rest at full speed. `duringStall` runs here once the client has stopped
 * reading.
 */
function slowGet(port: number, path: string, stallMs: number, duringStall?: () => Promise<void>): Promise<SlowResult> {
  const script = `
    const { connect } = require('node:net');
    const { createHash } = require('node:crypto');
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const sock = connect({ host: '127.0.0.1', port: ${port} });
    const hash = createHash('md5');
    let received = 0, head = null, pending = Buffer.alloc(0), bodyBytes = 0;
    const done = new Promise((resolve) => {
      sock.on('error', (e) => { console.error(e); process.exit(1); });
      sock.on('end', resolve);
      sock.on('data', (c) => {
        received += c.length;
        if (head === null) {
          pending = Buffer.concat([pending, c]);
          const end = pending.indexOf('\\r\\n\\r\\n');
          if (end < 0) return;
          head = pending.toString('latin1', 0, end);
          c = pending.subarray(end + 4);
        }
        bodyBytes += c.length;
        hash.update(c);
      });
    });
    (async () => {
      sock.write('GET ' + ${JSON.stringify(path)} + ' HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n');
      await new Promise((r) => sock.once('data', r));
      sock.pause();
      process.stdout.write('stalled\\n');
      await sleep(${stallMs});
      const stalledBytes = received;
      for (let i = 0; i < 5; i++) { sock.resume(); await sleep(10); sock.pause(); await sleep(30); }
      sock.resume();
      await done;
      const status = Number(/^HTTP\\/1\\.1 (\\d{3})/.exec(head || '')?.[1] ?? 0);
      process.stdout.write(JSON.stringify({ status, stalledBytes, bodyBytes, md5: hash.digest('hex') }));
    })();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let hook: Promise<void> = Promise.resolve();
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (duringStall && out.startsWith('stalled\n')) {
        hook = duringStall();
        duringStall = undefined;
      }
    });
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`client failed (exit ${String(code)}): ${err}`));
      hook.then(() => resolve(JSON.parse(out.replace(/^stalled\n/, '')) as SlowResult), reject);
    });
  });
}

describe('streaming', () => {
  let fpm: PhpFpm;
  let bridge: Running;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 3 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 3 });
  }, 20_000);

  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it.each([
    ['/stream.php', 'text/plain', (i: number) => `tick ${i}\n`],
    ['/sse.php', 'text/event-stream', (i: number) => `data: tick ${i}\n\n`],
  ])('%s: each flush() reaches the client as it happens', async (path, type, piece) => {
    const r = await timedGet(bridge.port, path);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(new RegExp('^' + type));
    const text = r.chunks.map((c) => c.text).join('');
    expect(text).toBe([1, 2, 3, 4, 5].map(piece).join(''));
    // 4 × 200 ms of sleeps between the 5 pieces: the pieces come in spread out, the first well
    // before the end (a buffering front would deliver everything at once at ~800 ms).
    const first = r.chunks[0]!.at;
    const lastAt = r.chunks[r.chunks.length - 1]!.at;
    expect(r.chunks.length).toBeGreaterThanOrEqual(4);
    expect(lastAt - first).toBeGreaterThan(500);
    expect(first).toBeLessThan(r.end - 500);
    // Each piece arrives on its own, in order: the one with "tick 3" comes ~400 ms after the first.
    const at3 = r.chunks.find((c) => c.text.includes('tick 3'))!.at;
    expect(at3 - first).toBeGreaterThan(250);
  });

  it('a 50 MiB response arrives complete, with modest memory growth in the bridge', async () => {
    const size = 50 * MiB;
    const expected = bigPatternMd5(size);
    const { result, peakGrowth } = await withRssPeak(() => hashedGetElsewhere(bridge.port, '/big.php?mb=50'));
    expect(result.status).toBe(200);
    expect(result.contentLength).toBe(String(size));
    expect(result.length).toBe(size);
    expect(result.md5).toBe(expected);
    expect(peakGrowth).toBeLessThan(64 * MiB);
  }, 20_000);

  it('a slow reader does not make the bridge buffer the response (memory held bounded, bytes intact)', async () => {
    const size = 100 * MiB;
    const expected = bigPatternMd5(size);
    // The client stops reading for 1.5 s: php-fpm writes all 100 MiB meanwhile (about 0.1 s), and a
    // bridge that ignored backpressure would hold them. This one spools what the client cannot take.
    // What the bridge holds is measured after a full GC, 1 s into the stall: the peak RSS also counts
    // the socket reads not yet collected, which on Node 24 reach 50-70 MiB for these 100 MiB.
    const before = heldAfterFullGc();
    let held: number | null = null;
    const { result, peakGrowth } = await withRssPeak(() =>
      slowGet(bridge.port, `/big.php?mb=${size / MiB}`, 1500, async () => {
        await sleep(1000);
        held = heldAfterFullGc() - before;
      }),
    );
    expect(result.status).toBe(200);
    expect(result.stalledBytes).toBeLessThan(size / 4);
    expect(result.bodyBytes).toBe(size);
    expect(result.md5).toBe(expected);
    // The 256 KiB window and noise; a bridge that buffers holds most of the 100 MiB.
    expect(held).not.toBeNull();
    expect(held!).toBeLessThan(16 * MiB);
    // Garbage included, the RSS never comes near the response's size.
    expect(peakGrowth).toBeLessThan(size * 0.9);
  }, 20_000);

  it('a php-fpm connection paused for a slow client is resumed before it is reused', async () => {
    // One connection, so every request reuses it. A response that ends while the client is behind
    // leaves END_REQUEST read in the same chunk as the last stdout the client could not take yet.
    const one = await startBridge({ fpm: fpm.socket, fpmConnections: 1, responseTimeoutMs: 2000 });
    try {
      for (let i = 0; i < 8; i++) {
        const big = await slowGet(one.port, '/big.php?mb=8', 150);
        expect(big.bodyBytes).toBe(8 * MiB);
        const started = performance.now();
        const res = await fetch(new URL('/hello.php', one.url));
        expect({ round: i, status: res.status, body: await res.text() }).toEqual({ round: i, status: 200, body: 'Hello from PHP' });
        expect(performance.now() - started).toBeLessThan(1000);
      }
    } finally {
      await one.close();
    }
  }, 30_000);
});
