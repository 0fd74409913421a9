import type { FcgiClient, RequestHandle } from './client.ts';
import type { RequestBody, ResponseSink } from './connection.ts';
import { FcgiError } from './errors.ts';

/** What the bridge asks of its PHP backend: one php-fpm pool (FcgiClient) or several (FcgiPools). */
export interface FcgiBackend {
  readonly describe: string;
  readonly stats: { open: number; idle: number; queued: number };
  request(params: Buffer, body: RequestBody | null, sink: ResponseSink, idempotent?: boolean): RequestHandle;
  close(): Promise<void>;
}

export interface PoolMember {
  client: FcgiClient;
  /** Share of the requests relative to the others (nginx `weight=`), default 1. */
  weight: number;
}

/** Where a pool stands, for /readyz, metrics and the log. */
export type PoolState = 'up' | 'down' | 'probing';

/** Down after a failure for BASE_DOWN_MS, doubling with each failure in a row, at most MAX_DOWN_MS. */
const BASE_DOWN_MS = 1_000;
const MAX_DOWN_MS = 30_000;

interface Member extends PoolMember {
  outstanding: number;
  state: PoolState;
  /** When a down pool may be tried again (one request at a time: half-open). */
  retryAt: number;
  failuresInRow: number;
}

/**
 * Several php-fpm pools (`--fpm` repeated): each request goes to the pool with the fewest requests
 * outstanding for its weight (least outstanding, as Caddy's `least_conn` and nginx's `least_conn`).
 * Passive health: a pool that refuses a connection, times out connecting, or closes one before any
 * answer is marked down, skipped for a second and then for twice as long after each failure in a row
 * (at most 30 s); after that one request probes it (half-open), and an answer brings it back.
 *
 * A request that failed before anything was written to php-fpm (it could not connect) goes to another
 * pool, whatever its method: php-fpm provably never began it. Anything later is not retried here; the
 * pool's own rule (FcgiClient: idempotent requests only, on a connection that closed unanswered) stands.
 */
export class FcgiPools implements FcgiBackend {
  private readonly members: Member[];

  constructor(
    members: readonly PoolMember[],
    private readonly onState?: (pool: string, state: PoolState, why: string) => void,
  ) {
    if (members.length === 0) throw new Error('FcgiPools needs at least one pool');
    this.members = members.map((m) => ({ ...m, weight: m.weight > 0 ? m.weight : 1, outstanding: 0, state: 'up', retryAt: 0, failuresInRow: 0 }));
  }

  get describe(): string {
    return this.members.map((m) => (m.weight === 1 ? m.client.describe : `${m.client.describe} weight=${m.weight}`)).join(', ');
  }

  get stats(): { open: number; idle: number; queued: number } {
    const s = { open: 0, idle: 0, queued: 0 };
    for (const m of this.members) {
      const t = m.client.stats;
      s.open += t.open;
      s.idle += t.idle;
      s.queued += t.queued;
    }
    return s;
  }

  /** Each pool with its state and load, for metrics and /readyz. */
  get pools(): Array<{ name: string; client: FcgiClient; state: PoolState; outstanding: number; weight: number }> {
    return this.members.map((m) => ({ name: m.client.describe, client: m.client, state: m.state, outstanding: m.outstanding, weight: m.weight }));
  }

  request(params: Buffer, body: RequestBody | null, sink: ResponseSink, idempotent = true): RequestHandle {
    const handle = new PoolRequest(this, params, body, sink, idempotent);
    handle.start(new Set());
    return handle;
  }

  close(): Promise<void> {
    return Promise.all(this.members.map((m) => m.client.close())).then(() => undefined);
  }

  /** The pool for the next request, skipping `tried`; null when every pool is down (or tried). */
  pick(tried: ReadonlySet<Member>): Member | null {
    const now = performance.now();
    let best: Member | null = null;
    let bestLoad = Infinity;
    let probe: Member | null = null;
    for (const m of this.members) {
      if (tried.has(m)) continue;
      if (m.state === 'down') {
        // Half-open: past its wait, one request tries it.
        if (now >= m.retryAt && !probe) probe = m;
        continue;
      }
      if (m.state === 'probing') continue;
      const load = (m.outstanding + 1) / m.weight;
      if (load < bestLoad) {
        best = m;
        bestLoad = load;
      }
    }
    if (probe) {
      probe.state = 'probing';
      return probe;
    }
    return best;
  }

  /** True when some pool not in `tried` could still take a request. */
  hasUntried(tried: ReadonlySet<Member>): boolean {
    return this.members.some((m) => !tried.has(m) && m.state !== 'probing');
  }

  /** A request on `m` got an answer (or a failure php-fpm itself sent): the pool is up. */
  succeeded(m: Member): void {
    if (m.state !== 'up') {
      m.state = 'up';
      this.onState?.(m.client.describe, 'up', 'answered again');
    }
    m.failuresInRow = 0;
  }

  /** A probe that ended without a verdict (its client left): back to down, due for a probe now. */
  unprobed(m: Member): void {
    if (m.state === 'probing') {
      m.state = 'down';
      m.retryAt = 0;
    }
  }

  /** `m` could not be reached or broke a connection unanswered: down for a while. */
  failed(m: Member, err: FcgiError): void {
    m.failuresInRow++;
    const wait = Math.min(MAX_DOWN_MS, BASE_DOWN_MS * 2 ** (m.failuresInRow - 1));
    m.retryAt = performance.now() + wait;
    const was = m.state;
    m.state = 'down';
    if (was === 'up') this.onState?.(m.client.describe, 'down', `${err.message}; retried in ${wait} ms`);
  }
}

/** Failures that say the pool itself is unreachable or broken, not that one request failed. */
function poolFailure(err: FcgiError): boolean {
  return err.kind === 'connect' || err.kind === 'connect-timeout';
}

/** One request across pools: a handle that follows it to the pool it ends up on. */
class PoolRequest implements RequestHandle {
  private inner: RequestHandle | null = null;
  private member: Member | null = null;
  private paused = false;
  private aborted = false;
  private answered = false;

  constructor(
    private readonly pools: FcgiPools,
    private readonly params: Buffer,
    private readonly body: RequestBody | null,
    private readonly sink: ResponseSink,
    private readonly idempotent: boolean,
  ) {}

  start(tried: Set<Member>): void {
    const m = this.pools.pick(tried) as Member | null;
    if (!m) {
      this.sink.onError(new FcgiError('connect', `no php-fpm pool is up (${this.pools.describe})`));
      return;
    }
    tried.add(m);
    this.member = m;
    m.outstanding++;
    const tries = tried;
    const sink: ResponseSink = {
      onStdout: (data) => {
        this.answered = true;
        return this.sink.onStdout(data);
      },
      onStderr: (data) => this.sink.onStderr(data),
      onEnd: (status) => {
        this.settle(m);
        this.pools.succeeded(m);
        this.sink.onEnd(status);
      },
      onError: (err) => {
        this.settle(m);
        if (poolFailure(err)) {
          this.pools.failed(m, err);
          // Never written: another pool may take it, whatever the method.
          if (!this.answered && !this.aborted) return this.start(tries);
        } else if (err.kind === 'closed' && this.idempotent && !this.answered && !this.aborted && this.pools.hasUntried(tries)) {
          // The pool closed even the fresh connection its own retry used (it is stopping, or its
          // workers die): an idempotent request may be sent again (today's rule), to another pool.
          return this.start(tries);
        } else if (m.state === 'probing') {
          // php-fpm answered something (even an error of its own): it is there.
          this.pools.succeeded(m);
        }
        this.sink.onError(err);
      },
    };
    this.inner = m.client.request(this.params, this.body, sink, this.idempotent);
    if (this.paused) this.inner.pause();
  }

  private settle(m: Member): void {
    if (this.member === m) {
      m.outstanding--;
      this.member = null;
    }
  }

  pause(): void {
    this.paused = true;
    this.inner?.pause();
  }
  resume(): void {
    this.paused = false;
    this.inner?.resume();
  }
  abort(): void {
    this.aborted = true;
    const m = this.member;
    if (m) {
      this.settle(m);
      // A probe whose client left proved nothing: the pool may be probed again at once.
      this.pools.unprobed(m);
    }
    this.inner?.abort();
  }
}

/** `ADDR` or `ADDR weight=N` (nginx's upstream syntax), N a whole number from 1. */
export function parsePoolSpec(spec: string): { address: string; weight: number } {
  const [address, ...rest] = spec.trim().split(/\s+/);
  let weight = 1;
  for (const part of rest) {
    const m = /^weight=(\d+)$/.exec(part);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 1000) throw new Error(`php-fpm pool "${spec}": want ADDRESS or ADDRESS weight=N (N from 1 to 1000)`);
    weight = Number(m[1]);
  }
  if (!address) throw new Error(`php-fpm pool "${spec}": no address`);
  return { address, weight };
}
