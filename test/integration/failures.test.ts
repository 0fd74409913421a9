// When things break: php-fpm down and back, timeouts, an app that throws, workers recycled by
// pm.max_requests under a kept-alive pool.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { alive, childPids, recordingLogger, request, startBridge, waitFor, type Running } from './support.ts';

describe('php-fpm down and back', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  const logger = recordingLogger();

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 2 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 2, logger });
  }, 20_000);
  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it('answers 502 at once while php-fpm is down, and 200 again once it is back, with no bridge restart', async () => {
    // Warm the pool: kept-alive connections to the workers that are about to go.
    for (let i = 0; i < 3; i++) expect((await request(bridge.port, '/hello.php')).status).toBe(200);
    expect(bridge.bridge.client.stats.open).toBeGreaterThan(0);

    const pid = fpm.pid;
    fpm.kill('SIGTERM');
    await waitFor(() => !alive(pid), 5000, 'php-fpm to exit');

    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const res = await request(bridge.port, '/hello.php');
      expect(res.status).toBe(502);
      expect(res.body.toString()).toContain('502 Bad Gateway');
      expect(performance.now() - started).toBeLessThan(1000);
    }
    expect(logger.errors.length).toBeGreaterThan(0);
    // Static files and the bridge's own answers do not need php-fpm.
    expect((await request(bridge.port, '/static/app.js')).status).toBe(200);

    await fpm.restart();
    expect(existsSync(fpm.socket)).toBe(true);
    const res = await request(bridge.port, '/hello.php');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('Hello from PHP');
  }, 20_000);

  it('survives a php-fpm restart between kept-alive requests (stale connections retried)', async () => {
    for (let i = 0; i < 3; i++) expect((await request(bridge.port, '/hello.php')).status).toBe(200);
    await fpm.restart();
    for (let i = 0; i < 5; i++) {
      const res = await request(bridge.port, '/hello.php');
      expect(res.status).toBe(200);
    }
  }, 20_000);

  it('answers 502 when the php-fpm worker dies in the middle of a request, and goes on', async () => {
    // A bridge of its own, so the request goes out on a fresh connection (a reused one that closes
    // before answering is retried once, see the pm.max_requests tests).
    const fresh = await startBridge({ fpm: fpm.socket, fpmConnections: 1 });
    try {
      const started = performance.now();
      const pending = request(fresh.port, '/slow.php?ms=3000');
      await waitFor(() => fresh.bridge.client.stats.open === 1, 2000, 'the request to reach php-fpm');
      await new Promise((r) => setTimeout(r, 200));
      // Kill the pool's workers (php-fpm's children, not the master, which starts new ones).
      const workers = childPids(fpm.pid);
      expect(workers.length).toBeGreaterThan(0);
      for (const w of workers) process.kill(w, 'SIGKILL');
      const res = await pending;
      expect(res.status).toBe(502);
      expect(performance.now() - started).toBeLessThan(2000);
      await waitFor(() => childPids(fpm.pid).length === 2, 5000, 'php-fpm to start new workers');
      expect((await request(fresh.port, '/hello.php')).status).toBe(200);
    } finally {
      await fresh.close();
    }
  }, 20_000);
});

describe('php-fpm breaking mid-body', () => {
  it('cuts the response short and logs why', async () => {
    const fpm = await startPhpFpm({ workers: 1 });
    const logger = recordingLogger();
    const bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 1, logger });
    try {
      // stream.php sends its headers and a first chunk, then more every 200 ms.
      const res = await fetch(`http://127.0.0.1:${bridge.port}/stream.php`);
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      await reader.read();
      for (const w of childPids(fpm.pid)) process.kill(w, 'SIGKILL');
      await expect((async () => { for (;;) if ((await reader.read()).done) return; })()).rejects.toThrow();
      await waitFor(() => logger.errors.some((e) => /response cut short/.test(e.message)), 2000, 'the log line');
    } finally {
      await bridge.close();
      await fpm.stop();
    }
  }, 20_000);
});

describe('timeouts', () => {
  let fpm: PhpFpm;
  let bridge: Running;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 2 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 2, responseTimeoutMs: 300 });
  }, 20_000);
  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it('answers 504 when PHP sends nothing within responseTimeoutMs, then serves the next request', async () => {
    const started = performance.now();
    const res = await request(bridge.port, '/slow.php?ms=1500');
    expect(res.status).toBe(504);
    expect(performance.now() - started).toBeLessThan(1200);
    const next = await request(bridge.port, '/hello.php');
    expect(next.status).toBe(200);
    expect(next.body.toString()).toBe('Hello from PHP');
  });

  it('a bogus php-fpm socket gives 502 quickly', async () => {
    const bogus = await startBridge({ fpm: '/nonexistent/fpm-bridge/php-fpm.sock' });
    try {
      const started = performance.now();
      const res = await request(bogus.port, '/hello.php');
      expect(res.status).toBe(502);
      expect(performance.now() - started).toBeLessThan(1000);
    } finally {
      await bogus.close();
    }
  });
});

describe('an app that fails', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  const logger = recordingLogger();

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 2 });
    bridge = await startBridge({
      fpm: fpm.socket,
      fpmConnections: 2,
      logger,
      app: (req, res) => {
        if (req.url?.includes('throw')) throw new Error('sync boom');
        if (req.url?.includes('reject')) return Promise.reject(new Error('async boom'));
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`app ok ${req.url}`);
        return undefined;
      },
    });
  }, 20_000);
  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it.each([
    ['throws synchronously', '/api/throw'],
    ['rejects', '/api/reject'],
    ['throws after PHP declined (404)', '/notfound.php?throw'],
    ['rejects after PHP declined (404)', '/notfound.php?reject'],
  ])('%s → 500, and the next request is fine', async (_what, path) => {
    const before = logger.errors.length;
    const res = await request(bridge.port, path);
    expect(res.status).toBe(500);
    expect(res.headers['x-from']).toBeUndefined();
    expect(res.body.toString()).toContain('500 Internal Server Error');
    expect(logger.errors.length).toBe(before + 1);
    expect(logger.errors[before]!.err).toBeInstanceOf(Error);

    const next = await request(bridge.port, '/api/fine');
    expect(next.status).toBe(200);
    expect(next.body.toString()).toBe('app ok /api/fine');
    expect((await request(bridge.port, '/hello.php')).body.toString()).toBe('Hello from PHP');
  });
});

describe('pm.max_requests recycles workers under a kept-alive pool', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  const logger = recordingLogger();

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 2, maxRequests: 2 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 2, logger });
  }, 20_000);
  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it('50 sequential requests all succeed', async () => {
    for (let i = 0; i < 50; i++) {
      const res = await request(bridge.port, `/hello.php?seq=${i}`);
      expect({ i, status: res.status, body: res.body.toString() }).toEqual({ i, status: 200, body: 'Hello from PHP' });
    }
  }, 20_000);

  it('50 concurrent requests all succeed', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => request(bridge.port, `/hello.php?par=${i}`)));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(results.every((r) => r.body.toString() === 'Hello from PHP')).toBe(true);
    expect(logger.errors).toEqual([]);
  }, 20_000);

  it('POST bodies survive the retry too', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => request(bridge.port, '/echo.php', { method: 'POST', body: `body number ${i}` })),
    );
    results.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body.toString())).toMatchObject({ length: `body number ${i}`.length });
    });
  }, 20_000);
});

describe('a worker that dies mid-request on a reused connection', () => {
  let fpm: PhpFpm;
  let root: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-crash-'));
    // Counts its runs, then takes its time: the worker is killed while it sleeps.
    writeFileSync(join(root, 'charge.php'), "<?php file_put_contents(__DIR__ . '/runs.txt', 'x', FILE_APPEND); usleep(1500000); echo 'charged';\n");
    writeFileSync(join(root, 'hello.php'), "<?php echo 'hi';\n");
    fpm = await startPhpFpm({ workers: 1 });
  }, 20_000);
  afterAll(async () => {
    await fpm?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  // The pool retries a request once when a kept-alive connection closes before any response byte,
  // assuming the request never ran (a worker recycled at pm.max_requests). A worker that crashed or
  // was killed (OOM, request_terminate_timeout, segfault) while running the script looks the same,
  // so the script runs a second time. nginx never passes a POST to another try (fastcgi_next_upstream
  // skips non-idempotent methods) and, with one server, answers 502.
  it('a POST is not replayed after its worker died mid-request: 502 and one run, as nginx', async () => {
    const bridge = await startBridge({ fpm: fpm.socket, root, fpmConnections: 1 });
    try {
      expect((await request(bridge.port, '/hello.php')).status).toBe(200); // the connection is now a reused one
      const pending = request(bridge.port, '/charge.php', { method: 'POST', body: 'amount=100' });
      await waitFor(() => existsSync(join(root, 'runs.txt')), 2000, 'the script to start');
      await new Promise((r) => setTimeout(r, 400)); // well into the script, past any recycle race
      for (const w of childPids(fpm.pid)) process.kill(w, 'SIGKILL');
      const res = await pending;
      const runs = readFileSync(join(root, 'runs.txt'), 'utf8').length;
      expect({ status: res.status, runs }).toEqual({ status: 502, runs: 1 });
    } finally {
      await bridge.close();
    }
  }, 20_000);
});
