import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { sendError } from '../http/error-response.ts';

type AnyFn = (...args: unknown[]) => unknown;
type Headers = OutgoingHttpHeaders | Array<string | string[]> | undefined;

export interface FramingOptions {
  /** The app broke a rule; the message says which (the caller adds the request). */
  report(message: string): void;
}

const GUARDED = Symbol('fpm-bridge.framing');
const EMPTY = Buffer.alloc(0);

/**
 * The bridge owns HTTP framing for everything the app sends (the same rule as for PHP): nothing the
 * app declares may decide where a response ends on the client's connection.
 *
 * - A Transfer-Encoding from the app is dropped (Node frames the body itself); a Content-Length that
 *   is not one non-negative integer is dropped (Node then chunks).
 * - A valid Content-Length is held to: bytes past it are dropped, and a response that ends short of
 *   it has its connection cut, so the client sees an incomplete response and never reads the next
 *   response as the rest of this body (nginx: "upstream prematurely closed").
 * - A 1xx is informational, never final: 103 goes out as an early hint (res.writeEarlyHints, which
 *   the FastCGI server turns into a no-op), and the app's real status must follow; an app that ends
 *   with only a 1xx gets a 500.
 *
 * Node's own `strictContentLength` throws from write()/end(), which an app calling them from a timer
 * would turn into a crash; this reports and keeps the process up. Idempotent per response.
 */
export function guardFraming(req: IncomingMessage, res: ServerResponse, options: FramingOptions): void {
  const marked = res as ServerResponse & { [GUARDED]?: true };
  if (marked[GUARDED]) return;
  marked[GUARDED] = true;

  const realWriteHead = res.writeHead as unknown as AnyFn;
  const realWrite = res.write as unknown as AnyFn;
  const realEnd = res.end as unknown as AnyFn;
  const headOnly = req.method === 'HEAD';
  /** The body length the response declared, or -1 when Node frames it (chunked, or no body). */
  let declared = -1;
  let written = 0;
  let reported = false;
  const report = (message: string) => {
    if (reported) return;
    reported = true;
    options.report(message);
  };

  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    const code = Number(status);
    if (code >= 100 && code < 200) {
      if (code === 103) {
        const hints = hintsOf(rest[rest.length - 1] as Headers);
        try {
          if (hints) res.writeEarlyHints(hints);
        } catch (err) {
          report(`the app sent an early hint Node refused (${(err as Error).message})`);
        }
      }
      // Informational: the final status is still to come. Remembered, so ending here is seen.
      res.statusCode = code;
      return res;
    }
    const last = rest[rest.length - 1];
    if (last !== undefined && typeof last !== 'string') rest[rest.length - 1] = sanitize(last as Headers);
    sanitizeStored(res);
    const out = realWriteHead.call(this, status, ...rest);
    declared = bodyless(code, headOnly) ? -1 : declaredLength(res, last as Headers);
    return out;
  } as unknown as ServerResponse['writeHead'];

  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    if (!res.headersSent) {
      if (res.statusCode < 200) return failInformational(rest), false;
      res.writeHead(res.statusCode);
    }
    if (declared < 0) return realWrite.call(this, chunk, ...rest);
    const [data, cb] = fit(chunk, rest);
    if (data === null) {
      if (cb) process.nextTick(cb);
      return true;
    }
    return realWrite.call(this, data, cb);
  } as unknown as ServerResponse['write'];

  res.end = function (this: ServerResponse, ...args: unknown[]) {
    const chunk = typeof args[0] === 'function' ? undefined : args[0];
    const rest = typeof args[0] === 'function' ? args : args.slice(1);
    if (!res.headersSent) {
      if (res.statusCode < 200) return failInformational(rest), res;
      sanitizeStored(res);
      // No length of the app's own: Node sets the exact one for a body given whole to end().
      if (res.getHeader('content-length') === undefined) return realEnd.apply(this, args);
      res.writeHead(res.statusCode);
    }
    if (declared < 0) return realEnd.apply(this, args);
    const [data, cb] = chunk === undefined || chunk === null ? [null, callbackIn(rest)] : fit(chunk, rest);
    if (written < declared) {
      report(`the app declared Content-Length: ${declared} and ended after ${written} bytes; connection cut`);
      // The head and what there is go out first (Node corks them for a tick), then the cut.
      realWrite.call(this, data ?? EMPTY, () => sendError(res, 500));
      if (cb) process.nextTick(cb);
      return res;
    }
    return data === null ? realEnd.call(this, cb) : realEnd.call(this, data, cb);
  } as unknown as ServerResponse['end'];

  /** The part of a write that still fits the declared length (null: none), and its callback. */
  function fit(chunk: unknown, rest: unknown[]): [Buffer | Uint8Array | string | null, AnyFn | undefined] {
    const cb = callbackIn(rest);
    const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8';
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : (chunk as Uint8Array);
    const room = declared - written;
    if (bytes.length <= room) {
      written += bytes.length;
      return [bytes, cb];
    }
    report(`the app wrote more than its Content-Length: ${declared}; the ${written + bytes.length - declared} bytes past it were dropped`);
    written = declared;
    return [room > 0 ? bytes.subarray(0, room) : null, cb];
  }

  function failInformational(rest: unknown[]): void {
    const status = res.statusCode;
    report(`the app ended its response with ${status}, an informational status; answered 500 instead`);
    res.statusCode = 200;
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    const body = 'The application sent no final status.\n';
    realWriteHead.call(res, 500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    realEnd.call(res, headOnly ? undefined : body);
    const cb = callbackIn(rest);
    if (cb) process.nextTick(cb);
  }
}

function callbackIn(args: unknown[]): AnyFn | undefined {
  return args.find((a) => typeof a === 'function') as AnyFn | undefined;
}

function bodyless(status: number, headOnly: boolean): boolean {
  return headOnly || status === 204 || status === 304;
}

/** A Content-Length value that is one non-negative decimal integer (repeats of it allowed), else null. */
export function validLength(value: unknown): number | null {
  const values = Array.isArray(value) ? value.flatMap((v) => String(v).split(',')) : String(value).split(',');
  let n: number | null = null;
  for (const v of values) {
    const t = v.trim();
    if (!/^\d{1,15}$/.test(t)) return null;
    if (n !== null && Number(t) !== n) return null;
    n = Number(t);
  }
  return n;
}

/** Headers as writeHead takes them, without Transfer-Encoding and without an invalid Content-Length. */
function sanitize(headers: Headers): Headers {
  if (!headers) return headers;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      const pairs = (headers as unknown as string[][]).filter(([k, v]) => keep(k!, v));
      return pairs as unknown as Headers;
    }
    const flat = headers as string[];
    const lengths = flat.filter((_, j) => j % 2 === 1 && String(flat[j - 1]).toLowerCase() === 'content-length');
    const lengthOk = lengths.length === 0 || validLength(lengths) !== null;
    const out: string[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const k = String(flat[i]).toLowerCase();
      if (k === 'transfer-encoding' || (k === 'content-length' && !lengthOk)) continue;
      out.push(flat[i] as string, flat[i + 1] as string);
    }
    return out;
  }
  let copy: OutgoingHttpHeaders | undefined;
  for (const k of Object.keys(headers)) {
    if (!keep(k, headers[k])) {
      copy ??= { ...headers };
      delete copy[k];
    }
  }
  return copy ?? headers;
}

function keep(name: string, value: unknown): boolean {
  const k = name.toLowerCase();
  if (k === 'transfer-encoding') return false;
  return k !== 'content-length' || validLength(value) !== null;
}

/** The same rule for headers set with setHeader before the head goes out. */
function sanitizeStored(res: ServerResponse): void {
  if (res.hasHeader('transfer-encoding')) res.removeHeader('transfer-encoding');
  const cl = res.getHeader('content-length');
  if (cl !== undefined && validLength(cl) === null) res.removeHeader('content-length');
}

/** What went out as Content-Length: the writeHead argument wins over a stored header, as in Node. */
function declaredLength(res: ServerResponse, headers: Headers): number {
  let value: unknown;
  if (Array.isArray(headers)) {
    const flat = headers.length > 0 && Array.isArray(headers[0]) ? (headers as unknown as string[][]).flat() : (headers as string[]);
    const found = flat.filter((_, j) => j % 2 === 1 && String(flat[j - 1]).toLowerCase() === 'content-length');
    if (found.length > 0) value = found;
  } else if (headers) {
    for (const k of Object.keys(headers)) if (k.toLowerCase() === 'content-length') value = headers[k];
  }
  value ??= res.getHeader('content-length');
  if (value === undefined) return -1;
  return validLength(value) ?? -1;
}

/** An early hint's fields, or null when it has no Link (Node sends hints only with one). */
function hintsOf(headers: Headers): Record<string, string | string[]> | null {
  const hints: Record<string, string | string[]> = {};
  if (Array.isArray(headers)) {
    const flat = headers.length > 0 && Array.isArray(headers[0]) ? (headers as unknown as string[][]).flat() : (headers as string[]);
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const k = String(flat[i]).toLowerCase();
      const prev = hints[k];
      hints[k] = prev === undefined ? String(flat[i + 1]) : [...[prev].flat(), String(flat[i + 1])];
    }
  } else if (headers) {
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) hints[k.toLowerCase()] = Array.isArray(v) ? v.map(String) : String(v);
  }
  return hints.link === undefined ? null : hints;
}
