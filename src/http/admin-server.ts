import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { bindTo, type ListenAddress } from './listen.ts';

/** Answers one admin request; may be async (a metrics scrape asks the workers). */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The operators' listener (`--admin-listen`): health checks, metrics, reports. Its own port, never
 * the public one, so nothing here is reachable by the clients of the site unless the operator opens
 * it. Pages register by path (`route`); GET and HEAD only; anything else is 404/405. Shared by every
 * admin page (health and metrics, the migration report).
 */
export interface AdminServer {
  readonly url: string;
  readonly port: number;
  route(path: string, handler: AdminHandler): void;
  close(): Promise<void>;
}

export function listenAdmin(at: ListenAddress, onError: (path: string, err: unknown) => void = () => {}): Promise<AdminServer> {
  const routes = new Map<string, AdminHandler>();
  const server = createServer({ maxHeaderSize: 8 * 1024, headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const handler = routes.get(path);
    const plain = (status: number, text: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    if (!handler) return plain(404, `not found; this listener serves ${[...routes.keys()].sort().join(' ')}\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(405, 'GET or HEAD\n', { allow: 'GET, HEAD' });
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((err: unknown) => {
        onError(path, err);
        if (!res.headersSent) plain(500, 'internal error\n');
        else res.destroy();
      });
  });
  return bindTo(server, at, 'http').then(({ port, url }) => ({
    url,
    port,
    route: (path, handler) => void routes.set(path, handler),
    close: () =>
      new Promise((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  }));
}
