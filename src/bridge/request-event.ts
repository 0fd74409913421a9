import type { ServedBy } from '../log/logger.ts';

/**
 * One record per finished request: what the access log, the ledger and metrics consume. Built only
 * when someone subscribes (see RequestEvents), so a bridge with no subscriber pays nothing per request.
 */
export interface RequestEvent {
  /** Unique within this bridge; PHP's stderr lines carry it too. */
  id: number;
  method: string;
  /** The request target as the client sent it. */
  url: string;
  /** The decoded, normalised path the bridge routed on (after rewrites); null for a target it refused. */
  path: string | null;
  /** The claim pattern that matched (`GET /packages/:name`), or null. */
  claim: string | null;
  servedBy: ServedBy;
  /** The app answered 404 on its turn: with servedBy `php`, PHP's 404 after the app's (both declined). */
  appDeclined: boolean;
  /** 499 for a client that went away before the response ended (nginx's convention); the error status (500, 504) of a response the bridge cut after its head went out. */
  status: number;
  /** Bytes written to the client's connection for this response, head included. */
  bytes: number;
  /** From the request's arrival at the bridge to the end of its response. */
  durationMs: number;
  remoteAddress: string;
  /** The time the request arrived (ms since the epoch). */
  startedAt: number;
}

export type RequestListener = (event: RequestEvent) => void;

/**
 * The subscribers of a bridge's finished requests. A subscriber that throws is logged by the caller
 * and never fails the request or the other subscribers.
 */
export class RequestEvents {
  private listeners: RequestListener[] = [];

  /** True when at least one subscriber listens: the bridge measures nothing otherwise. */
  get active(): boolean {
    return this.listeners.length > 0;
  }

  /** Adds a subscriber; returns the function that removes it. */
  subscribe(listener: RequestListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  publish(event: RequestEvent, onError: (err: unknown) => void): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        onError(err);
      }
    }
  }
}
