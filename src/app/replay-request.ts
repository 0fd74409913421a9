import { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { BufferedBody } from '../http/request-body.ts';

/**
 * One function for every in-memory copy, not a closure per request: a fresh function stored as an
 * own property of each copy left old-space garbage behind every PHP 404 → app request. On Node 24,
 * 7.5 MB promoted in 6 s of a paced load, with mark-compacts of several ms, against 0.2 MB with this;
 * over gc-retention.test.ts's 3000 requests 0.8 MB (Node 20) and 2.7 MB (22, 24), now 0.1 MB.
 */
export function readNothing(): void {}

/**
 * A second copy of a request whose body the bridge already read (and sent to PHP): same method, URL,
 * headers and socket, with the buffered body to read again. Express body parsers, Hono's adapter and
 * anything else that reads `req` as a stream see the request as it came.
 */
export function replayRequest(original: IncomingMessage, body: BufferedBody): IncomingMessage {
  const copy = new IncomingMessage(original.socket);
  copy.method = original.method;
  copy.url = original.url;
  copy.httpVersion = original.httpVersion;
  copy.httpVersionMajor = original.httpVersionMajor;
  copy.httpVersionMinor = original.httpVersionMinor;
  copy.rawHeaders = original.rawHeaders;
  copy.headers = original.headers;
  copy.rawTrailers = original.rawTrailers;
  copy.trailers = original.trailers;
  copy.complete = true;
  if (body.chunks) {
    // The body comes from memory, never from the socket: reading must not resume it.
    copy._read = readNothing;
    for (const chunk of body.chunks) copy.push(chunk);
    copy.push(null);
    return copy;
  }
  // A spooled body is read from its file at the pace the app reads it.
  const source = Readable.from(body.stream());
  copy._read = () => {
    source.resume();
  };
  source.on('data', (chunk: Buffer) => {
    if (!copy.push(chunk)) source.pause();
  });
  source.on('end', () => copy.push(null));
  // Disposed under an app that stopped reading (its response ended first): end quietly, since an
  // 'error' nobody listens for would be thrown. An app that listens still hears a real read error.
  source.on('error', (err) => copy.destroy(copy.listenerCount('error') > 0 ? err : undefined));
  // The copy shares the original's socket, and IncomingMessage's own _destroy destroys the socket of
  // a request not read to its end: an app that answered without reading a spooled body (a 401 before
  // the upload) had its kept-alive client reset on the next request, after a response that said
  // keep-alive. The body is already in; what becomes of the connection is the response's business.
  copy._destroy = (err, cb) => {
    source.destroy();
    cb(err);
  };
  return copy;
}
