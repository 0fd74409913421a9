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
  const real = ownMethods(res);
  const realFlush = res.flushHeaders;

  /** True when the app's answer stands. */
  const decide = (status: number): boolean => {
    if (status !== 404) {
      Object.assign(res, real, { flushHeaders: realFlush });
      return true;
    }
    // Declined: from now on every write of the app's goes nowhere.
    res.writeHead = (() => res) as unknown as ServerResponse['writeHead'];
    res.flushHeaders = () => {};
    res.write = ((...args: unknown[]) => {
      callbackOf(args)?.call(null);
      return true;
    }) as unknown as ServerResponse['write'];
    res.end = ((...args: unknown[]) => {
      const cb = callbackOf(args);
      if (onDeclinedEnd) {
        Object.assign(res, real, { flushHeaders: realFlush });
        res.statusCode = 200;
        res.statusMessage = '';
        if (cb) res.once('finish', () => cb());
        onDeclinedEnd();
        return res;
      }
      if (cb) {
        if (res.writableFinished) process.nextTick(cb);
        else res.once('finish', () => cb());
      }
      return res;
    }) as unknown as ServerResponse['end'];
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    onDecline(real);
    return false;
  };

  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    if (decide(status)) return (real.writeHead as unknown as AnyFn).call(this, status, ...rest);
    return this;
  } as unknown as ServerResponse['writeHead'];
  res.flushHeaders = function (this: ServerResponse) {
    if (decide(this.statusCode)) realFlush.call(this);
  };
  res.write = function (this: ServerResponse, ...args: unknown[]) {
    decide(this.statusCode);
    return (res.write as unknown as AnyFn).apply(this, args);
  } as unknown as ServerResponse['write'];
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    decide(this.statusCode);
    return (res.end as unknown as AnyFn).apply(this, args);
  } as unknown as ServerResponse['end'];
}

function callbackOf(args: unknown[]): (() => void) | undefined {
  const cb = args.find((a) => typeof a === 'function');
  return cb as (() => void) | undefined;
}
