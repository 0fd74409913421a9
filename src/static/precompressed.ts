import { lstat, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { extname } from 'node:path';
import { contentTypeOf } from './mime.ts';
import { chooseCoding, isCompressible, type Coding } from '../http/content-coding.ts';

/** A precompressed copy to send instead of the file: `x.css.br` for `x.css`, with x.css's type. */
export interface Variant {
  file: string;
  coding: Coding;
  type: string;
}

const SUFFIX: Record<Coding, string> = { br: '.br', zstd: '.zst', gzip: '.gz' };

/**
 * Precompressed static files, as nginx's gzip_static and Caddy's `precompressed`: when the client
 * accepts a coding and `FILE.br` / `FILE.zst` / `FILE.gz` sits beside FILE, that copy is sent
 * (Content-Encoding, Vary, the original's Content-Type). The best coding the client takes that has a
 * copy wins. Whether a copy exists is remembered for `ttlMs` (the docroot cache's time), so a page's
 * assets cost no extra stat per request. Range requests get the file itself.
 */
export class Precompressed {
  private readonly known = new Map<string, { exists: boolean; at: number }>();
  private static readonly MAX_ENTRIES = 10_000;

  /**
   * `followSymlinks` false (the default of the bridge): a copy that is a symlink is not used, so it
   * cannot lead out of the document root when the file itself was vetted.
   */
  constructor(
    private readonly ttlMs: number,
    private readonly followSymlinks = false,
  ) {}

  /** The copy to send, or null for the file itself (synchronous when remembered). */
  pick(req: IncomingMessage, file: string): Variant | null | Promise<Variant | null> {
    const accept = req.headers['accept-encoding'];
    if (accept === undefined || req.headers.range !== undefined) return null;
    const type = contentTypeOf(extname(file));
    if (!type || !isCompressible(type)) return null;
    const wanted = candidates(Array.isArray(accept) ? accept.join(',') : accept);
    if (wanted.length === 0) return null;
    return this.firstExisting(file, wanted, type, 0);
  }

  private firstExisting(file: string, wanted: Coding[], type: string, i: number): Variant | null | Promise<Variant | null> {
    for (; i < wanted.length; i++) {
      const coding = wanted[i]!;
      const copy = file + SUFFIX[coding];
      const seen = this.known.get(copy);
      if (seen && performance.now() - seen.at < this.ttlMs) {
        if (seen.exists) return { file: copy, coding, type };
        continue;
      }
      const next = i;
      return this.check(copy).then((exists) => (exists ? { file: copy, coding, type } : this.firstExisting(file, wanted, type, next + 1)));
    }
    return null;
  }

  private async check(copy: string): Promise<boolean> {
    const st = await (this.followSymlinks ? stat : lstat)(Buffer.from(copy, 'latin1')).catch(() => null);
    const exists = st !== null && st.isFile();
    if (this.known.size >= Precompressed.MAX_ENTRIES) this.known.clear();
    this.known.set(copy, { exists, at: performance.now() });
    return exists;
  }
}

/** The codings the client takes, best first (each chosen as if the better ones had no copy). */
function candidates(accept: string): Coding[] {
  const out: Coding[] = [];
  let offered: Coding[] = ['br', 'zstd', 'gzip'];
  for (;;) {
    const c = chooseCoding(accept, offered);
    if (c === null) return out;
    out.push(c);
    offered = offered.filter((o) => o !== c);
  }
}
