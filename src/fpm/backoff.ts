export interface BackoffOptions {
  /** The first restart waits this long (a crash loop must not spin the CPU). */
  initialMs: number;
  /** Delays double up to this. */
  maxMs: number;
  /** A child that stayed up this long was healthy: its crash starts the sequence over. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5_000, resetAfterMs: 30_000 };

/** Restart delays: 100 ms, 200 ms, 400 ms ... 5 s, back to 100 ms after a good run. */
export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions = DEFAULT_BACKOFF) {}

  /** The delay before restarting a child that died after `uptimeMs` (0 when it never came up). */
  next(uptimeMs: number): number {
    if (uptimeMs >= this.options.resetAfterMs) this.attempt = 0;
    const delay = Math.min(this.options.maxMs, this.options.initialMs * 2 ** this.attempt);
    if (delay < this.options.maxMs) this.attempt++;
    return delay;
  }
}
