import { progressByDay, type ProgressPoint, type ReportData } from './report-data.ts';
import { notes, pct, shadowCell } from './report-text.ts';

/**
 * The admin page (`/ledger` on --admin-listen): the report's table and a chart of the migration's
 * progress (the share of requests the app answered, per hour, or per day past three days), as one
 * self-contained HTML document: inline CSS and SVG, no script, nothing fetched (the page is served
 * with a CSP that forbids both). Every value from the ledger is escaped: routes come from request
 * paths, which anyone can send.
 */
export function reportHtml(data: ReportData, options: { since: string; notice?: string | null } = { since: '7d' }): string {
  const t = data.totals;
  const hourly = data.progress.length <= 72;
  const points = hourly ? data.progress : progressByDay(data.progress);
  const periods = ['24h', '7d', '30d', '365d']
    .map((p) => (p === options.since ? `<b>${p}</b>` : `<a href="?since=${p}">${p}</a>`))
    .join(' · ');
  const rows = data.routes.map((r) => {
    const diffs = r.shadow?.lastDiffs ?? [];
    const diffCell = diffs.length
      ? `<details><summary>${diffs.length} diff${diffs.length === 1 ? '' : 's'}</summary>${diffs.map((d) => `<pre>${esc(d.at.slice(0, 19).replace('T', ' '))}  ${esc(d.diff)}</pre>`).join('')}</details>`
      : '';
    const note = notes(r);
    return `<tr${r.claimed ? ' class="claimed"' : ''}>
<td class="route"><code>${esc(r.method)} ${esc(r.route)}</code>${r.claimed ? ' <span class="tag">claimed</span>' : ''}</td>
<td class="n">${r.requests}</td><td class="n php">${pct(r.phpShare)}</td><td class="n app">${pct(r.appShare)}</td>
<td>${r.lastPhp ? esc(r.lastPhp.slice(0, 16).replace('T', ' ')) : 'never'}</td>
<td class="n">${r.p50Ms ?? '-'}</td><td class="n">${r.p95Ms ?? '-'}</td>
<td>${esc(shadowCell(r))}${diffCell}</td>
<td class="note">${note ? esc(note) : ''}</td></tr>`;
  });
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>fpm-bridge: migration ledger</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.3em;margin:0 0 .3em}
.summary{margin:.2em 0 1em}
table{border-collapse:collapse;margin-top:1em}
th,td{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.claimed td.route code{font-weight:bold}
.tag{font-size:.8em;background:#2a7d2e;color:#fff;border-radius:3px;padding:0 .3em}
td.note{color:#8a4b00}
pre{white-space:pre-wrap;max-width:60em;margin:.3em 0;font-size:.9em}
svg text{font:11px system-ui,sans-serif;fill:#555}
.app-bar{fill:#2a7d2e}.php-bar{fill:#6c7fb8}
.legend span{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 1em;vertical-align:middle}
.notice{background:#fff4e0;border:1px solid #e0b060;padding:.5em}
</style></head>
<body>
<h1>Migration ledger</h1>
<p class="summary" id="summary">Since ${esc(data.since.slice(0, 16).replace('T', ' '))} UTC: <b>${t.requests}</b> requests; the app answered <b>${pct(t.appShare)}</b> of what PHP or the app answered (${t.app} app, ${t.php} PHP, ${t.other} static or the bridge's own).</p>
<p>Period: ${periods} · <a href="ledger.json?since=${esc(options.since)}">JSON</a></p>
${options.notice ? `<p class="notice">${esc(options.notice)}</p>` : ''}
<h2>Share answered by the app, per ${hourly ? 'hour' : 'day'}</h2>
<p class="legend"><span class="app-bar" style="background:#2a7d2e"></span>app<span style="background:#6c7fb8"></span>PHP</p>
${chart(points, hourly)}
<h2>Routes by traffic</h2>
${
  data.routes.length === 0
    ? '<p id="empty">No requests in the ledger for this period.</p>'
    : `<table id="routes"><thead><tr><th>route</th><th>requests</th><th>php</th><th>app</th><th>PHP last served</th><th>p50 ms</th><th>p95 ms</th><th>shadow match</th><th>note</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>`
}
<p><small>Generated ${esc(data.generatedAt.slice(0, 19).replace('T', ' '))} UTC. "Ready to claim": the last ${data.readyAfter} shadow comparisons matched.</small></p>
</body></html>
`;
}

const W = 720;
const H = 160;
const LEFT = 40;
const TOP = 10;

/** Stacked bars: the app's share from the bottom, PHP's above it; one bar per hour or day with requests. */
function chart(points: readonly ProgressPoint[], hourly: boolean): string {
  const shown = points.filter((p) => p.appShare !== null);
  if (shown.length === 0) return '<p id="no-chart">Nothing served by PHP or the app in this period yet.</p>';
  const step = (W - LEFT) / shown.length;
  const bar = Math.max(1, step * 0.8);
  const bars = shown.map((p, i) => {
    const x = LEFT + i * step + (step - bar) / 2;
    const appH = Math.round(p.appShare! * H * 10) / 10;
    const label = `${p.at.slice(0, hourly ? 13 : 10).replace('T', ' ')}${hourly ? ':00' : ''}: app ${pct(p.appShare)} of ${p.app + p.php}`;
    return `<g><title>${esc(label)}</title><rect class="php-bar" x="${x.toFixed(1)}" y="${TOP}" width="${bar.toFixed(1)}" height="${(H - appH).toFixed(1)}"/><rect class="app-bar" data-share="${p.appShare}" x="${x.toFixed(1)}" y="${(TOP + H - appH).toFixed(1)}" width="${bar.toFixed(1)}" height="${appH.toFixed(1)}"/></g>`;
  });
  const first = shown[0]!.at.slice(0, hourly ? 13 : 10).replace('T', ' ');
  const last = shown[shown.length - 1]!.at.slice(0, hourly ? 13 : 10).replace('T', ' ');
  return `<svg id="progress" width="${W}" height="${H + TOP + 24}" viewBox="0 0 ${W} ${H + TOP + 24}" role="img" aria-label="share of requests answered by the app">
<text x="0" y="${TOP + 4}">100%</text><text x="0" y="${TOP + H / 2 + 4}">50%</text><text x="0" y="${TOP + H + 4}">0%</text>
<line x1="${LEFT}" y1="${TOP + H / 2}" x2="${W}" y2="${TOP + H / 2}" stroke="#ccc" stroke-dasharray="3,3"/>
${bars.join('\n')}
<text x="${LEFT}" y="${TOP + H + 18}">${esc(first)}${hourly ? ':00' : ''}</text><text x="${W}" y="${TOP + H + 18}" text-anchor="end">${esc(last)}${hourly ? ':00' : ''}</text>
</svg>`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
