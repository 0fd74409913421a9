import type { ServerResponse } from 'node:http';
import { ownMethods, type ResponseMethods } from '../http/response-methods.ts';

type AnyFn = (...args: unknown[]) => unknown;

/**
 * Lets the app answer on the real response, but decides at its first status whether its answer
 * counts. A 404 means the app declined the request too: nothing it writes reaches the client, and
 * `onDecline` gets Node's real methods to send PHP's original 404 instead. Any other status goes out
 * untouched, and the app talks to Node directly from then on.
 *
 * The decision is made at the first of writeHead/write/end/flushHeaders, before a byte goes out, so
 * the client sees exactly one of the two responses.
 *
 * Pointed the other way (the app first, PHP on its 404: claims, app-first order), `onDeclinedEnd` is
 * called once the declined app has ended its 404: Node's methods are then back on the response, which
 * is as fresh as before the app (status 200, no headers), for PHP or the docroot to answer on.
 */
export function interceptNotFound(res: ServerResponse, onDecline: (real: ResponseMethods) => void, onDeclinedEnd?: () => void): void {
  const r = res as Intercepted;
  r[STATE] = { real: ownMethods(res), realFlush: res.flushHeaders, onDecline, onDeclinedEnd };
  res.writeHead = interceptedWriteHead as unknown as ServerResponse['writeHead'];
  res.flushHeaders = interceptedFlush;
  res.write = interceptedWrite as unknown as ServerResponse['write'];
  res.end = interceptedEnd as unknown as ServerResponse['end'];
}

/**
 * The methods put on the response are the same functions for every response, with the state under a
 * symbol: fresh closures per request over Node's methods kept each request's objects alive into the
 * old space on the PHP 404 -> app path (a mark-compact a second), as they did for the framing guard.
 */
const STATE = Symbol('fpm-bridge.intercept-404');
interface InterceptState {
  real: ResponseMethods;
  realFlush: ServerResponse['flushHeaders'];
  onDecline: (real: ResponseMethods) => void;
  onDeclinedEnd: (() => void) | undefined;
}
type Intercepted = ServerResponse & { [STATE]?: InterceptState };

/** Node's methods back on the response (under the framing guard's, as they were). */
function restore(res: ServerResponse, st: InterceptState): void {
  res.writeHead = st.real.writeHead as unknown as ServerResponse['writeHead'];
  res.write = st.real.write as unknown as ServerResponse['write'];
  res.end = st.real.end as unknown as ServerResponse['end'];
  res.flushHeaders = st.realFlush;
}

/** At the app's first status: true when its answer stands; a 404 declines, and its writes go nowhere. */
function decide(res: ServerResponse, status: number): boolean {
  const st = (res as Intercepted)[STATE]!;
  if (status !== 404) {
    restore(res, st);
    return true;
  }
  res.writeHead = declinedWriteHead as unknown as ServerResponse['writeHead'];
  res.flushHeaders = noop;
  res.write = declinedWrite as unknown as ServerResponse['write'];
  res.end = declinedEnd as unknown as ServerResponse['end'];
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  st.onDecline(st.real);
  return false;
}

function interceptedWriteHead(this: ServerResponse, status: number, ...rest: unknown[]): ServerResponse {
  if (decide(this, status)) return ((this as Intercepted)[STATE]!.real.writeHead as unknown as AnyFn).call(this, status, ...rest) as ServerResponse;
  return this;
}

function interceptedFlush(this: ServerResponse): void {
  if (decide(this, this.statusCode)) (this as Intercepted)[STATE]!.realFlush.call(this);
}

function interceptedWrite(this: ServerResponse, ...args: unknown[]): boolean {
  decide(this, this.statusCode);
  return (this.write as unknown as AnyFn).apply(this, args) as boolean;
}

function interceptedEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
  decide(this, this.statusCode);
  return (this.end as unknown as AnyFn).apply(this, args) as ServerResponse;
}

function noop(): void {}

function declinedWriteHead(this: ServerResponse): ServerResponse {
  return this;
}

function declinedWrite(this: ServerResponse, ...args: unknown[]): boolean {
  callbackOf(args)?.call(null);
  return true;
}

function declinedEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
  const res = this;
  const st = (res as Intercepted)[STATE]!;
  const cb = callbackOf(args);
  if (st.onDeclinedEnd) {
    restore(res, st);
    res.statusCode = 200;
    res.statusMessage = '';
    if (cb) res.once('finish', () => cb());
    st.onDeclinedEnd();
    return res;
  }
  if (cb) {
    if (res.writableFinished) process.nextTick(cb);
    else res.once('finish', () => cb());
  }
  return res;
}

function callbackOf(args: unknown[]): (() => void) | undefined {
  const cb = args.find((a) => typeof a === 'function');
  return cb as (() => void) | undefined;
}
