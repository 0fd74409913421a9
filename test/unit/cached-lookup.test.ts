import { describe, expect, it, vi } from 'vitest';
import { cachedLookup } from '../../src/route/cached-lookup.ts';
import type { FileKind, FileLookup } from '../../src/route/file-lookup.ts';

function counting(kinds: Record<string, FileKind>): FileLookup & { calls: string[] } {
  const calls: string[] = [];
  return { calls, kind: async (p) => (calls.push(p), kinds[p] ?? null) };
}

describe('cachedLookup', () => {
  it('asks the file system once per path within the TTL, absent paths included', async () => {
    const fs = counting({ '/a': 'file' });
    const c = cachedLookup(fs, 1000);
    expect(await c.kind('/a')).toBe('file');
    expect(await c.kind('/a')).toBe('file');
    expect(await c.kind('/nope')).toBeNull();
    expect(await c.kind('/nope')).toBeNull();
    expect(fs.calls).toEqual(['/a', '/nope']);
  });
  it('shares one lookup between concurrent requests', async () => {
    const fs = counting({ '/a': 'dir' });
    const c = cachedLookup(fs, 1000);
    expect(await Promise.all([c.kind('/a'), c.kind('/a'), c.kind('/a')])).toEqual(['dir', 'dir', 'dir']);
    expect(fs.calls).toEqual(['/a']);
  });
  it('sees a change once the TTL has passed', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const kinds: Record<string, FileKind> = {};
      const fs = counting(kinds);
      const c = cachedLookup(fs, 500);
      expect(await c.kind('/new.php')).toBeNull();
      kinds['/new.php'] = 'file';
      expect(await c.kind('/new.php')).toBeNull();
      vi.advanceTimersByTime(501);
      expect(await c.kind('/new.php')).toBe('file');
    } finally {
      vi.useRealTimers();
    }
  });
  it('stays bounded: random paths cannot grow it past maxEntries', async () => {
    const fs = counting({});
    const c = cachedLookup(fs, 60_000, 100);
    for (let i = 0; i < 1000; i++) await c.kind(`/r${i}`);
    await c.kind('/r0');
    expect(fs.calls.filter((p) => p === '/r0')).toHaveLength(2);
  });
  it('a TTL of 0 turns caching off', () => {
    const fs = counting({});
    expect(cachedLookup(fs, 0)).toBe(fs);
  });
});

describe('cachedLookup.known: the kind without looking', () => {
  it('is undefined until the lookup has answered, then the kind (null for absent) until the TTL passes', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const fs = counting({ '/a': 'file' });
      const c = cachedLookup(fs, 500);
      expect(c.known!('/a')).toBeUndefined();
      const pending = c.kind('/a');
      expect(c.known!('/a')).toBeUndefined();
      await pending;
      expect(c.known!('/a')).toBe('file');
      await c.kind('/nope');
      expect(c.known!('/nope')).toBeNull();
      vi.advanceTimersByTime(501);
      expect(c.known!('/a')).toBeUndefined();
      expect(fs.calls).toEqual(['/a', '/nope']);
    } finally {
      vi.useRealTimers();
    }
  });
});
