import { realpath, stat } from 'node:fs/promises';

export type FileKind = 'file' | 'dir' | null;

/** What routing needs from the file system; a seam for caching and for tests. */
export interface FileLookup {
  /** Kind of the entry at an absolute byte-string path under the root (null: absent, or not ours to serve). */
  kind(absPath: string): Promise<FileKind>;
  /**
   * The kind, when it is known without looking (a fresh, settled cache entry); undefined otherwise.
   * Optional: a lookup without it is always asked through `kind`.
   */
  known?(absPath: string): FileKind | undefined;
}

/**
 * Follows symlinks wherever they lead (nginx `disable_symlinks off`, Caddy's default): the bridge's
 * behaviour with `--follow-symlinks`.
 */
export const fsLookup: FileLookup = {
  async kind(absPath) {
    try {
      const st = await stat(Buffer.from(absPath, 'latin1'));
      return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : null;
    } catch {
      return null;
    }
  },
};

/**
 * The default: a path whose real location (every symlink on the way resolved) is outside the root's
 * real location does not exist, so nothing outside the root is served or run, whatever links someone
 * managed to place inside it (an unpacked archive, a user's upload directory). Symlinks that stay
 * inside the root work as before. nginx's nearest is `disable_symlinks if_not_owner`; its default
 * follows everything. The root may itself be a symlink (a `current -> releases/42` deploy): its real
 * location is looked up again every `rootTtlMs`, so a switch is seen.
 */
export function confinedLookup(root: string, rootTtlMs = 1_000): FileLookup {
  let realRoot: Promise<string | null> | null = null;
  let realRootAt = 0;
  const rootReal = (): Promise<string | null> => {
    const now = performance.now();
    if (!realRoot || now - realRootAt > rootTtlMs) {
      realRootAt = now;
      realRoot = realpath(Buffer.from(root, 'latin1'), { encoding: 'buffer' }).then(
        (b) => b.toString('latin1'),
        () => null,
      );
    }
    return realRoot;
  };
  return {
    async kind(absPath) {
      const kind = await fsLookup.kind(absPath);
      if (kind === null) return null;
      let real: string;
      try {
        real = (await realpath(Buffer.from(absPath, 'latin1'), { encoding: 'buffer' })).toString('latin1');
      } catch {
        return null;
      }
      const base = await rootReal();
      if (base === null) return null;
      return real === base || real.startsWith(base === '/' ? '/' : base + '/') ? kind : null;
    },
  };
}
