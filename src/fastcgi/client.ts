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
  /** Longest a request waits for a connection; then 'queue-timeout' (503). 0: no limit. */
  queueTimeoutMs: number;
  /** Connecting to php-fpm; then 'connect-timeout' (504). 0: no limit (the OS's own connect timeout). */
  connectTimeoutMs: number;
  /** From sending the request to the first byte of the response (the CGI headers come first). 0: no limit. */
  responseTimeoutMs: number;
  /** An idle kept-alive connection is closed after this, handing its worker back to php-fpm. 0: kept until php-fpm closes it. */
  idleTimeoutMs: number;
}

/** Controls one request in flight. */
export interface RequestHandle {
  /** Stop reading php-fpm's output (the HTTP client is slow); php-fpm then blocks on its write. */
  pause(): void;
  resume(): void;
  /** The HTTP client went away: drop the php-fpm connection (php-fpm ignores FCGI_ABORT_REQUEST). */
  abort(): void;
}

/** A request from submission to its end; it is the exchange its connection serves. */
class Pending implements Exchange, ResponseSink, RequestHandle {
  readonly sink = this;
  conn: FcgiConnection | null = null;
  retried = false;
  finished = false;
  /** Sent, and no response byte yet: the response timeout applies (see FcgiClient.sweep). */
  awaiting = false;
  /** Since when it waits: in the queue for a connection, or (`awaiting`) for its first response byte. */
  since = 0;

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
    if (!this.awaiting) return;
    this.awaiting = false;
    this.client.awaiting--;
  }
  private finish(): void {
    this.finished = true;
    this.clearTimer();
  }
}

/**
 * A pool of kept-alive FastCGI connections to one php-fpm pool, with a bounded queue in front.
 * One request per connection at a time: php-fpm does not multiplex (FCGI_MPXS_CONNS is 0), and a
 * request is never written behind a running one (pipelining): it could wait there for as long as the
 * one in front runs while other workers sit idle, and no deadline could take it back.
 *
 * At most once (SECURITY.md): a request that is not idempotent (POST, PATCH...) is written only on
 * a new connection, and never sent twice. php-fpm counts pm.max_requests after a request, so a worker
 * that accepts a connection runs at least the first request on it: a recycle cannot close a new
 * connection under a request, and a close there before any answer means the worker died, perhaps
 * mid-script. On a reused connection a recycle and a crash look the same (php-fpm closes right after
 * its last answer, racing our next write), so only idempotent requests go there, and only they are
 * sent once more when it closes unanswered.
 */
export class FcgiClient {
  private readonly idle: FcgiConnection[] = [];
  private readonly all = new Set<FcgiConnection>();
  private readonly queue: Pending[] = [];
  /**
   * How many requests are sent and not answered yet, for the response timeout: one sweep a quarter of
   * the timeout looks at each connection's request, instead of a timer per request (arming and clearing
   * one per request cost about a tenth of the throughput on the app path, measured there first). The
   * same sweep ends queue waits.
   *
   * A count, not a Set of requests: a Set that gains and loses an entry per request is rehashed every
   * few requests, and V8 links each old table to its successor (for live iterators). Once a full GC
   * promotes one table, that chain kept every later request's objects alive into the old space: a
   * mark-compact a second and 10-20% fewer PHP requests a second, from the first full GC on.
   */
  awaiting = 0;
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
   * Sends a request. When a reused connection closes before any response byte, an idempotent request
   * is sent once more on a fresh connection (a worker recycled at pm.max_requests never ran it); any
   * other request gets the error (see the class comment).
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
    if (conn && p.idempotent) return this.assign(p, conn);
    // A new connection: there is room for one, or an idle one makes room (its worker takes the new one).
    if (this.all.size < this.options.maxConnections) {
      if (conn) this.idle.push(conn);
      return this.assign(p, this.open());
    }
    if (conn) {
      this.retire(conn);
      return this.assign(p, this.open());
    }
    if (this.queue.length < this.options.maxQueue) {
      p.since = performance.now();
      this.queue.push(p);
      this.ensureSweeper();
      return;
    }
    p.onError(new FcgiError('busy', `all ${this.options.maxConnections} php-fpm connections busy and ${this.options.maxQueue} requests queued`));
  }

  /** Closes an idle connection at once, out of the pool's count. */
  private retire(conn: FcgiConnection): void {
    if (conn.idleTimer) clearTimeout(conn.idleTimer);
    conn.idleTimer = null;
    this.all.delete(conn);
    conn.destroy();
  }

  private ensureSweeper(): void {
    if (this.sweeper) return;
    const { responseTimeoutMs, queueTimeoutMs } = this.options;
    const shortest = Math.min(responseTimeoutMs || Infinity, queueTimeoutMs || Infinity);
    if (shortest === Infinity) return;
    this.sweeper = setInterval(() => this.sweep(), Math.max(5, Math.min(1_000, shortest / 4)));
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = performance.now();
    const { responseTimeoutMs, queueTimeoutMs } = this.options;
    if (responseTimeoutMs > 0 && this.awaiting > 0) {
      for (const conn of this.all) {
        const p = conn.exchange as Pending | null;
        if (!p || !p.awaiting || conn.isClosed) continue;
        if (now - p.since >= responseTimeoutMs) {
          p.clearTimer();
          conn.fail(new FcgiError('response-timeout', `php-fpm at ${this.describe} sent no response in ${responseTimeoutMs} ms`));
        }
      }
    }
    if (queueTimeoutMs > 0) {
      // Oldest first: stop at the first that may still wait.
      while (this.queue.length > 0 && now - this.queue[0]!.since >= queueTimeoutMs) {
        this.queue.shift()!.onError(
          new FcgiError('queue-timeout', `no php-fpm connection at ${this.describe} came free in ${queueTimeoutMs} ms (all ${this.options.maxConnections} busy)`),
        );
      }
    }
    if (this.awaiting === 0 && this.queue.length === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  private assign(p: Pending, conn: FcgiConnection): void {
    if (conn.idleTimer) {
      clearTimeout(conn.idleTimer);
      conn.idleTimer = null;
    }
    p.conn = conn;
    p.since = performance.now();
    if (!p.awaiting) {
      p.awaiting = true;
      this.awaiting++;
    }
    this.ensureSweeper();
    conn.start(p);
  }

  private open(): FcgiConnection {
    const conn = new FcgiConnection(
      this.options.address,
      (c, reusable) => this.onDone(c, reusable),
      (c, current, answered, err) => this.onClose(c, current as Pending | null, answered, err),
    );
    this.all.add(conn);
    // 0 is off, as for every timeout (a timer of 0 failed every connection that was not made at once).
    if (this.options.connectTimeoutMs > 0) {
      const timer = setTimeout(() => {
        if (conn.socket.connecting) {
          conn.fail(new FcgiError('connect-timeout', `connecting to php-fpm at ${this.describe} timed out after ${this.options.connectTimeoutMs} ms`));
        }
      }, this.options.connectTimeoutMs);
      conn.socket.once('connect', () => clearTimeout(timer));
      conn.socket.once('close', () => clearTimeout(timer));
    }
    return conn;
  }

  private onDone(conn: FcgiConnection, reusable: boolean): void {
    if (!reusable || this.closing) {
      conn.destroy();
      return;
    }
    // Hand the connection on at once: the php-fpm worker behind it waits for its next request (a
    // worker that is about to recycle is caught by the retry rule in onClose). A request that must
    // not run twice takes a new connection instead (see the class comment).
    const next = this.queue.shift();
    if (next?.idempotent) return this.assign(next, conn);
    if (next) {
      this.retire(conn);
      return this.assign(next, this.open());
    }
    this.idle.push(conn);
    if (this.options.idleTimeoutMs > 0) {
      conn.idleTimer = setTimeout(() => conn.destroy(), this.options.idleTimeoutMs);
      conn.idleTimer.unref();
    }
  }

  private onClose(conn: FcgiConnection, p: Pending | null, answered: boolean, err: FcgiError): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    if (p && !p.finished) {
      p.clearTimer();
      // A kept-alive connection that php-fpm closed before answering (a worker recycled at
      // pm.max_requests, or an idle close racing our write): an idempotent request is sent once more
      // on a fresh connection. Nothing else is: see the class comment.
      if (err.kind === 'closed' && !answered && conn.served > 0 && p.idempotent && !p.retried && !this.closing) {
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
