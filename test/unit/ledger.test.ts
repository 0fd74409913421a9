// The ledger on a real SQLite file (node:sqlite): batches folded into (route, hour, side) cells,
// merged across batches and restarts; route keys and their bound; shadow results and the run of
// matches that makes a route "ready to claim"; a file that cannot be used is refused naming it; a
// write that fails is counted, never thrown. node:sqlite exists from Node 22.5: on Node 20 these
// are skipped, and the message the CLI prints there is checked instead.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RequestEvents, type RequestEvent } from '../../src/bridge/request-event.ts';
import { bucketOf, percentile, emptyHistogram } from '../../src/ledger/duration-histogram.ts';
import { Ledger, BAD_TARGET_ROUTE, OVERFLOW_ROUTE } from '../../src/ledger/ledger.ts';
import { LedgerOpenError, LedgerStore } from '../../src/ledger/ledger-store.ts';
import { collapsePath } from '../../src/ledger/route-key.ts';
import { ledgerAvailable, LedgerUnavailableError, sqlite } from '../../src/ledger/sqlite.ts';
import type { Logger } from '../../src/log/logger.ts';
import { readReport } from '../../src/report/report-data.ts';
import { ShadowEvents, type ShadowEvent } from '../../src/shadow/shadow-event.ts';

const available = ledgerAvailable();
const SKIP = available ? '' : ` (skipped: node:sqlite needs Node 22.5 or newer, this is ${process.versions.node})`;
const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-ledger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `l${++n}`, 'ledger.sqlite');

function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return { errors, access() {}, phpStderr() {}, info() {}, warn() {}, error: (m: string) => void errors.push(m) } as unknown as Logger & { errors: string[] };
}

const T0 = Date.UTC(2026, 11, 1, 10, 15);
let id = 0;
function event(over: Partial<RequestEvent>): RequestEvent {
  return { id: ++id, method: 'GET', url: over.path ?? '/', path: '/', claim: null, servedBy: 'php', appDeclined: false, status: 200, bytes: 10, durationMs: 5, remoteAddress: '127.0.0.1', startedAt: T0, ...over };
}
function shadow(over: Partial<ShadowEvent>): ShadowEvent {
  return { id: ++id, method: 'GET', path: '/packages/yay', pattern: 'GET /packages/:name', outcome: 'match', diff: null, at: T0, ...over };
}

describe('route keys and durations (pure)', () => {
  it('collapses ids in paths', () => {
    expect(collapsePath('/packages/12345')).toBe('/packages/:id');
    expect(collapsePath('/u/3f2504e0-4f89-11d3-9a0c-0305e82c3301/edit')).toBe('/u/:id/edit');
    expect(collapsePath('/blob/0123456789abcdef0123')).toBe('/blob/:id');
    expect(collapsePath('/t/dGhpcyBpcyBhIHRva2VuMTIz')).toBe('/t/:id');
    expect(collapsePath('/packages/yay')).toBe('/packages/yay');
    expect(collapsePath('/')).toBe('/');
    expect(collapsePath('/a/')).toBe('/a/');
  });
  it('keeps p50/p95 within one √2 bucket', () => {
    const h = emptyHistogram();
    for (let i = 1; i <= 100; i++) h[bucketOf(i)]!++;
    const p50 = percentile(h, 0.5)!;
    const p95 = percentile(h, 0.95)!;
    expect(p50).toBeGreaterThanOrEqual(50);
    expect(p50).toBeLessThanOrEqual(50 * Math.SQRT2);
    expect(p95).toBeGreaterThanOrEqual(95);
    expect(p95).toBeLessThanOrEqual(95 * Math.SQRT2);
    expect(percentile(emptyHistogram(), 0.5)).toBeNull();
  });
});

describe.skipIf(available)('on a Node without node:sqlite', () => {
  it('says the ledger needs Node 22.5, and the bridge runs without it', () => {
    expect(() => sqlite()).toThrow(LedgerUnavailableError);
    expect(() => sqlite()).toThrow(/the ledger needs Node 22\.5 or newer.*the bridge runs without it/);
  });
});

describe.skipIf(!available)(`the ledger in SQLite${SKIP}`, () => {
  it('folds a batch into cells, merges later batches and survives a reopen', () => {
    const file = fresh();
    const ledger = new Ledger(new LedgerStore(file), { logger: recordingLogger(), flushMs: 60_000 });
    const events = new RequestEvents();
    ledger.attach(events);
    const pub = (e: Partial<RequestEvent>) => events.publish(event(e), (err) => { throw err; });
    pub({ path: '/packages/1', servedBy: 'php', durationMs: 3 });
    pub({ path: '/packages/2', servedBy: 'php', status: 404, durationMs: 7 });
    pub({ path: '/packages/3', servedBy: 'php→app', durationMs: 20, startedAt: T0 + 1000 });
    pub({ path: '/x', claim: 'GET /x', servedBy: 'app' });
    pub({ path: '/x', claim: 'GET /x', servedBy: 'app→php' });
    pub({ path: '/gone', servedBy: 'php→app→php', appDeclined: true, status: 404 });
    pub({ path: '/x', claim: 'GET /x', servedBy: 'app→php', appDeclined: true, status: 404 });
    ledger.flush();
    pub({ path: '/packages/4', servedBy: 'php', startedAt: T0 + 2 * 3_600_000 });
    ledger.close();

    expect(statSync(dirname(file)).mode & 0o777).toBe(0o700);
    const store = new LedgerStore(file, { readonly: true });
    const report = readReport(store, T0 - 3_600_000, T0 + 3 * 3_600_000);
    store.close();
    const pk = report.routes.find((r) => r.route === '/packages/:id')!;
    expect(pk.requests).toBe(4);
    expect(pk.sides).toEqual({ php: 3, 'php→app': 1 });
    expect(pk.statuses).toMatchObject({ '2xx': 3, '4xx': 1 });
    expect(pk.appShare).toBe(0.25);
    expect(pk.served.php!.first).toBe(new Date(T0).toISOString());
    expect(pk.served.php!.last).toBe(new Date(T0 + 2 * 3_600_000).toISOString());
    expect(pk.served['php→app']!.first).toBe(new Date(T0 + 1000).toISOString());
    const x = report.routes.find((r) => r.route === '/x')!;
    expect(x.claimed).toBe(true);
    expect(x.sides).toEqual({ app: 1, 'app→php': 1, declined: 1 });
    expect(report.routes.find((r) => r.route === '/gone')!.sides).toEqual({ declined: 1 });
    expect(report.totals).toMatchObject({ requests: 8, app: 2, php: 6, other: 0 });
    expect(report.progress.map((p) => p.requests)).toEqual([7, 1]);
  });

  it('routes a path by its method and claim, however often it was seen before (the memo keys on both)', () => {
    const ledger = new Ledger(new LedgerStore(fresh()), { logger: recordingLogger(), flushMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      expect(ledger.routeOf(event({ path: '/packages/7' }))).toMatchObject({ method: 'GET', route: '/packages/:id' });
      expect(ledger.routeOf(event({ method: 'POST', path: '/packages/7' }))).toMatchObject({ method: 'POST', route: '/packages/:id' });
      expect(ledger.routeOf(event({ path: '/packages/7', claim: 'GET /packages/:name' }))).toMatchObject({ method: 'GET', route: '/packages/:name' });
      expect(ledger.routeOf(event({ path: null }))).toMatchObject({ route: BAD_TARGET_ROUTE });
      // A claimed request counts under its claim whatever its path; the same path unclaimed keeps its own.
      expect(ledger.routeOf(event({ path: '/packages/8', claim: 'GET /packages/:name' }))).toMatchObject({ route: '/packages/:name' });
      expect(ledger.routeOf(event({ method: 'POST', path: '/packages/7', claim: 'GET /packages/:name' }))).toMatchObject({ method: 'POST', route: '/packages/:name' });
      expect(ledger.routeOf(event({ path: '/packages/7' }))).toMatchObject({ route: '/packages/:id' });
    }
    // Past its bound the memo starts over, and what it knew is routed as before.
    for (let i = 0; i < 10_050; i++) ledger.routeOf(event({ path: `/scan/x${i}` }));
    expect(ledger.routeOf(event({ path: '/packages/7' }))).toMatchObject({ method: 'GET', route: '/packages/:id' });
    expect(ledger.routeOf(event({ path: '/packages/7', claim: 'GET /packages/:name' }))).toMatchObject({ route: '/packages/:name' });
    ledger.close();
  });

  it('bounds the routes: past maxRoutes new ones count under the overflow route, across restarts too', () => {
    const file = fresh();
    let ledger = new Ledger(new LedgerStore(file), { logger: recordingLogger(), maxRoutes: 3, flushMs: 60_000 });
    for (let i = 0; i < 10; i++) ledger.record(event({ path: `/scan-${i}` }));
    ledger.close();
    ledger = new Ledger(new LedgerStore(file), { logger: recordingLogger(), maxRoutes: 3, flushMs: 60_000 });
    ledger.record(event({ path: '/scan-0' }));
    ledger.record(event({ path: '/new' }));
    ledger.close();
    const store = new LedgerStore(file, { readonly: true });
    const report = readReport(store, T0 - 1, T0 + 1);
    store.close();
    expect(report.routes.map((r) => `${r.method} ${r.route} ${r.requests}`).sort()).toEqual([`* ${OVERFLOW_ROUTE} 8`, 'GET /scan-0 2', 'GET /scan-1 1', 'GET /scan-2 1']);
  });

  it('counts shadows per route, keys requests by the shadow pattern, keeps the last diffs, and a run of 100 matches is ready to claim', () => {
    const file = fresh();
    const ledger = new Ledger(new LedgerStore(file), { logger: recordingLogger(), flushMs: 60_000, patterns: ['GET /packages/:name'] });
    const events = new RequestEvents();
    const shadows = new ShadowEvents();
    ledger.attach(events, shadows);
    const fail = (err: unknown) => {
      throw err;
    };
    events.publish(event({ path: '/packages/yay' }), fail);
    for (let i = 0; i < 7; i++) shadows.publish(shadow({ outcome: 'mismatch', diff: `status 200 vs 500 #${i}` }), fail);
    shadows.publish(shadow({ outcome: 'skipped-busy' }), fail);
    for (let i = 0; i < 99; i++) shadows.publish(shadow({}), fail);
    ledger.flush();
    const read = () => {
      const store = new LedgerStore(file, { readonly: true });
      try {
        return readReport(store, T0 - 1, T0 + 1).routes.find((r) => r.route === '/packages/:name')!;
      } finally {
        store.close();
      }
    };
    let r = read();
    expect(r.requests).toBe(1);
    expect(r.shadow).toMatchObject({ matched: 99, mismatched: 7, skipped: 1, failed: 0, streak: 99, readyToClaim: false });
    expect(r.shadow!.lastDiffs.map((d) => d.diff)).toEqual([6, 5, 4, 3, 2].map((i) => `status 200 vs 500 #${i}`));
    shadows.publish(shadow({}), fail);
    ledger.flush();
    r = read();
    expect(r.shadow).toMatchObject({ matched: 100, streak: 100, readyToClaim: true });
    shadows.publish(shadow({ outcome: 'app-failed' }), fail);
    shadows.publish(shadow({}), fail);
    ledger.close();
    r = read();
    expect(r.shadow).toMatchObject({ failed: 1, streak: 1, readyToClaim: false });
  });

  it('learns a shadow pattern from its events: later requests of that route count under it', () => {
    const file = fresh();
    const ledger = new Ledger(new LedgerStore(file), { logger: recordingLogger(), flushMs: 60_000 });
    ledger.record(event({ path: '/packages/yay' }));
    ledger.flush();
    ledger.recordShadow(shadow({}));
    ledger.flush();
    ledger.record(event({ path: '/packages/yay' }));
    ledger.record(event({ path: '/packages/pacman' }));
    ledger.close();
    const store = new LedgerStore(file, { readonly: true });
    const stored = store.hitsSince(0).map((h) => `${h.route} ${h.count}`);
    const routes = readReport(store, T0 - 1, T0 + 1).routes.map((r) => `${r.route} ${r.requests}`);
    store.close();
    expect(stored.sort()).toEqual(['/packages/:name 2', '/packages/yay 1']);
    // The report folds the row from before the pattern into it.
    expect(routes).toEqual(['/packages/:name 3']);
  });

  it('folds the rows a route had before its claim or shadow pattern into the pattern\'s row in the report', () => {
    const file = fresh();
    // Before any pattern: each package is its own route (a numeric one collapsed to :id).
    let ledger = new Ledger(new LedgerStore(file), { logger: recordingLogger(), flushMs: 60_000 });
    ledger.record(event({ path: '/packages/pacman-git', servedBy: 'php', startedAt: T0 - 48 * 3_600_000 }));
    ledger.record(event({ path: '/packages/yay', servedBy: 'php', startedAt: T0 }));
    ledger.record(event({ path: '/packages/123', servedBy: 'php', status: 404, startedAt: T0 }));
    ledger.record(event({ path: '/about', servedBy: 'php', startedAt: T0 }));
    ledger.record(event({ method: 'POST', path: '/packages/yay', servedBy: 'php', startedAt: T0 }));
    ledger.close();
    // Then the route is claimed: its requests count under the pattern.
    ledger = new Ledger(new LedgerStore(file), { logger: recordingLogger(), flushMs: 60_000 });
    ledger.record(event({ path: '/packages/yay', claim: 'GET /packages/:name', servedBy: 'app', startedAt: T0 + 3_600_000 }));
    ledger.record(event({ path: '/packages/zsh', claim: 'GET /packages/:name', servedBy: 'app', startedAt: T0 + 3_600_000 }));
    ledger.close();

    const store = new LedgerStore(file, { readonly: true });
    const report = readReport(store, T0 - 3_600_000, T0 + 4 * 3_600_000);
    store.close();
    expect(report.routes.map((r) => `${r.method} ${r.route}`).sort()).toEqual(['GET /about', 'GET /packages/:name', 'POST /packages/yay']);
    const pk = report.routes.find((r) => r.route === '/packages/:name')!;
    expect(pk.claimed).toBe(true);
    expect(pk.requests).toBe(4);
    expect(pk.sides).toEqual({ php: 2, app: 2 });
    expect(pk.statuses).toMatchObject({ '2xx': 3, '4xx': 1 });
    expect(pk.appShare).toBe(0.5);
    expect(pk.folded).toBe(2);
    // The whole ledger's times, the row outside the period (two days back) included.
    expect(pk.served.php).toEqual({ first: new Date(T0 - 48 * 3_600_000).toISOString(), last: new Date(T0).toISOString() });
    expect(pk.lastPhp).toBe(new Date(T0).toISOString());
    expect(report.routes.find((r) => r.route === '/about')!.folded).toBe(0);
    expect(report.totals).toMatchObject({ requests: 6, app: 2, php: 4 });
  });

  it('refuses a file that is not a ledger, naming it', () => {
    const file = join(dir, 'corrupt.sqlite');
    writeFileSync(file, 'this is not a database, just text that is long enough to look like a header.....\n'.repeat(100));
    expect(() => new LedgerStore(file)).toThrow(LedgerOpenError);
    expect(() => new LedgerStore(file)).toThrow(new RegExp(`the ledger ${file} cannot be used: .*not a database`));
  });

  it('refuses a place that cannot hold it, naming it', () => {
    const notDir = join(dir, 'a-file');
    writeFileSync(notDir, 'x');
    expect(() => new LedgerStore(join(notDir, 'ledger.sqlite'))).toThrow(new RegExp(`cannot open the ledger ${join(notDir, 'ledger.sqlite')}: ${notDir} is not a directory`));
  });

  it.skipIf(process.getuid?.() === 0)('refuses a directory it cannot write, naming it (not as root)', () => {
    const ro = join(dir, 'ro');
    rmSync(ro, { recursive: true, force: true });
    mkdirSync(ro);
    chmodSync(ro, 0o500);
    try {
      expect(() => new LedgerStore(join(ro, 'sub', 'ledger.sqlite'))).toThrow(new RegExp(`cannot open the ledger ${join(ro, 'sub', 'ledger.sqlite')}`));
      expect(() => new LedgerStore(join(ro, 'ledger.sqlite'))).toThrow(new RegExp(`ledger ${join(ro, 'ledger.sqlite')}`));
    } finally {
      chmodSync(ro, 0o700);
    }
  });

  it('a write that fails is logged once and counted, never thrown', () => {
    const file = fresh();
    const logger = recordingLogger();
    const store = new LedgerStore(file);
    const ledger = new Ledger(store, { logger, flushMs: 60_000 });
    // The file's tables gone from under it (as a disk that fails would): every write throws.
    store.db.exec('DROP TABLE hits');
    ledger.record(event({}));
    expect(() => ledger.flush()).not.toThrow();
    ledger.record(event({}));
    ledger.record(event({}));
    ledger.flush();
    expect(ledger.health).toMatchObject({ failedBatches: 2, droppedEvents: 3 });
    expect(logger.errors).toHaveLength(1);
    expect(logger.errors[0]).toMatch(new RegExp(`ledger ${file}: a batch of 1 requests could not be written .*requests are served as before`));
    ledger.close();
  });
});
