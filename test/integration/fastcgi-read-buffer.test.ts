// Every php-fpm socket reads into one shared buffer (no backing store made and freed per read), and
// stdout reaches a sink as views of it, valid only during the call: whoever keeps a piece (the
// client's socket, the window, the CGI head parser, a held 404) copies it, and the spool file takes
// it as it is. Against a real php-fpm: the pieces are views of one buffer; a sink that copies gets
// PHP's exact bytes from four connections at once; and through the bridge, four large answers at once,
// two of them to clients that stall (window, spool), arrive exact.
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcgiClient } from '../../src/fastcgi/client.ts';
import type { ResponseSink } from '../../src/fastcgi/connection.ts';
import { encodeParams } from '../../src/fastcgi/name-value.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { bigPatternMd5, fcgiClient, FIXTURES, MiB, sleep, startBridge, type Running } from './support.ts';

describe('the shared read buffer', () => {
  let fpm: PhpFpm;
  let client: FcgiClient;
  let bridge: Running;

  beforeAll(async () => {
    // Eight workers: the client's four kept-alive connections hold four of them while the bridge runs.
    fpm = await startPhpFpm({ workers: 8 });
    client = fcgiClient(fpm.socket);
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 4 });
  }, 20_000);
  afterAll(async () => {
    await bridge?.close();
    await client?.close();
    await fpm?.stop();
  });

  /** Runs big.php for `mb` MiB on the FastCGI client, copying each piece as a sink must; notes each piece's memory. */
  function copyAll(mb: number): Promise<{ body: Buffer; memories: Set<ArrayBufferLike> }> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const memories = new Set<ArrayBufferLike>();
      const sink: ResponseSink = {
        onStdout: (data) => {
          memories.add(data.buffer);
          chunks.push(Buffer.from(data));
          return true;
        },
        onStderr: () => {},
        onEnd: () => {
          const all = Buffer.concat(chunks);
          resolve({ body: all.subarray(all.indexOf('\r\n\r\n') + 4), memories });
        },
        onError: reject,
      };
      const params = encodeParams([
        ['SCRIPT_FILENAME', `${FIXTURES}/big.php`],
        ['SCRIPT_NAME', '/big.php'],
        ['REQUEST_URI', `/big.php?mb=${mb}`],
        ['QUERY_STRING', `mb=${mb}`],
        ['REQUEST_METHOD', 'GET'],
        ['SERVER_PROTOCOL', 'HTTP/1.1'],
      ]);
      client.request(params, null, sink);
    });
  }

  it('stdout comes as views of one buffer; copied, four connections at once give PHP\'s exact bytes', async () => {
    const results = await Promise.all([1, 2, 3, 4].map(() => copyAll(2)));
    const memories = new Set<ArrayBufferLike>();
    for (const { body, memories: m } of results) {
      expect(body.length).toBe(2 * MiB);
      expect(createHash('md5').update(body).digest('hex')).toBe(bigPatternMd5(2 * MiB));
      for (const x of m) memories.add(x);
    }
    // 8 MiB in 64 KiB reads, and no new memory for any of them.
    expect(memories.size).toBe(1);
  }, 30_000);

  /** GETs `path` on a raw socket; `stallMs` > 0: stop reading after the first piece for that long. */
  function get(path: string, stallMs: number): Promise<{ head: string; md5: string; length: number }> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: '127.0.0.1', port: bridge.port });
      const hash = createHash('md5');
      let pending: Buffer | null = Buffer.alloc(0);
      let head = '';
      let length = 0;
      let stalled = false;
      sock.on('error', reject);
      sock.on('data', (c: Buffer) => {
        if (pending !== null) {
          pending = Buffer.concat([pending, c]);
          const end = pending.indexOf('\r\n\r\n');
          if (end < 0) return;
          head = pending.toString('latin1', 0, end);
          c = pending.subarray(end + 4);
          pending = null;
        }
        length += c.length;
        hash.update(c);
        if (stallMs > 0 && !stalled) {
          stalled = true;
          sock.pause();
          void sleep(stallMs).then(() => sock.resume());
        }
      });
      sock.on('end', () => resolve({ head, md5: hash.digest('hex'), length }));
      sock.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    });
  }

  it('through the bridge, four 4 MiB answers at once, two to clients that stall, arrive exact', async () => {
    const size = 4 * MiB;
    const results = await Promise.all([0, 400, 0, 400].map((stall) => get(`/big.php?mb=${size / MiB}`, stall)));
    for (const r of results) {
      expect(r.head).toMatch(/^HTTP\/1\.1 200 /);
      expect(r.length).toBe(size);
      expect(r.md5).toBe(bigPatternMd5(size));
    }
  }, 30_000);
});
