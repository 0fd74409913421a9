import type { IncomingMessage, ServerResponse } from 'node:http';
import fresh from 'fresh';
import send from 'send';
import { encodePath } from '../route/request-target.ts';
import type { CachedFile, SmallFileCache } from './small-file-cache.ts';

/**
 * Serves one file the route decision already found and vetted. `send` (the expressjs library) does
 * the HTTP part: ETag and Last-Modified with 304, Range and 206/416, HEAD, MIME types, streaming. Small
 * files come from memory with the same headers (SmallFileCache) when the request needs nothing but
 * the whole file or a 304.
 */
export function serveStatic(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  path: string,
  file: string,
  cache: SmallFileCache | null,
  onError: (status: number, err: Error) => void,
): void {
  const h = req.headers;
  if (cache && h.range === undefined && h['if-match'] === undefined && h['if-unmodified-since'] === undefined) {
    const cached = cache.get(file);
    if (!(cached instanceof Promise)) return sendCached(req, res, cached);
    cached.then(
      (c) => (c ? sendCached(req, res, c) : sendFile(req, res, root, path, onError)),
      (err: Error) => onError(500, err),
    );
    return;
  }
  sendFile(req, res, root, path, onError);
}

function sendCached(req: IncomingMessage, res: ServerResponse, file: CachedFile): void {
  // RFC 9110 13.1.2/13.1.3 via `fresh`, as send does it: If-None-Match, else If-Modified-Since.
  if ((req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined) &&
      fresh(req.headers, { etag: file.etag, 'last-modified': file.lastModified })) {
    res.writeHead(304, file.headers.slice(0, 8));
    res.end();
    return;
  }
  res.writeHead(200, [...file.headers, 'Content-Length', String(file.body.length)]);
  if (req.method === 'HEAD') res.end();
  else res.end(file.body);
}

function sendFile(req: IncomingMessage, res: ServerResponse, root: string, path: string, onError: (status: number, err: Error) => void): void {
  // `send` decodes the path itself and re-checks it stays under root; hand it an encoded one.
  // Dotfiles were already refused by the route decision, except /.well-known/ which must be allowed here.
  const stream = send(req, encodePath(path), { root: Buffer.from(root, 'latin1').toString(), dotfiles: 'allow', index: false });
  stream.on('error', (err: Error & { status?: number }) => onError(err.status ?? 500, err));
  stream.pipe(res);
}
