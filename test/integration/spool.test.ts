// Spool files: every one disposed exactly once whoever answered and however much of the body they
// read (issue 15 defect 4); a spool that cannot be written is an HTTP answer and a log line naming the
// cause (issue 9 defect 7); the files live in a private directory and a killed bridge's directory is
// swept by the next one (issue 15).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { runCliToEnd, startChildBridge, type ChildBridge } from './child-bridge.ts';
import { bigPatternMd5, FIXTURES, MiB, rawRequest, recordingLogger, sleep, startBridge, waitFor } from './support.ts';

const post = (port: number, path: string, bytes: number) =>
  rawRequest(port, `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: ${bytes}`, Buffer.alloc(bytes, 0x62));

/** Mounts a tmpfs of `size` at a fresh directory (root only); returns it and its unmount. */
function tmpfs(size: string, ro = false): { dir: string; unmount(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755${ro ? ',ro' : ''}`, 'tmpfs', dir]);
  return {
    dir,
    unmount() {
      spawnSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const canMount = process.getuid?.() === 0 && spawnSync('mount', ['--version']).status === 0;

describe('spool files', () => {
  let fpm: PhpFpm;
  let root: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-spool-root-'));
    cpSync(FIXTURES, root, { recursive: true });
    writeFileSync(join(root, 'length.php'), `<?php $n = 0; $in = fopen('php://input', 'rb'); while (!feof($in)) $n += strlen(fread($in, 1 << 16)); echo $n;`);
    writeFileSync(join(root, 'app.mjs'), `export default (req, res) => { res.setHeader('connection', 'close'); res.end('app answered without reading'); };\n`);
    fpm = await startPhpFpm({ workers: 4, ini: { post_max_size: '0' } });
  }, 30_000);

  afterAll(async () => {
    await fpm?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  describe('in a child bridge', () => {
    let bridge: ChildBridge;
    let base: string;
    beforeAll(async () => {
      base = mkdtempSync(join(tmpdir(), 'fpm-bridge-spool-base-'));
      bridge = await startChildBridge(['--fpm', fpm.socket, '--root', root, '--app', join(root, 'app.mjs'), '--quiet'], { ...process.env, TMPDIR: base });
    }, 30_000);
    afterAll(async () => {
      await bridge?.stop();
      if (base) rmSync(base, { recursive: true, force: true });
    });

    it('100 uploads of 2 MiB the app answers without reading, direct and after PHP 404s: no fd or file left', async () => {
      const spoolFds = () => bridge.fds().filter((f) => f.includes('fpm-bridge-spool-'));
      // Files on disk only: sockets (php-fpm connections come and go with the load), pipes and
      // anon inodes (libuv opens some lazily, e.g. on Node 22) say nothing about spools.
      const files = () => bridge.fds().filter((f) => f.startsWith('/')).length;
      // Warm up: php-fpm connections and whatever else opens once.
      for (const path of ['/api/upload', '/notfound.php']) expect((await post(bridge.port, path, 2 * MiB)).body.toString()).toBe('app answered without reading');
      await waitFor(() => spoolFds().length === 0, 5000, 'the warm-up spool fds to close');
      const before = files();
      for (let i = 0; i < 50; i++) {
        const replies = await Promise.all(['/api/upload', '/notfound.php'].map((p) => post(bridge.port, p, 2 * MiB)));
        for (const r of replies) expect(r.status).toBe(200);
      }
      await waitFor(() => spoolFds().length === 0, 5000, `the spool fds to close (open: ${spoolFds().join(', ')})`);
      expect(files()).toBeLessThanOrEqual(before);
      // Nor any file on disk: the private directory is empty.
      const dirs = readdirSync(base).filter((d) => d.startsWith('fpm-bridge-spool-'));
      expect(dirs).toHaveLength(1);
      expect(readdirSync(join(base, dirs[0]!))).toEqual([]);
    }, 120_000);
  });

  it('sweeps the spool directories of dead bridges at start-up, and only those', async () => {
    const base = mkdtempSync(join(tmpdir(), 'fpm-bridge-sweep-'));
    try {
      // A pid that certainly ended: a process that ran and was reaped.
      const dead = spawnSync('true').pid!;
      const stale = join(base, `fpm-bridge-spool-${dead}-AbC123`);
      const live = join(base, `fpm-bridge-spool-1-XyZ789`); // pid 1 is alive: kept
      const other = join(base, `fpm-bridge-spool-${dead}-x`); // not a name we make: kept
      for (const d of [stale, live, other]) {
        mkdirSync(d);
        writeFileSync(join(d, 'leftover'), 'x');
      }
      const bridge = await startChildBridge(['--fpm', fpm.socket, '--root', root, '--quiet'], { ...process.env, TMPDIR: base });
      try {
        expect(statSync(stale, { throwIfNoEntry: false })).toBeUndefined();
        expect(statSync(live).isDirectory()).toBe(true);
        expect(statSync(other).isDirectory()).toBe(true);
        expect(bridge.stderr()).toMatch(/removed 1 stale spool director/);
      } finally {
        await bridge.stop();
      }
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  }, 30_000);

  it.runIf(canMount)('an unwritable TMPDIR is an exit-1 message naming it, not a stack trace', async () => {
    const ro = tmpfs('1m', true);
    try {
      const r = await runCliToEnd(['--root', root, '--listen', '127.0.0.1:0'], { ...process.env, TMPDIR: ro.dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(ro.dir);
      expect(r.stderr).toMatch(/EROFS|read-only/);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack
    } finally {
      ro.unmount();
    }
  }, 30_000);

  it('an app that answers a spooled upload without reading it keeps the kept-alive connection (it was reset)', async () => {
    const app = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      res.statusCode = req.method === 'POST' ? 401 : 200;
      res.end(req.method === 'POST' ? 'no' : 'next');
    };
    const bridge = await startBridge({ fpm: fpm.socket, root, app, maxBody: 64 * MiB });
    const sock = connect({ host: '127.0.0.1', port: bridge.port });
    try {
      let text = '';
      sock.setEncoding('latin1');
      sock.on('data', (c: string) => (text += c));
      const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
      sock.on('error', () => {});
      const size = 2 * MiB;
      sock.write(`POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${size}\r\n\r\n`);
      sock.write(Buffer.alloc(size, 0x62));
      await waitFor(() => text.includes('\r\n\r\nno'), 5000, 'the 401');
      expect(text).toMatch(/^HTTP\/1\.1 401 [^]*\r\nConnection: keep-alive\r\n/i);
      sock.write('GET /next HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      await closed;
      expect(text).toMatch(/\r\n\r\nnoHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nnext$/);
    } finally {
      sock.destroy();
      await bridge.close();
    }
  });

  describe.runIf(canMount)('a spool that cannot be written', () => {
    it('disk full (a 2 MiB tmpfs): 507, the log says ENOSPC, nothing left, the next upload is served', async () => {
      const disk = tmpfs('2m');
      const logger = recordingLogger();
      const bridge = await startBridge({ fpm: fpm.socket, root, spoolDir: disk.dir, logger, maxBody: 64 * MiB });
      try {
        const r = await post(bridge.port, '/length.php', 8 * MiB);
        expect(r.status).toBe(507);
        expect(logger.errors.map((e) => e.message).join('\n')).toMatch(/POST \/length\.php: cannot write the spool file in .*: ENOSPC/);
        await waitFor(() => logger.accessLog.length > 0, 2000, 'the access line');
        expect(logger.accessLog[0]!.status).toBe(507); // never 499: the client did nothing wrong
        const dir = readdirSync(disk.dir);
        expect(dir).toHaveLength(1);
        await waitFor(() => readdirSync(join(disk.dir, dir[0]!)).length === 0, 2000, 'the partial spool file to go');
        // Space is back: a body that fits is served.
        const ok = await post(bridge.port, '/length.php', MiB + 1);
        expect(ok.body.toString()).toBe(String(MiB + 1));
      } finally {
        await bridge.close();
        disk.unmount();
      }
    }, 30_000);

    it('a PHP answer bigger than the disk (a 16 MiB tmpfs, 48 MiB answer) to a slow client: every byte, a warning naming ENOSPC, bounded memory, nothing left', async () => {
      const disk = tmpfs('16m');
      const logger = recordingLogger();
      const bridge = await startBridge({ fpm: fpm.socket, root, spoolDir: disk.dir, logger, fpmConnections: 1 });
      const sock = connect({ host: '127.0.0.1', port: bridge.port });
      try {
        const size = 48 * MiB;
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
        // The client reads nothing: past the window PHP's answer fills the spool, then the disk. What
        // waits in memory for the client is the bridge's side of the connection (Node's write queue).
        let queued = 0;
        bridge.server.once('connection', (s: Socket) => {
          const sample = setInterval(() => (queued = Math.max(queued, s.writableLength)), 5);
          s.once('close', () => clearInterval(sample));
        });
        sock.pause();
        sock.write('GET /big.php?mb=48 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
        await waitFor(() => logger.warnings.length > 0, 10_000, 'the spool to fill the disk');
        await sleep(500);
        expect(logger.warnings.join('\n')).toMatch(/GET \/big\.php\?mb=48: cannot spool PHP's response .*ENOSPC: no space left on the device/);
        // What the spool held went back into memory all at once (16 MiB here, up to 1 GiB): now it is
        // read back as the client takes it, and what waits in memory stays about the 256 KiB window.
        expect(queued).toBeLessThan(2 * MiB);
        sock.resume();
        await ended;
        expect(bodyBytes).toBe(size);
        expect(hash.digest('hex')).toBe(bigPatternMd5(size));
        // The spool file (unlinked at once) is closed: its blocks are free, the directory empty.
        const dirs = readdirSync(disk.dir);
        expect(dirs).toHaveLength(1);
        expect(readdirSync(join(disk.dir, dirs[0]!))).toEqual([]);
        expect(statfsSync(disk.dir).bfree).toBe(statfsSync(disk.dir).blocks);
        expect(logger.errors).toEqual([]);
      } finally {
        sock.destroy();
        await bridge.close();
        disk.unmount();
      }
    }, 60_000);

    it('read-only temp dir: 503, the log says EROFS', async () => {
      const disk = tmpfs('1m', true);
      const logger = recordingLogger();
      const bridge = await startBridge({ fpm: fpm.socket, root, spoolDir: disk.dir, logger, maxBody: 64 * MiB });
      try {
        const r = await post(bridge.port, '/length.php', 2 * MiB);
        expect(r.status).toBe(503);
        expect(logger.errors.map((e) => e.message).join('\n')).toMatch(/cannot write the spool file in .*: EROFS \(read-only file system\)/);
        await waitFor(() => logger.accessLog.length > 0, 2000, 'the access line');
        expect(logger.accessLog[0]!.status).toBe(503);
        // Small bodies never touch the disk: still served.
        expect((await post(bridge.port, '/length.php', 1000)).body.toString()).toBe('1000');
      } finally {
        await bridge.close();
        disk.unmount();
      }
    }, 30_000);
  });
});
