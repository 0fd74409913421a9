import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { sendError } from '../http/error-response.ts';

type AnyFn = (...args: unknown[]) => unknown;
type Headers = OutgoingHttpHeaders | Array<string | string[]> | undefined;

export interface FramingOptions {
  /** The app broke a rule; the message says which (the caller adds the request). */
  report(message: string): void;
}

const STATE = Symbol('fpm-bridge.framing');
const EMPTY = Buffer.alloc(0);

/** What the guard keeps per response: one plain object under a symbol, read by the shared methods below. */
interface FramingState {
  realWriteHead: AnyFn;
  realWrite: AnyFn;
  realEnd: AnyFn;
  headOnly: boolean;
  /** The body length the response declared, or -1 when Node frames it (chunked, or no body). */
  declared: number;
  written: number;
  reported: boolean;
  report(message: string): void;
}

type Guarded = ServerResponse & { [STATE]?: FramingState };

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
 *
 * The methods put on the response are the same three functions for every response, with the state in
 * one object under a symbol: three fresh closures per request, assigned over Node's methods, made every
 * app request cost nearly twice the CPU (bench app route: 28k -> 15k req/s, a mark-compact every
 * 400 ms instead of a few a run).
 */
export function guardFraming(req: IncomingMessage, res: ServerResponse, options: FramingOptions): void {
  const g = res as Guarded;
  if (g[STATE]) return;
  g[STATE] = {
    realWriteHead: res.writeHead as unknown as AnyFn,
    realWrite: res.write as unknown as AnyFn,
    realEnd: res.end as unknown as AnyFn,
    headOnly: req.method === 'HEAD',
    declared: -1,
    written: 0,
    reported: false,
    report: options.report,
  };
  res.writeHead = guardedWriteHead as unknown as ServerResponse['writeHead'];
  res.write = guardedWrite as unknown as ServerResponse['write'];
  res.end = guardedEnd as unknown as ServerResponse['end'];
}

function stateOf(res: ServerResponse): FramingState {
  return (res as Guarded)[STATE]!;
}

function report(st: FramingState, message: string): void {
  if (st.reported) return;
  st.reported = true;
  st.report(message);
}

function guardedWriteHead(this: ServerResponse, status: number, ...rest: unknown[]): ServerResponse {
  const res = this;
  const st = stateOf(res);
  const code = Number(status);
  if (code >= 100 && code < 200) {
    if (code === 103) {
      const hints = hintsOf(rest[rest.length - 1] as Headers);
      try {
        if (hints) res.writeEarlyHints(hints);
      } catch (err) {
        report(st, `the app sent an early hint Node refused (${(err as Error).message})`);
      }
    }
    // Informational: the final status is still to come. Remembered, so ending here is seen.
    res.statusCode = code;
    return res;
  }
  const last = rest[rest.length - 1];
  if (last !== undefined && typeof last !== 'string') rest[rest.length - 1] = sanitize(last as Headers);
  sanitizeStored(res);
  const out = st.realWriteHead.call(res, status, ...rest) as ServerResponse;
  st.declared = bodyless(code, st.headOnly) ? -1 : declaredLength(res, last as Headers);
  return out;
}

function guardedWrite(this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
  const res = this;
  const st = stateOf(res);
  if (!res.headersSent) {
    if (res.statusCode < 200) return failInformational(res, st, rest), false;
    res.writeHead(res.statusCode);
  }
  if (st.declared < 0) return st.realWrite.call(res, chunk, ...rest) as boolean;
  const [data, cb] = fit(st, chunk, rest);
  if (data === null) {
    if (cb) process.nextTick(cb);
    return true;
  }
  return st.realWrite.call(res, data, cb) as boolean;
}

function guardedEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
  const res = this;
  const st = stateOf(res);
  const chunk = typeof args[0] === 'function' ? undefined : args[0];
  const rest = typeof args[0] === 'function' ? args : args.slice(1);
  if (!res.headersSent) {
    if (res.statusCode < 200) return failInformational(res, st, rest), res;
    sanitizeStored(res);
    // No length of the app's own: Node sets the exact one for a body given whole to end().
    if (res.getHeader('content-length') === undefined) return st.realEnd.apply(res, args) as ServerResponse;
    res.writeHead(res.statusCode);
  }
  if (st.declared < 0) return st.realEnd.apply(res, args) as ServerResponse;
  const [data, cb] = chunk === undefined || chunk === null ? [null, callbackIn(rest)] : fit(st, chunk, rest);
  if (st.written < st.declared) {
    report(st, `the app declared Content-Length: ${st.declared} and ended after ${st.written} bytes; connection cut`);
    // The head and what there is go out first (Node corks them for a tick), then the cut.
    st.realWrite.call(res, data ?? EMPTY, () => sendError(res, 500));
    if (cb) process.nextTick(cb);
    return res;
  }
  return (data === null ? st.realEnd.call(res, cb) : st.realEnd.call(res, data, cb)) as ServerResponse;
}

/** The part of a write that still fits the declared length (null: none), and its callback. */
function fit(st: FramingState, chunk: unknown, rest: unknown[]): [Buffer | Uint8Array | string | null, AnyFn | undefined] {
  const cb = callbackIn(rest);
  const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8';
  const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : (chunk as Uint8Array);
  const room = st.declared - st.written;
  if (bytes.length <= room) {
    st.written += bytes.length;
    return [bytes, cb];
  }
  report(st, `the app wrote more than its Content-Length: ${st.declared}; the ${st.written + bytes.length - st.declared} bytes past it were dropped`);
  st.written = st.declared;
  return [room > 0 ? bytes.subarray(0, room) : null, cb];
}

function failInformational(res: ServerResponse, st: FramingState, rest: unknown[]): void {
  const status = res.statusCode;
  report(st, `the app ended its response with ${status}, an informational status; answered 500 instead`);
  res.statusCode = 200;
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  const body = 'The application sent no final status.\n';
  st.realWriteHead.call(res, 500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  st.realEnd.call(res, st.headOnly ? undefined : body);
  const cb = callbackIn(rest);
  if (cb) process.nextTick(cb);
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
