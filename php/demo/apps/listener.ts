// A plain Node (req, res) listener: the default export is called for every request PHP declines.
// GET /hello greets, POST /hello echoes the body (the bridge replays it even when PHP read it first),
// anything else is a 404, which hands the request back: the client then gets PHP's own 404.
import type { IncomingMessage, ServerResponse } from 'node:http';

export default async function app(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { pathname } = new URL(req.url ?? '/', 'http://app');
  if (pathname === '/hello' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Hello from a plain listener\n');
    return;
  }
  if (pathname === '/hello' && req.method === 'POST') {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream', 'content-length': body.length });
    res.end(body);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found in the app\n');
}
