import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log/logger.ts';
import type { NodeListener } from './app-module.ts';

/** A failed reload, as --watch keeps it: the error and when the app last loaded fine. */
export interface ReloadState {
  readonly failure: { error: unknown; at: Date } | undefined;
  readonly loadedAt: Date;
}

export interface DevErrorOptions {
  logger: Logger;
  /** --watch: the reloader's state (a failed reload shows its page to browsers). */
  reload?: ReloadState | undefined;
}

/** Where an error points in the user's code, with the lines around it. */
export interface ErrorSource {
  file: string;
  line: number;
  column: number | undefined;
  /** [line number, text], a few each side. */
  excerpt: Array<[number, string]>;
}

/** A browser navigating (Accept includes text/html), not fetch(), curl or an API client. */
export function wantsHtml(req: IncomingMessage): boolean {
  return /\btext\/html\b/i.test(String(req.headers.accept ?? ''));
}

function wantsJson(req: IncomingMessage): boolean {
  return /\bapplication\/(?:[\w.+-]*\+)?json\b/i.test(String(req.headers.accept ?? ''));
}

/**
 * Development mode's app wrapper. An app that throws (or rejects) before answering: a browser gets an
 * HTML page with the message, file:line and the source around it; a JSON client gets the same as
 * JSON; anything else the bridge's plain 500. After a failed --watch reload, browsers get that
 * reload's error page (with the time of the last good load) instead of the old app's answer, which
 * made an edit look ignored; other clients keep getting the last good app. Logged as runApp logs.
 * Never used in production mode: main wraps the app only with --dev in effect.
 */
export function withDevErrorPages(app: NodeListener, options: DevErrorOptions): NodeListener {
  const { logger, reload } = options;
  return (req, res) => {
    const failure = reload?.failure;
    if (failure && wantsHtml(req)) {
      sendPage(res, renderErrorPage({ title: 'The app failed to reload', error: failure.error, failedAt: failure.at, loadedAt: reload!.loadedAt, url: req.url ?? '/' }));
      return undefined;
    }
    const failed = (err: unknown): void => {
      if (res.headersSent || !(wantsHtml(req) || wantsJson(req))) throw err;
      logger.error(`the app failed on ${req.method} ${req.url}`, err);
      if (wantsHtml(req)) sendPage(res, renderErrorPage({ title: 'The app threw an error', error: err, loadedAt: reload?.loadedAt, url: req.url ?? '/' }));
      else sendJson(res, err);
    };
    let result: unknown;
    try {
      result = app(req, res);
    } catch (err) {
      failed(err);
      return undefined;
    }
    if (result && typeof (result as Promise<unknown>).then === 'function') return (result as Promise<unknown>).then(undefined, failed);
    return result;
  };
}

function sendPage(res: ServerResponse, html: string): void {
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(500, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'cache-control': 'no-store' });
  res.end(html);
}

function sendJson(res: ServerResponse, err: unknown): void {
  const source = errorSource(err);
  const body = JSON.stringify({
    error: 'the app threw an error (fpm-bridge development mode)',
    message: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    ...(source ? { file: source.file, line: source.line } : {}),
  });
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * The first place in the user's code an error points at: esbuild's `file:line:col: ERROR:` (a
 * TypeScript syntax error), Node's `file:line` heading a SyntaxError, else the first stack frame
 * outside node's internals, node_modules and fpm-bridge's own src/.
 */
export function errorSource(err: unknown, context = 3): ErrorSource | undefined {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  if (!(cause instanceof Error)) return undefined;
  const text = `${cause.message}\n${cause.stack ?? ''}`;
  const ours = fileURLToPath(new URL('../', import.meta.url));
  const candidates = [...text.matchAll(/(?:file:\/\/)?(\/[^\s():?]+)(?:\?[^\s():]*)?:(\d+)(?::(\d+))?/g)];
  for (const m of candidates) {
    const file = decodeURIComponent(m[1]!);
    if (file.includes('/node_modules/') || file.startsWith(ours)) continue;
    let lines: string[];
    try {
      lines = readFileSync(file, 'utf8').split('\n');
    } catch {
      continue;
    }
    const line = Number(m[2]);
    if (line < 1 || line > lines.length) continue;
    const from = Math.max(1, line - context);
    const to = Math.min(lines.length, line + context);
    const excerpt: Array<[number, string]> = [];
    for (let n = from; n <= to; n++) excerpt.push([n, lines[n - 1]!]);
    return { file, line, column: m[3] ? Number(m[3]) : undefined, excerpt };
  }
  return undefined;
}

export interface PageInput {
  title: string;
  error: unknown;
  url: string;
  loadedAt?: Date | undefined;
  failedAt?: Date | undefined;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const clock = (d: Date) => d.toTimeString().slice(0, 8);

/** The page: self-contained (no script, no external resource), every value escaped. */
export function renderErrorPage(p: PageInput): string {
  const cause = p.error instanceof Error && p.error.cause instanceof Error ? p.error.cause : p.error;
  // esbuild's TransformError (a TypeScript syntax error) names file:line itself; its stack is esbuild's.
  const transform = cause instanceof Error && cause.name === 'TransformError';
  const message = transform
    ? (cause as Error).message.replace(/^Transform failed with \d+ errors?:\n/, '').replace(/: ERROR: /g, ': ')
    : cause instanceof Error
      ? `${cause.name}: ${cause.message}`
      : String(cause);
  const source = errorSource(p.error);
  // The app's frames: not node's, not tsx's, not fpm-bridge's own (which called it).
  const ours = fileURLToPath(new URL('../', import.meta.url));
  const stack =
    !transform && cause instanceof Error && cause.stack
      ? cause.stack
          .split('\n')
          .filter((l) => /^\s+at /.test(l) && !/\(node:|at node:|\/node_modules\/tsx\//.test(l) && !l.includes(ours))
          .join('\n')
      : '';
  const excerpt = source
    ? `<pre class="code">${source.excerpt.map(([n, t]) => `<span class="${n === source.line ? 'hit' : ''}"><i>${String(n).padStart(4)}</i> ${esc(t)}</span>`).join('')}</pre>`
    : '';
  const when = [
    p.failedAt ? `reload failed at ${clock(p.failedAt)}` : '',
    p.loadedAt ? `last good load at ${clock(p.loadedAt)}${p.failedAt ? ' (other clients still get that app)' : ''}` : '',
  ].filter(Boolean);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(p.title)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#fafafa;color:#222}
header{background:#b3261e;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}
header p{margin:6px 0 0;opacity:.9}main{padding:20px 28px}
.msg{font:600 17px/1.4 ui-monospace,monospace;white-space:pre-wrap;margin:0 0 14px}
.where{font-family:ui-monospace,monospace;color:#555;margin-bottom:8px}
pre{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 0;overflow:auto;font:13px/1.55 ui-monospace,monospace}
pre span{display:block;padding:0 14px}pre i{color:#999;font-style:normal}pre .hit{background:#fde7e6;box-shadow:inset 3px 0 #b3261e}
.stack{color:#555;padding:10px 14px}footer{color:#777;font-size:13px;padding:0 28px 24px}
</style></head>
<body><header><h1>${esc(p.title)}</h1><p>${esc(p.url)}${when.length ? ' · ' + esc(when.join(' · ')) : ''}</p></header>
<main><p class="msg">${esc(message)}</p>
${source ? `<div class="where">${esc(source.file)}:${source.line}${source.column ? `:${source.column}` : ''}</div>${excerpt}` : ''}
${stack ? `<pre class="stack">${esc(stack)}</pre>` : ''}
</main>
<footer>fpm-bridge development mode: this page is shown to browsers only, never with --no-dev or --fpm. ${
    p.failedAt ? 'Save the fixed file: the app reloads and this page goes away.' : 'The error is also in the terminal, under its request.'
  }</footer>
</body></html>
`;
}
