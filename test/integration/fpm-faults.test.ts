// A real php-fpm that breaks under load: killed (502 to what was in flight, served again once it is
// back), frozen with SIGSTOP (504 after the timeout, recovery on SIGCONT), and exhausted (a bounded
// queue, then 503 with Retry-After). Every request gets an answer: none hangs, none is dropped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { childPids, recordingLogger, request, startBridge, waitFor, type Reply, type Running } from './support.ts';

function signalPool(fpm: PhpFpm, signal: NodeJS.Signals): void {
  // Kill as `kill -9` on the whole cgroup would: the master is stopped first, or it forks new workers
  // for the killed ones, and those orphans keep the old socket (then requests end in the 504 timeout).
  if (signal === 'SIGKILL') process.kill(fpm.pid, 'SIGSTOP');
  for (const pid of [...childPids(fpm.pid), fpm.pid]) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

/** A request that always settles: its reply, or the client-side error text (a reset, a hang-up). */
async function settle(p: Promise<Reply>): Promise<{ status: number; error?: string }> {
  try {
    const r = await p;
    return { status: r.status };
  } catch (err) {
    return { status: 0, error: (err as Error).message };
  }
}

describe('php-fpm killed under load', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  const logger = recordingLogger();

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 4 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 4, logger });
  }, 20_000);
  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it('every in-flight request is answered (200 or 502), the bridge stays up and serves again once php-fpm is back', async () => {
    const paths = Array.from({ length: 40 }, (_, i) => (i % 2 ? `/slow.php?ms=400&i=${i}` : `/hello.php?i=${i}`));
    const pending = paths.map((p) => settle(request(bridge.port, p)));
    await waitFor(() => bridge.bridge.client.stats.queued > 0, 2000, 'requests to queue up');
    signalPool(fpm, 'SIGKILL');
    const results = await Promise.all(pending);
    expect(results.filter((r) => r.status === 0)).toEqual([]); // no reset, no hang-up: an answer each
    expect(results.every((r) => r.status === 200 || r.status === 502)).toBe(true);
    expect(results.filter((r) => r.status === 502).length).toBeGreaterThan(0);
    expect(logger.errors.length).toBeGreaterThan(0);
    expect(bridge.bridge.client.stats.queued).toBe(0);

    // Down: 502 at once; the bridge's own answers go on.
    expect((await request(bridge.port, '/hello.php')).status).toBe(502);
    expect((await request(bridge.port, '/static/app.js')).status).toBe(200);

    await fpm.restart();
    const back = await Promise.all(Array.from({ length: 8 }, () => request(bridge.port, '/hello.php')));
    expect(back.map((r) => r.status)).toEqual(Array(8).fill(200));
  }, 20_000);
});

describe('php-fpm frozen (SIGSTOP)', () => {
  let fpm: PhpFpm;
  let bridge: Running;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 2 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 2, responseTimeoutMs: 500, connectTimeoutMs: 500 });
  }, 20_000);
  afterAll(async () => {
    signalPool(fpm, 'SIGCONT');
    await bridge?.close();
    await fpm?.stop();
  });

  it('answers 504 after the timeout while frozen, and serves again after SIGCONT', async () => {
    expect((await request(bridge.port, '/hello.php')).status).toBe(200);
    signalPool(fpm, 'SIGSTOP');
    try {
      const started = performance.now();
      const frozen = await Promise.all(Array.from({ length: 4 }, () => settle(request(bridge.port, '/hello.php'))));
      expect(frozen.map((r) => r.status)).toEqual([504, 504, 504, 504]);
      // Two connections, four requests: the second pair waited in the queue, then timed out too.
      expect(performance.now() - started).toBeLessThan(2500);
    } finally {
      signalPool(fpm, 'SIGCONT');
    }
    await waitFor(() => bridge.bridge.client.stats.open - bridge.bridge.client.stats.idle === 0, 2000, 'timed-out sockets to go');
    const back = await Promise.all(Array.from({ length: 4 }, () => request(bridge.port, '/hello.php')));
    expect(back.map((r) => r.body.toString())).toEqual(Array(4).fill('Hello from PHP'));
  }, 20_000);
});

describe('php-fpm pool exhausted', () => {
  let fpm: PhpFpm;
  let bridge: Running;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 1 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 1, fpmQueue: 2 });
  }, 20_000);
  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it('queues up to --fpm-queue, then answers 503 with Retry-After; every request gets an answer', async () => {
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => request(bridge.port, `/slow.php?ms=300&i=${i}`)));
    const ok = replies.filter((r) => r.status === 200).length;
    const busy = replies.filter((r) => r.status === 503).length;
    // One running (and possibly one written behind it on the same socket), two queued; the rest are
    // refused at once, not dropped: eight answers for eight requests.
    expect(ok + busy).toBe(8);
    expect(ok).toBeGreaterThanOrEqual(3);
    expect(ok).toBeLessThanOrEqual(4);
    for (const r of replies.filter((x) => x.status === 503)) expect(r.headers['retry-after']).toBe('1');
    expect(replies.filter((r) => r.status === 200).every((r) => r.body.toString() === 'slept')).toBe(true);
    expect(bridge.bridge.client.stats.queued).toBe(0);
  }, 20_000);
});
