// One event per finished request (src/bridge/request-event.ts) and the request id it carries: the
// access log is one subscriber of it, and PHP's stderr lines are grouped by that id, so two identical
// requests running at once keep their own lines (issue 9).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../src/bridge/request-event.ts';
import { jsonLogger } from '../../src/log/json-logger.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { request, startBridge, waitFor, type Running } from './support.ts';

/** Each run writes its own token to stderr, then waits, so two runs' lines both arrive before either ends. */
const SLOW_LOG_PHP = `<?php
error_log('token ' . bin2hex(random_bytes(6)));
usleep(300000);
echo "done\\n";
`;

describe('request events and ids', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  let root: string;
  const out = new PassThrough();
  let written = '';
  out.on('data', (c: Buffer) => (written += c.toString()));

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-events-'));
    writeFileSync(join(root, 'slow-log.php'), SLOW_LOG_PHP);
    writeFileSync(join(root, 'plain.txt'), 'plain\n');
    fpm = await startPhpFpm({ workers: 2 });
    const logger = jsonLogger(out, new PassThrough(), { holdStderrMs: 5_000 });
    bridge = await startBridge({ fpm: fpm.socket, root, fpmConnections: 2, logger, app: (_req, res) => void res.writeHead(200).end('app\n') });
  }, 20_000);

  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('two identical requests at once keep their own PHP stderr lines under their own access record', async () => {
    const [a, b] = await Promise.all([request(bridge.port, '/slow-log.php'), request(bridge.port, '/slow-log.php')]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    const records = () =>
      written
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { type: string; url: string; id: number; phpStderr?: string[] })
        .filter((r) => r.type === 'access' && r.url === '/slow-log.php');
    await waitFor(() => records().length === 2, 3_000, 'two access records');
    const [first, second] = records();
    expect(first!.id).not.toBe(second!.id);
    expect(first!.phpStderr).toHaveLength(1);
    expect(second!.phpStderr).toHaveLength(1);
    expect(first!.phpStderr![0]).toMatch(/token [0-9a-f]{12}/);
    expect(first!.phpStderr![0]).not.toBe(second!.phpStderr![0]);
  });

  it('a subscriber gets one event per finished request: id, route path, who served, status, bytes, duration', async () => {
    const seen: RequestEvent[] = [];
    const off = bridge.bridge.events.subscribe((e) => seen.push(e));
    try {
      await request(bridge.port, '/plain.txt?x=1');
      await request(bridge.port, '/nothing/here');
      await request(bridge.port, '/%zz');
      await waitFor(() => seen.length === 3, 2_000, 'three events');
    } finally {
      off();
    }
    const [file, app, bad] = seen;
    expect(file).toMatchObject({ method: 'GET', url: '/plain.txt?x=1', path: '/plain.txt', claim: null, servedBy: 'static', status: 200 });
    expect(file!.bytes).toBeGreaterThan('plain\n'.length);
    expect(file!.durationMs).toBeGreaterThanOrEqual(0);
    expect(app).toMatchObject({ path: '/nothing/here', servedBy: 'app', status: 200 });
    expect(bad).toMatchObject({ path: null, servedBy: 'bridge', status: 400 });
    expect(new Set(seen.map((e) => e.id)).size).toBe(3);
    // Unsubscribed: no more events.
    await request(bridge.port, '/plain.txt');
    expect(seen).toHaveLength(3);
  });

  it('a subscriber that throws fails neither the request nor the other subscribers', async () => {
    const seen: number[] = [];
    const offBad = bridge.bridge.events.subscribe(() => {
      throw new Error('subscriber bug');
    });
    const offGood = bridge.bridge.events.subscribe((e) => seen.push(e.status));
    try {
      const res = await request(bridge.port, '/plain.txt');
      expect(res.status).toBe(200);
      await waitFor(() => seen.length === 1, 2_000, 'the good subscriber');
    } finally {
      offBad();
      offGood();
    }
  });
});
