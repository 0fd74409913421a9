import type { ReportData, RouteReport } from './report-data.ts';

/** The report as a terminal table: routes by traffic, who serves them, and what is left to do. */
export function reportText(data: ReportData): string {
  const t = data.totals;
  const lines = [
    `fpm-bridge report since ${short(data.since)} UTC: ${t.requests} requests; the app answered ${pct(t.appShare)} of what PHP or the app answered`,
    '',
  ];
  if (data.routes.length === 0) return lines.concat('No requests in the ledger for this period.').join('\n');
  const rows = data.routes.map((r) => [
    `${r.method} ${r.route}${r.claimed ? ' (claimed)' : ''}`,
    String(r.requests),
    pct(r.phpShare),
    pct(r.appShare),
    r.lastPhp ? short(r.lastPhp) : 'never',
    r.p50Ms === null ? '-' : `${r.p50Ms}`,
    r.p95Ms === null ? '-' : `${r.p95Ms}`,
    shadowCell(r),
    notes(r),
  ]);
  const head = ['route', 'requests', 'php', 'app', 'PHP last served', 'p50 ms', 'p95 ms', 'shadow match', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 || i >= 7 || i === 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  lines.push(fmt(head), fmt(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) lines.push(fmt(row));
  const diffs = data.routes.filter((r) => r.shadow && r.shadow.lastDiffs.length > 0);
  if (diffs.length > 0) {
    lines.push('', 'Last shadow differences:');
    for (const r of diffs) {
      const d = r.shadow!.lastDiffs[0]!;
      lines.push(`  ${r.method} ${r.route} (${short(d.at)}): ${d.diff.replace(/\s+/g, ' ').slice(0, 200)}`);
    }
  }
  return lines.join('\n');
}

export function shadowCell(r: RouteReport): string {
  if (!r.shadow) return '-';
  const s = r.shadow;
  const compared = s.matched + s.mismatched + s.failed;
  // Counts, not a rounded share: 399 of 400 must not read as 100%.
  return `${s.matched} of ${compared}${s.skipped ? ` (+${s.skipped} skipped)` : ''}`;
}

/** What the route needs: ready to claim, PHP code that has not run for days. */
export function notes(r: RouteReport): string {
  const out: string[] = [];
  if (r.shadow?.readyToClaim && !r.claimed) out.push('ready to claim');
  if (r.phpIdleDays !== null && r.phpIdleDays >= 1) out.push(`PHP has not served this for ${r.phpIdleDays} day${r.phpIdleDays === 1 ? '' : 's'}`);
  else if (r.lastPhp === null && r.requests > 0 && (r.appShare ?? 0) > 0) out.push('PHP never served this');
  if (r.folded > 0) out.push(`+${r.folded} earlier path${r.folded === 1 ? '' : 's'}`);
  return out.join('; ');
}

export function pct(x: number | null): string {
  return x === null ? '-' : `${Math.round(x * 100)}%`;
}

function short(iso: string): string {
  return iso.slice(0, 16).replace('T', ' ');
}
