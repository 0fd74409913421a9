import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, lstatSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeSync, type ReadStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Temp files for what does not fit in memory: request bodies past their memory share, and (for the
 * PHP response path) answers a slow client cannot take yet. nginx's client_body_temp_path and
 * fastcgi_temp_path, with two differences from what fpm-bridge did before (issue 15):
 *
 * - the files live in a private directory (mkdtemp: 0700, owned by this user), so another local user
 *   cannot pre-create or read them, whatever the shared temp dir allows;
 * - names are random, not `body-<pid>-<n>`.
 *
 * The directory is named `fpm-bridge-spool-<pid>-XXXXXX`: at start-up a bridge removes the ones whose
 * process is gone (a kill -9 leaves its directory behind), and only those. It is made on first use
 * (a bridge that never spools never touches the disk) or at start-up with prepare(), which the CLI
 * calls so that an unwritable temp dir is an exit-1 message, not a failure on the first upload.
 */

const PREFIX = 'fpm-bridge-spool-';
const OWN_DIR = /^fpm-bridge-spool-(\d+)-[A-Za-z0-9]{6}$/;

/** Writing a spool file failed: the request gets 507 (disk or quota full) or 503, the log the cause. */
export class SpoolError extends Error {
  override name = 'SpoolError';
  /** ENOSPC, EROFS, EACCES... as the file system said it. */
  readonly code: string;
  /** 507 Insufficient Storage when the disk or quota is full; 503 for anything else. */
  readonly status: 507 | 503;
  constructor(
    readonly where: string,
    cause: NodeJS.ErrnoException,
  ) {
    const code = cause.code ?? 'EIO';
    super(`cannot write the spool file in ${where}: ${code}${REASONS[code] ? ` (${REASONS[code]})` : ''}`, { cause });
    this.code = code;
    this.status = code === 'ENOSPC' || code === 'EDQUOT' ? 507 : 503;
  }
}

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'the directory does not exist',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
};

export class SpoolDir {
  #dir: string | null = null;

  /** `base`: where the private directory is made (the OS temp dir by default). */
  constructor(readonly base: string) {}

  /** The private directory, made now if it is not yet (after sweeping stale ones). Throws SpoolError. */
  prepare(): string {
    if (this.#dir) return this.#dir;
    sweepStaleSpoolDirs(this.base);
    try {
      // mkdtemp makes it 0700; the random suffix keeps two bridges in one process apart.
      this.#dir = mkdtempSync(join(this.base, `${PREFIX}${process.pid}-`));
    } catch (err) {
      throw new SpoolError(this.base, err as NodeJS.ErrnoException);
    }
    return this.#dir;
  }

  /** The private directory once made, else null. */
  get path(): string | null {
    return this.#dir;
  }

  /** A new file, 0600, with a name no one can guess. Throws SpoolError when the directory cannot be made. */
  create(): SpoolFile {
    const dir = this.prepare();
    return new SpoolFile(dir, join(dir, randomBytes(12).toString('base64url')));
  }

  /** Removes the directory and whatever is left in it (open files go when their last fd closes). */
  close(): void {
    if (!this.#dir) return;
    rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = null;
  }
}

/**
 * One spool file: written once from the start, read as often as needed (a retry, the replay to the
 * app), disposed exactly once. dispose() closes every stream still open on it, so a reader nobody
 * finished (an app that answered without reading the body) cannot keep a deleted file's fd alive.
 *
 * Writes are synchronous, as nginx writes its temp files: a write to the page cache takes
 * microseconds, and the bytes leave memory at once. Asynchronous writes queue behind the thread pool
 * under load, and every connection then holds its socket reads and its write queue in memory (about
 * 160 KiB each, measured: 300 slow uploads kept 56 MiB of RSS after the load with every body on disk).
 * The cost: a stalled disk stalls the bridge, as it stalls nginx without `aio threads`.
 */
/** The largest multiple of 8 that fits a FastCGI record (65535): each read is one record, no padding. */
const REUSED_READ = 65528;

export class SpoolFile {
  size = 0;
  #fd: number | null;
  readonly #readers = new Set<ReadStream>();
  /** Descriptors of readInto() reads in progress. */
  readonly #fds = new Set<number>();
  #disposed = false;

  /** Creates the file ('wx': never one someone placed there; 0600). Throws SpoolError. */
  constructor(
    readonly dir: string,
    readonly path: string,
  ) {
    try {
      this.#fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      throw new SpoolError(dir, err as NodeJS.ErrnoException);
    }
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Appends the whole chunk. Throws SpoolError (disk full, I/O error). */
  write(chunk: Buffer): void {
    if (this.#fd === null) throw new Error('spool file already closed for writing');
    try {
      for (let off = 0; off < chunk.length; ) off += writeSync(this.#fd, chunk, off, chunk.length - off);
    } catch (err) {
      throw new SpoolError(this.dir, err as NodeJS.ErrnoException);
    }
    this.size += chunk.length;
  }

  /** Closes the writing end: every byte written is then what readers get. */
  end(): void {
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    closeSync(fd);
  }

  /** A fresh read of bytes [start, end] (inclusive, like fs.createReadStream); closed by dispose() at the latest. */
  read(start = 0, end?: number): ReadStream {
    const stream = createReadStream(this.path, { highWaterMark: 64 * 1024, start, ...(end === undefined ? {} : { end }) });
    if (this.#disposed) {
      stream.destroy(new Error('spool file already disposed'));
      return stream;
    }
    this.#readers.add(stream);
    stream.once('close', () => this.#readers.delete(stream));
    return stream;
  }

  /**
   * The whole file, read into one buffer used again for every chunk: each chunk is valid only until
   * the next is asked for. For a consumer done with a chunk by then (the FastCGI writer waits until
   * the socket took it). A new buffer per read is garbage outside V8's heap, which Node 24 collects
   * late: sending a 500 MiB body to php-fpm held about 60 MiB of it. Reads are synchronous, like
   * the writes. Closed by dispose() at the latest.
   */
  async *readReused(): AsyncGenerator<Buffer, void, undefined> {
    if (this.#disposed) throw new Error('spool file already disposed');
    const fd = openSync(this.path, 'r');
    this.#fds.add(fd);
    try {
      const buffer = Buffer.allocUnsafeSlow(REUSED_READ);
      for (;;) {
        if (!this.#fds.has(fd)) throw new Error('spool file already disposed');
        const n = readSync(fd, buffer, 0, REUSED_READ, null);
        if (n === 0) return;
        yield buffer.subarray(0, n);
      }
    } finally {
      if (this.#fds.delete(fd)) closeSync(fd);
    }
  }

  /** Closes the writer and every reader, then unlinks the file. Safe to call more than once. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const r of this.#readers) r.destroy();
    this.#readers.clear();
    for (const fd of this.#fds) closeSync(fd);
    this.#fds.clear();
    try {
      this.end();
    } catch {
      // EIO on close: the file goes anyway.
    }
    void unlink(this.path).catch(() => {});
  }
}

/**
 * Removes `fpm-bridge-spool-<pid>-*` directories in `base` whose process is gone, owned by this user.
 * A live pid (even one reused by another process) keeps its directory: only the certainly stale go.
 * Returns the directories removed.
 */
export function sweepStaleSpoolDirs(base: string): string[] {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const uid = process.getuid?.();
  for (const name of names) {
    const m = OWN_DIR.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processExists(pid)) continue;
    const path = join(base, name);
    try {
      const st = lstatSync(path);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // Gone meanwhile, or not ours to remove.
    }
  }
  return removed;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, as another user's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
