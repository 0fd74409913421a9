// One worker, one connection: every other request waits in the bridge's queue (it is never written
// behind a running one: pipelining was removed, issue 9). Nothing is lost or run twice when the
// request in front fails or its client leaves.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { request, sleep, startBridge, type Running } from './support.ts';

const workerPids = (master: number) =>
  execFileSync('ps', ['-o', 'pid=', '--ppid', String(master)]).toString().trim().split(/\s+/).filter(Boolean).map(Number);

describe('queued requests on one php-fpm connection', () => {
  let fpm: PhpFpm;
  let bridge: Running;

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 1 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 1 });
  });
  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
  });

  it('answers 40 concurrent requests, each with its own response, on one connection', async () => {
    const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => request(bridge.port, `/status.php?code=${200 + (i % 3)}`)));
    replies.forEach((r, i) => {
      expect(r.status).toBe(200 + (i % 3));
      expect(r.body.toString()).toBe(`status ${200 + (i % 3)}`);
    });
    expect(bridge.bridge.client.stats.open).toBe(1);
  });

  it('a client leaving does not fail the request queued behind it', async () => {
    const ac = new AbortController();
    const first = fetch(`http://127.0.0.1:${bridge.port}/slow.php?ms=400`, { signal: ac.signal }).catch((e: Error) => e.name);
    await sleep(50);
    const second = request(bridge.port, '/hello.php');
    await sleep(50);
    ac.abort();
    expect(await first).toBe('AbortError');
    const r = await second;
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('Hello from PHP');
  });

  it('a POST queued behind one whose worker dies gets a fresh connection and is answered, run once', async () => {
    // A POST in front: not retried once its worker died mid-script (a GET would be, and succeed).
    const first = request(bridge.port, '/slow.php?ms=1500', { method: 'POST', body: 'x' });
    await sleep(200);
    const second = request(bridge.port, '/echo.php', { method: 'POST', body: 'behind' });
    await sleep(100);
    for (const pid of workerPids(fpm.pid)) process.kill(pid, 'SIGKILL');
    expect((await first).status).toBe(502);
    const r = await second;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toMatchObject({ method: 'POST', length: 6 });
  });
});
