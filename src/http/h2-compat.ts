import { IncomingMessage, ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { constants } from 'node:http2';
import type { Socket } from 'node:net';

/**
 * An HTTP/2 request seen through Node's HTTP/1 request and response classes, so everything behind it
 * (the bridge, the fallback with body replay, Express and other apps that swap prototypes onto
 * http.IncomingMessage/ServerResponse) works unchanged over h2.
 *
 * The request is a real http.IncomingMessage fed from the h2 stream (pseudo-headers dropped,
 * `:authority` as Host when the client sent none, as nginx does), read at the pace its reader reads.
 * The response is a real http.ServerResponse whose own header map is used as usual; its output
 * methods are replaced (own properties, so a prototype swap keeps them) to send the head and body on
 * the h2 stream instead of a socket. Connection-specific headers (Connection, Keep-Alive,
 * Transfer-Encoding...), which HTTP/2 forbids (RFC 9113 8.2.2), are dropped from the head.
 */
export function http1View(req2: Http2ServerRequest, res2: Http2ServerResponse): { req: IncomingMessage; res: ServerResponse } {
  const stream = req2.stream;
  // Bytes of this stream's body sent (the session's socket is shared by all its streams).
  const sent = { bytes: 0 };
  const socket = streamSocket(req2, sent);
  const req = new IncomingMessage(socket as unknown as Socket);
  req.method = req2.method;
  req.url = req2.url;
  req.httpVersion = '2.0';
  req.httpVersionMajor = 2;
  req.httpVersionMinor = 0;
  const raw: string[] = [];
  const src = req2.rawHeaders;
  let hasHost = false;
  for (let i = 0; i + 1 < src.length; i += 2) {
    const name = src[i]!;
    if (name.charCodeAt(0) === 58 /* : */) continue;
    if (name === 'host') hasHost = true;
    raw.push(name, src[i + 1]!);
  }
  const authority = req2.headers[':authority'];
  if (!hasHost && typeof authority === 'string') raw.unshift('host', authority);
  req.rawHeaders = raw;
  req.headers = headersOf(raw);
  // A body of unknown length (DATA frames, no content-length) is what chunked is in HTTP/1.1: the
  // bridge's and body parsers' "has a body" tests look for it. Not in rawHeaders, so PHP never sees it.
  if (!stream.endAfterHeaders && req.headers['content-length'] === undefined) req.headers['transfer-encoding'] = 'chunked';
  // The body comes from the h2 stream, never from the session's socket.
  req._read = () => {
    req2.resume();
  };
  req2.on('data', (chunk: Buffer) => {
    if (!req.push(chunk)) req2.pause();
  });
  req2.on('end', () => {
    req.complete = true;
    req.push(null);
  });
  req2.on('aborted', () => {
    if (!req.complete) req.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  });
  req2.on('error', (err) => req.destroy(err));
  // IncomingMessage's own _destroy would destroy `socket`, i.e. every stream of the session.
  req._destroy = (err, cb) => {
    if (!req.complete && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
    cb(err);
  };

  const res = new ServerResponse(req);
  let headSent = false;
  let ended = false;
  let finished = false;
  const sendHead = (): void => {
    if (headSent) return;
    headSent = true;
    const out: OutgoingHttpHeaders = {};
    const headers = res.getHeaders();
    for (const name of Object.keys(headers)) if (!CONNECTION_HEADERS.has(name)) out[name] = headers[name];
    res2.writeHead(res.statusCode, out);
  };
  const own = res as unknown as Record<string, unknown>;
  own.writeHead = function writeHead(status: number, ...rest: unknown[]) {
    if (headSent) throw Object.assign(new Error('Cannot write headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
    res.statusCode = status;
    const headers = typeof rest[0] === 'string' ? rest[1] : rest[0];
    if (typeof rest[0] === 'string') res.statusMessage = rest[0];
    if (Array.isArray(headers)) {
      // [[name, value], ...] or Node's flat raw form [name, value, name, value, ...].
      const pairs: Array<[string, string]> = Array.isArray(headers[0]) ? (headers as Array<[string, string]>) : [];
      if (!Array.isArray(headers[0])) for (let i = 0; i + 1 < headers.length; i += 2) pairs.push([headers[i] as string, headers[i + 1] as string]);
      const seen = new Set<string>();
      for (const [k, v] of pairs) {
        const key = k.toLowerCase();
        if (seen.has(key)) res.appendHeader(k, v);
        else res.setHeader(k, v);
        seen.add(key);
      }
    } else if (headers && typeof headers === 'object') {
      for (const [k, v] of Object.entries(headers as OutgoingHttpHeaders)) if (v !== undefined) res.setHeader(k, v);
    }
    sendHead();
    return res;
  };
  own.flushHeaders = sendHead;
  own.write = function write(chunk: unknown, encoding?: unknown, cb?: unknown) {
    sendHead();
    if (res.req.method === 'HEAD') {
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true;
    }
    sent.bytes += byteLength(chunk, encoding);
    return (res2.write as (...a: unknown[]) => boolean)(chunk, encoding, cb);
  };
  own.end = function end(chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof chunk === 'function') [chunk, encoding, cb] = [undefined, undefined, chunk];
    else if (typeof encoding === 'function') [encoding, cb] = [undefined, encoding];
    if (ended) {
      if (typeof cb === 'function') process.nextTick(cb as () => void);
      return res;
    }
    ended = true;
    const length = byteLength(chunk, encoding);
    if (res.req.method !== 'HEAD') sent.bytes += length;
    if (!headSent && !res.hasHeader('content-length')) {
      if (res.statusCode !== 204 && res.statusCode !== 304 && !(res.statusCode >= 100 && res.statusCode < 200)) res.setHeader('content-length', length);
    }
    sendHead();
    if (typeof cb === 'function') res.once('finish', cb as () => void);
    if (res.req.method === 'HEAD' || chunk === undefined || chunk === null) res2.end();
    else (res2.end as (...a: unknown[]) => void)(chunk, encoding);
    return res;
  };
  own.destroy = function destroy(err?: Error) {
    if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    if (err) res.emit('error', err);
    return res;
  };
  own.setTimeout = function setTimeout(ms: number, cb?: () => void) {
    res2.setTimeout(ms, cb);
    return res;
  };
  own.cork = () => {};
  own.uncork = () => {};
  // Expect: 100-continue over h2: the 100 goes out on the stream (the gate decides whether).
  own.writeContinue = () => res2.writeContinue();
  Object.defineProperties(res, {
    headersSent: { get: () => headSent, configurable: true },
    writableEnded: { get: () => ended, configurable: true },
    writableFinished: { get: () => finished, configurable: true },
    finished: { get: () => ended, configurable: true },
    destroyed: { get: () => stream.destroyed && !finished, configurable: true },
    writableLength: { get: () => stream.writableLength, configurable: true },
    writableNeedDrain: { get: () => stream.writableNeedDrain, configurable: true },
  });
  res2.on('drain', () => res.emit('drain'));
  res2.on('finish', () => {
    finished = true;
    res.emit('finish');
  });
  // Our side is complete while the client may still be sending (a 413, a 401 before the upload was
  // read, Expect: 100-continue refused): RST_STREAM NO_ERROR asks it to stop (RFC 9113 8.1), as
  // nginx does. Left open, the stream waited for a body that never came and held one of the
  // session's streams (res2's own 'finish' waits for the stream to close). Node closes such a stream
  // itself only if it was never read from.
  stream.once('finish', () => {
    if (stream.endAfterHeaders || req.complete) return;
    setImmediate(() => {
      if (!stream.destroyed && !req.complete) stream.close(constants.NGHTTP2_NO_ERROR);
    });
  });
  res2.on('close', () => res.emit('close'));
  res2.on('error', () => {});
  return { req, res };
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (chunk === undefined || chunk === null) return 0;
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  return (chunk as Uint8Array).byteLength;
}

/** RFC 9113 8.2.2: these make an h2 message malformed; Node throws on them. */
const CONNECTION_HEADERS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** As Node's parser builds req.headers: lower-case names, repeats joined (set-cookie kept as a list, cookie with '; '). */
function headersOf(raw: readonly string[]): IncomingMessage['headers'] {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const prev = out[name];
    if (prev === undefined) out[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = prev + (name === 'cookie' ? '; ' : ', ') + value;
  }
  return out;
}

/**
 * What the bridge and apps read from `req.socket` (addresses, `encrypted`, byte counts), without
 * Node's h2 socket proxy, which throws on the stream methods IncomingMessage may call.
 */
function streamSocket(req2: Http2ServerRequest, sent: { bytes: number }): object {
  const s = req2.socket;
  return {
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
    remoteFamily: s.remoteFamily,
    localAddress: s.localAddress,
    localPort: s.localPort,
    encrypted: true,
    alpnProtocol: 'h2',
    get bytesWritten() {
      return sent.bytes;
    },
    get destroyed() {
      return req2.stream.destroyed;
    },
    // on-finished (Express's body parsers) takes a socket that is not readable for a request already
    // read: like a kept-alive HTTP/1.1 socket, this one is while its stream lives.
    get readable() {
      return !req2.stream.destroyed;
    },
    get writable() {
      return !req2.stream.destroyed;
    },
    on() {
      return this;
    },
    once() {
      return this;
    },
    off() {
      return this;
    },
    removeListener() {
      return this;
    },
    setTimeout() {
      return this;
    },
    destroy() {
      if (!req2.stream.destroyed) req2.stream.close(constants.NGHTTP2_CANCEL);
    },
  };
}
