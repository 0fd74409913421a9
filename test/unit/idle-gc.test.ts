// When the process collects on its own: after a burst, once quiet, at most so often; never while busy.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { IdleGcPolicy } from '../../src/cli/idle-gc.ts';

const MiB = 1024 * 1024;
const run = promisify(execFile);

describe('IdleGcPolicy', () => {
  // sample(rss, arrayBuffers, now): RSS over its floor says there is something to give back, bytes in
  // ArrayBuffers unchanged since the last look say the process is quiet.
  it('collects once the process is quiet, after RSS grew by the threshold', () => {
    const p = new IdleGcPolicy(16 * MiB, 10_000);
    expect(p.sample(80 * MiB, 1 * MiB, 0)).toBe(false);
    expect(p.sample(100 * MiB, 20 * MiB, 1000)).toBe(false); // still moving: a burst in progress
    expect(p.sample(110 * MiB, 30 * MiB, 2000)).toBe(false);
    expect(p.sample(110 * MiB, 30 * MiB, 3000)).toBe(true); // quiet, 30 MiB over the floor
  });

  it('does not collect a quiet process whose RSS grew by less than the threshold', () => {
    const p = new IdleGcPolicy(16 * MiB, 10_000);
    p.sample(80 * MiB, 4 * MiB, 0);
    expect(p.sample(95.9 * MiB, 4 * MiB, 1000)).toBe(false);
    expect(p.sample(95.9 * MiB, 4 * MiB, 2000)).toBe(false);
    // The floor is the lowest RSS seen, not the first.
    expect(p.sample(70 * MiB, 2 * MiB, 3000)).toBe(false);
    expect(p.sample(87 * MiB, 9 * MiB, 4000)).toBe(false);
    expect(p.sample(87 * MiB, 9 * MiB, 5000)).toBe(true);
  });

  it('never collects a busy process, however much it holds', () => {
    const p = new IdleGcPolicy(16 * MiB, 10_000);
    p.sample(60 * MiB, 0, 0);
    for (let t = 1; t < 100; t++) expect(p.sample(200 * MiB, (10 + (t % 2)) * MiB, t * 1000)).toBe(false);
  });

  it('after a collection, the RSS left is the new floor, and the next comes no sooner than the interval', () => {
    const p = new IdleGcPolicy(16 * MiB, 10_000);
    p.sample(60 * MiB, 0, 0);
    p.sample(100 * MiB, 40 * MiB, 1000);
    expect(p.sample(100 * MiB, 40 * MiB, 2000)).toBe(true);
    p.collected(90 * MiB, 1 * MiB, 2000); // malloc kept some: 90 MiB is the floor now
    expect(p.sample(90 * MiB, 1 * MiB, 3000)).toBe(false);
    expect(p.sample(100 * MiB, 5 * MiB, 4000)).toBe(false);
    expect(p.sample(100 * MiB, 5 * MiB, 5000)).toBe(false); // only 10 MiB over the new floor
    expect(p.sample(110 * MiB, 9 * MiB, 6000)).toBe(false);
    expect(p.sample(110 * MiB, 9 * MiB, 7000)).toBe(false); // 20 over, quiet, but 5 s after the last
    expect(p.sample(110 * MiB, 9 * MiB, 12_000)).toBe(true);
  });
});

describe('startIdleGc', () => {
  it('gives garbage ArrayBuffers back in a quiet process', async () => {
    // In a process of its own: the test runner's worker allocates and collects on its own schedule.
    // The garbage is made after the first look, and nothing allocates past it: only a full GC frees
    // it (40 MiB is under what makes V8 collect for external memory by itself).
    const script = `
      import { startIdleGc } from ${JSON.stringify(fileURLToPath(new URL('../../src/cli/idle-gc.ts', import.meta.url)))};
      const MiB = 1024 * 1024;
      const reducer = startIdleGc(16 * MiB, 50, 0);
      await new Promise((r) => setTimeout(r, 120));
      let junk = Array.from({ length: 40 }, () => Buffer.allocUnsafeSlow(MiB).fill(1));
      const held = process.memoryUsage().arrayBuffers;
      junk = null;
      const quietAt = performance.now();
      while (reducer.collections === 0 && performance.now() - quietAt < 5000) await new Promise((r) => setTimeout(r, 50));
      console.log(JSON.stringify({ held, collections: reducer.collections, after: process.memoryUsage().arrayBuffers }));
      reducer.stop();`;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 20_000 });
    const { held, collections, after } = JSON.parse(stdout) as { held: number; collections: number; after: number };
    expect(held).toBeGreaterThan(40 * MiB);
    expect(collections).toBe(1);
    expect(after).toBeLessThan(8 * MiB);
  }, 30_000);
});
