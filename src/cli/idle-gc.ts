/**
 * Gives memory back after a burst: one full garbage collection once the process is quiet again.
 *
 * Request bodies, socket reads and FastCGI records live in ArrayBuffers outside V8's heap, and each
 * connection's native parts (socket handle, HTTP parser) are freed only when their JS objects are
 * collected. When a burst ends (300 slow 1 MiB uploads), tens of MiB of that are garbage, but
 * nothing allocates any more, so V8 has no reason to collect: measured on Node 24, +28 MiB RSS still
 * held a minute after the load, and all of it back (RSS below where it was before the load) after
 * one full GC. V8's own memory reducer does not step in on Node's event loop. nginx's workers free a
 * request's pools when it ends; this is the nearest a garbage-collected process gets.
 *
 * The signals are cheap and need no hook in the request path: once a second, the RSS and the bytes
 * held in ArrayBuffers. ArrayBuffers unchanged since the last look means nothing was read or written
 * for a second (any request allocates some); RSS grown by `growth` over the lowest seen since the
 * last collection means there may be something to give back. A busy process is never collected by
 * this (its own GCs keep up), and a quiet one at most once per burst: memory that stays after the
 * collection (live, or kept by malloc) is the new floor.
 */
export class IdleGcPolicy {
  #floor: number | null = null;
  #lastBuffers = -1;
  #lastCollect = -Infinity;

  constructor(
    readonly growth: number,
    /** At most one collection this often, however the samples go. */
    readonly minIntervalMs: number,
  ) {}

  /** One look: RSS and the bytes in ArrayBuffers now. True when a full collection is due. */
  sample(rss: number, arrayBuffers: number, now: number): boolean {
    if (this.#floor === null || rss < this.#floor) this.#floor = rss;
    const quiet = arrayBuffers === this.#lastBuffers;
    this.#lastBuffers = arrayBuffers;
    return quiet && rss - this.#floor >= this.growth && now - this.#lastCollect >= this.minIntervalMs;
  }

  /** After the collection: the RSS now is the new floor. */
  collected(rss: number, arrayBuffers: number, now: number): void {
    this.#floor = rss;
    this.#lastBuffers = arrayBuffers;
    this.#lastCollect = now;
  }
}

type GcFunction = (options?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;
let gc: GcFunction | undefined;

/**
 * V8 12+ (Node 22, 24) takes options, and its 'last-resort' collection also hands the pages it freed
 * back at once (two mark-compacts, 30-50 ms on this heap): measured on Node 24, RSS fell in the same
 * second (146.7 -> 120.1 MiB) where a plain full GC left it up for 8 s more. Node 20's V8 reads an
 * options object as a minor GC, so it gets the plain call (one full GC).
 */
const LAST_RESORT = Number(process.versions.v8.split('.')[0]) >= 12;

/**
 * V8's full collection. Started with --expose-gc it is there already; otherwise the flag is set now
 * and a new context gets the function (the isolate's heap is one: it collects everything). Loaded
 * only when a collection is first due.
 */
function fullGc(): void {
  if (!gc) {
    const exposed = (globalThis as { gc?: GcFunction }).gc;
    if (typeof exposed === 'function') gc = exposed;
    else {
      // node:v8 and node:vm only now: a start that never collects does not load them.
      process.getBuiltinModule('node:v8').setFlagsFromString('--expose-gc');
      gc = process.getBuiltinModule('node:vm').runInNewContext('gc') as GcFunction;
    }
  }
  if (LAST_RESORT) gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  else gc();
}

export interface IdleGc {
  stop(): void;
  /** Full collections made so far. */
  readonly collections: number;
}

/** Looks once a second (an unref'd timer: it never keeps the process alive). */
export function startIdleGc(growth = 16 * 1024 * 1024, everyMs = 1000, minIntervalMs = 10_000): IdleGc {
  const policy = new IdleGcPolicy(growth, minIntervalMs);
  let collections = 0;
  const timer = setInterval(() => {
    const { rss, arrayBuffers } = process.memoryUsage();
    if (!policy.sample(rss, arrayBuffers, performance.now())) return;
    fullGc();
    collections++;
    const left = process.memoryUsage();
    policy.collected(left.rss, left.arrayBuffers, performance.now());
  }, everyMs);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    get collections() {
      return collections;
    },
  };
}
