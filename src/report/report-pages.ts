import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminHandler } from '../http/admin-server.ts';
import type { LedgerHealth } from '../ledger/ledger.ts';
import { LedgerOpenError, LedgerStore } from '../ledger/ledger-store.ts';
import { LedgerUnavailableError } from '../ledger/sqlite.ts';
import { parseSince } from './report-command.ts';
import { readReport, type ReportData } from './report-data.ts';
import { reportHtml } from './report-html.ts';

/** No script, nothing fetched: the page is inline HTML, CSS and SVG only. */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The admin listener's ledger pages: `/ledger` (HTML: the table and the progress chart) and
 * `/ledger.json` (the same data, the shape of `fpm-bridge report --json`), each with `?since=7d`.
 * They read the file the bridge writes (read-only, a fresh look per request: at most one batch, a
 * second, behind). `health`: the in-process writer's failures, when this process has the writer.
 */
export function ledgerPages(file: string, health: (() => LedgerHealth) | null = null): Record<string, AdminHandler> {
  const load = (req: IncomingMessage): { since: string; data: ReportData } | { status: number; error: string } => {
    const since = new URL(req.url ?? '/', 'http://admin').searchParams.get('since') ?? '7d';
    let periodMs: number;
    try {
      periodMs = parseSince(since);
    } catch (err) {
      return { status: 400, error: `since: ${(err as Error).message}` };
    }
    let store: LedgerStore;
    try {
      store = new LedgerStore(file, { readonly: true });
    } catch (err) {
      if (err instanceof LedgerOpenError || err instanceof LedgerUnavailableError) return { status: 503, error: err.message };
      throw err;
    }
    try {
      const now = Date.now();
      return { since, data: readReport(store, now - periodMs, now) };
    } finally {
      store.close();
    }
  };
  const writerNotice = (): string | null => {
    const h = health?.();
    if (!h || h.failedBatches === 0) return null;
    return `${h.failedBatches} batch${h.failedBatches === 1 ? '' : 'es'} (${h.droppedEvents} requests) could not be written to the ledger since start-up; the last error: ${h.lastError}`;
  };
  return {
    '/ledger': (req, res) => {
      const got = load(req);
      if ('error' in got) return send(res, got.status, 'text/plain; charset=utf-8', got.error + '\n');
      send(res, 200, 'text/html; charset=utf-8', reportHtml(got.data, { since: got.since, notice: writerNotice() }), { 'content-security-policy': PAGE_CSP });
    },
    '/ledger.json': (req, res) => {
      const got = load(req);
      if ('error' in got) return send(res, got.status, 'application/json', JSON.stringify({ error: got.error }) + '\n');
      send(res, 200, 'application/json', JSON.stringify(got.data, null, 2) + '\n');
    },
  };
}

function send(res: ServerResponse, status: number, type: string, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
