// Request bodies too big for memory: past 1 MiB the body is spooled to a private temp file, which is
// gone after the request, after a client that gives up mid-upload too. A 500 MiB upload to PHP costs
// the bridge bounded memory. The upload is streamed from one reused buffer, never allocated whole.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, cpSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES, MiB, startBridge, waitFor, withRssPeak, type Running } from './support.ts';

/** 1 MiB of a pattern; the upload is this buffer sent again and again. */
const PIECE = Buffer.alloc(MiB, 0);
for (let i = 0; i < PIECE.length; i++) PIECE[i] = (i * 7) % 256;

function expectedMd5(mib: number): string {
  const hash = createHash('md5');
  for (let i = 0; i < mib; i++) hash.update(PIECE);
  return hash.digest('hex');
}

interface Upload {
  status: number;
  body: string;
}

/**
 * POSTs `mib` MiB to `path` on a raw socket with backpressure. With `abortAfterMiB`, destroys the
 * socket after that much and resolves with status 0.
 */
function upload(port: number, path: string, mib: number, opts: { chunked?: boolean; abortAfterMiB?: number } = {}): Promise<Upload> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let text = '';
    sock.setEncoding('latin1');
    sock.on('data', (c: string) => (text += c));
    sock.on('error', (err) => (opts.abortAfterMiB !== undefined ? undefined : reject(new Error(`${err.message}; got: ${text.slice(0, 300)}`))));
    sock.on('close', () => {
      const end = text.indexOf('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: end < 0 ? '' : text.slice(end + 4) });
    });
    const framing = opts.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${mib * MiB}`;
    sock.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n${framing}\r\n\r\n`);
    let sent = 0;
    const pump = () => {
      while (sent < mib) {
        if (opts.abortAfterMiB !== undefined && sent >= opts.abortAfterMiB) {
          sock.destroy();
          return;
        }
        sent++;
        if (opts.chunked) sock.write(`${PIECE.length.toString(16)}\r\n`);
        let ok = sock.write(PIECE);
        if (opts.chunked) ok = sock.write('\r\n');
        if (!ok) return void sock.once('drain', pump);
      }
      if (opts.chunked) sock.write('0\r\n\r\n');
    };
    sock.once('connect', pump);
  });
}

/** Files in the bridge's private spool directories under `base` (path and mode). */
function spoolFiles(base: string): Array<{ path: string; mode: number; size: number }> {
  const out: Array<{ path: string; mode: number; size: number }> = [];
  for (const d of readdirSync(base)) {
    const dir = join(base, d);
    // The directory itself is private: 0700.
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) {
      const st = statSync(join(dir, f), { throwIfNoEntry: false });
      if (st) out.push({ path: join(dir, f), mode: st.mode, size: st.size });
    }
  }
  return out;
}

describe('big request bodies', () => {
  let fpm: PhpFpm;
  let root: string;
  let spoolDir: string;
  let bridge: Running;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-bigbody-'));
    spoolDir = mkdtempSync(join(tmpdir(), 'fpm-bridge-spool-'));
    cpSync(FIXTURES, root, { recursive: true });
    // echo.php holds the body in PHP's memory; this one hashes it as it reads.
    writeFileSync(
      join(root, 'hash-input.php'),
      `<?php
$in = fopen('php://input', 'rb');
$ctx = hash_init('md5');
$n = 0;
while (!feof($in)) { $b = fread($in, 1 << 16); $n += strlen($b); hash_update($ctx, $b); }
echo json_encode(['length' => $n, 'md5' => hash_final($ctx)]);
`,
    );
    fpm = await startPhpFpm({ workers: 2, ini: { post_max_size: '0', memory_limit: '64M' } });
    bridge = await startBridge({
      fpm: fpm.socket,
      root,
      fpmConnections: 2,
      maxBody: 1024 * MiB,
      spoolDir,
      app: (req, res) => {
        const hash = createHash('md5');
        let length = 0;
        req.on('data', (c: Buffer) => {
          length += c.length;
          hash.update(c);
        });
        req.on('end', () => res.end(JSON.stringify({ length, md5: hash.digest('hex') })));
      },
    });
  }, 20_000);

  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
    for (const d of [root, spoolDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('a 500 MiB upload reaches PHP whole with bounded bridge memory, and its spool file is removed', async () => {
    const mib = 500;
    let spoolSeen = 0;
    const watcher = setInterval(() => {
      for (const f of spoolFiles(spoolDir)) {
        spoolSeen = Math.max(spoolSeen, f.size);
        // Private to this user, in a directory of its own, with a name no one can guess.
        expect(f.mode & 0o077).toBe(0);
        expect(f.path).toMatch(/\/fpm-bridge-spool-\d+-[A-Za-z0-9]{6}\/[A-Za-z0-9_-]{16}$/);
      }
    }, 50);
    try {
      const { result, peakGrowth } = await withRssPeak(() => upload(bridge.port, '/hash-input.php', mib));
      expect(result.status).toBe(200);
      expect(JSON.parse(result.body)).toEqual({ length: mib * MiB, md5: expectedMd5(mib) });
      expect(peakGrowth).toBeLessThan(64 * MiB);
    } finally {
      clearInterval(watcher);
    }
    expect(spoolSeen).toBeGreaterThan(100 * MiB); // it went to disk, not memory
    await waitFor(() => spoolFiles(spoolDir).length === 0, 2000, 'the spool file to be removed');
  }, 60_000);

  it('a client that aborts mid-upload leaves no spool file behind, and the bridge goes on', async () => {
    const res = await upload(bridge.port, '/hash-input.php', 500, { abortAfterMiB: 50 });
    expect(res.status).toBe(0);
    await waitFor(() => spoolFiles(spoolDir).length === 0, 2000, 'the spool file to be removed');
    expect(bridge.bridge.client.stats.open - bridge.bridge.client.stats.idle).toBe(0); // php-fpm never saw it
    const small = await upload(bridge.port, '/hash-input.php', 2);
    expect(JSON.parse(small.body)).toEqual({ length: 2 * MiB, md5: expectedMd5(2) });
  }, 30_000);

  it('a client that aborts just as the body starts to spool leaves no file either (the unlink waits for the open)', async () => {
    // 2 MiB sent of 8: the spool file is being created when the client goes away.
    await Promise.all(Array.from({ length: 20 }, () => upload(bridge.port, '/hash-input.php', 8, { abortAfterMiB: 2 })));
    await waitFor(() => spoolFiles(spoolDir).length === 0, 2000, 'the spool files to be removed');
  }, 30_000);

  it('a chunked 64 MiB body for the app is spooled, replayed whole, and removed', async () => {
    const res = await upload(bridge.port, '/api/upload', 64, { chunked: true });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, ''))).toEqual({ length: 64 * MiB, md5: expectedMd5(64) });
    await waitFor(() => spoolFiles(spoolDir).length === 0, 2000, 'the spool file to be removed');
  }, 30_000);
});
