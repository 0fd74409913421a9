// Options are checked where they enter, with a message naming the key (issue 9; seams.md 5).
import { describe, expect, it } from 'vitest';
import { createBridge } from '../../src/bridge/create-bridge.ts';

const base = { fpm: '/nonexistent.sock', root: '.' };

describe('createBridge checks its options', () => {
  it.each([
    [{ fpmConnections: 0 }, /fpmConnections: 0 is not a whole number of at least 1/],
    [{ fpmConnections: 1.5 }, /fpmConnections/],
    [{ fpmQueue: -1 }, /fpmQueue/],
    [{ maxBody: Number.NaN }, /maxBody/],
    [{ responseTimeoutMs: -5 }, /responseTimeoutMs: -5 is not a number of milliseconds from 0 \(off\) to 2147483647/],
    [{ bodyTimeoutMs: Infinity }, /bodyTimeoutMs/],
  ])('refuses %j', (bad, message) => {
    expect(() => createBridge({ ...base, ...bad })).toThrow(message);
  });

  it('takes 0 where 0 means something (no queue, no cache, a timeout off)', async () => {
    const bridge = createBridge({ ...base, fpmQueue: 0, statCacheMs: 0, bodyTimeoutMs: 0, appTimeoutMs: 0 });
    await bridge.close();
  });
});
