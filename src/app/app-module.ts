import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * @hono/node-server is loaded only when a fetch-style app is given: it costs some 12 MiB of memory,
 * which a plain listener app has no use for.
 */
let adapter: Promise<typeof import('@hono/node-server')> | null = null;

/** The new backend as the bridge calls it: a Node request listener. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/** A fetch-style app (Hono, itty-router, anything with `fetch(Request): Response`). */
export interface FetchApp {
  fetch(request: Request, ...rest: unknown[]): Response | Promise<Response>;
}

export type AppExport = NodeListener | FetchApp;

function isFetchApp(value: unknown): value is FetchApp {
  return typeof value === 'object' && value !== null && typeof (value as FetchApp).fetch === 'function';
}

/**
 * Accepts what an app module exports by default: a `(req, res)` listener (Express, Connect, Koa's
 * `callback()`, a plain function) or a `{ fetch }` object, adapted by @hono/node-server.
 */
export function toNodeListener(value: unknown, what = 'the app'): NodeListener {
  if (isFetchApp(value)) {
    const app = value;
    adapter ??= import('@hono/node-server');
    let listener: NodeListener | null = null;
    const ready = adapter.then((m) => (listener = m.getRequestListener((request) => app.fetch(request))));
    return (req, res) => (listener ? listener(req, res) : ready.then((l) => l(req, res)));
  }
  if (typeof value === 'function') return value as NodeListener;
  throw new TypeError(`${what} must export a (req, res) listener or an object with fetch(request) (got ${describe(value)})`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object with keys ${Object.keys(value).join(', ') || '(none)'}`;
  return typeof value;
}
