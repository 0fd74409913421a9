import { IncomingMessage, ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Stream } from 'node:http2';
import { constants } from 'node:http2';
import type { Socket } from 'node:net';
import { headersFromRaw } from './raw-headers.ts';

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
  const socket = new StreamSocket(req2);
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
  req.headers = headersFromRaw(raw);
  // A body of unknown length (DATA frames, no content-length) is what chunked is in HTTP/1.1: the
  // bridge's and body parsers' "has a body" tests look for it. Not in rawHeaders, so PHP never sees it.
  if (!stream.endAfterHeaders && req.headers['content-length'] === undefined) req.headers['transfer-encoding'] = 'chunked';

  const res = new ServerResponse(req);
  const view = new View(req2, res2, req, res, socket);
  (req as unknown as Viewed)[kView] = view;
  (res as unknown as Viewed)[kView] = view;
  // The body comes from the h2 stream, never from the session's socket; and IncomingMessage's own
  // _destroy would destroy `socket`, i.e. every stream of the session.
  req._read = readFromStream;
  req._destroy = destroyRequest;
  if (stream.endAfterHeaders) {
    // No body (a GET's END_STREAM came with its HEADERS): the request is complete as it is, as
    // Node's HTTP/1 parser leaves it, and nothing is read from the h2 stream.
    req.complete = true;
    req.push(null);
  } else {
    // Listeners close over the view: a property added to Node's h2 stream (a Duplex) made Node 24
    // promote every request's objects.
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
    // Our side is complete while the client may still be sending (a 413, a 401 before the upload
    // was read, Expect: 100-continue refused): RST_STREAM NO_ERROR asks it to stop (RFC 9113 8.1),
    // as nginx does. Left open, the stream waited for a body that never came and held one of the
    // session's streams (res2's own 'finish' waits for the stream to close). Node closes such a
    // stream itself only if it was never read from.
    stream.once('finish', () => {
      if (!req.complete) setImmediate(stopReading, stream, req);
    });
  }
  req2.on('error', (err) => req.destroy(err));

  const own = res as unknown as Record<string, unknown>;
  own.writeHead = writeHead;
  own.flushHeaders = flushHeaders;
  own.write = write;
  own.end = end;
  own.destroy = destroyResponse;
  own.setTimeout = setResponseTimeout;
  own.cork = nothing;
  own.uncork = nothing;
  // Expect: 100-continue over h2: the 100 goes out on the stream (the gate decides whether).
  own.writeContinue = writeContinue;
  // Three accessors for what only the h2 stream knows. headersSent, writableEnded, finished and
  // destroyed are Node's own getters over its data fields (_header, finished, destroyed), which the
  // methods below keep true: seven accessors put each response in V8's dictionary mode (5 µs a
  // request to build, and every later property read on it slow).
  for (const name of STREAM_STATE_NAMES) Object.defineProperty(res, name, STREAM_STATE[name]!);
  // Node's compat response emits 'finish' whenever its stream closes, a client's RST_STREAM
  // included: only a response that ended and closed cleanly has finished, as on HTTP/1.1.
  res2.on('finish', () => {
    if (!view.ended || (stream.rstCode ?? constants.NGHTTP2_NO_ERROR) !== constants.NGHTTP2_NO_ERROR) return;
    view.finished = true;
    res.emit('finish');
  });
  res2.on('close', () => {
    // As Node's HTTP/1.1 response: destroyed once closed, finished or not.
    res.destroyed = true;
    res.emit('close');
  });
  res2.on('error', nothing);
  return { req, res };
}

/*
 * The methods below are shared by all requests: each finds its request's state through `this` (the
 * IncomingMessage or the ServerResponse, which carry the View). A closure per request stored as an
 * own property, or a descriptor map per request, made V8 promote every h2 request's objects to the
 * old space (74 MB over 8000 requests on Node 20, against 0.1 MB for Node's own h2 compat API; see
 * ARCHITECTURE.md, "Memory on the request path").
 */
const kView = Symbol('fpm-bridge h2 view');
type Viewed = { [kView]: View };
const viewOf = (o: unknown): View => (o as Viewed)[kView];

/** One h2 request's state, shared by its IncomingMessage and ServerResponse. */
class View {
  readonly stream: ServerHttp2Stream;
  headSent = false;
  ended = false;
  finished = false;
  relaysDrain = false;
  constructor(
    readonly req2: Http2ServerRequest,
    readonly res2: Http2ServerResponse,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    /** req.socket: it counts this stream's body bytes sent. */
    readonly socket: StreamSocket,
  ) {
    this.stream = req2.stream;
  }

  sendHead(): void {
    if (this.headSent) return;
    this.headSent = true;
    // What Node's headersSent getter reads; setHeader() after this throws as it does on HTTP/1.1.
    (this.res as unknown as { _header: string })._header = H2_HEAD;
    const out: OutgoingHttpHeaders = {};
    const headers = this.res.getHeaders();
    for (const name of Object.keys(headers)) if (!CONNECTION_HEADERS.has(name)) out[name] = headers[name];
    this.res2.writeHead(this.res.statusCode, out);
  }
}

function readFromStream(this: IncomingMessage): void {
  viewOf(this).req2.resume();
}

function destroyRequest(this: IncomingMessage, err: Error | null, cb: (err?: Error | null) => void): void {
  const { stream } = viewOf(this);
  if (!this.complete && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
  cb(err);
}

function writeHead(this: ServerResponse, status: number, ...rest: unknown[]): ServerResponse {
  const view = viewOf(this);
  if (view.headSent) throw Object.assign(new Error('Cannot write headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
  this.statusCode = status;
  const headers = typeof rest[0] === 'string' ? rest[1] : rest[0];
  if (typeof rest[0] === 'string') this.statusMessage = rest[0];
  if (Array.isArray(headers)) {
    // [[name, value], ...] or Node's flat raw form [name, value, name, value, ...].
    const pairs: Array<[string, string]> = Array.isArray(headers[0]) ? (headers as Array<[string, string]>) : [];
    if (!Array.isArray(headers[0])) for (let i = 0; i + 1 < headers.length; i += 2) pairs.push([headers[i] as string, headers[i + 1] as string]);
    const seen = new Set<string>();
    for (const [k, v] of pairs) {
      const key = k.toLowerCase();
      if (seen.has(key)) this.appendHeader(k, v);
      else this.setHeader(k, v);
      seen.add(key);
    }
  } else if (headers && typeof headers === 'object') {
    for (const [k, v] of Object.entries(headers as OutgoingHttpHeaders)) if (v !== undefined) this.setHeader(k, v);
  }
  view.sendHead();
  return this;
}

function flushHeaders(this: ServerResponse): void {
  viewOf(this).sendHead();
}

function write(this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  const view = viewOf(this);
  view.sendHead();
  if (this.req.method === 'HEAD') {
    const done = typeof encoding === 'function' ? encoding : cb;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  }
  view.socket.bytesSent += byteLength(chunk, encoding);
  const ok = (view.res2.write as (...a: unknown[]) => boolean)(chunk, encoding, cb);
  // 'drain' is relayed from the first write that has to wait for it on (most responses never do).
  if (!ok && !view.relaysDrain) {
    view.relaysDrain = true;
    const res = this;
    view.res2.on('drain', () => res.emit('drain'));
  }
  return ok;
}

function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown): ServerResponse {
  const view = viewOf(this);
  if (typeof chunk === 'function') [chunk, encoding, cb] = [undefined, undefined, chunk];
  else if (typeof encoding === 'function') [encoding, cb] = [undefined, encoding];
  if (view.ended) {
    if (typeof cb === 'function') process.nextTick(cb as () => void);
    return this;
  }
  view.ended = true;
  this.finished = true;
  const length = byteLength(chunk, encoding);
  if (this.req.method !== 'HEAD') view.socket.bytesSent += length;
  if (!view.headSent && !this.hasHeader('content-length')) {
    if (this.statusCode !== 204 && this.statusCode !== 304 && !(this.statusCode >= 100 && this.statusCode < 200)) this.setHeader('content-length', length);
  }
  view.sendHead();
  if (typeof cb === 'function') this.once('finish', cb as () => void);
  if (this.req.method === 'HEAD' || chunk === undefined || chunk === null) view.res2.end();
  else (view.res2.end as (...a: unknown[]) => void)(chunk, encoding);
  return this;
}

function destroyResponse(this: ServerResponse, err?: Error): ServerResponse {
  const { stream } = viewOf(this);
  this.destroyed = true;
  if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  if (err) this.emit('error', err);
  return this;
}

function setResponseTimeout(this: ServerResponse, ms: number, cb?: () => void): ServerResponse {
  viewOf(this).res2.setTimeout(ms, cb);
  return this;
}

function writeContinue(this: ServerResponse): void {
  viewOf(this).res2.writeContinue();
}

function nothing(): void {}

/** The response's state that only the h2 stream knows, as Node's HTTP/1 getters would report it. */
const STREAM_STATE: PropertyDescriptorMap = {
  writableFinished: { get: getFinished, configurable: true },
  writableLength: { get: getWritableLength, configurable: true },
  writableNeedDrain: { get: getWritableNeedDrain, configurable: true },
};
const STREAM_STATE_NAMES = Object.keys(STREAM_STATE);
/** `_header` once the head went out on the stream (there is no HTTP/1 head text). */
const H2_HEAD = 'HTTP/2 (sent on the h2 stream)';
function getFinished(this: ServerResponse): boolean {
  return viewOf(this).finished;
}
function getWritableLength(this: ServerResponse): number {
  return viewOf(this).stream.writableLength;
}
function getWritableNeedDrain(this: ServerResponse): boolean {
  return viewOf(this).stream.writableNeedDrain;
}

function stopReading(stream: ServerHttp2Stream, req: IncomingMessage): void {
  if (!stream.destroyed && !req.complete) stream.close(constants.NGHTTP2_NO_ERROR);
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (chunk === undefined || chunk === null) return 0;
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  return (chunk as Uint8Array).byteLength;
}

/** RFC 9113 8.2.2: these make an h2 message malformed; Node throws on them. */
const CONNECTION_HEADERS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/**
 * What the bridge and apps read from `req.socket` (addresses, `encrypted`, byte counts), without
 * Node's h2 socket proxy, which throws on the stream methods IncomingMessage may call. The byte
 * count is this stream's body sent: the session's socket is shared by all its streams.
 */
class StreamSocket {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly encrypted = true;
  readonly alpnProtocol = 'h2';
  bytesSent = 0;
  constructor(private readonly req2: Http2ServerRequest) {
    const a = addressesOf(req2);
    this.remoteAddress = a.remoteAddress;
    this.remotePort = a.remotePort;
    this.remoteFamily = a.remoteFamily;
    this.localAddress = a.localAddress;
    this.localPort = a.localPort;
  }
  get bytesWritten(): number {
    return this.bytesSent;
  }
  get destroyed(): boolean {
    return this.req2.stream.destroyed;
  }
  // on-finished (Express's body parsers) takes a socket that is not readable for a request already
  // read: like a kept-alive HTTP/1.1 socket, this one is while its stream lives.
  get readable(): boolean {
    return !this.req2.stream.destroyed;
  }
  get writable(): boolean {
    return !this.req2.stream.destroyed;
  }
  on(): this {
    return this;
  }
  once(): this {
    return this;
  }
  off(): this {
    return this;
  }
  removeListener(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  destroy(): void {
    if (!this.req2.stream.destroyed) this.req2.stream.close(constants.NGHTTP2_CANCEL);
  }
}

type Addresses = Pick<StreamSocket, 'remoteAddress' | 'remotePort' | 'remoteFamily' | 'localAddress' | 'localPort'>;
/** The connection's addresses, read once per session: req2.socket is a Proxy, slow to read from on every stream. */
const sessionAddresses = new WeakMap<object, Addresses>();
function addressesOf(req2: Http2ServerRequest): Addresses {
  const session = req2.stream.session;
  let a = session ? sessionAddresses.get(session) : undefined;
  if (a) return a;
  const s = req2.socket;
  a = { remoteAddress: s.remoteAddress, remotePort: s.remotePort, remoteFamily: s.remoteFamily, localAddress: s.localAddress, localPort: s.localPort };
  if (session) sessionAddresses.set(session, a);
  return a;
}
