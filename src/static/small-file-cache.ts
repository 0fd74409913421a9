import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import etag from 'etag';
import { contentTypeOf } from './mime.ts';

/**
 * Small static files kept in memory, with the headers `send` would give them. The bench showed a 4 KiB
 * file through `send` costing a stat, an open, a read and a close on the thread pool per request
 * (0.23x nginx); nginx has the page cache and open_file_cache for that. Files up to `maxFileSize` are
 * read once and re-checked with one stat at most every `ttlMs`, so an edited file is seen within that
 * time. The total is bounded. serve-static.ts answers every request for a cached file from it,
 * conditional and Range ones included.
 */
export interface CachedFile {
  body: Buffer;
  /** Flat [name, value, ...] as writeHead takes them: the same fields send sets. */
  headers: string[];
  etag: string;
  lastModified: string;
}

interface Entry extends CachedFile {
  checkedAt: number;
  mtimeMs: number;
  size: number;
}

export interface SmallFileCacheOptions {
  maxFileSize: number;
  maxTotalSize: number;
  ttlMs: number;
}

export class SmallFileCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<CachedFile | null>>();
  private total = 0;

  constructor(private readonly options: SmallFileCacheOptions) {}

  /**
   * The file, or null when it is too large (or gone): serve it another way. `as`: the file is a
   * precompressed copy sent as another file's encoded body (kept apart from the file as itself).
   */
  get(file: string, as?: EncodedAs): Promise<CachedFile | null> | CachedFile {
    const key = as ? `${as.coding}\0${file}` : file;
    const hit = this.entries.get(key);
    if (hit && performance.now() - hit.checkedAt < this.options.ttlMs) return hit;
    let pending = this.loading.get(key);
    if (!pending) {
      pending = this.refresh(key, file, hit, as).finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  private async refresh(key: string, file: string, old: Entry | undefined, as: EncodedAs | undefined): Promise<CachedFile | null> {
    const path = Buffer.from(file, 'latin1');
    const st = await stat(path).catch(() => null);
    if (!st || !st.isFile() || st.size > this.options.maxFileSize) {
      this.drop(key);
      return null;
    }
    if (old && old.mtimeMs === st.mtimeMs && old.size === st.size) {
      old.checkedAt = performance.now();
      return old;
    }
    const body = await readFile(path);
    // The file changed between stat and read: do not cache a body whose ETag would lie.
    if (body.length !== st.size) return null;
    this.drop(key);
    if (this.total + body.length > this.options.maxTotalSize) this.evict(body.length);
    const entry: Entry = {
      body,
      ...fileHeaders(file, st, as),
      checkedAt: performance.now(),
      mtimeMs: st.mtimeMs,
      size: body.length,
    };
    this.entries.set(key, entry);
    this.total += body.length;
    return entry;
  }

  private drop(file: string): void {
    const e = this.entries.get(file);
    if (!e) return;
    this.entries.delete(file);
    this.total -= e.size;
  }

  /** Oldest first (Map keeps insertion order) until `needed` more bytes fit. */
  private evict(needed: number): void {
    for (const key of this.entries.keys()) {
      if (this.total + needed <= this.options.maxTotalSize) break;
      this.drop(key);
    }
  }
}

/** A precompressed copy (`x.css.br`) sent as the encoded body of another file (`x.css`, its type). */
export interface EncodedAs {
  coding: string;
  type: string;
}

/**
 * The validators and headers `send` gave a file (Accept-Ranges, Cache-Control, Last-Modified, ETag
 * first, then Content-Type); for a precompressed copy, the original's type, its coding and Vary.
 */
export function fileHeaders(file: string, st: Stats, as?: EncodedAs): Pick<CachedFile, 'etag' | 'lastModified' | 'headers'> {
  const tag = etag(st);
  const lastModified = st.mtime.toUTCString();
  const headers = ['Accept-Ranges', 'bytes', 'Cache-Control', 'public, max-age=0', 'Last-Modified', lastModified, 'ETag', tag];
  if (as) headers.push('Content-Type', as.type, 'Content-Encoding', as.coding, 'Vary', 'Accept-Encoding');
  else headers.push('Content-Type', contentTypeOf(extname(file)) || 'application/octet-stream');
  return { etag: tag, lastModified, headers };
}
