import type { ServerResponse } from 'node:http';
import { Socket } from 'node:net';

/** Callbacks per client connection, so a socket carries one 'close' listener however many requests wait on it. */
const watchers = new WeakMap<object, Set<() => void>>();

/**
 * Calls `onGone` once when the client of `res` goes away before `res` finished; returns what stops
 * the watch. A response's own 'close' is not enough: Node gives a pipelined request's response its
 * socket only once the responses before it are done, and when the connection closes first that
 * response never emits 'close' (its request, already read, is not told either). The connection's
 * 'close' is watched as well.
 */
export function whenClientGone(res: ServerResponse, onGone: () => void): () => void {
  let done = false;
  const fire = () => {
    if (done || res.writableFinished) return;
    stop();
    onGone();
  };
  // A response that already has its socket hears the connection's close itself: only one waiting
  // behind another on its connection (pipelined) needs the connection watched. An h2 request's
  // socket is a stand-in (http/h2-compat.ts) whose response hears its stream's close.
  const socket = res.socket ? undefined : res.req?.socket;
  let set: Set<() => void> | undefined;
  if (socket instanceof Socket) {
    set = watchers.get(socket);
    if (!set) {
      const fresh = new Set<() => void>();
      watchers.set(socket, fresh);
      set = fresh;
      socket.once('close', () => {
        watchers.delete(socket);
        for (const fn of [...fresh]) fn();
      });
    }
    set.add(fire);
  }
  res.once('close', fire);
  const stop = () => {
    done = true;
    set?.delete(fire);
    res.off('close', fire);
  };
  return stop;
}

/** Has the client of `res` already gone (its connection or stream closed)? */
export function clientGone(res: ServerResponse): boolean {
  return res.destroyed || Boolean(res.req?.socket?.destroyed);
}
