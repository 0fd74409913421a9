import type { ReportData, RouteReport } from './report-data.ts';

/** The report as a terminal table: routes by traffic, who serves them, and what is left to do. */
export function reportText(data: ReportData): string {
  const t = data.totals;
  const lines = [
    `fpm-bridge report  since ${data.since.slice(0, 16).replace('T', ' ')} UTC  (${t.requests} requests; the app served ${pct(t.appShare)} of what PHP or the app answered)`,
    '',
  ];
  if (data.routes.length === 0) return lines.concat('No requests in the ledger for this period.').join('\n');
  const rows = data.routes.map((r) => [
    `${r.method} ${r.route}${r.claimed ? ' (claimed)' : ''}`,
    String(r.requests),
    pct(r.phpShare),
    pct(r.appShare),
    r.lastPhp ? r.lastPhp.slice(0, 16).replace('T', ' ') : '-',
    r.p95Ms === null ? '-' : `${r.p95Ms}ms`,
    shadowCell(r),
    note(r),
  ]);
  const head = ['route', 'requests', 'php', 'app', 'PHP last served', 'p95', 'shadow', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 || i >= 6 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  lines.push(fmt(head), fmt(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) lines.push(fmt(row));
  return lines.join('\n');
}

function shadowCell(r: RouteReport): string {
  if (!r.shadow) return '-';
  const s = r.shadow;
  return `${pct(s.matchRate)} of ${s.matched + s.mismatched}${s.skipped ? ` (${s.skipped} skipped)` : ''}`;
}

function note(r: RouteReport): string {
  const notes: string[] = [];
  if (r.shadow?.readyToClaim && !r.claimed) notes.push('ready to claim');
  if (r.phpIdleDays !== null && r.phpIdleDays >= 1) notes.push(`PHP has not served this for ${r.phpIdleDays} days`);
  if (r.lastPhp === null && (r.appShare ?? 0) > 0) notes.push('PHP never served this in the period');
  return notes.join('; ');
}

function pct(x: number | null): string {
  return x === null ? '-' : `${Math.round(x * 100)}%`;
}
