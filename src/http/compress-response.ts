import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import * as zlib from 'node:zlib';
import { chooseCoding, DEFAULT_CODINGS, isCompressible, type Coding } from './content-coding.ts';

/**
 * Response compression, as a link on the response: whatever writes it (PHP, static files, the app)
 * goes through the methods `compressResponse` installs, which decide at the head whether to encode,
 * as nginx's gzip and Caddy's `encode` do:
 *
 * - the coding by Accept-Encoding with q-values (content-coding.ts); a request that accepts none of
 *   ours (or a HEAD) gets no link at all, so it costs nothing;
 * - compressible types only, a body of at least MIN_SIZE when its length is known, never twice (a
 *   Content-Encoding already there: PHP's zlib.output_compression, a precompressed file), never for
 *   1xx/204/206/304, `Cache-Control: no-transform`, or a request with Range;
 * - `Vary: Accept-Encoding` on every response that could have been encoded; Content-Length and
 *   Accept-Ranges dropped; a strong ETag made weak (the bytes differ, the entity does not; nginx does
 *   the same), so a conditional request still matches it (If-None-Match compares weakly);
 * - streaming kept: every write is flushed through the encoder at once (Z_SYNC_FLUSH,
 *   BROTLI_OPERATION_FLUSH, ZSTD_e_flush), so each PHP flush() and each SSE event reaches the client
 *   as it was written; backpressure: the encoder pauses while the connection is full, and a write
 *   answers false while either the encoder or the connection holds too much.
 */

export interface CompressOptions {
  /** Codings offered, best first on a tie of q-values. Default: br, zstd (when this Node has it), gzip. */
  codings?: readonly Coding[];
  /** gzip level (zlib 1-9). Default 5 (Caddy's; nginx's gzip_comp_level is 1, zlib's own 6). */
  gzipLevel?: number;
  /** Brotli quality (0-11). Default 4: fast enough for dynamic pages, and smaller than gzip at 5. */
  brotliQuality?: number;
  /** zstd level. Default 3 (zstd's own). */
  zstdLevel?: number;
}

/** Below this, a known-length body goes out as it is: encoding would cost more than it saves. */
export const MIN_SIZE = 1024;

type ZstdZlib = typeof zlib & {
  createZstdCompress?: (options?: { params?: Record<number, number> }) => zlib.Gzip;
  zstdCompressSync?: (body: Buffer, options?: { chunkSize?: number; params?: Record<number, number> }) => Buffer;
  constants: typeof zlib.constants & { ZSTD_c_compressionLevel?: number; ZSTD_e_flush?: number };
};
const z = zlib as ZstdZlib;

type AnyFn = (...args: unknown[]) => unknown;
type Flat = string[];

/** The link's state, on the response under a symbol: the methods are the same functions for every response. */
interface Link {
  coding: Coding;
  options: CompressOptions;
  ranged: boolean;
  realWriteHead: AnyFn;
  realWrite: AnyFn;
  realEnd: AnyFn;
  realFlush: AnyFn;
  decided: boolean;
  /** Encoding, body held: what was written so far, compressed in one call if the body ends soon. */
  held: Buffer[] | null;
  heldSize: number;
  /**
   * The callbacks of the held writes: called once the held bytes have been read (compressed in one
   * call, or fed to the encoder), not before, since a writer may reuse its memory then (the bridge's
   * pooled copies of PHP's output are).
   */
  heldDone: Array<() => void> | null;
  holdTimer: NodeJS.Timeout | null;
  /** Encoding, streamed: the encoder, flushed once per turn of the event loop. */
  encoder: zlib.Gzip | null;
  flushKind: number;
  flushQueued: boolean;
}

const LINK = Symbol('fpm-bridge.compress');
type Linked = ServerResponse & { [LINK]?: Link };

/**
 * Installs the link on `res` (own properties, so the fallback interception, which captures the
 * response's methods as they are, writes through it too). Call before anything writes the response.
 *
 * The same four functions on every response, the state under a symbol: fresh closures per request
 * over a response's methods cost the whole request (see app/fallback-response.ts), and every browser
 * request has an Accept-Encoding, compressed or not.
 */
export function compressResponse(req: IncomingMessage, res: ServerResponse, options: CompressOptions = {}): void {
  if (req.method === 'HEAD') return;
  const accept = req.headers['accept-encoding'];
  if (accept === undefined) return;
  const coding = chooseCoding(Array.isArray(accept) ? accept.join(',') : accept, options.codings ?? DEFAULT_CODINGS);
  if (coding === null) return;
  (res as Linked)[LINK] = {
    coding,
    options,
    ranged: req.headers.range !== undefined,
    realWriteHead: res.writeHead as unknown as AnyFn,
    realWrite: res.write as unknown as AnyFn,
    realEnd: res.end as unknown as AnyFn,
    realFlush: res.flushHeaders as unknown as AnyFn,
    decided: false,
    held: null,
    heldSize: 0,
    heldDone: null,
    holdTimer: null,
    encoder: null,
    flushKind: zlib.constants.Z_SYNC_FLUSH,
    flushQueued: false,
  };
  res.writeHead = linkWriteHead as unknown as ServerResponse['writeHead'];
  res.flushHeaders = linkFlushHeaders;
  res.write = linkWrite as unknown as ServerResponse['write'];
  res.end = linkEnd as unknown as ServerResponse['end'];
  // A client gone mid-body: the encoder goes too.
  res.on('close', onLinkClose);
}

/**
 * A body that ends within HOLD_MS of its first byte, and is at most HOLD_MAX, is compressed in one
 * synchronous call: 280-400 us for PHP's 100 KiB page at gzip 5, against 500-1000 us through a
 * streaming encoder (a thread-pool round trip per write and flush, and with many responses at once,
 * one 256 KiB+ zlib state each, thrashing the cache). nginx compresses in its event loop too. Past
 * either bound the body streams, as it did before: a PHP flush() or the app's write waits at most
 * HOLD_MS, then every write is flushed through the encoder at once. An event stream never waits.
 */
const HOLD_MS = 20;
const HOLD_MAX = 256 * 1024;

/** The plan for this head: encode or not, and Vary. `get` reads a header of the head being written. */
function plan(link: Link, status: number, get: (name: string) => string | undefined): { vary: boolean; encode: boolean } {
  if (status < 200 || status === 204 || status === 206 || status === 304) return NONE;
  if (!isCompressible(get('content-type'))) return NONE;
  if (get('content-encoding') !== undefined) return NONE;
  if (/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(get('cache-control') ?? '')) return NONE;
  const length = get('content-length');
  if (length !== undefined && Number(length) < MIN_SIZE) return NONE;
  // Could have been encoded: a cache in front must keep the codings apart from here on.
  return { vary: true, encode: !link.ranged };
}

/** Encoding from here on: held first, or streamed at once for an event stream. */
function startEncoding(res: ServerResponse, link: Link, contentType: string | undefined): void {
  if (contentType !== undefined && /^\s*text\/event-stream/i.test(contentType)) {
    streamNow(res, link);
    return;
  }
  link.held = [];
}

/** The response's encoder (made on first call, fed what was held), flushed once per turn. */
function streamNow(res: ServerResponse, link: Link): zlib.Gzip {
  if (link.encoder) return link.encoder;
  const enc = makeEncoder(link.coding, link.options);
  link.encoder = enc;
  if (link.coding === 'br') link.flushKind = zlib.constants.BROTLI_OPERATION_FLUSH;
  else if (link.coding === 'zstd') link.flushKind = z.constants.ZSTD_e_flush ?? 1;
  enc.on('data', (out: Buffer) => {
    if (link.realWrite.call(res, out) === false) {
      enc.pause();
      res.once('drain', () => enc.resume());
    }
  });
  // The encoder drained: a writer waiting for 'drain' (PHP's relay, a pipe) goes on.
  enc.on('drain', () => {
    if (!res.writableNeedDrain) res.emit('drain');
  });
  enc.on('end', () => link.realEnd.call(res));
  enc.on('error', () => res.destroy());
  const held = link.held;
  link.held = null;
  link.heldSize = 0;
  if (link.holdTimer) {
    clearTimeout(link.holdTimer);
    link.holdTimer = null;
  }
  const heldDone = link.heldDone;
  link.heldDone = null;
  if (held) for (let i = 0; i < held.length; i++) enc.write(held[i]!, i === held.length - 1 && heldDone ? () => callAll(heldDone) : undefined);
  scheduleFlush(link);
  return enc;
}

/**
 * One flush for all the writes of this turn of the event loop: what PHP flushed (or the app wrote)
 * reaches the client now, without paying a flush (and its thread-pool round trip) per chunk of a
 * body that arrives in pieces within one read.
 */
function scheduleFlush(link: Link): void {
  if (link.flushQueued) return;
  link.flushQueued = true;
  setImmediate(flushLink, link);
}

function flushLink(link: Link): void {
  link.flushQueued = false;
  const enc = link.encoder;
  if (enc && !enc.writableEnded && !enc.destroyed) enc.flush(link.flushKind);
}

function holdExpired(res: ServerResponse): void {
  const link = (res as Linked)[LINK];
  if (!link || !link.held) return;
  link.holdTimer = null;
  streamNow(res, link);
}

/** The head kept in the response's own header map (setHeader, or writeHead merged into it). */
function decideFromMap(res: ServerResponse, link: Link): void {
  link.decided = true;
  const p = plan(link, res.statusCode, (name) => header(res, name));
  if (p.vary) appendVary(res);
  if (!p.encode) return;
  res.removeHeader('content-length');
  res.removeHeader('accept-ranges');
  res.setHeader('content-encoding', link.coding);
  const etag = header(res, 'etag');
  if (etag && !etag.startsWith('W/')) res.setHeader('etag', `W/${etag}`);
  startEncoding(res, link, header(res, 'content-type'));
}

function linkWriteHead(this: ServerResponse, status: number, ...rest: unknown[]): ServerResponse {
  const link = (this as Linked)[LINK]!;
  if (link.decided) return link.realWriteHead.call(this, status, ...rest) as ServerResponse;
  const headers = rest[rest.length - 1];
  const reason = typeof rest[0] === 'string' ? rest[0] : undefined;
  if (Array.isArray(headers) && (headers.length === 0 || typeof headers[0] === 'string')) {
    // PHP's and the static files' flat [name, value, ...] list: looked at and rewritten as a list.
    link.decided = true;
    this.statusCode = status;
    const flat = headers as Flat;
    const get = (name: string) => flatGet(flat, name) ?? header(this, name);
    const p = plan(link, status, get);
    if (!p.vary) return link.realWriteHead.apply(this, [status, ...rest]) as ServerResponse;
    const out = rewriteFlat(flat, p.encode ? link.coding : null);
    if (p.encode) {
      this.removeHeader('content-length');
      startEncoding(this, link, get('content-type'));
    }
    return (reason !== undefined ? link.realWriteHead.call(this, status, reason, out) : link.realWriteHead.call(this, status, out)) as ServerResponse;
  }
  // An object or [[name, value]] pairs (the app): merged into the map, then decided there.
  this.statusCode = status;
  if (headers && typeof headers === 'object') mergeHeaders(this, headers as OutgoingHttpHeaders | string[][]);
  decideFromMap(this, link);
  return (reason !== undefined ? link.realWriteHead.call(this, status, reason) : link.realWriteHead.call(this, status)) as ServerResponse;
}

function linkFlushHeaders(this: ServerResponse): void {
  const link = (this as Linked)[LINK]!;
  if (!link.decided) decideFromMap(this, link);
  link.realFlush.call(this);
}

function linkWrite(this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  const link = (this as Linked)[LINK]!;
  if (!link.decided) decideFromMap(this, link);
  if (!link.held && !link.encoder) return link.realWrite.call(this, chunk, encoding, cb) as boolean;
  const done = typeof encoding === 'function' ? encoding : cb;
  const data = toBuffer(chunk, encoding);
  if (data.length === 0) {
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  }
  if (link.held) {
    link.held.push(data);
    link.heldSize += data.length;
    if (typeof done === 'function') (link.heldDone ??= []).push(done as () => void);
    if (link.heldSize > HOLD_MAX) streamNow(this, link);
    else if (!link.holdTimer) link.holdTimer = setTimeout(holdExpired, HOLD_MS, this);
    return true;
  }
  const roomInEncoder = link.encoder!.write(data, typeof done === 'function' ? (done as () => void) : undefined);
  scheduleFlush(link);
  return roomInEncoder && !this.writableNeedDrain;
}

function linkEnd(this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown): ServerResponse {
  const link = (this as Linked)[LINK]!;
  if (typeof chunk === 'function') [chunk, encoding, cb] = [undefined, undefined, chunk];
  else if (typeof encoding === 'function') [encoding, cb] = [undefined, encoding];
  if (!link.decided && !this.headersSent) {
    // A one-shot end(body) has a known length: a small one stays as it is (and gets its length).
    if (chunk !== undefined && chunk !== null && !this.hasHeader('content-length')) {
      const size = typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : (chunk as Buffer).length;
      if (size < MIN_SIZE) this.setHeader('content-length', size);
    }
    decideFromMap(this, link);
  }
  if (!link.held && !link.encoder) return link.realEnd.call(this, chunk, encoding, cb) as ServerResponse;
  if (typeof cb === 'function') this.once('finish', cb as () => void);
  const last = chunk !== undefined && chunk !== null ? toBuffer(chunk, encoding) : null;
  if (link.held && link.heldSize + (last?.length ?? 0) <= HOLD_MAX) {
    // The whole body in hand: one call, no encoder.
    const held = link.held;
    if (last) held.push(last);
    link.held = null;
    if (link.holdTimer) {
      clearTimeout(link.holdTimer);
      link.holdTimer = null;
    }
    const body = held.length === 1 ? held[0]! : Buffer.concat(held);
    const ended = link.realEnd.call(this, compressWhole(link.coding, link.options, body)) as ServerResponse;
    const heldDone = link.heldDone;
    link.heldDone = null;
    if (heldDone) process.nextTick(callAll, heldDone);
    return ended;
  }
  const enc = streamNow(this, link);
  if (last) enc.end(last);
  else enc.end();
  return this;
}

function onLinkClose(this: ServerResponse): void {
  const link = (this as Linked)[LINK];
  if (!link) return;
  if (link.holdTimer) {
    clearTimeout(link.holdTimer);
    link.holdTimer = null;
  }
  link.held = null;
  // The held bytes are dropped: their writers may have their memory back (and stop waiting).
  if (link.heldDone) process.nextTick(callAll, link.heldDone);
  link.heldDone = null;
  if (link.encoder && !link.encoder.writableFinished) link.encoder.destroy();
}

function callAll(fns: Array<() => void>): void {
  for (const fn of fns) fn();
}

const NONE = { vary: false, encode: false };
/** Output chunk of the encoders: 64 KiB (zlib's default is 16), fewer callbacks per response. */
const CHUNK = 64 * 1024;

function makeEncoder(coding: Coding, options: CompressOptions): zlib.Gzip {
  switch (coding) {
    case 'gzip':
      return zlib.createGzip({ level: options.gzipLevel ?? 5, chunkSize: CHUNK });
    case 'br':
      return zlib.createBrotliCompress({ chunkSize: CHUNK, params: { [zlib.constants.BROTLI_PARAM_QUALITY]: options.brotliQuality ?? 4 } }) as unknown as zlib.Gzip;
    case 'zstd':
      return z.createZstdCompress!({ chunkSize: CHUNK, params: { [z.constants.ZSTD_c_compressionLevel ?? 100]: options.zstdLevel ?? 3 } } as { params: Record<number, number> });
  }
}

/** A whole body, compressed in one synchronous call with the encoders' settings. */
function compressWhole(coding: Coding, options: CompressOptions, body: Buffer): Buffer {
  switch (coding) {
    case 'gzip':
      return zlib.gzipSync(body, { level: options.gzipLevel ?? 5 });
    case 'br':
      return zlib.brotliCompressSync(body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: options.brotliQuality ?? 4, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length } });
    case 'zstd':
      return z.zstdCompressSync!(body, { params: { [z.constants.ZSTD_c_compressionLevel ?? 100]: options.zstdLevel ?? 3 } });
  }
}

function toBuffer(chunk: unknown, encoding: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  const view = chunk as Uint8Array;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function header(res: ServerResponse, name: string): string | undefined {
  const v = res.getHeader(name);
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : String(v);
}

/** The value of `name` in a flat [name, value, ...] list (repeats joined with ", "). */
function flatGet(flat: Flat, name: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if (flat[i]!.length === name.length && flat[i]!.toLowerCase() === name) out = out === undefined ? flat[i + 1]! : `${out}, ${flat[i + 1]}`;
  }
  return out;
}

/** The list with Vary added, and for an encoded body: no length or ranges, the coding, a weak ETag. */
function rewriteFlat(flat: Flat, coding: Coding | null): Flat {
  const out: Flat = [];
  let vary: string | undefined;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i]!;
    const lower = name.toLowerCase();
    const value = flat[i + 1]!;
    if (lower === 'vary') {
      vary = vary === undefined ? value : `${vary}, ${value}`;
      continue;
    }
    if (coding !== null) {
      if (lower === 'content-length' || lower === 'accept-ranges') continue;
      if (lower === 'etag' && !value.startsWith('W/')) {
        out.push(name, `W/${value}`);
        continue;
      }
    }
    out.push(name, value);
  }
  out.push('Vary', varyWith(vary));
  if (coding !== null) out.push('Content-Encoding', coding);
  return out;
}

function varyWith(vary: string | undefined): string {
  if (!vary) return 'Accept-Encoding';
  return /(?:^|,)\s*(?:accept-encoding|\*)\s*(?:,|$)/i.test(vary) ? vary : `${vary}, Accept-Encoding`;
}

function appendVary(res: ServerResponse): void {
  const vary = header(res, 'vary');
  const next = varyWith(vary);
  if (next !== vary) res.setHeader('vary', next);
}

/** writeHead's headers (an object or [[k, v]...]) into the response's own map. */
function mergeHeaders(res: ServerResponse, headers: OutgoingHttpHeaders | string[][]): void {
  if (!Array.isArray(headers)) {
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) res.setHeader(k, v);
    return;
  }
  const seen = new Set<string>();
  for (const [k, v] of headers) {
    if (k === undefined || v === undefined) continue;
    const key = k.toLowerCase();
    if (seen.has(key)) res.appendHeader(k, v);
    else res.setHeader(k, v);
    seen.add(key);
  }
}
