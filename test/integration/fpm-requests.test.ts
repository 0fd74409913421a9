// How the bridge hands requests to php-fpm workers (issue 9, defects 2, 3 and 4, and the queue
// deadline): a request that is not idempotent runs at most once, nothing waits behind a busy worker
// while another is free, every wait has a deadline, and a worker recycled at pm.max_requests costs no
// request. Against a real php-fpm; nginx on the same pool where a test states its behaviour.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNginxFpm, startPhpFpm, type Nginx, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES, recordingLogger, request, sleep, startBridge, waitFor, type Running } from './support.ts';

/** A fresh run log in the temp dir that runs.php writes to; its lines are the script's runs. */
function runLog(): { name: string; lines(): string[]; remove(): void } {
  const name = `fpm-bridge-runs-${randomBytes(6).toString('hex')}.log`;
  const path = join(tmpdir(), name);
  return {
    name,
    lines: () => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []),
    remove: () => rmSync(path, { force: true }),
  };
}

describe('a POST whose worker dies mid-run', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  const logger = recordingLogger();
  const logs: Array<ReturnType<typeof runLog>> = [];

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 2 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 2, logger });
  }, 20_000);
  afterAll(async () => {
    for (const l of logs) l.remove();
    await bridge?.close();
    await fpm?.stop();
  });

  it('runs exactly once and gets 502, also right behind another request on a kept-alive connection', async () => {
    const log = runLog();
    logs.push(log);
    for (let i = 0; i < 5; i++) {
      // A GET first, so the POST comes right behind an answer on a reused connection: the race the old
      // timing rule took for a recycled worker, and sent the POST again.
      expect((await request(bridge.port, '/hello.php')).status).toBe(200);
      const r = await request(bridge.port, `/runs.php?log=${log.name}&die=1`, { method: 'POST', body: `run ${i}` });
      expect(r.status).toBe(502);
    }
    expect(log.lines()).toHaveLength(5);
    expect(log.lines().every((l) => l.endsWith(' POST'))).toBe(true);
  }, 30_000);

  it('killed from outside mid-script: one run, 502', async () => {
    const log = runLog();
    logs.push(log);
    for (let i = 0; i < 3; i++) {
      const pending = request(bridge.port, `/runs.php?log=${log.name}&ms=2000`, { method: 'POST', body: 'x' });
      await waitFor(() => log.lines().length === i + 1, 5000, 'the script to start');
      process.kill(Number(log.lines()[i]!.split(' ')[0]), 'SIGKILL');
      expect((await pending).status).toBe(502);
    }
    await sleep(200);
    expect(log.lines()).toHaveLength(3);
  }, 30_000);

  it('a GET whose worker dies is not run twice either when it had started (the script ran): 502', async () => {
    // Idempotent requests may be sent again only when a reused connection closes before any answer;
    // this one closes after the script wrote its line, with no answer: GET is safe to repeat by RFC
    // 9110, so once more is allowed, never more.
    const log = runLog();
    logs.push(log);
    expect((await request(bridge.port, '/hello.php')).status).toBe(200);
    const r = await request(bridge.port, `/runs.php?log=${log.name}&die=1`);
    expect(r.status).toBe(502);
    expect(log.lines().length).toBeLessThanOrEqual(2);
  }, 30_000);
});

describe('workers recycled at pm.max_requests', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  let nginx: Nginx;
  const logs: Array<ReturnType<typeof runLog>> = [];

  beforeAll(async () => {
    // Every worker recycles after each request: every kept-alive connection closes after one answer.
    fpm = await startPhpFpm({ workers: 2, maxRequests: 1 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 1 });
    nginx = await startNginxFpm({ root: FIXTURES, fpmSocket: fpm.socket });
  }, 20_000);
  afterAll(async () => {
    for (const l of logs) l.remove();
    await bridge?.close();
    await nginx?.stop();
    await fpm?.stop();
  });

  it('a POST behind a slow request succeeds, 5 of 5, each run once (nginx: 5 of 5)', async () => {
    for (const port of [bridge.port, nginx.port]) {
      const log = runLog();
      logs.push(log);
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const slow = request(port, '/slow.php?ms=300');
        await sleep(50);
        const post = request(port, `/runs.php?log=${log.name}`, { method: 'POST', body: `post ${i}` });
        expect((await slow).status).toBe(200);
        statuses.push((await post).status);
      }
      expect(statuses, `port ${port === bridge.port ? 'bridge' : 'nginx'}`).toEqual([200, 200, 200, 200, 200]);
      expect(log.lines()).toHaveLength(5);
    }
  }, 60_000);

  it('GETs on recycled connections are answered, none lost', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, () => request(bridge.port, '/hello.php')));
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
  }, 30_000);
});

describe('waiting for a worker', () => {
  let fpm: PhpFpm;
  const bridges: Running[] = [];

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 4 });
  }, 20_000);
  afterEach(async () => {
    for (const b of bridges.splice(0)) await b.close();
  });
  afterAll(async () => {
    await fpm?.stop();
  });

  it('a request never waits behind a long stream while another worker comes free', async () => {
    const bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 4 });
    bridges.push(bridge);
    // An SSE stream that runs 20 s takes the first connection; three short scripts the others.
    const ac = new AbortController();
    const stream = fetch(`http://127.0.0.1:${bridge.port}/sse.php?ticks=100`, { signal: ac.signal });
    await waitFor(() => bridge.bridge.client.stats.open === 1, 2000, 'the stream to start');
    await sleep(100);
    const slow = Array.from({ length: 3 }, () => request(bridge.port, '/slow.php?ms=300'));
    await sleep(100);
    const started = performance.now();
    const hello = await request(bridge.port, '/hello.php');
    const waited = performance.now() - started;
    expect(hello.status).toBe(200);
    // It waits for one of the short ones (about 200 ms), not for the stream (20 s).
    expect(waited).toBeLessThan(3000);
    await Promise.all(slow);
    ac.abort();
    await stream.then((r) => r.body?.cancel()).catch(() => {});
  }, 30_000);

  it('a queued request has a deadline of its own: 503 with Retry-After, not a wait without end', async () => {
    const bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 1, fpmQueueTimeoutMs: 300 });
    bridges.push(bridge);
    const running = request(bridge.port, '/slow.php?ms=2000');
    await sleep(100);
    const started = performance.now();
    const queued = await Promise.all(Array.from({ length: 3 }, () => request(bridge.port, '/hello.php')));
    const waited = performance.now() - started;
    expect(queued.map((r) => r.status)).toEqual([503, 503, 503]);
    expect(queued.every((r) => r.headers['retry-after'] === '1')).toBe(true);
    expect(waited).toBeLessThan(1500);
    expect((await running).status).toBe(200);
    expect(bridge.bridge.client.stats.queued).toBe(0);
  }, 30_000);

  it('--fpm-timeout runs from the request\'s own start: one sent while others run gets its full time', async () => {
    const bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 1, responseTimeoutMs: 800, fpmQueueTimeoutMs: 5000 });
    bridges.push(bridge);
    const first = request(bridge.port, '/slow.php?ms=500');
    await sleep(50);
    // Queued for ~450 ms, then runs 500 ms: within its own 800 ms, so 200 (not 504).
    const second = request(bridge.port, '/slow.php?ms=500');
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    // And a script slower than the timeout gets 504.
    expect((await request(bridge.port, '/slow.php?ms=1500')).status).toBe(504);
  }, 30_000);
});

describe('a wrong --fpm address that speaks HTTP', () => {
  it('answers 502 and logs that the address speaks HTTP, not FastCGI', async () => {
    const web = createServer((_req, res) => res.end('a web server'));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    const logger = recordingLogger();
    const bridge = await startBridge({ fpm: `127.0.0.1:${(web.address() as AddressInfo).port}`, logger });
    try {
      expect((await request(bridge.port, '/hello.php')).status).toBe(502);
      const messages = logger.errors.map((e) => e.message).join('\n');
      expect(messages).toMatch(/answered in HTTP, not FastCGI/);
      expect(messages).not.toMatch(/version byte/);
    } finally {
      await bridge.close();
      web.closeAllConnections();
      await new Promise<void>((resolve) => web.close(() => resolve()));
    }
  });
});
