// Medians, ratios and the markdown report of scripts/bench.
import type { Expect, Request, WrkResult } from './bench-wrk.ts';

/** One measured line: a front serving one case. */
export interface Row {
  front: string;
  label: string;
  expect: Expect;
}

export interface Case {
  id: string;
  title: string;
  req: Request;
  /** The front every row's ratio is relative to (the case's nginx, or bare Node for the app path). */
  baseline: string;
  rows: Row[];
  /**
   * An A/B of the same front with one thing changed (the ledger, a shadow): its fronts run back to
   * back, there and back, in every round, and each ratio is the median over the pairs of runs made
   * side by side (pairedRatio), not a ratio of medians taken minutes apart.
   */
  paired?: boolean;
}

export interface SlowClientReport {
  bytesRead: number;
  seconds: number;
  rssBeforeKiB: number;
  rssPeakKiB: number;
  /** Whether the bridge still served PHP right after the client went away. */
  recovered: boolean;
}

export interface Results {
  cases: Case[];
  /** `caseId/front` → one wrk result per round. */
  samples: Map<string, WrkResult[]>;
  /** `caseId/front` → why the front failed its check there (such rows are not measured). */
  failures: Map<string, string>;
  /** caseId → fpm-bridge's VmHWM after that case (a fresh process per case), largest over rounds. */
  bridgePeakKiB: Map<string, number>;
  /** fpm-bridge's RSS right after start-up, before any request (smallest seen). */
  bridgeIdleKiB: number | null;
  /** fpm-bridge's start-ups as the bench's front (the TypeScript app loaded): ms from the spawn to a listening socket. */
  bridgeListenMs: number[];
  /** The start-up check: the command with --fpm given and nothing else (no app), ms to a listening socket. */
  startupMs: number[];
  /**
   * The same starts, interleaved, with this machine's NODE_EXTRA_CA_CERTS left in the environment
   * (the check itself runs without it: Node reads and parses that file before any JavaScript runs);
   * empty when the machine does not set it.
   */
  startupEnvMs: number[];
  /** The NODE_EXTRA_CA_CERTS of the bench's environment, or null. */
  extraCaCerts: string | null;
  /** The start-up check's RSS once listening (smallest over its starts); null when not measured. */
  startupIdleKiB: number | null;
  /** The same command with the bench's app as TypeScript (tsx loaded): ms to listening, and RSS then. */
  startupTsMs: number[];
  startupTsIdleKiB: number | null;
  slow: SlowClientReport | null;
  /** `caseId/front` → the front's CPU ms (all its processes) per request, one per round. */
  cpuPerRequestMs: Map<string, number[]>;
}

/** The cases whose requests and responses are a few KiB at most: issue 11's "small-page cases". */
const SMALL_PAGE_CASES = new Set(['hello', 'static', 'php404', 'app', 'claim', 'cpu']);

/** The bridge's peak RSS over every case (or over the small-page ones), or null when none ran. */
export function bridgePeak(r: Results, smallPagesOnly = false): number | null {
  const peaks = [...r.bridgePeakKiB].filter(([id]) => !smallPagesOnly || SMALL_PAGE_CASES.has(id)).map(([, kib]) => kib);
  return peaks.length > 0 ? Math.max(...peaks) : null;
}

export const key = (caseId: string, front: string) => `${caseId}/${front}`;

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Summary {
  rps: number;
  p99Ms: number;
  /** Responses with an unexpected status, and wrk's socket errors by kind, summed over rounds. */
  errors: string;
}

export function summarize(r: Results, caseId: string, front: string, expect: Expect): Summary | null {
  const runs = r.samples.get(key(caseId, front));
  if (!runs?.length) return null;
  // wrk counts non-2xx/3xx; where a 404 is the expected answer, those are not errors.
  const unexpectedStatus = expect.status >= 400 ? 0 : runs.reduce((n, x) => n + x.non2xx, 0);
  const total = (kind: keyof WrkResult['socket']) => runs.reduce((n, x) => n + x.socket[kind], 0);
  const errors = [
    unexpectedStatus ? `${unexpectedStatus} bad status` : '',
    ...(['connect', 'read', 'write', 'timeout'] as const).map((k) => (total(k) ? `${total(k)} ${k}` : '')),
  ].filter(Boolean);
  return { rps: median(runs.map((x) => x.rps)), p99Ms: median(runs.map((x) => x.p99Ms)), errors: errors.join(', ') };
}

/**
 * A/B cases (Case.paired): the median over i of pick(a's i-th run) / pick(b's i-th run); the i-th runs
 * of the two fronts were made minutes apart at most, in the same stretch of the machine's speed.
 */
export function pairedRatio(r: Results, caseId: string, a: string, b: string, pick: (x: WrkResult) => number = (x) => x.rps): number | null {
  return medianOfPairs(r.samples.get(key(caseId, a))?.map(pick), r.samples.get(key(caseId, b))?.map(pick));
}

/** The same pairing for the fronts' CPU per request. */
export function pairedCpuRatio(r: Results, caseId: string, a: string, b: string): number | null {
  return medianOfPairs(r.cpuPerRequestMs.get(key(caseId, a)), r.cpuPerRequestMs.get(key(caseId, b)));
}

function medianOfPairs(xs: readonly number[] | undefined, ys: readonly number[] | undefined): number | null {
  if (!xs?.length || !ys?.length) return null;
  return median(Array.from({ length: Math.min(xs.length, ys.length) }, (_, i) => xs[i]! / ys[i]!));
}

const fmtRps = (n: number) => (n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n >= 1000 ? `${(n / 1000).toFixed(2)}k` : n.toFixed(0));
const fmtMs = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);
const fmtMiB = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

export function resultsTable(r: Results): string {
  const lines = ['| case | front | req/s | vs baseline | p99 | errors |', '|---|---|---:|---:|---:|---:|'];
  for (const c of r.cases) {
    const base = c.rows.find((row) => row.front === c.baseline);
    const baseRps = base ? summarize(r, c.id, base.front, base.expect)?.rps ?? NaN : NaN;
    c.rows.forEach((row, i) => {
      const s = summarize(r, c.id, row.front, row.expect);
      const label = row.front === c.baseline ? `${row.label} *(baseline)*` : row.label;
      const title = i === 0 ? `**${c.title}**` : '';
      const failed = r.failures.get(key(c.id, row.front));
      if (failed) {
        lines.push(`| ${title} | ${label} | — | — | — | check failed: ${failed.replace(/\|/g, '\\|')} |`);
        return;
      }
      if (!s) {
        lines.push(`| ${title} | ${label} | — | — | — | not run |`);
        return;
      }
      const vs = c.paired ? pairedRatio(r, c.id, row.front, c.baseline) ?? NaN : s.rps / baseRps;
      lines.push(`| ${title} | ${label} | ${fmtRps(s.rps)} | ${vs.toFixed(2)}${c.paired ? ' (paired)' : ''} | ${fmtMs(s.p99Ms)} | ${s.errors} |`);
    });
  }
  return lines.join('\n');
}

const sortedMs = (ms: number[]): string => [...ms].sort((a, b) => a - b).map((x) => x.toFixed(0)).join(', ');

export function memoryLines(r: Results): string {
  const out: string[] = [];
  const peak = bridgePeak(r);
  if (peak !== null) {
    const perCase = [...r.bridgePeakKiB].map(([id, kib]) => `${id} ${fmtMiB(kib)}`).join(', ');
    const idle = r.bridgeIdleKiB !== null ? `; idle right after start-up ${fmtMiB(r.bridgeIdleKiB)}` : '';
    out.push(`- fpm-bridge peak RSS (VmHWM at the end of each case, a fresh process per case, largest over rounds): **${fmtMiB(peak)}** (${perCase})${idle}`);
  }
  if (r.startupMs.length > 0) {
    const idle = r.startupIdleKiB !== null ? `; RSS once listening ${fmtMiB(r.startupIdleKiB)}` : '';
    const env = r.extraCaCerts !== null ? ', in Node\'s default environment (no NODE_EXTRA_CA_CERTS)' : '';
    out.push(`- fpm-bridge start-up, from the spawn of the command to a listening socket, \`--fpm\` given, no app${env}: median **${median(r.startupMs).toFixed(0)} ms** (${sortedMs(r.startupMs)})${idle}`);
  }
  if (r.startupEnvMs.length > 0) {
    out.push(
      `- the same starts, interleaved, with this machine's NODE_EXTRA_CA_CERTS=${r.extraCaCerts} (Node parses it before running any JavaScript): median ${median(r.startupEnvMs).toFixed(0)} ms (${sortedMs(r.startupEnvMs)})`,
    );
  }
  if (r.bridgeListenMs.length > 0) {
    out.push(`- the same for the bench's bridge, its app compiled to JavaScript (polled every 20 ms): median ${median(r.bridgeListenMs).toFixed(0)} ms over ${r.bridgeListenMs.length} starts`);
  }
  if (r.startupTsMs.length > 0) {
    const idle = r.startupTsIdleKiB !== null ? `; RSS once listening ${fmtMiB(r.startupTsIdleKiB)}` : '';
    // Started in the same environment as the start-up check (startupCheck): say so where it differs from the bench's.
    const env = r.extraCaCerts !== null ? ", in Node's default environment (no NODE_EXTRA_CA_CERTS)" : '';
    out.push(`- the start-up check with the bench's app as TypeScript (\`--app app.ts\`, tsx loaded for it${env}): median ${median(r.startupTsMs).toFixed(0)} ms over ${r.startupTsMs.length} starts${idle}`);
  }
  if (r.slow) {
    const s = r.slow;
    const rate = s.bytesRead / 1048576 / s.seconds;
    out.push(
      `- 1 GiB PHP response to a slow client (${(s.bytesRead / 1048576).toFixed(0)} MiB read in ${s.seconds} s, ~${rate.toFixed(0)} MiB/s): ` +
        `bridge RSS ${fmtMiB(s.rssBeforeKiB)} → peak ${fmtMiB(s.rssPeakKiB)}, growth **${fmtMiB(s.rssPeakKiB - s.rssBeforeKiB)}**; ` +
        `served PHP again after the client left: ${s.recovered ? 'yes' : '**no**'}`,
    );
  }
  return out.join('\n');
}

// ---------------------------------------------------------------- the goals

interface Goal {
  text: string;
  /** The measured value, or null when a side was not measured. */
  value: number | null;
  show: (v: number) => string;
  met: (v: number) => boolean;
}

/** Median CPU per request of front `a` over front `b` on one case (by default --workers 2 over one process). */
function cpuRatio(r: Results, caseId: string, a = 'bridge-w2', b = 'bridge'): number | null {
  const xs = r.cpuPerRequestMs.get(key(caseId, a));
  const ys = r.cpuPerRequestMs.get(key(caseId, b));
  return xs?.length && ys?.length ? median(xs) / median(ys) : null;
}

/** The fronts' CPU per request, for the report and the README's scaling projection. */
export function cpuLines(r: Results): string {
  const out: string[] = [];
  for (const [k, xs] of r.cpuPerRequestMs) {
    // Each round's figure too, in the order run: a front whose process falls into a slow mode shows
    // as one round apart (the gzip case: 514, 554, 878 µs), which a median alone hides.
    const rounds = xs.length > 1 ? `: ${xs.map((x) => (x * 1000).toFixed(0)).join(', ')}` : '';
    out.push(`- front CPU per request, ${k}: ${(median(xs) * 1000).toFixed(0)} µs (median over rounds${rounds}; all the front's processes)`);
  }
  return out.join('\n');
}

export function goalsTable(r: Results): string {
  const rowOf = (caseId: string, front: string) => r.cases.find((c) => c.id === caseId)?.rows.find((x) => x.front === front);
  const sum = (caseId: string, front: string) => {
    const row = rowOf(caseId, front);
    return row ? summarize(r, caseId, front, row.expect) : null;
  };
  const ratio = (caseId: string, a: string, b: string) => {
    const x = sum(caseId, a);
    const y = sum(caseId, b);
    return x && y ? x.rps / y.rps : null;
  };
  /** One front's req/s in one case over another's in another case, same run. */
  const crossRatio = (caseA: string, a: string, caseB: string, b: string) => {
    const x = sum(caseA, a);
    const y = sum(caseB, b);
    return x && y ? x.rps / y.rps : null;
  };
  const p99Ratio = (caseId: string, a = 'bridge', b = 'nginx') => {
    const x = sum(caseId, a);
    const y = sum(caseId, b);
    return x && y ? x.p99Ms / y.p99Ms : null;
  };
  const times = (v: number) => `${v.toFixed(2)}x`;
  const atLeast = (text: string, value: number | null, target: number): Goal => ({ text, value, show: times, met: (v) => v >= target });
  const goals: Goal[] = [
    atLeast('PHP hello ≥ 1.0x nginx (plain fastcgi_pass)', ratio('hello', 'bridge', 'nginx'), 1.0),
    atLeast('PHP hello vs nginx with keepalive (aim ≥ 1.0x)', ratio('hello', 'bridge', 'nginx-keepalive'), 1.0),
    atLeast('PHP 1 MiB response ≥ 1.5x nginx', ratio('1mib', 'bridge', 'nginx'), 1.5),
    atLeast('PHP 404 → app ≥ 1.5x the seed\'s setup', ratio('php404', 'bridge', 'nginx-seed'), 1.5),
    atLeast('PHP 404 → app ≥ 1.3x nginx error_page', ratio('php404', 'bridge', 'nginx-error-page'), 1.3),
    atLeast('PHP 404 → app ≈ 0.94x nginx\'s plain 404', ratio('php404', 'bridge', 'nginx'), 0.94),
    atLeast('no PHP script → app ≥ 0.7x bare Node', ratio('app', 'bridge', 'node'), 0.7),
    atLeast('a claimed route ≥ 0.9x the no-PHP-script app path (claim/app)', crossRatio('claim', 'bridge-claim', 'app', 'bridge'), 0.9),
    atLeast('static 4 KiB ≥ 1.2x php -S', ratio('static', 'bridge', 'php-s'), 1.2),
    atLeast('PHP hello with the ledger on ≥ 0.97x off (costs ≤ 3% req/s; paired runs)', pairedRatio(r, 'ledger', 'bridge-ledger-on', 'bridge-ledger-off'), 0.97),
    { text: 'the same, as front CPU per request: ledger on ≤ 1.03x off (paired runs)', value: pairedCpuRatio(r, 'ledger', 'bridge-ledger-on', 'bridge-ledger-off'), show: times, met: (v) => v <= 1.03 },
    atLeast('static 4 KiB ≥ 1.2x Caddy', ratio('static', 'bridge', 'caddy'), 1.2),
    ...['hello', '1mib', 'post'].map(
      (id): Goal => ({ text: `p99 ${id} ≤ nginx's (bridge/nginx)`, value: p99Ratio(id), show: times, met: (v) => v <= 1 }),
    ),
    { text: "--shadow: PHP hello's p99 with every request shadowed ≤ 1.10x without (bridge-shadow/bridge; paired runs)", value: pairedRatio(r, 'shadow', 'bridge-shadow', 'bridge', (x) => x.p99Ms), show: times, met: (v) => v <= 1.1 },
    { text: "--shadow @0.1: PHP hello's p99 with a tenth shadowed ≤ 1.10x without (bridge-shadow-10/bridge; paired runs)", value: pairedRatio(r, 'shadow', 'bridge-shadow-10', 'bridge', (x) => x.p99Ms), show: times, met: (v) => v <= 1.1 },
    atLeast('--workers 2: app route burning 1 ms CPU ≥ 1.7x one process (wrk unpinned, shares the cores)', ratio('cpu', 'bridge-w2', 'bridge'), 1.7),
    atLeast('--workers 2: 4 KiB static ≥ 1.2x one process (wrk unpinned, shares the cores)', ratio('static-w', 'bridge-w2', 'bridge'), 1.2),
    {
      text: '--workers 2: front CPU per request ≤ one process (1 ms CPU route; w2/one)',
      value: cpuRatio(r, 'cpu'),
      show: times,
      met: (v) => v <= 1.05,
    },
    // Issue 11 (lean) and 13 (HTTPS, compression).
    atLeast('PHP hello ≥ 1.1x nginx fastcgi_pass (issue 11)', ratio('hello', 'bridge', 'nginx'), 1.1),
    { text: "front CPU per request, PHP hello ≤ 1.2x nginx's (master and workers)", value: cpuRatio(r, 'hello', 'bridge', 'nginx'), show: times, met: (v) => v <= 1.2 },
    { text: "front CPU per request, 4 KiB static ≤ 1.0x nginx's", value: cpuRatio(r, 'static', 'bridge', 'nginx'), show: times, met: (v) => v <= 1.0 },
    { text: "bridge idle RSS ≤ 55 MiB (right after start-up, the bench's app loaded, compiled to JavaScript)", value: r.bridgeIdleKiB, show: fmtMiB, met: (v) => v <= 55 * 1024 },
    { text: 'the same for the command alone (--fpm given, no app: the start-up check)', value: r.startupIdleKiB, show: fmtMiB, met: (v) => v <= 55 * 1024 },
    { text: `bridge start-up to a listening socket ≤ 250 ms with --fpm given (median${r.extraCaCerts !== null ? "; Node's default environment, without this machine's NODE_EXTRA_CA_CERTS" : ''})`, value: r.startupMs.length ? median(r.startupMs) : null, show: (v) => `${v.toFixed(0)} ms`, met: (v) => v <= 250 },
    atLeast('PHP hello over HTTPS ≥ 0.9x nginx ssl http2 (issue 13)', ratio('https', 'bridge-tls', 'nginx-ssl'), 0.9),
    atLeast('the same over HTTP/2, as browsers speak HTTPS (h2load, one connection, 16 streams)', ratio('h2', 'bridge-tls', 'nginx-ssl'), 0.9),
    atLeast('PHP 100 KiB HTML gzip ≥ 1.0x nginx gzip on, same level (issue 13)', ratio('gzip', 'bridge', 'nginx-gzip'), 1.0),
    { text: 'bridge peak RSS under the small-page cases ≤ 80 MiB (hello, static, PHP 404 and app routes)', value: bridgePeak(r, true), show: fmtMiB, met: (v) => v <= 80 * 1024 },
    {
      text: 'slow 1 GiB client: RSS growth < 32 MiB',
      value: r.slow ? r.slow.rssPeakKiB - r.slow.rssBeforeKiB : null,
      show: fmtMiB,
      met: (v) => v < 32 * 1024,
    },
  ];
  const lines = ['| goal | measured | met |', '|---|---:|:---:|'];
  for (const g of goals) {
    if (g.value === null || !Number.isFinite(g.value)) lines.push(`| ${g.text} | — | not measured |`);
    else lines.push(`| ${g.text} | ${g.show(g.value)} | ${g.met(g.value) ? 'yes' : '**no**'} |`);
  }
  return lines.join('\n');
}
