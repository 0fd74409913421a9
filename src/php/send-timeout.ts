import type { ServerResponse } from 'node:http';
import { InFlight, type Slotted } from '../http/in-flight.ts';

/** nginx send_timeout. */
export const SEND_TIMEOUT_MS = 60_000;

interface Watched extends Slotted {
  res: ServerResponse;
  timeoutMs: number;
  /** Bytes waiting in the response, and in libuv's queue, at the last look. */
  length: number;
  queued: number;
  /** Since when nothing went out. */
  since: number;
  onTimeout: () => void;
}

/** A response's entry, on the response: no Map keyed per response (see InFlight). */
const WATCHED = Symbol('fpm-bridge.sendWatch');
type WatchedResponse = ServerResponse & { [WATCHED]?: Watched };

const watched = new InFlight<Watched>();
let sweeper: NodeJS.Timeout | null = null;

/** Bytes libuv still has to hand to the kernel: it shrinks as a slow client takes any byte. */
function queuedBytes(res: ServerResponse): number {
  const handle = (res.socket as unknown as { _handle?: { writeQueueSize?: number } } | null)?._handle;
  return handle?.writeQueueSize ?? 0;
}

function onDrain(this: WatchedResponse): void {
  const w = this[WATCHED];
  if (w) w.since = performance.now();
}

function onClose(this: WatchedResponse): void {
  unwatch(this);
}

function unwatch(res: WatchedResponse): void {
  const w = res[WATCHED];
  if (!w) return;
  res[WATCHED] = undefined;
  watched.delete(w);
  res.off('drain', onDrain);
  res.off('close', onClose);
}

/**
 * nginx's send_timeout for a response that has bytes waiting for its client: a client that takes no
 * byte of them for `timeoutMs` is cut (`onTimeout`, then the connection destroyed). One sweep for
 * all responses (no timer per response); a response that has nothing waiting, or that ends, costs
 * nothing. Call it after a write that left bytes waiting.
 */
export function watchSend(res: ServerResponse, timeoutMs: number, onTimeout: () => void): void {
  const r = res as WatchedResponse;
  if (timeoutMs <= 0 || r[WATCHED] || res.destroyed) return;
  const w: Watched = { res, timeoutMs, length: res.writableLength, queued: queuedBytes(res), since: performance.now(), onTimeout, slot: -1 };
  r[WATCHED] = w;
  watched.add(w);
  res.on('drain', onDrain);
  res.on('close', onClose);
  if (!sweeper) {
    sweeper = setInterval(sweep, Math.max(20, Math.min(1_000, timeoutMs / 4)));
    sweeper.unref();
  }
}

function sweep(): void {
  const now = performance.now();
  watched.sweep((w) => {
    const length = w.res.writableLength;
    const queued = queuedBytes(w.res);
    if (length === 0 || length < w.length || queued < w.queued) w.since = now;
    w.length = length;
    w.queued = queued;
    if (now - w.since >= w.timeoutMs) {
      unwatch(w.res);
      w.onTimeout();
      w.res.destroy();
    }
  });
  if (watched.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = null;
  }
}
