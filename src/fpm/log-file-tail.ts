import { closeSync, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

/** Past this much read text, the file is emptied (php-fpm appends with O_APPEND, so it follows). */
const COMPACT_AT = 1024 * 1024;

/**
 * Follows php-fpm's error_log file: polls it (one read() when nothing changed) and hands over new
 * text. Polling rather than fs.watch: a few reads a second cost nothing and behave the same on every
 * platform; `readNow()` drains it at once when it matters (the process just died).
 */
export class LogFileTail {
  private fd: number | null = null;
  private offset = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly decoder = new StringDecoder('utf8');
  private readonly buffer = Buffer.allocUnsafe(64 * 1024);

  constructor(
    private readonly path: string,
    private readonly onText: (text: string) => void,
    private readonly intervalMs = 200,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.readNow(), this.intervalMs);
    this.timer.unref();
  }

  /** Reads whatever was appended since the last read. */
  readNow(): void {
    if (this.fd === null) {
      try {
        this.fd = openSync(this.path, 'r+');
      } catch {
        return; // php-fpm has not created it yet
      }
    }
    try {
      // Truncated under us (by someone else): start over.
      if (fstatSync(this.fd).size < this.offset) this.offset = 0;
      for (;;) {
        const n = readSync(this.fd, this.buffer, 0, this.buffer.length, this.offset);
        if (n === 0) break;
        this.offset += n;
        const text = this.decoder.write(this.buffer.subarray(0, n));
        if (text) this.onText(text);
      }
      if (this.offset > COMPACT_AT) {
        ftruncateSync(this.fd, 0);
        this.offset = 0;
      }
    } catch {
      // The directory is being removed at stop: nothing left to read.
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.readNow();
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
    }
    this.fd = null;
  }
}
