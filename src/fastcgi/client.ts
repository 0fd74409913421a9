import { formatAddress, type FcgiAddress } from './address.ts';
import { FcgiConnection, type Exchange, type RequestBody, type ResponseSink } from './connection.ts';
import { FcgiError } from './errors.ts';

export interface FcgiClientOptions {
  address: FcgiAddress;
  /**
   * Most sockets open to php-fpm at once. Each kept-alive socket holds one php-fpm worker, even idle,
   * so this must not exceed the pool's pm.max_children or requests wait for workers that never free.
   */
  maxConnections: number;
  /** Requests that may wait for a connection; past that they fail at once with 'busy' (503). */
  maxQueue: number;
  connectTimeoutMs: number;
  /** From sending the request to the first byte of the response (the CGI headers come first). */
  responseTimeoutMs: number;
  /** An idle kept-alive connection is closed after this, handing its worker back to php-fpm. */
  idleTimeoutMs: number;
  /**
   * When every connection is busy, write a waiting request behind a running one on the same socket,
   * so its worker starts on it the moment it is done (no round trip through our event loop).
   */
  pipeline?: boolean;
}

/** Controls one request in flight. */
export interface RequestHandle {
  /** Stop reading php-fpm's output (the HTTP client is slow); php-fpm then blocks on its write. */
  pause(): void;
  resume(): void;
  /** The HTTP client went away: drop the php-fpm connection (php-fpm ignores FCGI_ABORT_REQUEST). */
  abort(): void;
}

/**
 * Did the connection close because php-fpm recycled its worker, rather than because the worker died
 * running our request? A worker at pm.max_requests shuts its socket down within a millisecond of its
 * last answer (measured here: 0.2 to 1 ms) and drains what we sent meanwhile, so no errno tells it
 * apart from a crash; only timing does. It was a recycle when the socket was gone before we wrote
 * (EPIPE), or when we wrote right behind the previous END_REQUEST (within RACE_MS, while its close
 * could still be on the way) and the close followed soon after (within SETTLE_MS; generous, because
 * a busy event loop sees the close late, while a script killed mid-run has run far longer).
 * ECONNRESET does not count: a worker killed before reading the body of a running script resets too.
 */
const RACE_MS = 25;
const SETTLE_MS = 150;
function recycled(conn: FcgiConnection, p: Pending, err: FcgiError): boolean {
  if (err.code === 'EPIPE') return true;
  return p.writtenAt - conn.lastEndAt < RACE_MS && performance.now() - p.writtenAt < SETTLE_MS;
}

/** A request from submission to its end; it is the exchange its connection serves. */
class Pending implements Exchange, ResponseSink, RequestHandle {
  readonly sink = this;
  conn: FcgiConnection | null = null;
  retried = false;
  finished = false;
  /** Since when it waits for its first response byte (while in `client.waiting`). */
  since = 0;
  /** When it was written to its connection. */
  writtenAt = 0;

  constructor(
    private readonly client: FcgiClient,
    readonly params: Buffer,
    readonly body: RequestBody | null,
    private readonly user: ResponseSink,
    /** Safe to send twice (RFC 9110 9.2.2): GET, HEAD, PUT, DELETE, OPTIONS, TRACE. */
    readonly idempotent: boolean,
  ) {}

  onStdout(data: Buffer): boolean {
    this.clearTimer();
    return this.user.onStdout(data);
  }
  onStderr(data: Buffer): void {
    this.clearTimer();
    this.user.onStderr(data);
  }
  onEnd(appStatus: number): void {
    this.finish();
    this.user.onEnd(appStatus);
  }
  onError(err: FcgiError): void {
    if (this.finished) return;
    this.finish();
    this.user.onError(err);
  }
  pause(): void {
    this.conn?.pause(this);
  }
  resume(): void {
    this.conn?.resume(this);
  }
  abort(): void {
    if (this.finished) return;
    this.finish();
    this.client.forget(this);
  }
  /** The first response byte came (or the request ended): the response timeout no longer applies. */
  clearTimer(): void {
    this.client.waiting.delete(this);
  }
  private finish(): void {
    this.finished = true;
    this.clearTimer();
  }
}

/**
 * A pool of kept-alive FastCGI connections to one php-fpm pool, with a bounded queue in front.
 * One request per connection at a time: php-fpm does not multiplex (FCGI_MPXS_CONNS is 0).
 */
export class FcgiClient {
  private readonly idle: FcgiConnection[] = [];
  private readonly all = new Set<FcgiConnection>();
  private readonly queue: Pending[] = [];
  /**
   * Requests sent and not answered yet, for the response timeout: one sweep a quarter of the timeout
   * instead of a timer per request (arming and clearing one per request cost about a tenth of the
   * throughput on the app path, measured there first).
   */
  readonly waiting = new Set<Pending>();
  private sweeper: NodeJS.Timeout | null = null;
  private closing = false;
  private drained: (() => void) | null = null;

  constructor(readonly options: FcgiClientOptions) {}

  get describe(): string {
    return formatAddress(this.options.address);
  }

  /** Open connections and queued requests, for tests and metrics. */
  get stats(): { open: number; idle: number; queued: number } {
    return { open: this.all.size, idle: this.idle.length, queued: this.queue.length };
  }

  /**
   * Sends a request. When a reused connection closes before any response byte, the request is sent
   * once more on a fresh connection: a worker recycled at pm.max_requests never ran it. A worker
   * killed mid-script looks much the same, and a POST must not run twice (nginx never retries
   * non-idempotent methods), so those are retried only when the socket shows the request was never
   * read (see neverRead).
   */
  request(params: Buffer, body: RequestBody | null, sink: ResponseSink, idempotent = true): RequestHandle {
    const p = new Pending(this, params, body, sink, idempotent);
    if (this.closing) {
      p.onError(new FcgiError('closing', 'the bridge is shutting down'));
    } else {
      this.dispatch(p);
    }
    return p;
  }

  /** Closes idle connections now and busy ones as they finish. */
  close(): Promise<void> {
    this.closing = true;
    for (const p of this.queue.splice(0)) p.onError(new FcgiError('closing', 'the bridge is shutting down'));
    for (const c of this.idle.splice(0)) c.destroy();
    if (this.all.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.drained = resolve));
  }

  /** Called by a request that was aborted by its HTTP client. */
  forget(p: Pending): void {
    const i = this.queue.indexOf(p);
    if (i >= 0) this.queue.splice(i, 1);
    if (p.conn) p.conn.abort(p);
  }

  private dispatch(p: Pending): void {
    let conn = this.idle.pop();
    while (conn && conn.isClosed) conn = this.idle.pop();
    if (conn) return this.assign(p, conn);
    if (this.all.size < this.options.maxConnections) return this.assign(p, this.open());
    const behind = this.pipelineTarget();
    if (behind) return this.assign(p, behind);
    if (this.queue.length < this.options.maxQueue) {
      this.queue.push(p);
      return;
    }
    p.onError(new FcgiError('busy', `all ${this.options.maxConnections} php-fpm connections busy and ${this.options.maxQueue} requests queued`));
  }

  private sweep(): void {
    const now = performance.now();
    for (const p of this.waiting) {
      const conn = p.conn;
      if (!conn || conn.isClosed) continue;
      // Written behind a slow request, it has not even started: its time runs from its turn.
      if (!conn.isCurrent(p)) {
        p.since = now;
        continue;
      }
      if (now - p.since >= this.options.responseTimeoutMs) {
        this.waiting.delete(p);
        conn.fail(new FcgiError('response-timeout', `php-fpm at ${this.describe} sent no response in ${this.options.responseTimeoutMs} ms`));
      }
    }
    if (this.waiting.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  /** A busy connection that can take one more request behind its current one. */
  private pipelineTarget(): FcgiConnection | null {
    if (!this.options.pipeline) return null;
    for (const conn of this.all) if (conn.canPipeline) return conn;
    return null;
  }

  private assign(p: Pending, conn: FcgiConnection): void {
    if (conn.idleTimer) {
      clearTimeout(conn.idleTimer);
      conn.idleTimer = null;
    }
    p.conn = conn;
    p.since = p.writtenAt = performance.now();
    this.waiting.add(p);
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(5, Math.min(1_000, this.options.responseTimeoutMs / 4)));
      this.sweeper.unref();
    }
    conn.start(p);
  }

  private open(): FcgiConnection {
    const conn = new FcgiConnection(
      this.options.address,
      (c, reusable) => this.onDone(c, reusable),
      (c, current, answered, behind, err) => this.onClose(c, current as Pending | null, answered, behind as Pending | null, err),
    );
    this.all.add(conn);
    const timer = setTimeout(() => {
      if (conn.socket.connecting) {
        conn.fail(new FcgiError('connect-timeout', `connecting to php-fpm at ${this.describe} timed out after ${this.options.connectTimeoutMs} ms`));
      }
    }, this.options.connectTimeoutMs);
    conn.socket.once('connect', () => clearTimeout(timer));
    conn.socket.once('close', () => clearTimeout(timer));
    return conn;
  }

  private onDone(conn: FcgiConnection, reusable: boolean): void {
    if (!reusable || this.closing) {
      // Anything written behind the finished request comes back through onClose, to be sent again.
      if (!conn.busy || !reusable) conn.destroy();
      return;
    }
    if (conn.busy) {
      // The request written behind is running now; maybe another can wait behind it.
      const next = conn.canPipeline && this.options.pipeline ? this.queue.shift() : undefined;
      if (next) this.assign(next, conn);
      return;
    }
    // Hand the connection on at once: the php-fpm worker behind it waits for its next request (a
    // worker that is about to recycle is caught by the retry rule in onClose).
    const next = this.queue.shift();
    if (next) return this.assign(next, conn);
    this.idle.push(conn);
    conn.idleTimer = setTimeout(() => conn.destroy(), this.options.idleTimeoutMs);
    conn.idleTimer.unref();
  }

  private onClose(conn: FcgiConnection, p: Pending | null, answered: boolean, behind: Pending | null, err: FcgiError): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    if (behind && !behind.finished) {
      behind.clearTimer();
      // Written behind a request that never ended: php-fpm had not started it. Send it again.
      if (this.closing) behind.onError(err);
      else this.queue.unshift(behind);
    }
    if (p && !p.finished) {
      p.clearTimer();
      // A kept-alive connection that php-fpm closed before answering (a worker recycled at
      // pm.max_requests, or an idle close racing our write): the request never ran, so send it
      // once more on a fresh connection.
      if (err.kind === 'closed' && !answered && conn.served > 0 && (p.idempotent || recycled(conn, p, err)) && !p.retried && !this.closing) {
        p.retried = true;
        this.assign(p, this.open());
      } else {
        p.onError(err);
      }
    }
    if (!this.closing) {
      while (this.queue.length > 0 && this.all.size < this.options.maxConnections) this.assign(this.queue.shift()!, this.open());
    }
    if (this.closing && this.all.size === 0 && this.drained) this.drained();
  }
}
