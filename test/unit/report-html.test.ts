// The admin page's HTML and the report's table, from report data (pure): values escaped, the chart
// per hour up to three days and per day past that, the notes a route gets.
import { describe, expect, it } from 'vitest';
import { progressByDay, type ReportData, type RouteReport } from '../../src/report/report-data.ts';
import { reportHtml } from '../../src/report/report-html.ts';
import { notes, reportText } from '../../src/report/report-text.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 20);

function route(over: Partial<RouteReport>): RouteReport {
  return {
    method: 'GET', route: '/', claimed: false, folded: 0, requests: 1, sides: { php: 1 }, appShare: 0, phpShare: 1,
    statuses: { '1xx': 0, '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 0 }, p50Ms: 1, p95Ms: 2, served: {}, lastPhp: null, lastApp: null, phpIdleDays: null, shadow: null,
    ...over,
  };
}

function data(hours: number, routes: RouteReport[]): ReportData {
  const progress = Array.from({ length: hours }, (_, i) => ({ at: new Date(T0 + i * HOUR).toISOString(), requests: 10, app: i % 10, php: 10 - (i % 10), appShare: (i % 10) / 10 }));
  return { version: 1, generatedAt: new Date(T0).toISOString(), since: new Date(T0).toISOString(), readyAfter: 100, totals: { requests: 10, app: 5, php: 5, other: 0, appShare: 0.5 }, routes, progress };
}

describe('the report as HTML and text', () => {
  it('escapes what came from requests: routes, methods and diffs', () => {
    const html = reportHtml(data(2, [route({ route: '/<script>x</script>', method: 'G"ET', shadow: { matched: 0, mismatched: 1, skipped: 0, failed: 0, matchRate: 0, streak: 0, readyToClaim: false, lastDiffs: [{ at: new Date(T0).toISOString(), diff: "<img src=x onerror='y'>" }] } })]));
    expect(html).not.toContain('<script>x');
    expect(html).not.toContain('<img');
    expect(html).toContain('/&lt;script&gt;x&lt;/script&gt;');
    expect(html).toContain('G&quot;ET');
    expect(html).toContain('&lt;img src=x onerror=&#39;y&#39;&gt;');
    expect(html).not.toMatch(/<script/i);
  });

  it('charts per hour up to 72 hours, per day past that', () => {
    expect(reportHtml(data(72, [route({})])).match(/<rect class="app-bar"/g)).toHaveLength(72);
    expect(reportHtml(data(72, [route({})]))).toContain('per hour');
    const days = reportHtml(data(96, [route({})]));
    expect(days).toContain('per day');
    expect(days.match(/<rect class="app-bar"/g)).toHaveLength(4);
    const byDay = progressByDay(data(48, []).progress);
    expect(byDay.map((d) => d.requests)).toEqual([240, 240]);
    expect(byDay[0]!.app + byDay[0]!.php).toBe(240);
  });

  it('says what a route needs: ready to claim, PHP idle for days, never served by PHP', () => {
    const shadow = { matched: 100, mismatched: 0, skipped: 0, failed: 0, matchRate: 1, streak: 100, readyToClaim: true, lastDiffs: [] };
    expect(notes(route({ shadow }))).toBe('ready to claim');
    expect(notes(route({ shadow, claimed: true }))).toBe('');
    expect(notes(route({ phpIdleDays: 1, lastPhp: 'x' }))).toBe('PHP has not served this for 1 day');
    expect(notes(route({ phpIdleDays: 12, lastPhp: 'x' }))).toBe('PHP has not served this for 12 days');
    expect(notes(route({ appShare: 1, phpShare: 0, lastPhp: null }))).toBe('PHP never served this');
    expect(notes(route({ folded: 1 }))).toBe('+1 earlier path');
    expect(notes(route({ folded: 3, phpIdleDays: 2, lastPhp: 'x' }))).toBe('PHP has not served this for 2 days; +3 earlier paths');
    expect(reportText(data(0, []))).toContain('No requests in the ledger for this period.');
  });
});
