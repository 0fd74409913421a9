// One worker, one connection: every other request waits in the bridge's queue (it is never written
// behind a running one: pipelining was removed, issue 9). Nothing is lost or run twice when the
// request in front fails or its client leaves, and a queued request whose client left never runs.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginxFpm, startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES, request, sleep, startBridge, type Running } from './support.ts';

/** Runs of runs.php logged under a fresh name (php/fixtures/runs.php appends a line per run). */
function runLog(): { name: string; runs(): number; remove(): void } {
  const name = `fpm-bridge-queue-runs-${randomBytes(6).toString('hex')}.log`;
  const path = join(tmpdir(), name);
  return {
    name,
    runs: () => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).length : 0),
    remove: () => rmSync(path, { force: true }),
  };
}

/** Writes `head` on a raw socket and closes it after `ms` without reading an answer. */
async function sendAndLeave(port: number, head: string, ms: number): Promise<void> {
  const sock = connect({ host: '127.0.0.1', port });
  sock.on('error', () => {});
  sock.write(head);
  await sleep(ms);
  sock.destroy();
}

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

  it('a queued request whose client left never runs PHP: on its own connection, and pipelined', async () => {
    const own = runLog();
    const piped = runLog();
    try {
      // The one connection is busy for 1 s; meanwhile a POST on its own connection, and a GET pipelined
      // behind another, wait in the queue, and their clients leave. Node hands a pipelined request's
      // response its socket only after the one in front, so that response never saw the close (it ran).
      const first = request(bridge.port, '/slow.php?ms=1000');
      await sleep(100);
      await Promise.all([
        sendAndLeave(bridge.port, `POST /runs.php?log=${own.name} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx`, 200),
        sendAndLeave(bridge.port, `GET /hello.php HTTP/1.1\r\nHost: x\r\n\r\nGET /runs.php?log=${piped.name} HTTP/1.1\r\nHost: x\r\n\r\n`, 200),
      ]);
      expect((await first).status).toBe(200);
      expect((await request(bridge.port, '/hello.php')).status).toBe(200);
      await sleep(100);
      expect(own.runs()).toBe(0);
      expect(piped.runs()).toBe(0);
      expect(bridge.bridge.client.stats.queued).toBe(0);
    } finally {
      own.remove();
      piped.remove();
    }
  }, 20_000);
});

describe('a client that leaves a queued request, behind nginx', () => {
  it('nginx, for comparison: runs the request whose client left in php-fpm\'s backlog, never the pipelined one', async () => {
    // nginx has no queue of its own: it writes the request to php-fpm at once, where it waits in the
    // listen backlog; its client leaving closes that connection, but php-fpm reads and runs what was
    // written (1 run). A pipelined request is read only once the one in front is done: never sent.
    // A pool of its own: the bridge above keeps its one worker on an idle connection.
    const fpm = await startPhpFpm({ workers: 1 });
    const nginx = await startNginxFpm({ root: FIXTURES, fpmSocket: fpm.socket });
    const own = runLog();
    const piped = runLog();
    try {
      const first = request(nginx.port, '/slow.php?ms=1000');
      await sleep(100);
      await Promise.all([
        sendAndLeave(nginx.port, `POST /runs.php?log=${own.name} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx`, 200),
        sendAndLeave(nginx.port, `GET /slow.php?ms=200 HTTP/1.1\r\nHost: x\r\n\r\nGET /runs.php?log=${piped.name} HTTP/1.1\r\nHost: x\r\n\r\n`, 200),
      ]);
      expect((await first).status).toBe(200);
      expect((await request(nginx.port, '/hello.php')).status).toBe(200);
      await sleep(100);
      expect(own.runs()).toBe(1);
      expect(piped.runs()).toBe(0);
    } finally {
      own.remove();
      piped.remove();
      await nginx.stop();
      await fpm.stop();
    }
  }, 20_000);
});
