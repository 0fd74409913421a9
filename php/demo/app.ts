// The new backend, in TypeScript, loaded by fpm-bridge with no build step. It is a plain Node
// (req, res) listener; an Express app or a Hono app ({ fetch }) would do as well.
import type { IncomingMessage, ServerResponse } from 'node:http';

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export default async function app(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://demo');
  if (url.pathname === '/hello') {
    // Like the seed's Flask hello: echo the method, the URL and the (replayed) body.
    const body = req.method === 'POST' ? await readBody(req) : '';
    return send(res, 200, 'text/plain; charset=utf-8', `Hello from the TypeScript app!\n${req.method} ${req.url}\n${body}\n`);
  }
  if (url.pathname === '/api/time') {
    return send(res, 200, 'application/json', JSON.stringify({ now: new Date().toISOString(), servedBy: 'app.ts' }) + '\n');
  }
  if (url.pathname === '/packages/' && url.searchParams.get('name') === 'hello') {
    return send(res, 200, 'text/html; charset=utf-8', '<h1>Package hello</h1><p>This package page is served by the new TypeScript app.</p><p><a href="/">back</a></p>\n');
  }
  // Not ours: a 404 hands the request back, and the client gets PHP's own 404.
  send(res, 404, 'text/plain', 'not found in app\n');
}
