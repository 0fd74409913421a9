import type { RequestEvent } from '../bridge/request-event.ts';
import type { Logger } from '../log/logger.ts';
import { bucketOf, emptyHistogram } from './duration-histogram.ts';
import { LedgerStore, type HitCell, type ShadowCell, type Side } from './ledger-store.ts';
import { collapsePath } from './route-key.ts';

export interface LedgerOptions {
  /** How often the batch is written (ms). A kill -9 loses at most this much. */
  flushMs?: number;
  /** Distinct (method, route) pairs kept; past that, new ones count under OVERFLOW_ROUTE. */
  maxRoutes?: number;
  /** Events waiting for the next write; past that they are written at once. */
  maxPending?: number;
  logger: Logger;
}

/** Where routes past the cardinality bound are counted (a scan of random URLs lands here). */
export const OVERFLOW_ROUTE = '(other routes)';

/** What a shadow comparison found, as the ledger counts it (see shadow/). */
export interface ShadowOutcome {
  method: string;
  /** The shadow pattern or the collapsed path, like a request's route. */
  route: string;
  result: 'match' | 'mismatch' | 'skipped';
  /** For a mismatch: a short diff, kept for the report. */
  diff?: string;
  atMs: number;
}

const HOUR_MS = 3_600_000;

/**
 * The ledger: what served what, kept across restarts. A subscriber of the bridge's request events
 * that only queues them: every `flushMs` the queue is folded into (route, hour, side) cells and
 * written in one transaction (ledger-store.ts), off the request path. A failing write (disk full,
 * the file gone read-only or corrupt) drops that batch, counts it and logs the cause once per kind:
 * requests never fail because of the ledger.
 */
export class Ledger {
  private pending: RequestEvent[] = [];
  private shadows: ShadowOutcome[] = [];
  private readonly known = new Set<string>();
  private readonly maxRoutes: number;
  private readonly maxPending: number;
  private readonly timer: NodeJS.Timeout;
  private readonly logger: Logger;
  private readonly reported = new Set<string>();
  /** Batches that could not be written, and the events in them. */
  failedBatches = 0;
  droppedEvents = 0;

  constructor(
    readonly store: LedgerStore,
    options: LedgerOptions,
  ) {
    this.logger = options.logger;
    this.maxRoutes = options.maxRoutes ?? 5_000;
    this.maxPending = options.maxPending ?? 100_000;
    for (const r of store.knownRoutes()) this.known.add(r.method + ' ' + r.route);
    this.timer = setInterval(() => this.flush(), options.flushMs ?? 1_000);
    this.timer.unref();
  }

  /** The request-event subscriber: queues the event, nothing more. */
  readonly record = (event: RequestEvent): void => {
    this.pending.push(event);
    if (this.pending.length >= this.maxPending) this.flush();
  };

  recordShadow(outcome: ShadowOutcome): void {
    this.shadows.push(outcome);
  }

  /** Writes what is queued. Never throws. */
  flush(): void {
    if (this.pending.length === 0 && this.shadows.length === 0) return;
    const events = this.pending;
    const shadows = this.shadows;
    this.pending = [];
    this.shadows = [];
    try {
      this.store.write(this.hitCells(events), this.shadowCells(shadows));
    } catch (err) {
      this.failedBatches++;
      this.droppedEvents += events.length;
      const e = err as { code?: string; message?: string };
      const kind = e.code ?? e.message ?? String(err);
      if (!this.reported.has(kind)) {
        this.reported.add(kind);
        this.logger.error(`ledger ${this.store.file}: a batch of ${events.length} requests could not be written (${e.message ?? err}${e.code ? `, ${e.code}` : ''}); requests are served as before, the ledger misses them`);
      }
    }
  }

  /** Writes what is left and closes the file. */
  close(): void {
    if (!this.store.db.open) return;
    clearInterval(this.timer);
    this.flush();
    this.store.close();
  }

  private routeOf(method: string, route: string): { method: string; route: string } {
    const key = method + ' ' + route;
    if (this.known.has(key)) return { method, route };
    if (this.known.size >= this.maxRoutes) return { method: '*', route: OVERFLOW_ROUTE };
    this.known.add(key);
    return { method, route };
  }

  private hitCells(events: RequestEvent[]): HitCell[] {
    const cells = new Map<string, HitCell>();
    for (const e of events) {
      const side = sideOf(e);
      const { method, route } = this.routeOf(e.method, e.claim ?? (e.path === null ? '(bad request target)' : collapsePath(e.path)));
      const hour = Math.floor(e.startedAt / HOUR_MS);
      const key = `${method} ${route}\0${hour}\0${side}`;
      let cell = cells.get(key);
      if (!cell) {
        cell = { method, route, claimed: e.claim !== null, hour, side, count: 0, statuses: [0, 0, 0, 0, 0], durations: emptyHistogram(), firstMs: e.startedAt, lastMs: e.startedAt };
        cells.set(key, cell);
      }
      cell.count++;
      const cls = Math.min(5, Math.max(1, Math.floor(e.status / 100)));
      cell.statuses[cls - 1]!++;
      cell.durations[bucketOf(e.durationMs)]!++;
      if (e.startedAt < cell.firstMs) cell.firstMs = e.startedAt;
      if (e.startedAt > cell.lastMs) cell.lastMs = e.startedAt;
    }
    return [...cells.values()];
  }

  private shadowCells(outcomes: ShadowOutcome[]): ShadowCell[] {
    const cells = new Map<string, ShadowCell>();
    // The run of matches is the route's, across hours: it lives on the route's first cell of the batch.
    const streakCell = new Map<string, ShadowCell>();
    for (const o of outcomes) {
      const { method, route } = this.routeOf(o.method, o.route);
      const hour = Math.floor(o.atMs / HOUR_MS);
      const key = `${method} ${route}\0${hour}`;
      let cell = cells.get(key);
      if (!cell) {
        cell = { method, route, hour, matched: 0, mismatched: 0, skipped: 0, streakAdd: 0, reset: false, diffs: [] };
        cells.set(key, cell);
      }
      const streak = streakCell.get(`${method} ${route}`) ?? cell;
      streakCell.set(`${method} ${route}`, streak);
      if (o.result === 'match') {
        cell.matched++;
        streak.streakAdd++;
      } else if (o.result === 'mismatch') {
        cell.mismatched++;
        streak.reset = true;
        streak.streakAdd = 0;
        if (o.diff) cell.diffs.push({ atMs: o.atMs, diff: o.diff });
      } else {
        cell.skipped++;
      }
    }
    return [...cells.values()];
  }
}

/** The ledger's side: `declined` is PHP's 404 after the app's (both said no). */
export function sideOf(e: RequestEvent): Side {
  if (e.servedBy === 'php' && e.appDeclined) return 'declined';
  return e.servedBy;
}
