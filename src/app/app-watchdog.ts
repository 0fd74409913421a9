import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from '../http/error-response.ts';
import { InFlight, type Slotted } from '../http/in-flight.ts';
import type { Logger } from '../log/logger.ts';

interface Watched extends Slotted {
  req: IncomingMessage;
  res: ServerResponse;
  /** When the app last showed life: the start, or the last time bytes went out. */
  since: number;
  written: number;
  owner: AppWatchdog;
}

/** A response's entry, on the response: no per-request Map (see InFlight) and no per-request closure. */
const WATCHED = Symbol('fpm-bridge.appWatch');
type WatchedResponse = ServerResponse & { [WATCHED]?: Watched };

function onWatchedClose(this: WatchedResponse): void {
  const w = this[WATCHED];
  if (w) w.owner.forget(this);
}

/**
 * --app-timeout for every app request with one timer: an app that has not started its answer within
 * the timeout gets a 504 sent in its place; one that goes quiet that long mid-response has its
 * connection cut (like nginx's proxy_read_timeout, which also runs between two reads, so a long
 * stream that keeps writing lives). One sweep a quarter of the timeout (at most every second) instead
 * of a timer per request: a timer armed and cleared per request cost 15% of the app path's
 * throughput (31k -> 36k req/s without it).
 */
export class AppWatchdog {
  private readonly active = new InFlight<Watched>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  watch(req: IncomingMessage, res: ServerResponse): void {
    const r = res as WatchedResponse;
    const known = r[WATCHED];
    if (known) {
      known.since = performance.now();
      known.written = req.socket.bytesWritten;
      return;
    }
    const w: Watched = { req, res, since: performance.now(), written: req.socket.bytesWritten, owner: this, slot: -1 };
    r[WATCHED] = w;
    this.active.add(w);
    res.on('close', onWatchedClose);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), Math.max(5, Math.min(1_000, this.timeoutMs / 4)));
      this.timer.unref();
    }
  }

  /** Stops watching: the app is done with this response (it declined it and PHP answers instead). */
  forget(res: ServerResponse): void {
    const r = res as WatchedResponse;
    const w = r[WATCHED];
    if (!w) return;
    r[WATCHED] = undefined;
    this.active.delete(w);
    res.off('close', onWatchedClose);
  }

  private sweep(): void {
    const now = performance.now();
    this.active.sweep((w) => {
      const { req, res } = w;
      if (res.writableEnded || res.destroyed) return this.forget(res);
      if (res.headersSent && req.socket.bytesWritten !== w.written) {
        w.written = req.socket.bytesWritten;
        w.since = now;
        return;
      }
      if (now - w.since < this.timeoutMs) return;
      this.forget(res);
      if (!res.headersSent) {
        this.logger.error(`the app did not answer ${req.method} ${req.url} within ${this.timeoutMs} ms (--app-timeout)`);
        sendError(res, 504, 'The application did not answer in time.', { connection: 'close' });
        silence(res);
      } else {
        this.logger.error(`the app wrote nothing to ${req.method} ${req.url} for ${this.timeoutMs} ms (--app-timeout): connection cut`);
        sendError(res, 504);
      }
    });
    if (this.active.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

/** After the bridge answered in the app's place, the app's late calls go nowhere instead of throwing. */
function silence(res: ServerResponse): void {
  const self = () => res;
  res.writeHead = self as unknown as ServerResponse['writeHead'];
  res.setHeader = self as unknown as ServerResponse['setHeader'];
  res.appendHeader = self as unknown as ServerResponse['appendHeader'];
  res.removeHeader = () => {};
  res.flushHeaders = () => {};
  res.write = (() => true) as unknown as ServerResponse['write'];
  res.end = self as unknown as ServerResponse['end'];
}
