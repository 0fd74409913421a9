import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where PHP's answer goes when its client reads slower than php-fpm writes (nginx's
 * fastcgi_temp_path): past the in-memory window the rest is read from php-fpm into a temp file, so
 * the worker is free as soon as PHP is done, whatever the client does.
 *
 * The file is made with a random name and O_EXCL (never one someone placed there), mode 0600, in the
 * bridge's private spool directory (0700, http/spool.ts: swept at start-up, removed on close). It is
 * unlinked as soon as it is open: only its descriptor names it, so nothing is left behind by a crash
 * or a kill -9, and no one can open it.
 *
 * Writes and reads are synchronous, as nginx does with its temp files: a page-cache copy of 64 KiB takes
 * microseconds, and the bytes leave memory at once.
 */
export class ResponseSpool {
  private fd: number | null;
  /** Bytes written so far, and read back so far. */
  private written = 0;
  private read = 0;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** A new spool file in the private directory `dir`. Throws (with the errno) when it cannot be made. */
  static create(dir: string): ResponseSpool {
    const path = join(dir, randomBytes(12).toString('base64url'));
    const fd = openSync(path, 'wx+', 0o600);
    try {
      unlinkSync(path);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return new ResponseSpool(fd);
  }

  /** Bytes waiting to be read back. */
  get pending(): number {
    return this.written - this.read;
  }

  /** Appends the whole chunk. Throws on a write error (disk full). */
  write(chunk: Buffer): void {
    if (this.fd === null) throw new Error('response spool closed');
    for (let off = 0; off < chunk.length; ) off += writeSync(this.fd, chunk, off, chunk.length - off, this.written + off);
    this.written += chunk.length;
  }

  /** The oldest unread bytes read into `buf`, as many as fit: a view of it (empty when none wait). */
  takeInto(buf: Buffer): Buffer {
    const n = Math.min(buf.length, this.pending);
    if (n === 0 || this.fd === null) return buf.subarray(0, 0);
    let got = 0;
    while (got < n) {
      const r = readSync(this.fd, buf, got, n - got, this.read + got);
      if (r === 0) break;
      got += r;
    }
    this.read += got;
    return got === buf.length ? buf : buf.subarray(0, got);
  }

  /** Closes the file (its blocks go with the descriptor). Safe to call more than once. */
  dispose(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      closeSync(fd);
    } catch {
      // EIO on close: the descriptor is gone anyway.
    }
  }
}
