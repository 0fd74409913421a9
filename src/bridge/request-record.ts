import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { failedStatus } from '../http/error-response.ts';
import type { ServedBy } from '../log/logger.ts';
import type { RequestEvents } from './request-event.ts';
import type { RequestContext } from './step.ts';

const RECORD = Symbol('fpm-bridge.record');
type Recorded = ServerResponse & { [RECORD]?: RequestRecord };

/**
 * What the bridge notes of one request from its arrival, for the RequestEvent it publishes once the
 * response is over. Made only while someone subscribes to the events (the access log, the ledger,
 * metrics). No closure per request: the record waits on the response under a symbol, and the
 * 'close' listener is one function for every response.
 */
export class RequestRecord {
  private readonly startedAt = Date.now();
  private readonly started = performance.now();
  private readonly socket: Socket;
  private readonly bytesBefore: number;
  private ctx: RequestContext | null = null;
  private servedBy: ServedBy = 'bridge';

  constructor(
    private readonly id: number,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly events: RequestEvents,
    private readonly onError: (err: unknown) => void,
  ) {
    this.socket = req.socket;
    this.bytesBefore = this.socket.bytesWritten;
  }

  /** The steps are done (`ctx` null: the bridge refused the target); the event goes once the response has. */
  done(ctx: RequestContext | null, servedBy: ServedBy): void {
    this.ctx = ctx;
    this.servedBy = servedBy;
    const res = this.res;
    if (res.writableFinished || res.destroyed) return this.publish();
    (res as Recorded)[RECORD] = this;
    res.on('close', publishOnClose);
  }

  publish(): void {
    const { ctx, req, res, socket } = this;
    this.events.publish(
      {
        id: this.id,
        method: req.method ?? '',
        url: req.url ?? '',
        path: ctx ? ctx.target.path : null,
        claim: ctx?.claim ? ctx.claim.source : null,
        appDeclined: ctx ? ctx.appDeclined : false,
        servedBy: this.servedBy,
        // A response the bridge cut after its head went out is logged with the error it failed with;
        // nginx logs 499 for a client that closed the connection before the response ended.
        status: failedStatus(res) ?? (res.writableFinished ? res.statusCode : 499),
        bytes: socket.bytesWritten - this.bytesBefore,
        durationMs: performance.now() - this.started,
        remoteAddress: socket.remoteAddress ?? '',
        startedAt: this.startedAt,
      },
      this.onError,
    );
  }
}

function publishOnClose(this: ServerResponse): void {
  const record = (this as Recorded)[RECORD];
  if (!record) return;
  (this as Recorded)[RECORD] = undefined;
  record.publish();
}
