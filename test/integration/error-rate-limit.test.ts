// While php-fpm is down every request fails alike: the log says so once, then counts (issue 15).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startChildBridge, type ChildBridge } from './child-bridge.ts';
import { FIXTURES, request } from './support.ts';

describe('error lines while php-fpm is down', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-down-'));
  let bridge: ChildBridge | undefined;
  afterAll(async () => {
    await bridge?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('200 failing requests write one error line, not 200', async () => {
    bridge = await startChildBridge(['--fpm', join(dir, 'no-php-fpm.sock'), '--root', FIXTURES, '--quiet']);
    for (let i = 0; i < 20; i++) {
      const replies = await Promise.all(Array.from({ length: 10 }, (_, j) => request(bridge!.port, `/hello.php?n=${i * 10 + j}`)));
      for (const r of replies) expect(r.status).toBe(502);
    }
    const errors = bridge.stderr().split('\n').filter((l) => /error/i.test(l));
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.length).toBeLessThanOrEqual(2);
  }, 60_000);
});
