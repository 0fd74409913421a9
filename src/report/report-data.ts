import { decodeHistogram, emptyHistogram, mergeInto, percentile } from '../ledger/duration-histogram.ts';
import type { LedgerStore } from '../ledger/ledger-store.ts';

/**
 * The report's data: what `fpm-bridge report --json` prints and the admin page's /report.json
 * serves. A stable shape (REPORT_VERSION goes up only when a field changes meaning or goes away;
 * fields may be added):
 *
 *   { version: 1, generatedAt, since, readyAfter,
 *     totals: { requests, app, php, other, appShare },
 *     routes: [ { method, route, claimed, requests, sides: { php, static, app, "php→app", "app→php",
 *                 declined, bridge }, appShare, phpShare, statuses: { "2xx", ... }, p50Ms, p95Ms,
 *                 lastPhp, lastApp, phpIdleDays,
 *                 shadow: { matched, mismatched, skipped, matchRate, streak, readyToClaim, lastDiffs } } ],
 *     progress: [ { hour, requests, app, php, appShare } ] }
 *
 * Times are ISO 8601 strings (UTC) or null. "app" counts what the app answered (app, php→app); "php"
 * what PHP answered (php, app→php, declined: PHP's 404 after the app's); static files and the
 * bridge's own answers are neither. Shares are 0..1 of app + php, null when neither served.
 */
export const REPORT_VERSION = 1;
/** Matches in a row after which a shadowed route is "ready to claim". */
export const READY_AFTER = 100;

export interface RouteReport {
  method: string;
  route: string;
  claimed: boolean;
  requests: number;
  sides: Record<string, number>;
  appShare: number | null;
  phpShare: number | null;
  statuses: Record<'1xx' | '2xx' | '3xx' | '4xx' | '5xx', number>;
  p50Ms: number | null;
  p95Ms: number | null;
  lastPhp: string | null;
  lastApp: string | null;
  /** Whole days since PHP last served this route (null: PHP never did in the period). */
  phpIdleDays: number | null;
  shadow: {
    matched: number;
    mismatched: number;
    skipped: number;
    matchRate: number | null;
    streak: number;
    readyToClaim: boolean;
    lastDiffs: Array<{ at: string; diff: string }>;
  } | null;
}

export interface ReportData {
  version: number;
  generatedAt: string;
  since: string;
  readyAfter: number;
  totals: { requests: number; app: number; php: number; other: number; appShare: number | null };
  routes: RouteReport[];
  progress: Array<{ hour: string; requests: number; app: number; php: number; appShare: number | null }>;
}

const APP_SIDES = new Set(['app', 'php→app']);
const PHP_SIDES = new Set(['php', 'app→php', 'declined']);
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export function readReport(store: LedgerStore, sinceMs: number, nowMs = Date.now()): ReportData {
  const db = store.db;
  const fromHour = Math.floor(sinceMs / HOUR_MS);
  const hits = db
    .prepare(
      `SELECT r.id, r.method, r.route, r.claimed, r.shadow_streak, h.hour, h.side, h.count, h.s1xx, h.s2xx, h.s3xx, h.s4xx, h.s5xx, h.durations, h.first_ms, h.last_ms
       FROM hits h JOIN routes r ON r.id = h.route_id WHERE h.hour >= ?`,
    )
    .all(fromHour) as Array<{
    id: number; method: string; route: string; claimed: number; shadow_streak: number; hour: number; side: string; count: number;
    s1xx: number; s2xx: number; s3xx: number; s4xx: number; s5xx: number; durations: string; first_ms: number; last_ms: number;
  }>;
  const shadows = db
    .prepare(
      `SELECT r.id, r.method, r.route, r.claimed, r.shadow_streak, sum(s.matched) matched, sum(s.mismatched) mismatched, sum(s.skipped) skipped
       FROM shadows s JOIN routes r ON r.id = s.route_id WHERE s.hour >= ? GROUP BY r.id`,
    )
    .all(fromHour) as Array<{ id: number; method: string; route: string; claimed: number; shadow_streak: number; matched: number; mismatched: number; skipped: number }>;
  const diffs = db.prepare('SELECT route_id, at_ms, diff FROM shadow_diffs ORDER BY id DESC').all() as Array<{ route_id: number; at_ms: number; diff: string }>;

  interface Acc { r: RouteReport; hist: number[]; lastPhpMs: number; lastAppMs: number }
  const byId = new Map<number, Acc>();
  const accOf = (row: { id: number; method: string; route: string; claimed: number }): Acc => {
    let acc = byId.get(row.id);
    if (!acc) {
      acc = {
        r: {
          method: row.method, route: row.route, claimed: row.claimed === 1, requests: 0, sides: {}, appShare: null, phpShare: null,
          statuses: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }, p50Ms: null, p95Ms: null, lastPhp: null, lastApp: null, phpIdleDays: null, shadow: null,
        },
        hist: emptyHistogram(), lastPhpMs: 0, lastAppMs: 0,
      };
      byId.set(row.id, acc);
    }
    return acc;
  };
  const progress = new Map<number, { requests: number; app: number; php: number }>();
  for (const h of hits) {
    const acc = accOf(h);
    const r = acc.r;
    r.requests += h.count;
    r.sides[h.side] = (r.sides[h.side] ?? 0) + h.count;
    r.statuses['1xx'] += h.s1xx;
    r.statuses['2xx'] += h.s2xx;
    r.statuses['3xx'] += h.s3xx;
    r.statuses['4xx'] += h.s4xx;
    r.statuses['5xx'] += h.s5xx;
    mergeInto(acc.hist, decodeHistogram(h.durations));
    if (PHP_SIDES.has(h.side)) acc.lastPhpMs = Math.max(acc.lastPhpMs, h.last_ms);
    if (APP_SIDES.has(h.side)) acc.lastAppMs = Math.max(acc.lastAppMs, h.last_ms);
    const p = progress.get(h.hour) ?? { requests: 0, app: 0, php: 0 };
    p.requests += h.count;
    if (APP_SIDES.has(h.side)) p.app += h.count;
    if (PHP_SIDES.has(h.side)) p.php += h.count;
    progress.set(h.hour, p);
  }
  for (const s of shadows) {
    const acc = accOf(s);
    const compared = s.matched + s.mismatched;
    acc.r.shadow = {
      matched: s.matched, mismatched: s.mismatched, skipped: s.skipped,
      matchRate: compared > 0 ? round(s.matched / compared) : null,
      streak: s.shadow_streak,
      readyToClaim: s.shadow_streak >= READY_AFTER,
      lastDiffs: diffs.filter((d) => d.route_id === s.id).slice(0, 5).map((d) => ({ at: new Date(d.at_ms).toISOString(), diff: d.diff })),
    };
  }
  const totals = { requests: 0, app: 0, php: 0, other: 0, appShare: null as number | null };
  const routes = [...byId.values()].map(({ r, hist, lastPhpMs, lastAppMs }) => {
    const app = sum(r.sides, APP_SIDES);
    const php = sum(r.sides, PHP_SIDES);
    r.appShare = app + php > 0 ? round(app / (app + php)) : null;
    r.phpShare = app + php > 0 ? round(php / (app + php)) : null;
    r.p50Ms = percentile(hist, 0.5);
    r.p95Ms = percentile(hist, 0.95);
    r.lastPhp = lastPhpMs ? new Date(lastPhpMs).toISOString() : null;
    r.lastApp = lastAppMs ? new Date(lastAppMs).toISOString() : null;
    r.phpIdleDays = lastPhpMs ? Math.floor((nowMs - lastPhpMs) / DAY_MS) : null;
    totals.requests += r.requests;
    totals.app += app;
    totals.php += php;
    totals.other += r.requests - app - php;
    return r;
  });
  routes.sort((a, b) => b.requests - a.requests || a.route.localeCompare(b.route));
  totals.appShare = totals.app + totals.php > 0 ? round(totals.app / (totals.app + totals.php)) : null;
  return {
    version: REPORT_VERSION,
    generatedAt: new Date(nowMs).toISOString(),
    since: new Date(sinceMs).toISOString(),
    readyAfter: READY_AFTER,
    totals,
    routes,
    progress: [...progress.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([hour, p]) => ({ hour: new Date(hour * HOUR_MS).toISOString(), ...p, appShare: p.app + p.php > 0 ? round(p.app / (p.app + p.php)) : null })),
  };
}

function sum(sides: Record<string, number>, which: ReadonlySet<string>): number {
  let n = 0;
  for (const [k, v] of Object.entries(sides)) if (which.has(k)) n += v;
  return n;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
