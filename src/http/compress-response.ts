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
  constants: typeof zlib.constants & { ZSTD_c_compressionLevel?: number; ZSTD_e_flush?: number };
};
const z = zlib as ZstdZlib;

type AnyFn = (...args: unknown[]) => unknown;
type Flat = string[];

/**
 * Installs the link on `res` (own properties, so the fallback interception, which captures the
 * response's methods as they are, writes through it too). Call before anything writes the response.
 */
export function compressResponse(req: IncomingMessage, res: ServerResponse, options: CompressOptions = {}): void {
  if (req.method === 'HEAD') return;
  const accept = req.headers['accept-encoding'];
  if (accept === undefined) return;
  const coding = chooseCoding(Array.isArray(accept) ? accept.join(',') : accept, options.codings ?? DEFAULT_CODINGS);
  if (coding === null) return;
  const ranged = req.headers.range !== undefined;

  const realWriteHead = res.writeHead as unknown as AnyFn;
  const realWrite = res.write as unknown as AnyFn;
  const realEnd = res.end as unknown as AnyFn;
  const realFlush = res.flushHeaders as unknown as AnyFn;
  let decided = false;
  let encoder: zlib.Gzip | null = null;
  let flushKind: number = zlib.constants.Z_SYNC_FLUSH;

  /**
   * The plan for this head: null to send it as it is (maybe with Vary), else encode. `get` reads a
   * header of the head being written.
   */
  const plan = (status: number, get: (name: string) => string | undefined): { vary: boolean; encode: boolean } => {
    if (status < 200 || status === 204 || status === 206 || status === 304) return NONE;
    if (!isCompressible(get('content-type'))) return NONE;
    if (get('content-encoding') !== undefined) return NONE;
    if (/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(get('cache-control') ?? '')) return NONE;
    const length = get('content-length');
    if (length !== undefined && Number(length) < MIN_SIZE) return NONE;
    // Could have been encoded: a cache in front must keep the codings apart from here on.
    return { vary: true, encode: !ranged };
  };

  const startEncoder = (): void => {
    const enc = makeEncoder(coding, options);
    encoder = enc;
    if (coding === 'br') flushKind = zlib.constants.BROTLI_OPERATION_FLUSH;
    else if (coding === 'zstd') flushKind = z.constants.ZSTD_e_flush ?? 1;
    enc.on('data', (out: Buffer) => {
      if (realWrite.call(res, out) === false) {
        enc.pause();
        res.once('drain', () => enc.resume());
      }
    });
    // The encoder drained: a writer waiting for 'drain' (PHP's relay, a pipe) goes on.
    enc.on('drain', () => {
      if (!res.writableNeedDrain) res.emit('drain');
    });
    enc.on('end', () => realEnd.call(res));
    enc.on('error', () => res.destroy());
  };

  /**
   * One flush for all the writes of this turn of the event loop: what PHP flushed (or the app wrote)
   * reaches the client now, without paying a flush (and its thread-pool round trip) per chunk of a
   * body that arrives in pieces within one read.
   */
  let flushQueued = false;
  const scheduleFlush = (): void => {
    if (flushQueued) return;
    flushQueued = true;
    setImmediate(() => {
      flushQueued = false;
      if (encoder && !encoder.writableEnded && !encoder.destroyed) encoder.flush(flushKind);
    });
  };

  /** The head kept in the response's own header map (setHeader, or writeHead merged into it). */
  const decideFromMap = (): void => {
    decided = true;
    const p = plan(res.statusCode, (name) => header(res, name));
    if (p.vary) appendVary(res);
    if (!p.encode) return;
    res.removeHeader('content-length');
    res.removeHeader('accept-ranges');
    res.setHeader('content-encoding', coding);
    const etag = header(res, 'etag');
    if (etag && !etag.startsWith('W/')) res.setHeader('etag', `W/${etag}`);
    startEncoder();
  };

  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    if (decided) return realWriteHead.call(this, status, ...rest);
    const headers = rest[rest.length - 1];
    const reason = typeof rest[0] === 'string' ? rest[0] : undefined;
    if (Array.isArray(headers) && (headers.length === 0 || typeof headers[0] === 'string')) {
      // PHP's and the static files' flat [name, value, ...] list: looked at and rewritten as a list.
      decided = true;
      this.statusCode = status;
      const flat = headers as Flat;
      const p = plan(status, (name) => flatGet(flat, name) ?? header(this, name));
      if (!p.vary) return realWriteHead.apply(this, [status, ...rest]);
      const out = rewriteFlat(flat, p.encode ? coding : null);
      if (p.encode) {
        this.removeHeader('content-length');
        startEncoder();
      }
      return reason !== undefined ? realWriteHead.call(this, status, reason, out) : realWriteHead.call(this, status, out);
    }
    // An object or [[name, value]] pairs (the app): merged into the map, then decided there.
    this.statusCode = status;
    if (headers && typeof headers === 'object') mergeHeaders(this, headers as OutgoingHttpHeaders | string[][]);
    decideFromMap();
    return reason !== undefined ? realWriteHead.call(this, status, reason) : realWriteHead.call(this, status);
  } as unknown as ServerResponse['writeHead'];

  res.flushHeaders = function (this: ServerResponse) {
    if (!decided) decideFromMap();
    realFlush.call(this);
  };

  res.write = function (this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) {
    if (!decided) decideFromMap();
    if (!encoder) return realWrite.call(this, chunk, encoding, cb) as boolean;
    const done = typeof encoding === 'function' ? encoding : cb;
    const data = toBuffer(chunk, encoding);
    if (data.length === 0) {
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true;
    }
    const roomInEncoder = encoder.write(data, typeof done === 'function' ? (done as () => void) : undefined);
    scheduleFlush();
    return roomInEncoder && !this.writableNeedDrain;
  } as unknown as ServerResponse['write'];

  res.end = function (this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof chunk === 'function') [chunk, encoding, cb] = [undefined, undefined, chunk];
    else if (typeof encoding === 'function') [encoding, cb] = [undefined, encoding];
    if (!decided && !this.headersSent) {
      // A one-shot end(body) has a known length: a small one stays as it is (and gets its length).
      if (chunk !== undefined && chunk !== null && !this.hasHeader('content-length')) {
        const size = typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : (chunk as Buffer).length;
        if (size < MIN_SIZE) this.setHeader('content-length', size);
      }
      decideFromMap();
    }
    if (!encoder) return realEnd.call(this, chunk, encoding, cb);
    if (typeof cb === 'function') this.once('finish', cb as () => void);
    if (chunk !== undefined && chunk !== null) encoder.end(toBuffer(chunk, encoding));
    else encoder.end();
    return this;
  } as unknown as ServerResponse['end'];

  // A client gone mid-body: the encoder goes too.
  res.once('close', () => {
    if (encoder && !encoder.writableFinished) encoder.destroy();
  });
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
