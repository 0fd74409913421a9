import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import * as zlib from 'node:zlib';

/**
 * Response compression, as a link on the response: whatever writes it (PHP, static files, the app)
 * goes through `compressResponse`, which decides at the head whether to encode, as nginx's gzip and
 * Caddy's `encode` do:
 *
 * - the coding by Accept-Encoding with q-values (RFC 9110 12.5.3); on a tie ours is best first:
 *   br, zstd (where this Node has zlib.createZstdCompress), gzip;
 * - compressible types only (text, JSON, JS, XML, SVG...), a body of at least MIN_SIZE when its length
 *   is known, never twice (a Content-Encoding already there: PHP's zlib.output_compression), never
 *   for HEAD, 1xx/204/206/304, Cache-Control: no-transform, or a Range request;
 * - Vary: Accept-Encoding on every compressible response, compressed or not; Content-Length dropped;
 *   a strong ETag made weak (nginx does the same: the bytes differ, the entity does not);
 * - streaming kept: every write is flushed through the encoder at once (Z_SYNC_FLUSH,
 *   BROTLI_OPERATION_FLUSH, ZSTD_e_flush), so each PHP flush() and each SSE event reaches the client
 *   as it was written; backpressure: the encoder pauses while the connection is full.
 */

export type Coding = 'br' | 'zstd' | 'gzip';

export interface CompressOptions {
  /** Codings offered, best first. Default: br, zstd (when available), gzip. */
  codings?: readonly Coding[];
  /** gzip level (zlib 1-9). nginx's gzip_comp_level is 1; zlib's default 6. */
  gzipLevel?: number;
  /** Brotli quality (0-11): 4 is fast enough for dynamic pages and still beats gzip -6. */
  brotliQuality?: number;
  zstdLevel?: number;
}

/** Below this, a known-length body goes out as it is: encoding costs more than it saves. */
export const MIN_SIZE = 1024;

type ZstdZlib = typeof zlib & {
  createZstdCompress?: (options?: { params?: Record<number, number> }) => zlib.Gzip;
  constants: typeof zlib.constants & { ZSTD_c_compressionLevel?: number; ZSTD_e_flush?: number };
};
const z = zlib as ZstdZlib;
export const HAS_ZSTD = typeof z.createZstdCompress === 'function';
export const DEFAULT_CODINGS: readonly Coding[] = HAS_ZSTD ? ['br', 'zstd', 'gzip'] : ['br', 'gzip'];

const COMPRESSIBLE = /^(?:text\/|application\/(?:json|javascript|x-javascript|ecmascript|xml|xhtml\+xml|rss\+xml|atom\+xml|ld\+json|manifest\+json|geo\+json|wasm|x-www-form-urlencoded|graphql-response\+json)|image\/(?:svg\+xml|x-icon|vnd\.microsoft\.icon|bmp)|font\/(?:ttf|otf)|[a-z]+\/[^;]*\+(?:json|xml))/i;

export function isCompressible(contentType: string | undefined): boolean {
  return contentType !== undefined && COMPRESSIBLE.test(contentType.trim());
}

/**
 * The coding to use for `accept` (an Accept-Encoding value), or null for identity. q=0 refuses a
 * coding; `*` stands for any coding not named; a missing header means identity (RFC 9110 12.5.3).
 */
export function chooseCoding(accept: string | undefined, offered: readonly Coding[] = DEFAULT_CODINGS): Coding | null {
  if (!accept) return null;
  const q = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    let weight = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) weight = Math.min(1, Number(m[1]) || 0);
    }
    // x-gzip is gzip (RFC 9110 8.4.1.3).
    const key = name === 'x-gzip' ? 'gzip' : name;
    q.set(key, Math.max(q.get(key) ?? -1, weight));
  }
  let best: Coding | null = null;
  let bestQ = 0;
  for (const coding of offered) {
    const weight = q.get(coding) ?? q.get('*') ?? 0;
    if (weight > bestQ) {
      best = coding;
      bestQ = weight;
    }
  }
  return best;
}

type AnyFn = (...args: unknown[]) => unknown;

/**
 * Installs the link on `res` (own properties, so the fallback interception and apps that swap
 * prototypes keep it). Call before anything writes to the response.
 */
export function compressResponse(req: IncomingMessage, res: ServerResponse, options: CompressOptions = {}): void {
  if (req.method === 'HEAD') return;
  const acceptHeader = req.headers['accept-encoding'];
  const coding = chooseCoding(Array.isArray(acceptHeader) ? acceptHeader.join(',') : acceptHeader, options.codings ?? DEFAULT_CODINGS);
  const ranged = req.headers.range !== undefined;

  const realWriteHead = res.writeHead as unknown as AnyFn;
  const realWrite = res.write as unknown as AnyFn;
  const realEnd = res.end as unknown as AnyFn;
  const realFlush = res.flushHeaders as unknown as AnyFn;
  let decided = false;
  let encoder: zlib.Gzip | null = null;
  let flushKind = zlib.constants.Z_SYNC_FLUSH;

  /** Looks at the head as it is now; sets up the encoder (and fixes the headers) when it applies. */
  const decide = (): void => {
    if (decided) return;
    decided = true;
    const status = res.statusCode;
    const type = header(res, 'content-type');
    if (!isCompressible(type)) return;
    if (status < 200 || status === 204 || status === 206 || status === 304) return;
    // A cache in front must keep the encodings apart, also when this one went out identity.
    appendVary(res);
    if (!coding || ranged) return;
    if (res.hasHeader('content-encoding')) return;
    if (/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(header(res, 'cache-control') ?? '')) return;
    const length = header(res, 'content-length');
    if (length !== undefined && Number(length) < MIN_SIZE) return;
    res.removeHeader('content-length');
    res.removeHeader('accept-ranges');
    res.setHeader('content-encoding', coding);
    const etag = header(res, 'etag');
    if (etag && !etag.startsWith('W/')) res.setHeader('etag', `W/${etag}`);
    encoder = makeEncoder(coding, options);
    if (coding === 'br') flushKind = zlib.constants.BROTLI_OPERATION_FLUSH;
    else if (coding === 'zstd') flushKind = z.constants.ZSTD_e_flush ?? 1;
    const enc = encoder;
    enc.on('data', (out: Buffer) => {
      if (realWrite.call(res, out) === false) {
        enc.pause();
        res.once('drain', () => enc.resume());
      }
    });
    enc.on('end', () => realEnd.call(res));
    enc.on('error', () => res.destroy());
  };

  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    if (decided) return realWriteHead.call(this, status, ...rest);
    // Headers given here join the head first, so the decision sees them.
    this.statusCode = status;
    const headers = rest[rest.length - 1];
    const reason = typeof rest[0] === 'string' ? rest[0] : undefined;
    if (headers && typeof headers === 'object') mergeHeaders(this, headers as OutgoingHttpHeaders | Array<string | string[]>);
    decide();
    return reason !== undefined ? realWriteHead.call(this, status, reason) : realWriteHead.call(this, status);
  } as unknown as ServerResponse['writeHead'];

  res.flushHeaders = function (this: ServerResponse) {
    decide();
    realFlush.call(this);
  };

  res.write = function (this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) {
    decide();
    if (!encoder) return realWrite.call(this, chunk, encoding, cb) as boolean;
    const done = typeof encoding === 'function' ? encoding : cb;
    const data = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : (chunk as Buffer);
    if (data.length === 0) {
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true;
    }
    encoder.write(data);
    encoder.flush(flushKind, typeof done === 'function' ? (done as () => void) : () => {});
    // What waits in the encoder is bounded by the connection: the encoder pauses while it is full.
    return !this.writableNeedDrain;
  } as unknown as ServerResponse['write'];

  res.end = function (this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof chunk === 'function') [chunk, encoding, cb] = [undefined, undefined, chunk];
    else if (typeof encoding === 'function') [encoding, cb] = [undefined, encoding];
    if (!decided && chunk !== undefined && chunk !== null && !this.headersSent && !this.hasHeader('content-length')) {
      // One-shot end(body): its length is known, so a small one stays as it is.
      const size = typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : (chunk as Buffer).length;
      if (size < MIN_SIZE) this.setHeader('content-length', size);
    }
    decide();
    if (!encoder) return realEnd.call(this, chunk, encoding, cb);
    if (typeof cb === 'function') this.once('finish', cb as () => void);
    if (chunk !== undefined && chunk !== null) encoder.end(typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : (chunk as Buffer));
    else encoder.end();
    return this;
  } as unknown as ServerResponse['end'];

  // A client gone mid-body: the encoder goes too.
  res.once('close', () => {
    if (encoder && !encoder.writableFinished) encoder.destroy();
  });
}

function makeEncoder(coding: Coding, options: CompressOptions): zlib.Gzip {
  switch (coding) {
    case 'gzip':
      return zlib.createGzip({ level: options.gzipLevel ?? 6 });
    case 'br':
      return zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: options.brotliQuality ?? 4 } }) as unknown as zlib.Gzip;
    case 'zstd':
      return z.createZstdCompress!({ params: { [z.constants.ZSTD_c_compressionLevel ?? 100]: options.zstdLevel ?? 3 } });
  }
}

function header(res: ServerResponse, name: string): string | undefined {
  const v = res.getHeader(name);
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : String(v);
}

function appendVary(res: ServerResponse): void {
  const vary = header(res, 'vary');
  if (!vary) res.setHeader('vary', 'Accept-Encoding');
  else if (!/(?:^|,)\s*(?:accept-encoding|\*)\s*(?:,|$)/i.test(vary)) res.setHeader('vary', `${vary}, Accept-Encoding`);
}

/** writeHead's headers (an object, [[k, v]...] or Node's flat [k, v, k, v]) into the response's own map. */
function mergeHeaders(res: ServerResponse, headers: OutgoingHttpHeaders | Array<string | string[]>): void {
  if (!Array.isArray(headers)) {
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) res.setHeader(k, v);
    return;
  }
  const pairs: Array<[string, string | string[]]> = [];
  if (Array.isArray(headers[0])) for (const p of headers as string[][]) pairs.push([p[0]!, p[1]!]);
  else for (let i = 0; i + 1 < headers.length; i += 2) pairs.push([headers[i] as string, headers[i + 1] as string]);
  const seen = new Set<string>();
  for (const [k, v] of pairs) {
    const key = k.toLowerCase();
    if (seen.has(key)) res.appendHeader(k, v);
    else res.setHeader(k, v);
    seen.add(key);
  }
}
