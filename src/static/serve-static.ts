import type { IncomingMessage, ServerResponse } from 'node:http';
import send from 'send';
import { encodePath } from '../route/request-target.ts';

/**
 * Serves one file the route decision already found and vetted. `send` (the expressjs library) does
 * the HTTP part: ETag and Last-Modified with 304, Range and 206/416, HEAD, MIME types, streaming.
 */
export function serveStatic(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  path: string,
  onError: (status: number, err: Error) => void,
): void {
  // `send` decodes the path itself and re-checks it stays under root; hand it an encoded one.
  // Dotfiles were already refused by the route decision, except /.well-known/ which must be allowed here.
  const stream = send(req, encodePath(path), { root: Buffer.from(root, 'latin1').toString(), dotfiles: 'allow', index: false });
  stream.on('error', (err: Error & { status?: number }) => onError(err.status ?? 500, err));
  stream.pipe(res);
}
