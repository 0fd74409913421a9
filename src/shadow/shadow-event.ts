/**
 * One record per shadowed request, published when the app's background answer has been compared with
 * PHP's (or the shadow was skipped). The ledger and metrics consume it; the client never waits for it.
 * It comes after the request's own RequestEvent (same `id`).
 */
export interface ShadowEvent {
  /** The RequestEvent id of the request that was shadowed. */
  id: number;
  method: string;
  /** The decoded path the bridge routed on. */
  path: string;
  /** The --shadow pattern that matched (`GET /packages/:name`). */
  pattern: string;
  /**
   * match / mismatch: compared; the skipped-* outcomes were not compared and are only counted:
   * busy (the concurrency limit), large (a body past the compare limit), app-failed (the app threw,
   * hung past --app-timeout, or answered nothing).
   */
  outcome: 'match' | 'mismatch' | 'skipped-busy' | 'skipped-large' | 'app-failed';
  /** For a mismatch: a short, one-paragraph diff (status, headers, the first differing body part). */
  diff: string | null;
  /** When the comparison finished (ms since the epoch). */
  at: number;
}

export type ShadowListener = (event: ShadowEvent) => void;

/** The subscribers of a bridge's shadow results; a subscriber that throws is logged, never fatal. */
export class ShadowEvents {
  private listeners: ShadowListener[] = [];

  get active(): boolean {
    return this.listeners.length > 0;
  }

  subscribe(listener: ShadowListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  publish(event: ShadowEvent, onError: (err: unknown) => void): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        onError(err);
      }
    }
  }
}
