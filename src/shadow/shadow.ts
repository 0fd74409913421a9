import type { NodeListener } from '../app/app-module.ts';
import type { Logger } from '../log/logger.ts';
import { oncePerWindow } from '../log/rate-limit.ts';
import type { ResponseTap } from '../php/php-request.ts';
import { matchesPattern } from '../route/claim-pattern.ts';
import { replayToApp, type ShadowRequest } from './app-replay.ts';
import { ResponseCapture } from './capture.ts';
import { compareResponses, findNoise, type CapturedResponse, type CompareRules } from './compare.ts';
import { SAFE_METHODS, type ShadowConfig, type ShadowRoute } from './shadow-config.ts';
import { ShadowEvents, type ShadowEvent } from './shadow-event.ts';

/** Asks PHP the same request once more (--shadow-noise): its answer, or null when it had none. */
export type PhpAgain = () => Promise<CapturedResponse | null>;

/** One shadowed request, from before PHP runs to the published result. */
export interface ShadowRun {
  /** Gets a copy of PHP's answer as it goes to the client. */
  readonly tap: ResponseTap;
  /** The client's response is over; `delivered`: it was sent whole. The app runs from here, in the background. */
  done(delivered: boolean): void;
}

/** How long the later mismatch lines of a route are only counted. */
const LOG_WINDOW_MS = 10_000;

/**
 * The shadow: for the requests of the --shadow routes that PHP answers, the client gets PHP's answer
 * as always, and once it has been sent the app gets a replay of the request in the background; its
 * answer is captured, compared with PHP's (compare.ts), and one ShadowEvent is published. Bounded:
 * at most `concurrency` shadows at once (from PHP's start to the comparison; beyond, skipped-busy),
 * bodies past `maxBody` are not compared (skipped-large), an app that has not finished within the
 * timeout has failed. A mismatch logs one line with the diff: the first of its route at once, the
 * rest of the next LOG_WINDOW_MS counted into one line (every one is still an event, and in the
 * ledger), so a route that differs on every request does not flood the log.
 */
export class Shadow {
  readonly events = new ShadowEvents();
  private running = 0;
  /** A route's mismatch (or app failure) lines: the first of a window, then a count. */
  private readonly once = oncePerWindow(LOG_WINDOW_MS);
  private readonly idleWaiters: Array<() => void> = [];
  /** The comparison rules with and without a body (HEAD), made once: not a copy per shadow. */
  private readonly rules: { body: CompareRules; head: CompareRules };
  /** A subscriber that throws: logged (one function for every event, not a closure per event). */
  private readonly onSubscriberError = (err: unknown) => this.logger.error('a shadow-event subscriber failed', err);

  constructor(
    private readonly config: ShadowConfig,
    private readonly app: NodeListener,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {
    this.rules = { body: { ...config.rules, compareBody: true }, head: { ...config.rules, compareBody: false } };
  }

  /** The shadow route this request falls under, if it is sampled this time; null: not shadowed. */
  pick(method: string, path: string): ShadowRoute | null {
    if (!this.config.unsafe && !SAFE_METHODS.has(method)) return null;
    for (const route of this.config.routes) {
      if (matchesPattern(route.pattern, method, path)) return route.rate >= 1 || Math.random() < route.rate ? route : null;
    }
    return null;
  }

  /**
   * Starts the shadow of one request about to go to PHP. `request` is what the app will get (null:
   * its body was too large to keep). A request PHP does not answer itself (a 404 the app took, an
   * error, a client gone) publishes nothing.
   */
  start(id: number, method: string, path: string, route: ShadowRoute, request: ShadowRequest | null, phpAgain: PhpAgain | null = null): ShadowRun {
    const base = { id, method, path, pattern: route.pattern.source };
    if (this.running >= this.config.concurrency) {
      // Nothing is kept of PHP's answer: the tap only learns whether PHP answered.
      const tap = new ResponseCapture(0);
      return { tap, done: (delivered) => delivered && tap.ended && this.later(base, 'skipped-busy') };
    }
    this.running++;
    const capture = new ResponseCapture(this.config.maxBody);
    return {
      tap: capture,
      done: (delivered) => {
        if (!delivered || !capture.ended) return this.release();
        if (request === null || capture.overLimit) {
          this.release();
          return this.later(base, 'skipped-large');
        }
        // The app starts once the bridge is done with the request (its RequestEvent published).
        setImmediate(() => void this.compare(base, capture, request, phpAgain).finally(() => this.release()));
      },
    };
  }

  private async compare(base: Omit<ShadowEvent, 'outcome' | 'diff' | 'at'>, capture: ResponseCapture, request: ShadowRequest, phpAgain: PhpAgain | null): Promise<void> {
    const rules = request.method === 'HEAD' ? this.rules.head : this.rules.body;
    // --shadow-noise: PHP's second answer to the same request says what varies by itself.
    const second = phpAgain ? await phpAgain() : null;
    const noise = second ? findNoise(capture.response(), second, rules) : null;
    const answer = await replayToApp(this.app, request, { maxBody: this.config.maxBody, timeoutMs: this.timeoutMs });
    if (answer.kind === 'large') return this.publish(base, 'skipped-large');
    if (answer.kind === 'failed') {
      this.warnOnce(base.pattern, 'app failures', `shadow ${request.method} ${request.url}: ${answer.reason}`);
      return this.publish(base, 'app-failed');
    }
    const result = compareResponses(capture.response(), answer.response, rules, noise);
    if (result.match) return this.publish(base, 'match');
    this.warnOnce(base.pattern, 'mismatches', `shadow ${request.method} ${request.url}: the app differs from PHP (${base.pattern}): ${result.diff}`);
    this.publish(base, 'mismatch', result.diff);
  }

  /** The first line of a route's kind (`what`) at once; the same again within the window only counted, then one line. */
  private warnOnce(pattern: string, what: string, line: string): void {
    this.once(
      `${pattern} ${what}`,
      () => this.logger.warn(line),
      (count) => this.logger.warn(`shadow ${pattern}: ${count} more ${what} in the last ${LOG_WINDOW_MS / 1000} s (each is in the ledger)`),
    );
  }

  private release(): void {
    this.running--;
    if (this.running === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Resolves once no shadow runs (each has published its event): the bridge waits for it on close. */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Published after the request's own RequestEvent, which goes out on the same 'close'. */
  private later(base: Omit<ShadowEvent, 'outcome' | 'diff' | 'at'>, outcome: ShadowEvent['outcome']): void {
    setImmediate(() => this.publish(base, outcome));
  }

  /**
   * The event is written out field by field, not spread from `base`: measured with --trace-gc-nvp
   * under a paced PHP hello load with every request shadowed, `{ ...base, ... }` here made the
   * scavenges promote 4.6 MB in 6 s (against 0.3 MB written out), and that old-space garbage cost a
   * 5-6 ms mark-compact pause every few seconds, which is the client's p99.
   */
  private publish(base: Omit<ShadowEvent, 'outcome' | 'diff' | 'at'>, outcome: ShadowEvent['outcome'], diff: string | null = null): void {
    const event: ShadowEvent = { id: base.id, method: base.method, path: base.path, pattern: base.pattern, outcome, diff, at: Date.now() };
    this.events.publish(event, this.onSubscriberError);
  }
}
