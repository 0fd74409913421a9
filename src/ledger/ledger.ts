import type { RequestEvent, RequestEvents } from '../bridge/request-event.ts';
import type { Logger } from '../log/logger.ts';
import { matchesPattern, parsePattern, type RoutePattern } from '../route/claim-pattern.ts';
import type { ShadowEvent, ShadowEvents } from '../shadow/shadow-event.ts';
import { bucketOf, emptyHistogram } from './duration-histogram.ts';
import type { HitCell, LedgerStore, ShadowCell, Side, StreakChange } from './ledger-store.ts';
import { collapsePath } from './route-key.ts';

export interface LedgerOptions {
  logger: Logger;
  /** How often the queue is written (ms). A kill -9 loses at most this much. */
  flushMs?: number;
  /** Distinct (method, route) pairs kept; past that, new ones count under OVERFLOW_ROUTE. */
  maxRoutes?: number;
  /** Events waiting for the next write; past that they are written at once. */
  maxPending?: number;
  /**
   * Patterns a request is counted under when no claim matched it (the --shadow patterns), so a
   * shadowed route's requests and its shadow results are one row. Patterns seen in shadow events are
   * learned too.
   */
  patterns?: readonly string[];
}

/** Where routes past the cardinality bound are counted (a scan of random URLs lands here). */
export const OVERFLOW_ROUTE = '(other routes)';
/** The route of a request whose target the bridge refused before routing (no path). */
export const BAD_TARGET_ROUTE = '(bad request target)';
export const DEFAULT_MAX_ROUTES = 2_000;
export const DEFAULT_FLUSH_MS = 1_000;

const HOUR_MS = 3_600_000;
const MEMO_SIZE = 10_000;
const SIDE_INDEX: Record<Side, number> = { php: 0, static: 1, app: 2, 'php→app': 3, 'app→php': 4, declined: 5, bridge: 6 };

interface RouteKey {
  method: string;
  route: string;
  /** `method route`, the key of the bound. */
  id: string;
}

/** What the ledger has not managed to write (the admin page and the logs show it). */
export interface LedgerHealth {
  failedBatches: number;
  droppedEvents: number;
  lastError: string | null;
}

/** The hits since the last write, folded as they come: (route) → (hour, side) → cell. */
interface HitBatch {
  byRoute: Map<string, { cells: Map<number, HitCell>; claimed: boolean }>;
  cells: HitCell[];
  events: number;
}

const emptyBatch = (): HitBatch => ({ byRoute: new Map(), cells: [], events: 0 });

/**
 * The ledger: what served what, kept across restarts. A subscriber of the bridge's request events
 * (and shadow events) that counts each request in its (route, hour, side) cell as it comes and
 * queues the shadow events; every `flushMs` the cells and shadows are written in one transaction
 * (ledger-store.ts), never one write per request. A
 * failing write (disk full, the file gone read-only or corrupt) drops that batch, counts it and logs
 * the cause once per kind: requests never fail because of the ledger.
 */
export class Ledger {
  /**
   * Folded at once, not queued: an event kept until the next write (a second) outlived the young
   * generation, so every request's event and strings were promoted and the ledger cost the process a
   * mark-compact every second or two.
   */
  private batch: HitBatch = emptyBatch();
  private shadows: ShadowEvent[] = [];
  private readonly known = new Set<string>();
  private readonly maxRoutes: number;
  private readonly maxPending: number;
  private readonly timer: NodeJS.Timeout;
  private readonly logger: Logger;
  private readonly reported = new Set<string>();
  private readonly patterns: RoutePattern[] = [];
  /**
   * (method) → (path) → route, and (method) → (claim) → route for claimed requests, so a busy path is
   * collapsed once, not once per request. Nested maps: a lookup hashes the strings the event already
   * has (V8 keeps a string's hash), where one joined key was a new string to build and hash each time.
   */
  private readonly pathMemo = new Map<string, Map<string, RouteKey>>();
  private readonly claimMemo = new Map<string, Map<string, RouteKey>>();
  private memoSize = 0;
  private readonly unsubscribe: Array<() => void> = [];
  private closed = false;
  readonly health: LedgerHealth = { failedBatches: 0, droppedEvents: 0, lastError: null };

  constructor(
    readonly store: LedgerStore,
    options: LedgerOptions,
  ) {
    this.logger = options.logger;
    this.maxRoutes = options.maxRoutes ?? DEFAULT_MAX_ROUTES;
    this.maxPending = options.maxPending ?? 50_000;
    for (const p of options.patterns ?? []) this.learnPattern(p);
    for (const r of store.knownRoutes()) this.known.add(r.method + ' ' + r.route);
    this.timer = setInterval(() => this.flush(), options.flushMs ?? DEFAULT_FLUSH_MS);
    this.timer.unref();
  }

  /** Subscribes to a bridge's finished requests (and its shadow results, when it has them). */
  attach(events: RequestEvents, shadowEvents?: ShadowEvents | null): this {
    this.unsubscribe.push(events.subscribe(this.record));
    if (shadowEvents) this.unsubscribe.push(shadowEvents.subscribe(this.recordShadow));
    return this;
  }

  /** The request-event subscriber: counts the event in its cell, nothing more (no I/O, the event not kept). */
  readonly record = (event: RequestEvent): void => {
    if (this.closed) return;
    this.addHit(event);
    if (this.batch.events >= this.maxPending) this.flush();
  };

  /** The shadow-event subscriber: queues it. */
  readonly recordShadow = (event: ShadowEvent): void => {
    if (this.closed) return;
    // Learnt at once: requests are routed as they are counted.
    this.learnPattern(event.pattern);
    this.shadows.push(event);
    if (this.shadows.length >= this.maxPending) this.flush();
  };

  /** Writes what is queued, in one transaction. Never throws. */
  flush(): void {
    if (this.batch.events === 0 && this.shadows.length === 0) return;
    const batch = this.batch;
    const shadows = this.shadows;
    this.batch = emptyBatch();
    this.shadows = [];
    try {
      const { cells: shadowCells, streaks } = this.shadowCells(shadows);
      // A route's claim is the last one seen in the batch, for all its cells.
      for (const r of batch.byRoute.values()) for (const cell of r.cells.values()) cell.claimed = r.claimed;
      this.store.write({ hits: batch.cells, shadows: shadowCells, streaks });
    } catch (err) {
      this.health.failedBatches++;
      this.health.droppedEvents += batch.events + shadows.length;
      const e = err as { code?: string; errcode?: number; message?: string };
      this.health.lastError = String(e.message ?? err);
      const kind = `${e.code ?? ''} ${e.errcode ?? ''} ${e.message ?? String(err)}`;
      if (!this.reported.has(kind)) {
        this.reported.add(kind);
        this.logger.error(
          `ledger ${this.store.file}: a batch of ${batch.events} requests could not be written (${this.health.lastError}); requests are served as before, the ledger misses them`,
        );
      }
    }
  }

  /** Unsubscribes, writes what is left and closes the file. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    clearInterval(this.timer);
    for (const u of this.unsubscribe.splice(0)) u();
    this.flush();
    this.closed = true;
    this.store.close();
  }

  private learnPattern(text: string): void {
    let pattern: RoutePattern;
    try {
      pattern = parsePattern(text);
    } catch {
      return;
    }
    if (this.patterns.some((p) => p.source === pattern.source)) return;
    this.patterns.push(pattern);
    this.forgetRoutes();
  }

  /**
   * The route a request counts under, with its method: the path of the claim it matched, or of a
   * known (shadow) pattern, or its own path with ids collapsed.
   */
  routeOf(e: Pick<RequestEvent, 'method' | 'path' | 'claim'>): RouteKey {
    // A claimed request's route is its claim's, whatever the path; '' is no path (a refused target).
    const memo = e.claim !== null ? this.claimMemo : this.pathMemo;
    const sub = e.claim ?? e.path ?? '';
    const hit = memo.get(e.method)?.get(sub);
    if (hit) return hit;
    let route: string;
    if (e.claim !== null) route = patternPath(e.claim);
    else if (e.path === null) route = BAD_TARGET_ROUTE;
    else {
      const p = this.patterns.find((p) => matchesPattern(p, e.method, e.path!));
      route = p ? patternPath(p.source) : collapsePath(e.path);
    }
    const key = this.bounded(e.method, route);
    // Bounded like the routes: a scan of random paths refills it instead of growing it.
    if (this.memoSize >= MEMO_SIZE) this.forgetRoutes();
    let byMethod = memo.get(e.method);
    if (!byMethod) memo.set(e.method, (byMethod = new Map()));
    byMethod.set(sub, key);
    this.memoSize++;
    return key;
  }

  private forgetRoutes(): void {
    this.pathMemo.clear();
    this.claimMemo.clear();
    this.memoSize = 0;
  }

  private bounded(method: string, route: string): RouteKey {
    const id = method + ' ' + route;
    if (this.known.has(id)) return { method, route, id };
    if (this.known.size >= this.maxRoutes) return { method: '*', route: OVERFLOW_ROUTE, id: '* ' + OVERFLOW_ROUTE };
    this.known.add(id);
    return { method, route, id };
  }

  private addHit(e: RequestEvent): void {
    const batch = this.batch;
    const side = sideOf(e);
    const { method, route, id } = this.routeOf(e);
    const hour = Math.floor(e.startedAt / HOUR_MS);
    let r = batch.byRoute.get(id);
    if (!r) {
      r = { cells: new Map(), claimed: false };
      batch.byRoute.set(id, r);
    }
    r.claimed = e.claim !== null;
    const cellKey = hour * 8 + SIDE_INDEX[side];
    let cell = r.cells.get(cellKey);
    if (!cell) {
      cell = { method, route, claimed: false, hour, side, count: 0, statuses: [0, 0, 0, 0, 0], durations: emptyHistogram(), firstMs: e.startedAt, lastMs: e.startedAt };
      r.cells.set(cellKey, cell);
      batch.cells.push(cell);
    }
    batch.events++;
    cell.count++;
    const cls = Math.min(5, Math.max(1, Math.floor(e.status / 100)));
    cell.statuses[cls - 1]!++;
    cell.durations[bucketOf(e.durationMs)]!++;
    if (e.startedAt < cell.firstMs) cell.firstMs = e.startedAt;
    if (e.startedAt > cell.lastMs) cell.lastMs = e.startedAt;
  }

  private shadowCells(events: ShadowEvent[]): { cells: ShadowCell[]; streaks: StreakChange[] } {
    const cells = new Map<string, ShadowCell>();
    const streaks = new Map<string, StreakChange>();
    for (const s of events) {
      const { method, route } = this.bounded(s.method, patternPath(s.pattern));
      const hour = Math.floor(s.at / HOUR_MS);
      const key = `${method} ${route}\0${hour}`;
      let cell = cells.get(key);
      if (!cell) {
        cell = { method, route, hour, matched: 0, mismatched: 0, skipped: 0, failed: 0, diffs: [] };
        cells.set(key, cell);
      }
      let streak = streaks.get(`${method} ${route}`);
      if (!streak) {
        streak = { method, route, reset: false, add: 0 };
        streaks.set(`${method} ${route}`, streak);
      }
      switch (s.outcome) {
        case 'match':
          cell.matched++;
          streak.add++;
          break;
        case 'mismatch':
          cell.mismatched++;
          streak.reset = true;
          streak.add = 0;
          if (s.diff) cell.diffs.push({ atMs: s.at, diff: s.diff });
          break;
        case 'app-failed':
          // A shadow the app could not answer is not a match: the run starts again.
          cell.failed++;
          streak.reset = true;
          streak.add = 0;
          break;
        default:
          cell.skipped++;
      }
    }
    return { cells: [...cells.values()], streaks: [...streaks.values()] };
  }
}

/**
 * A pattern's path (`GET,HEAD /packages/:name` → `/packages/:name`): the row's method is the
 * request's, so the method list would only repeat it.
 */
export function patternPath(pattern: string): string {
  const slash = pattern.indexOf('/');
  return slash < 0 ? pattern : pattern.slice(slash);
}

/**
 * The ledger's side: the access log's, except that both declining is one side, `declined`: PHP's
 * 404 standing after the app's (`php→app→php`), or a claimed route's 404 from the app then PHP.
 */
export function sideOf(e: Pick<RequestEvent, 'servedBy' | 'appDeclined' | 'status'>): Side {
  if (e.servedBy === 'php→app→php') return 'declined';
  if (e.servedBy === 'app→php' && e.status === 404) return 'declined';
  return e.servedBy;
}
