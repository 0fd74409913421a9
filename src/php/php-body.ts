import type { ServerResponse } from 'node:http';
import { ResponseSpool } from './response-spool.ts';
import { watchSend } from './send-timeout.ts';

/** Bytes of PHP output that may wait in memory in a response before the rest goes to the spool. */
export const STREAM_WINDOW = 256 * 1024;
/** Most bytes of one response in its spool file; past it reading from php-fpm pauses (nginx fastcgi_max_temp_file_size). */
export const MAX_SPOOL = 1024 * 1024 * 1024;
/**
 * How long a response over the window may keep php-fpm paused before the rest goes to the spool. A
 * client that reads (wrk on a 1 MiB page) drains the window within a millisecond or two, so its bytes
 * never touch the disk; one that does not read frees the worker after this. Spooling at once cost the
 * 1 MiB bench case nearly three times the CPU per request (a file made, written and read back each).
 */
export const SPOOL_AFTER_MS = 50;
/** Read back from the spool in pieces of this size. */
const SPOOL_READ = 64 * 1024;

/**
 * 64 KiB buffers for PHP's bytes on their way to the client, shared by all responses: a piece of
 * php-fpm's read buffer is copied into one (or the spool is read into one), written, and the buffer
 * comes back here when the write's callback says the connection took it. A new buffer per piece cost
 * the allocation (V8 zero-fills a copy made by Buffer.from: 16% of the CPU of PHP's 1 MiB page in a
 * profile), and left garbage that V8 collects late (a slow 1 GiB download held ~26 MiB of it). At
 * most POOL_MAX are kept (4 MiB); a piece below POOLED_FROM is copied as before, into Node's own pool.
 */
const POOL_MAX = 64;
const POOLED_FROM = 4 * 1024;
const pool: Buffer[] = [];
const takeBuffer = (): Buffer => pool.pop() ?? Buffer.allocUnsafe(SPOOL_READ);
const giveBack = (buf: Buffer): void => {
  if (pool.length < POOL_MAX) pool.push(buf);
};

/** Reasons that start with this cut the client's connection (the response could not be completed). */
export const CUT = 'response cut';

export interface PhpBodyOptions {
  /** The Content-Length that went out with the head, or null (chunked / close-delimited). */
  declared: number | null;
  /** The response carries body bytes (not HEAD, not 204/304). */
  carriesBody: boolean;
  /** Stream as PHP flushes, never spooled (`X-Accel-Buffering: no`, `text/event-stream`). */
  unbuffered: boolean;
  /** The private spool directory (made on first call; throws when it cannot be); null: no spool (a slow client pauses php-fpm). */
  spoolDir: (() => string) | null;
  sendTimeoutMs: number;
  /** Reading from php-fpm may go on (it was told to stop by a write that returned false). */
  resume(): void;
  /** The body is done: ended, or cut (`problem` starts with CUT), with what went wrong if anything. */
  done(problem: string | undefined): void;
  warn(message: string): void;
}

/**
 * PHP's body on its way to the client, after the head went out. The bridge owns the framing: with a
 * declared length exactly that many bytes go out (more from PHP are dropped and the connection closed
 * after the response; fewer, and the connection is cut so the client never reads the next response
 * as the rest of this one).
 *
 * A client slower than php-fpm: up to STREAM_WINDOW bytes wait in memory; when the client has not
 * drained them within SPOOL_AFTER_MS, the rest goes to a spool file, so php-fpm's worker is free once
 * PHP is done (nginx: fastcgi buffers and fastcgi_temp_path).
 * An unbuffered response (SSE) is never spooled: reading from php-fpm pauses instead, as it does when
 * the spool cannot be written or is full. A client that takes nothing for the send timeout is cut.
 */
export class PhpBody {
  private remaining: number;
  private overflow = 0;
  private spool: ResponseSpool | null = null;
  /** The spool could not be made or written: slow clients pause php-fpm instead. */
  private noSpool: boolean;
  /**
   * PHP's bytes that came after the spool refused a write (disk full): they go out once what the spool
   * holds has, and php-fpm is paused meanwhile, so this stays a few reads at most.
   */
  private tail: Buffer[] = [];
  private phpEnded = false;
  private over = false;
  /** The window is full and php-fpm paused; past SPOOL_AFTER_MS without a drain, spool from then on. */
  private spoolTimer: NodeJS.Timeout | null = null;
  /** The client was too slow for the window: what comes next from php-fpm goes to the spool. */
  private spooling = false;
  /** Why the bridge cut the client, if it did (send timeout). */
  failure: string | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly opts: PhpBodyOptions,
  ) {
    this.remaining = opts.declared !== null && opts.carriesBody ? opts.declared : Infinity;
    this.noSpool = opts.unbuffered || opts.spoolDir === null || !opts.carriesBody;
    res.on('drain', this.pump);
    res.once('close', this.closed);
  }

  /**
   * A piece of PHP's body, a view of php-fpm's read buffer valid only during the call: what goes to the
   * client or waits in memory is copied, what goes to the spool file is written as it is. Returns false
   * to stop reading from php-fpm until `resume`.
   */
  write(chunk: Buffer): boolean {
    if (chunk.length > this.remaining) {
      this.overflow += chunk.length - this.remaining;
      chunk = chunk.subarray(0, this.remaining);
    }
    if (chunk.length > 0) {
      this.remaining -= chunk.length;
      if (this.tail.length > 0) this.tail.push(Buffer.from(chunk));
      else if ((this.spool !== null && this.spool.pending > 0) || (this.spooling && this.res.writableLength > STREAM_WINDOW && !this.noSpool)) this.toSpool(chunk);
      else this.send(chunk);
    }
    if (this.tail.length > 0) return false;
    if (this.res.writableLength === 0) return true;
    watchSend(this.res, this.opts.sendTimeoutMs, this.timedOut);
    // Keep reading php-fpm while what waits fits: the window in memory, the spool on disk.
    if (this.res.writableLength <= STREAM_WINDOW) return true;
    if (this.noSpool) return false;
    if (!this.spooling) {
      // Over the window: pause php-fpm and give the client a moment to drain (pump) before the disk.
      this.spoolTimer ??= setTimeout(this.startSpooling, SPOOL_AFTER_MS);
      return false;
    }
    return (this.spool?.pending ?? 0) < MAX_SPOOL;
  }

  /** The client drained nothing within SPOOL_AFTER_MS: the rest goes to the spool, and php-fpm goes on. */
  private readonly startSpooling = (): void => {
    this.spoolTimer = null;
    if (this.over) return;
    this.spooling = true;
    this.opts.resume();
  };

  /** PHP is done (END_REQUEST): the response ends once the spool (and what came after it) has gone out. */
  end(): void {
    this.phpEnded = true;
    if ((this.spool === null || this.spool.pending === 0) && this.tail.length === 0) this.finish();
  }

  private toSpool(chunk: Buffer): void {
    try {
      this.spool ??= ResponseSpool.create(this.opts.spoolDir!());
      this.spool.write(chunk);
    } catch (err) {
      // No disk for it (ENOSPC, EDQUOT, EIO...): from now on a slow client pauses php-fpm (the worker
      // waits, as without a spool). What the spool holds stays there and goes out first, read back as
      // the client takes it (it once went all into memory at this point: up to MAX_SPOOL); this piece
      // waits behind it.
      this.noSpool = true;
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.opts.warn(`cannot spool PHP's response in ${this.spool ? 'its spool file' : 'the spool directory'} (${code}${code === 'ENOSPC' ? ': no space left on the device' : ''}): a slow client holds its php-fpm worker`);
      if (this.spool !== null && this.spool.pending > 0) this.tail.push(Buffer.from(chunk));
      else {
        this.spool?.dispose();
        this.spool = null;
        this.send(chunk);
      }
    }
  }

  /** A copy of `chunk` (a view of php-fpm's read buffer) to the client. */
  private send(chunk: Buffer): void {
    if (chunk.length < POOLED_FROM || chunk.length > SPOOL_READ) {
      this.res.write(Buffer.from(chunk));
      return;
    }
    const buf = takeBuffer();
    chunk.copy(buf);
    this.res.write(buf.subarray(0, chunk.length), () => giveBack(buf));
  }

  /** The client took some bytes: refill from the spool, then what waits behind it, and let php-fpm go on. */
  private readonly pump = (): void => {
    if (this.over) return;
    if (this.spoolTimer !== null && this.res.writableLength <= STREAM_WINDOW) {
      clearTimeout(this.spoolTimer);
      this.spoolTimer = null;
    }
    const spool = this.spool;
    if (spool !== null) {
      while (spool.pending > 0 && this.res.writableLength <= STREAM_WINDOW) {
        const buf = takeBuffer();
        this.res.write(spool.takeInto(buf), () => giveBack(buf));
      }
      if (spool.pending > 0) return;
      if (this.noSpool) {
        // A spool that failed is done once read back: its disk space goes now.
        spool.dispose();
        this.spool = null;
      }
    }
    while (this.tail.length > 0 && this.res.writableLength <= STREAM_WINDOW) this.res.write(this.tail.shift()!);
    if (this.tail.length > 0) return;
    if (this.phpEnded) return this.finish();
    if (this.res.writableLength <= STREAM_WINDOW) this.opts.resume();
  };

  private finish(): void {
    if (this.over) return;
    this.stop();
    if (this.remaining !== Infinity && this.remaining > 0) {
      cut(this.res);
      return this.opts.done(`${CUT}: PHP sent ${this.remaining} bytes fewer than its Content-Length ${this.opts.declared}`);
    }
    this.res.end();
    if (this.overflow > 0) {
      closeAfter(this.res);
      return this.opts.done(`PHP sent ${this.overflow} bytes more than its Content-Length ${this.opts.declared}: dropped, connection closed`);
    }
    this.opts.done(undefined);
  }

  private readonly timedOut = (): void => {
    this.failure = `the client took no byte for ${this.opts.sendTimeoutMs} ms (send timeout): connection cut`;
  };

  private readonly closed = (): void => {
    this.stop();
  };

  private stop(): void {
    this.over = true;
    if (this.spoolTimer !== null) clearTimeout(this.spoolTimer);
    this.spoolTimer = null;
    this.res.off('drain', this.pump);
    this.res.off('close', this.closed);
    this.spool?.dispose();
    this.spool = null;
    this.tail = [];
  }
}

/**
 * Ends the client's connection inside this response: what was written still goes out, then FIN, so
 * the client sees a body shorter than announced. Nothing more is written on the connection.
 */
export function cut(res: ServerResponse): void {
  const socket = res.socket;
  if (socket) socket.destroySoon();
  else res.destroy();
}

/**
 * Closes the client's connection once this response is out (no further request on it). Called right
 * after res.end(), not on 'finish': by then Node has already handed the socket to a pipelined next
 * response, whose bytes would go out first (seen on Node 22 and 24).
 */
export function closeAfter(res: ServerResponse): void {
  const socket = res.socket;
  if (socket) socket.destroySoon();
}
