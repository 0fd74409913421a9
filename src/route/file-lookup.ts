import { stat } from 'node:fs/promises';

export type FileKind = 'file' | 'dir' | null;

/** What routing needs from the file system; a seam for caching and for tests. */
export interface FileLookup {
  /** Kind of the entry at an absolute byte-string path, following symlinks (nginx disable_symlinks off). */
  kind(absPath: string): Promise<FileKind>;
}

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
