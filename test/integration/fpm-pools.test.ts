// Several php-fpm pools behind one bridge (issue 12), against two real php-fpm masters: requests are
// spread by least outstanding (and weight), a pool killed under load costs no wrong answer (its share
// goes to the other), and it takes requests again once it is back.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FcgiPools, parsePoolSpec } from '../../src/fastcgi/pool-set.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { runCliToEnd, startChildBridge } from './child-bridge.ts';
import { recordingLogger, request, sleep, startBridge, type Running } from './support.ts';

describe('several php-fpm pools (issue 12)', () => {
  let a: PhpFpm;
  let b: PhpFpm;
  let bridge: Running;
  let root: string;
  const infos: string[] = [];
  const logger = { ...recordingLogger(), info: (m: string) => void infos.push(m) };

  /** The php-fpm master that ran each of `n` requests (a worker's parent), `concurrency` at a time. */
  async function masters(n: number, concurrency: number, during?: (done: number) => Promise<void> | void): Promise<{ statuses: number[]; masters: number[] }> {
    const statuses: number[] = [];
    const ppids: number[] = [];
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < n) {
        next++;
        const r = await request(bridge.port, '/who.php');
        statuses.push(r.status);
        if (r.status === 200) ppids.push(Number(r.body.toString()));
        done++;
        await during?.(done);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { statuses, masters: ppids };
  }

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-pools-'));
    writeFileSync(join(root, 'who.php'), '<?php usleep(2000); echo posix_getppid();');
    [a, b] = await Promise.all([startPhpFpm({ workers: 2 }), startPhpFpm({ workers: 2 })]);
    bridge = await startBridge({ fpm: [a.socket, b.socket], root, logger, fpmConnections: 2 });
  });

  afterAll(async () => {
    await bridge?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('spreads requests over both pools', async () => {
    const r = await masters(60, 6);
    expect(r.statuses.every((s) => s === 200)).toBe(true);
    const counts = new Map<number, number>();
    for (const m of r.masters) counts.set(m, (counts.get(m) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual([a.pid, b.pid].sort());
    for (const c of counts.values()) expect(c).toBeGreaterThan(10);
  });

  it('a pool stopped under load: every request still gets a right answer from the other; back after a restart', async () => {
    const aPid = a.pid;
    let stopped = false;
    const r = await masters(240, 6, async (done) => {
      if (done === 60 && !stopped) {
        stopped = true;
        a.kill('SIGTERM');
      }
    });
    // GETs on a pool that went away are idempotent: sent again (same pool, then another), never a 5xx.
    expect(r.statuses.filter((s) => s !== 200)).toEqual([]);
    expect(r.masters.slice(-100).every((m) => m === b.pid)).toBe(true);
    expect(logger.warnings.some((w) => w.includes('is down'))).toBe(true);
    expect(aPid).not.toBe(b.pid);

    await a.restart();
    // Back within the backoff (1 s after the first failure, doubling): the half-open probe finds it.
    const deadline = Date.now() + 40_000;
    let back = false;
    while (!back && Date.now() < deadline) {
      const again = await masters(12, 3);
      expect(again.statuses.filter((s) => s !== 200)).toEqual([]);
      back = again.masters.includes(a.pid);
      if (!back) await sleep(200);
    }
    expect(back).toBe(true);
    expect(infos.some((l) => l.includes('is up'))).toBe(true);
  }, 60_000);

  it('a POST to a pool that cannot be reached goes to the other one; every pool down: 502 at once, not a hang', async () => {
    const one = await startPhpFpm({ workers: 1 });
    const gone = join(root, 'no-such.sock');
    const solo = await startBridge({ fpm: [gone, one.socket], root, fpmConnections: 1 });
    try {
      // The dead address is skipped (after its first refusal) and its requests go to the live one.
      for (let i = 0; i < 5; i++) expect((await request(solo.port, '/who.php', { method: 'POST', body: 'x' })).status).toBe(200);
      await one.stop();
      const started = performance.now();
      const r = await request(solo.port, '/who.php');
      expect(r.status).toBe(502);
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      await solo.close();
    }
  });
});

describe('--fpm repeated on the command line (issue 12)', () => {
  it('serves from both pools, says so in the banner, warns about one that does not answer; a bad weight exits 2', async () => {
    const [a, b] = await Promise.all([startPhpFpm({ workers: 2 }), startPhpFpm({ workers: 2 })]);
    const root = mkdtempSync(join(tmpdir(), 'fpm-bridge-pools-cli-'));
    writeFileSync(join(root, 'who.php'), '<?php usleep(2000); echo posix_getppid();');
    const dead = join(root, 'dead.sock');
    const cli = await startChildBridge(['--root', root, '--fpm', a.socket, '--fpm', `${b.socket} weight=2`, '--fpm', dead, '--fpm-connections', '2', '--quiet']);
    try {
      expect(cli.stderr()).toMatch(/3 php-fpm pools \(--fpm\)/);
      expect(cli.stderr()).toContain(`php-fpm pool unix:${dead} is not reachable`);
      const seen = new Set<number>();
      const replies = await Promise.all(Array.from({ length: 30 }, () => request(cli.port, '/who.php')));
      for (const r of replies) {
        expect(r.status).toBe(200);
        seen.add(Number(r.body.toString()));
      }
      expect([...seen].sort()).toEqual([a.pid, b.pid].sort());
    } finally {
      await cli.stop();
      await Promise.all([a.stop(), b.stop()]);
      rmSync(root, { recursive: true, force: true });
    }
    const bad = await runCliToEnd(['--fpm', '/run/a.sock', '--fpm', '/run/b.sock weight=zero']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--fpm /run/b.sock weight=zero');
  }, 60_000);
});

describe('pool specs and the balancer (pure)', () => {
  it('reads ADDRESS and ADDRESS weight=N', () => {
    expect(parsePoolSpec('/run/php.sock')).toEqual({ address: '/run/php.sock', weight: 1 });
    expect(parsePoolSpec(' 10.0.0.2:9000  weight=3 ')).toEqual({ address: '10.0.0.2:9000', weight: 3 });
    for (const bad of ['x weight=0', 'x weight=abc', 'x wieght=2', '']) expect(() => parsePoolSpec(bad)).toThrow(/php-fpm pool/);
  });

  it('picks by outstanding requests over weight', () => {
    const fake = (name: string) => ({ describe: name, stats: { open: 0, idle: 0, queued: 0 } }) as never;
    const pools = new FcgiPools([
      { client: fake('a'), weight: 1 },
      { client: fake('b'), weight: 3 },
    ]);
    const picked: string[] = [];
    const held: Array<{ outstanding: number; client: { describe: string } }> = [];
    for (let i = 0; i < 8; i++) {
      const m = pools.pick(new Set()) as unknown as { outstanding: number; client: { describe: string } };
      m.outstanding++;
      held.push(m);
      picked.push(m.client.describe);
    }
    expect(picked.filter((p) => p === 'b').length).toBe(6);
    expect(picked.filter((p) => p === 'a').length).toBe(2);
  });
});
