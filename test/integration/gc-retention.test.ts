// A finished request leaves nothing of itself reachable, not even from garbage in the old space
// (issue 9, the speed). A Set or Map that gains and loses an entry per request (the pool's
// "waiting for an answer" set, the app watchdog's and the send timeout's maps) is rehashed every few
// requests, and V8 links each old table to its successor for live iterators. Once a full GC promotes
// one table, every later table, and the requests in it, is kept alive through that chain: each
// request's objects get promoted, and the process runs a mark-compact a second with 10-20% fewer PHP
// requests a second, from its first full GC on. Against a real php-fpm.
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FcgiClient } from '../../src/fastcgi/client.ts';
import type { ResponseSink } from '../../src/fastcgi/connection.ts';
import { encodeParams } from '../../src/fastcgi/name-value.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES } from './support.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'major' | 'minor'; execution: 'sync' }) => void;
const tick = () => new Promise((resolve) => setImmediate(resolve));

const oldSpaceUsed = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;

describe('memory of finished requests', () => {
  let fpm: PhpFpm;
  let client: FcgiClient;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 4 });
    client = new FcgiClient({
      address: { kind: 'unix', path: fpm.socket },
      maxConnections: 4,
      maxQueue: 100,
      queueTimeoutMs: 60_000,
      connectTimeoutMs: 5_000,
      responseTimeoutMs: 60_000,
      idleTimeoutMs: 60_000,
    });
  }, 20_000);
  afterAll(async () => {
    await client?.close();
    await fpm?.stop();
  });

  const params = () =>
    encodeParams([
      ['SCRIPT_FILENAME', `${FIXTURES}/hello.php`],
      ['SCRIPT_NAME', '/hello.php'],
      ['REQUEST_URI', '/hello.php'],
      ['REQUEST_METHOD', 'GET'],
      ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ]);

  /**
   * Runs `n` requests, 16 at a time, each with a sink of its own that holds 1 KiB (as a request's
   * objects do), with a scavenge every 40 requests: what they leave behind, young garbage only, dies there.
   */
  async function run(n: number): Promise<void> {
    const one = () =>
      new Promise<void>((resolve, reject) => {
        const sink: ResponseSink & { weight: number[] } = {
          weight: new Array<number>(128).fill(1.5),
          onStdout: () => true,
          onStderr: () => {},
          onEnd: () => resolve(),
          onError: (err) => reject(err),
        };
        client.request(params(), null, sink);
      });
    // 16 callers on 4 connections, as wrk -c16 does: the pool's queue is in use too.
    let started = 0;
    const caller = async () => {
      while (started < n) {
        started++;
        await one();
        if (started % 40 === 0) gc({ type: 'minor', execution: 'sync' });
      }
    };
    await Promise.all(Array.from({ length: 16 }, caller));
  }

  it('a full GC under load does not keep every later request alive through the pool', async () => {
    await run(40);
    // A full GC while requests run: it promotes what is live then, the pool's own structures included.
    const during = run(40);
    await tick();
    gc({ type: 'major', execution: 'sync' });
    await during;
    const before = oldSpaceUsed();
    await run(4000);
    // 4000 requests of over 1 KiB each: promoted through a chain, they would be over 4 MB.
    expect(oldSpaceUsed() - before).toBeLessThan(1024 * 1024);
  }, 30_000);
});
