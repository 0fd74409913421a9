import { decodeHistogram, emptyHistogram, mergeInto, percentile } from '../ledger/duration-histogram.ts';
import type { LedgerStore, ServedRow, Side } from '../ledger/ledger-store.ts';
import { matchesPattern, parsePattern, type RoutePattern } from '../route/claim-pattern.ts';

/**
 * The report's data: what `fpm-bridge report --json` prints and the admin page's /ledger.json
 * serves. A stable shape, documented in README "Ledger and report": `version` goes up only when a
 * field changes meaning or goes away; fields may be added.
 *
 * Times are ISO 8601 strings (UTC) or null. "app" counts what the app answered (sides app and
 * php→app); "php" what PHP answered (php, app→php: a claimed route the app declined, declined: PHP's
 * 404 after the app's); static files and the bridge's own answers (bridge) are neither. Shares are
 * 0..1 of app + php, null when neither served.
 */
export const REPORT_VERSION = 1;
/** Matches in a row after which a shadowed route is "ready to claim". */
export const READY_AFTER = 100;

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';

export interface RouteReport {
  method: string;
  route: string;
  /** The route's latest requests came through a claim. */
  claimed: boolean;
  /**
   * Rows of paths this route's pattern matches, counted before the pattern was a claim or a shadow
   * (`/packages/yay` before `GET /packages/:name`), folded into this row: their requests are in its
   * counts, their times in `served`. 0 for a route that is not a pattern.
   */
  folded: number;
  requests: number;
  /** Requests in the period by who served them. */
  sides: Partial<Record<Side, number>>;
  appShare: number | null;
  phpShare: number | null;
  statuses: Record<StatusClass, number>;
  p50Ms: number | null;
  p95Ms: number | null;
  /** The first and last time each side served this route, over the whole ledger (not only the period). */
  served: Partial<Record<Side, { first: string; last: string }>>;
  /** The last time PHP (php, app→php, declined) answered this route, whole ledger; null: never. */
  lastPhp: string | null;
  lastApp: string | null;
  /** Whole days since PHP last answered this route (null: never). */
  phpIdleDays: number | null;
  shadow: {
    matched: number;
    mismatched: number;
    /** Not compared (the concurrency limit, a body past the compare limit). */
    skipped: number;
    /** The app threw, hung or answered nothing. */
    failed: number;
    /** matched / (matched + mismatched + failed), null when none. */
    matchRate: number | null;
    /** Matches in a row, up to now (whole ledger). */
    streak: number;
    readyToClaim: boolean;
    lastDiffs: Array<{ at: string; diff: string }>;
  } | null;
}

export interface ProgressPoint {
  /** The start of the hour (or day), ISO 8601. */
  at: string;
  requests: number;
  app: number;
  php: number;
  appShare: number | null;
}

export interface ReportData {
  version: number;
  generatedAt: string;
  since: string;
  readyAfter: number;
  totals: { requests: number; app: number; php: number; other: number; appShare: number | null };
  routes: RouteReport[];
  /** Per hour, oldest first: hours with no requests are left out. */
  progress: ProgressPoint[];
}

export const APP_SIDES: ReadonlySet<string> = new Set(['app', 'php→app']);
export const PHP_SIDES: ReadonlySet<string> = new Set(['php', 'app→php', 'declined']);
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** A route's report while it is being summed, with its durations' histogram. */
interface Acc {
  r: RouteReport;
  hist: number[];
}

export function readReport(store: LedgerStore, sinceMs: number, nowMs = Date.now()): ReportData {
  const fromHour = Math.floor(sinceMs / HOUR_MS);
  const hits = store.hitsSince(fromHour);
  const shadows = store.shadowsSince(fromHour);
  const diffs = store.diffs();
  const everServed = store.servedTimes();

  const byId = new Map<number, Acc>();
  const accOf = (row: { id: number; method: string; route: string; claimed: number }): Acc => {
    let acc = byId.get(row.id);
    if (!acc) {
      acc = {
        r: {
          method: row.method,
          route: row.route,
          claimed: row.claimed === 1,
          folded: 0,
          requests: 0,
          sides: {},
          appShare: null,
          phpShare: null,
          statuses: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
          p50Ms: null,
          p95Ms: null,
          served: {},
          lastPhp: null,
          lastApp: null,
          phpIdleDays: null,
          shadow: null,
        },
        hist: emptyHistogram(),
      };
      byId.set(row.id, acc);
    }
    return acc;
  };
  const progress = new Map<number, { requests: number; app: number; php: number }>();
  for (const h of hits) {
    const { r, hist } = accOf(h);
    r.requests += h.count;
    r.sides[h.side] = (r.sides[h.side] ?? 0) + h.count;
    r.statuses['1xx'] += h.s1xx;
    r.statuses['2xx'] += h.s2xx;
    r.statuses['3xx'] += h.s3xx;
    r.statuses['4xx'] += h.s4xx;
    r.statuses['5xx'] += h.s5xx;
    mergeInto(hist, decodeHistogram(h.durations));
    const p = progress.get(h.hour) ?? { requests: 0, app: 0, php: 0 };
    p.requests += h.count;
    if (APP_SIDES.has(h.side)) p.app += h.count;
    if (PHP_SIDES.has(h.side)) p.php += h.count;
    progress.set(h.hour, p);
  }
  for (const s of shadows) {
    const acc = accOf(s);
    const compared = s.matched + s.mismatched + s.failed;
    acc.r.shadow = {
      matched: s.matched,
      mismatched: s.mismatched,
      skipped: s.skipped,
      failed: s.failed,
      matchRate: compared > 0 ? round(s.matched / compared) : null,
      streak: s.shadow_streak,
      readyToClaim: s.shadow_streak >= READY_AFTER,
      lastDiffs: diffs
        .filter((d) => d.route_id === s.id)
        .slice(0, 5)
        .map((d) => ({ at: iso(d.at_ms), diff: d.diff })),
    };
  }
  for (const t of everServed) {
    const acc = byId.get(t.route_id);
    if (acc) widen(acc.r.served, t.side, t.first_ms, t.last_ms);
  }
  foldIntoPatterns(byId, everServed);
  const totals = { requests: 0, app: 0, php: 0, other: 0, appShare: null as number | null };
  const routes = [...byId.values()].map(({ r, hist }) => {
    const app = sum(r.sides, APP_SIDES);
    const php = sum(r.sides, PHP_SIDES);
    r.appShare = app + php > 0 ? round(app / (app + php)) : null;
    r.phpShare = app + php > 0 ? round(php / (app + php)) : null;
    r.p50Ms = percentile(hist, 0.5);
    r.p95Ms = percentile(hist, 0.95);
    const lastPhpMs = lastOf(r.served, PHP_SIDES);
    const lastAppMs = lastOf(r.served, APP_SIDES);
    r.lastPhp = lastPhpMs ? iso(lastPhpMs) : null;
    r.lastApp = lastAppMs ? iso(lastAppMs) : null;
    r.phpIdleDays = lastPhpMs ? Math.floor((nowMs - lastPhpMs) / DAY_MS) : null;
    totals.requests += r.requests;
    totals.app += app;
    totals.php += php;
    totals.other += r.requests - app - php;
    return r;
  });
  routes.sort((a, b) => b.requests - a.requests || a.route.localeCompare(b.route) || a.method.localeCompare(b.method));
  totals.appShare = totals.app + totals.php > 0 ? round(totals.app / (totals.app + totals.php)) : null;
  return {
    version: REPORT_VERSION,
    generatedAt: iso(nowMs),
    since: iso(sinceMs),
    readyAfter: READY_AFTER,
    totals,
    routes,
    progress: [...progress.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([hour, p]) => ({ at: iso(hour * HOUR_MS), ...p, appShare: p.app + p.php > 0 ? round(p.app / (p.app + p.php)) : null })),
  };
}

/**
 * A route counted by its path before a claim or shadow pattern covered it is the pattern's route:
 * each such row (same method; the most specific pattern, the longest, when several match) is folded
 * into the pattern's row, and so are the first and last times of such rows outside the period, so
 * that "PHP last served" looks at the route's whole history.
 */
function foldIntoPatterns(byId: Map<number, Acc>, everServed: readonly ServedRow[]): void {
  const targets: Array<{ acc: Acc; pattern: RoutePattern }> = [];
  for (const acc of byId.values()) {
    const pattern = patternOf(acc.r.route);
    if (pattern) targets.push({ acc, pattern });
  }
  if (targets.length === 0) return;
  targets.sort((a, b) => b.acc.r.route.length - a.acc.r.route.length);
  const targetOf = (method: string, route: string): Acc | null =>
    patternOf(route) ? null : (targets.find((t) => t.acc.r.method === method && matchesPattern(t.pattern, method, route))?.acc ?? null);
  for (const [id, acc] of byId) {
    const into = targetOf(acc.r.method, acc.r.route);
    if (into) {
      mergeRoute(into, acc);
      byId.delete(id);
    }
  }
  for (const t of everServed) {
    if (byId.has(t.route_id)) continue;
    const into = targetOf(t.method, t.route);
    if (into) widen(into.r.served, t.side, t.first_ms, t.last_ms);
  }
}

/**
 * The pattern a route key was written from, or null for a path: a pattern has a `*` or a `:name`
 * segment, where a collapsed path only ever has `:id`.
 */
function patternOf(route: string): RoutePattern | null {
  if (!route.split('/').some((seg) => seg === '*' || (seg.startsWith(':') && seg !== ':id'))) return null;
  try {
    return parsePattern(route);
  } catch {
    return null;
  }
}

function mergeRoute(into: Acc, from: Acc): void {
  const a = into.r;
  const b = from.r;
  a.folded += 1 + b.folded;
  a.requests += b.requests;
  for (const [side, count] of Object.entries(b.sides) as Array<[Side, number]>) a.sides[side] = (a.sides[side] ?? 0) + count;
  for (const k of Object.keys(a.statuses) as StatusClass[]) a.statuses[k] += b.statuses[k];
  mergeInto(into.hist, from.hist);
  for (const [side, t] of Object.entries(b.served) as Array<[Side, { first: string; last: string }]>) {
    widen(a.served, side, Date.parse(t.first), Date.parse(t.last));
  }
  if (b.shadow && !a.shadow) a.shadow = b.shadow;
  else if (b.shadow && a.shadow) {
    a.shadow.matched += b.shadow.matched;
    a.shadow.mismatched += b.shadow.mismatched;
    a.shadow.skipped += b.shadow.skipped;
    a.shadow.failed += b.shadow.failed;
    const compared = a.shadow.matched + a.shadow.mismatched + a.shadow.failed;
    a.shadow.matchRate = compared > 0 ? round(a.shadow.matched / compared) : null;
  }
}

/** Widens a side's first..last to take in `firstMs`..`lastMs`. */
function widen(served: RouteReport['served'], side: Side, firstMs: number, lastMs: number): void {
  const t = served[side];
  const first = t ? Math.min(Date.parse(t.first), firstMs) : firstMs;
  const last = t ? Math.max(Date.parse(t.last), lastMs) : lastMs;
  served[side] = { first: iso(first), last: iso(last) };
}

/** The hourly progress summed per day (UTC), for a chart over weeks. */
export function progressByDay(hours: readonly ProgressPoint[]): ProgressPoint[] {
  const days = new Map<string, ProgressPoint>();
  for (const h of hours) {
    const at = h.at.slice(0, 10) + 'T00:00:00.000Z';
    const d = days.get(at) ?? { at, requests: 0, app: 0, php: 0, appShare: null };
    d.requests += h.requests;
    d.app += h.app;
    d.php += h.php;
    d.appShare = d.app + d.php > 0 ? round(d.app / (d.app + d.php)) : null;
    days.set(at, d);
  }
  return [...days.values()];
}

function lastOf(served: RouteReport['served'], which: ReadonlySet<string>): number {
  let last = 0;
  for (const [side, t] of Object.entries(served)) if (which.has(side) && t) last = Math.max(last, Date.parse(t.last));
  return last;
}

function sum(sides: Partial<Record<string, number>>, which: ReadonlySet<string>): number {
  let n = 0;
  for (const [k, v] of Object.entries(sides)) if (which.has(k)) n += v ?? 0;
  return n;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
