// A FastCGI peer that speaks the protocol wrong (a fake server on a temp unix socket, standing in for
// php-fpm): every case is a 502 and a log line, the process lives, and no socket is left open.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingLogger, request, sleep, startBridge, waitFor, type Running } from './support.ts';

const STDOUT = 6;
const END_REQUEST = 3;

function record(type: number, content: Buffer | string, opts: { version?: number; id?: number; length?: number } = {}): Buffer {
  const body = typeof content === 'string' ? Buffer.from(content, 'latin1') : content;
  const head = Buffer.alloc(8);
  head[0] = opts.version ?? 1;
  head[1] = type;
  head.writeUInt16BE(opts.id ?? 1, 2);
  head.writeUInt16BE(opts.length ?? body.length, 4);
  return Buffer.concat([head, body]);
}
const OK_HEAD = 'Content-Type: text/plain\r\n\r\n';

/** What the fake peer answers to request `id`, by script name; `close` ends the socket after it. */
const SCENARIOS: Record<string, { reply: (id: number) => Buffer; close: boolean }> = {
  'wrong-version': { reply: (id) => record(STDOUT, OK_HEAD + 'hi', { version: 2, id }), close: false },
  'truncated-record': { reply: (id) => record(STDOUT, 'Content-Type: text/pl', { length: 200, id }), close: true },
  'truncated-body': { reply: (id) => record(STDOUT, OK_HEAD + 'only part', { length: 200, id }), close: true },
  'huge-length': { reply: (id) => record(STDOUT, 'x'.repeat(100), { length: 65535, id }), close: true },
  'garbage-head': { reply: (id) => Buffer.concat([record(STDOUT, 'this is no header\r\n\0\u0001\u0002\r\n\r\nbody', { id }), endRequest(id)]), close: false },
  'binary-head': { reply: (id) => Buffer.concat([record(STDOUT, Buffer.from([0xff, 0xfe, 0x00, 0x0d, 0x0a, 0x0d, 0x0a]), { id }), endRequest(id)]), close: false },
  'end-inside-head': { reply: (id) => Buffer.concat([record(STDOUT, 'Content-Type: text/pl', { id }), endRequest(id)]), close: false },
  'close-at-once': { reply: () => Buffer.alloc(0), close: true },
  'wrong-request-id': { reply: () => Buffer.concat([record(STDOUT, OK_HEAD + 'hi', { id: 7 }), endRequest(7)]), close: false },
  'stdout-after-end': {
    reply: (id) => Buffer.concat([record(STDOUT, OK_HEAD + 'ok', { id }), endRequest(id), record(STDOUT, 'HTTP/1.1 200 OK\r\n\r\nsmuggled', { id })]),
    close: false,
  },
  good: { reply: (id) => Buffer.concat([record(STDOUT, OK_HEAD + 'good', { id }), endRequest(id)]), close: false },
};
const endRequest = (id: number) => record(END_REQUEST, Buffer.alloc(8), { id });

describe('a peer that speaks broken FastCGI', () => {
  let dir: string;
  let peer: Server;
  const peerSockets = new Set<Socket>();
  let bridge: Running;
  const logger = recordingLogger();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-fakefcgi-'));
    for (const name of Object.keys(SCENARIOS)) writeFileSync(join(dir, `${name}.php`), '<?php // not run: the peer is fake');
    const socketPath = join(dir, 'fake.sock');
    peer = createServer((sock) => {
      peerSockets.add(sock);
      sock.on('close', () => peerSockets.delete(sock));
      sock.on('error', () => {});
      let got = Buffer.alloc(0);
      const params = new Map<number, string>();
      sock.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        // Reads the request records; a request is in once its empty FCGI_STDIN arrives. The bridge
        // may write the next request (another id) behind it on the same socket: each is answered.
        while (got.length >= 8 && !sock.destroyed && sock.writable) {
          const type = got[1]!;
          const id = got.readUInt16BE(2);
          const length = got.readUInt16BE(4);
          const total = 8 + length + got[6]!;
          if (got.length < total) return;
          const content = got.toString('latin1', 8, 8 + length);
          got = got.subarray(total);
          if (type === 4) params.set(id, (params.get(id) ?? '') + content);
          if (type !== 5 || length !== 0) continue;
          const name = /SCRIPT_NAME\/([a-z-]+)\.php/.exec(params.get(id) ?? '')?.[1] ?? 'good';
          params.delete(id);
          const scenario = SCENARIOS[name] ?? SCENARIOS.good!;
          sock.write(scenario.reply(id));
          if (scenario.close) return void sock.end();
        }
      });
    });
    await new Promise<void>((resolve) => peer.listen(socketPath, resolve));
    bridge = await startBridge({ fpm: socketPath, root: dir, fpmConnections: 2, responseTimeoutMs: 2000, logger });
  });

  afterAll(async () => {
    await bridge?.close();
    for (const s of peerSockets) s.destroy();
    await new Promise<void>((resolve) => (peer ? peer.close(() => resolve()) : resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(['wrong-version', 'truncated-record', 'huge-length', 'garbage-head', 'binary-head', 'end-inside-head', 'close-at-once', 'wrong-request-id'])(
    '%s → 502 and a log line; the socket is closed; the next request is served',
    async (name) => {
      const before = logger.errors.length;
      const res = await request(bridge.port, `/${name}.php`);
      expect(res.status).toBe(502);
      expect(res.body.toString()).toContain('502 Bad Gateway');
      expect(logger.errors.length).toBeGreaterThan(before);
      // The broken connection is gone on both ends: no socket leaks.
      await waitFor(() => bridge.bridge.client.stats.open === bridge.bridge.client.stats.idle, 2000, 'no busy php-fpm socket');
      const good = await request(bridge.port, '/good.php');
      expect(good.body.toString()).toBe('good');
    },
  );

  it('truncated after the head went out: the response is cut short (never passed off as complete), next request fine', async () => {
    await expect(request(bridge.port, '/truncated-body.php')).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    await waitFor(() => bridge.bridge.client.stats.open === bridge.bridge.client.stats.idle, 2000, 'no busy php-fpm socket');
    expect((await request(bridge.port, '/good.php')).body.toString()).toBe('good');
  });

  it('stdout after END_REQUEST: the answer stands, but the connection is dropped and never feeds the next request', async () => {
    const res = await request(bridge.port, '/stdout-after-end.php');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('ok');
    for (let i = 0; i < 5; i++) {
      const next = await request(bridge.port, '/good.php');
      expect(next.status).toBe(200);
      expect(next.body.toString()).toBe('good');
    }
  });

  it('leaves no socket open once the bridge is idle (client pool and peer agree)', async () => {
    await sleep(50);
    const stats = bridge.bridge.client.stats;
    expect(stats.open).toBe(stats.idle);
    expect(stats.open).toBeLessThanOrEqual(2);
    await waitFor(() => peerSockets.size === stats.open, 2000, 'the peer to see only the pooled sockets');
  });
});
