import { decodeHistogram, emptyHistogram, mergeInto, percentile } from '../ledger/duration-histogram.ts';
import type { LedgerStore, Side } from '../ledger/ledger-store.ts';

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

export function readReport(store: LedgerStore, sinceMs: number, nowMs = Date.now()): ReportData {
  const fromHour = Math.floor(sinceMs / HOUR_MS);
  const hits = store.hitsSince(fromHour);
  const shadows = store.shadowsSince(fromHour);
  const diffs = store.diffs();
  const everServed = store.servedTimes();

  interface Acc {
    r: RouteReport;
    hist: number[];
  }
  const byId = new Map<number, Acc>();
  const accOf = (row: { id: number; method: string; route: string; claimed: number }): Acc => {
    let acc = byId.get(row.id);
    if (!acc) {
      acc = {
        r: {
          method: row.method,
          route: row.route,
          claimed: row.claimed === 1,
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
    if (!acc) continue;
    acc.r.served[t.side] = { first: iso(t.first_ms), last: iso(t.last_ms) };
  }
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
