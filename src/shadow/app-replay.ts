import { IncomingMessage, ServerResponse } from 'node:http';
import { EventEmitter } from 'node:events';
import type { NodeListener } from '../app/app-module.ts';
import { headersFromRaw } from '../http/raw-headers.ts';
import type { CapturedResponse } from './compare.ts';

/** What the bridge knows of the request to replay (copied from it before its response ended). */
export interface ShadowRequest {
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: readonly string[];
  /** The body in memory, or null for none. */
  body: readonly Buffer[] | null;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  encrypted: boolean;
}

export type AppAnswer = { kind: 'answer'; response: CapturedResponse } | { kind: 'large' } | { kind: 'failed'; reason: string };

/**
 * Runs the app on a copy of a request and captures its answer, never sent anywhere. The app gets a
 * real IncomingMessage and ServerResponse (so Express, Hono's adapter and plain listeners behave as
 * they do live) on a socket of its own that goes nowhere: the client's connection is never touched.
 * What Node would have sent is read back (head, then the body, de-chunked), up to `maxBody` body bytes
 * (past that: large). The app that throws, rejects, cuts its response, or has not finished within
 * `timeoutMs` has failed.
 */
export function replayToApp(app: NodeListener, request: ShadowRequest, opts: { maxBody: number; timeoutMs: number }): Promise<AppAnswer> {
  return new Promise((resolve) => {
    const sink = new CaptureSocket(opts.maxBody + 64 * 1024);
    let settled = false;
    const settle = (answer: AppAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    const timer = setTimeout(() => {
      settle({ kind: 'failed', reason: `the app did not finish within ${opts.timeoutMs} ms (--app-timeout)` });
      sink.destroy();
    }, opts.timeoutMs);
    timer.unref?.();

    const req = copyRequest(request, sink);
    const res = responseOn(req, sink);
    sink.once('close', () => settle({ kind: 'failed', reason: 'the app cut its response' }));
    res.once('finish', () => {
      if (sink.over) return settle({ kind: 'large' });
      const parsed = parseResponse(sink.bytes(), request.method === 'HEAD');
      settle(parsed === null ? { kind: 'failed', reason: 'the app sent an unreadable response' } : parsed.body.length > opts.maxBody ? { kind: 'large' } : { kind: 'answer', response: parsed });
    });
    try {
      const result = app(req, res);
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<unknown>).then(undefined, (err: unknown) => settle({ kind: 'failed', reason: `the app failed: ${(err as Error)?.message ?? String(err)}` }));
      }
    } catch (err) {
      settle({ kind: 'failed', reason: `the app failed: ${(err as Error)?.message ?? String(err)}` });
    }
  });
}

/** The copies' `_read`: one function for all, as app/replay-request.ts's (a closure per copy is old-space garbage). */
function readNothing(): void {}

/** A response to (a copy of) `request` that goes nowhere: for PHP's second answer, which a tap copies. */
export function sinkResponse(request: ShadowRequest): ServerResponse {
  const sink = new CaptureSocket(0);
  return responseOn(copyRequest(request, sink), sink);
}

/** The request again, on `socket`, its body from memory. */
function copyRequest(request: ShadowRequest, socket: CaptureSocket): IncomingMessage {
  socket.remoteAddress = request.remoteAddress;
  socket.remotePort = request.remotePort;
  socket.encrypted = request.encrypted;
  const req = new IncomingMessage(socket as never);
  req.method = request.method;
  req.url = request.url;
  req.httpVersion = request.httpVersion;
  const [major, minor] = request.httpVersion.split('.').map(Number);
  req.httpVersionMajor = major ?? 1;
  req.httpVersionMinor = minor ?? 1;
  req.rawHeaders = [...request.rawHeaders];
  req.headers = headersFromRaw(request.rawHeaders);
  req.complete = true;
  // The body comes from memory, never from the socket: reading must not resume it.
  req._read = readNothing;
  for (const chunk of request.body ?? []) req.push(chunk);
  req.push(null);
  req.on('error', () => {});
  return req;
}

function responseOn(req: IncomingMessage, socket: CaptureSocket): ServerResponse {
  const res = new ServerResponse(req);
  res.assignSocket(socket as never);
  // A late write or a misuse by the app is the app's business: never an uncaught 'error'.
  res.on('error', () => {});
  socket.on('error', () => {});
  return res;
}

/**
 * The socket the shadow's response is written to: keeps what Node sends, up to `limit` bytes (then
 * only counts), and always takes more at once, so the app never waits on it.
 *
 * Not a stream.Writable but an EventEmitter with what http's OutgoingMessage and ServerResponse use
 * of a socket (write, cork and uncork, `_writableState.corked`, the writable* getters, destroy, the
 * 'close' event). On Node 24 a Writable made per replay is old-space garbage: with every PHP hello
 * shadowed under a paced load, the scavenges promoted 36 MB in 6 s (four mark-compacts of several
 * ms: the client's p99), 2.5 MB of it from constructing the Writable alone and most of the rest from
 * the listener ServerResponse puts on it; this object, 0.2 MB (test/integration/gc-retention.test.ts).
 * Node 20 and 22 promote neither.
 */
class CaptureSocket extends EventEmitter {
  private chunks: Buffer[] = [];
  private size = 0;
  over = false;
  /** As the client's socket says, for an app that looks (req.socket.remoteAddress). */
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  encrypted = false;
  /** Body parsers (on-finished) take a request on an unreadable socket for one already read. */
  readonly readable = true;
  writable = true;
  destroyed = false;
  /** OutgoingMessage.end() sets `corked` here before its last uncork(). */
  readonly _writableState = { corked: 0, errored: null, length: 0 };
  readonly writableHighWaterMark = 16 * 1024;
  readonly writableLength = 0;
  /** The owner http sets (ServerResponse.assignSocket). */
  _httpMessage: unknown = null;

  constructor(private readonly limit: number) {
    super();
  }

  get writableCorked(): number {
    return this._writableState.corked;
  }

  /** Kept at once, whatever the cork; the callback comes on the next tick, as a socket's would. */
  write(chunk: string | Uint8Array, encoding?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void): boolean {
    const done = typeof encoding === 'function' ? encoding : cb;
    if (this.destroyed) {
      if (done) process.nextTick(done, new Error('write after the shadow socket was destroyed'));
      return false;
    }
    const data = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk;
    this.size += data.length;
    if (this.size > this.limit) {
      this.over = true;
      this.chunks = [];
    } else if (data.length > 0) this.chunks.push(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    if (done) process.nextTick(done, null);
    return true;
  }

  end(chunk?: string | Uint8Array | (() => void), encoding?: BufferEncoding | (() => void), cb?: () => void): this {
    const done = [chunk, encoding, cb].find((x): x is () => void => typeof x === 'function');
    if (chunk !== undefined && typeof chunk !== 'function') this.write(chunk, typeof encoding === 'string' ? encoding : undefined);
    this.writable = false;
    if (done) process.nextTick(done);
    return this;
  }

  cork(): void {
    this._writableState.corked++;
  }

  uncork(): void {
    if (this._writableState.corked > 0) this._writableState.corked--;
  }

  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.writable = false;
    process.nextTick(() => {
      if (err) this.emit('error', err);
      this.emit('close', Boolean(err));
    });
    return this;
  }

  destroySoon(): void {
    this.destroy();
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  // What http.ServerResponse and apps may call on a socket.
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

/**
 * Reads back an HTTP/1.x response as Node serialised it: status line, headers, then the body
 * (de-chunked when chunked). null when it is not one (it always is, from Node).
 */
export function parseResponse(raw: Buffer, head: boolean): CapturedResponse | null {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!status) return null;
  const headers: Array<readonly [string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    headers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
  }
  let body = raw.subarray(end + 4);
  const chunked = headers.some(([n, v]) => n === 'transfer-encoding' && /(^|,)\s*chunked\s*$/i.test(v));
  if (head) body = Buffer.alloc(0);
  else if (chunked) {
    const out: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = body.indexOf('\r\n', at);
      if (eol < 0) return null;
      const size = parseInt(body.subarray(at, eol).toString('latin1').split(';')[0]!, 16);
      if (!Number.isFinite(size)) return null;
      if (size === 0) break;
      out.push(body.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    body = Buffer.concat(out);
  }
  return { status: Number(status[1]), headers, body };
}
