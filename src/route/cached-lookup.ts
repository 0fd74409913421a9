import type { FileKind, FileLookup } from './file-lookup.ts';

/**
 * Remembers file kinds for a short time so a busy server does not stat the same paths on every
 * request (nginx's open_file_cache, on by default here). Absent paths are remembered too: every
 * request that falls through to the app asks about one.
 *
 * Safe to be briefly stale: an entry lives `ttlMs` at most, so a new or removed file is seen within
 * that time; the table is bounded (emptied when full), so random URLs cannot grow it without limit.
 */
export function cachedLookup(inner: FileLookup, ttlMs: number, maxEntries = 10_000): FileLookup {
  if (ttlMs <= 0) return inner;
  const entries = new Map<string, Entry>();
  return {
    kind(path) {
      const now = performance.now();
      const hit = entries.get(path);
      if (hit && now - hit.at < ttlMs) return hit.kind;
      if (entries.size >= maxEntries) entries.clear();
      // The promise itself is cached, so concurrent requests for one path share one stat.
      const entry: Entry = { at: now, kind: inner.kind(path), settled: undefined };
      entry.kind.then((k) => (entry.settled = k), () => {});
      entries.set(path, entry);
      return entry.kind;
    },
    known(path) {
      const hit = entries.get(path);
      return hit && performance.now() - hit.at < ttlMs ? hit.settled : undefined;
    },
  };
}

interface Entry {
  at: number;
  kind: Promise<FileKind>;
  /** The kind once the lookup has answered (null: nothing there); undefined while it is under way. */
  settled: FileKind | undefined;
}
