/**
 * Gives memory back after a burst: one full garbage collection once the process is quiet again.
 *
 * Request bodies, socket reads and FastCGI records live in ArrayBuffers outside V8's heap. When a
 * burst ends (300 slow 1 MiB uploads), tens of MiB of them are garbage, but nothing allocates any
 * more, so V8 has no reason to collect: measured on Node 24, +28 MiB RSS still held a minute after
 * the load, and all of it back (RSS below where it was before the load) after one full GC. V8's own
 * memory reducer does not step in on Node's event loop. nginx's workers free a request's pools when
 * it ends; this is the nearest a garbage-collected process gets.
 *
 * The signal is cheap and needs no hook in the request path: once a second, the bytes held in
 * ArrayBuffers. Unchanged since the last look means nothing was read or written for a second
 * (any request allocates some); grown by `growth` over the lowest seen since the last collection
 * means there is something to give back. A busy process is never collected by this (its own GCs
 * keep up), and a quiet one at most once per burst.
 */
export class IdleGcPolicy {
  #floor: number | null = null;
  #last = -1;
  #lastCollect = -Infinity;

  constructor(
    readonly growth: number,
    /** At most one collection this often, however the samples go. */
    readonly minIntervalMs: number,
  ) {}

  /** One look: the bytes in ArrayBuffers now. True when a full collection is due. */
  sample(arrayBuffers: number, now: number): boolean {
    if (this.#floor === null || arrayBuffers < this.#floor) this.#floor = arrayBuffers;
    const quiet = arrayBuffers === this.#last;
    this.#last = arrayBuffers;
    return quiet && arrayBuffers - this.#floor >= this.growth && now - this.#lastCollect >= this.minIntervalMs;
  }

  /** After the collection: what is held now is the new floor. */
  collected(arrayBuffers: number, now: number): void {
    this.#floor = arrayBuffers;
    this.#last = arrayBuffers;
    this.#lastCollect = now;
  }
}

let gc: (() => void) | undefined;

/**
 * V8's full collection. Started with --expose-gc it is there already; otherwise the flag is set now
 * and a new context gets the function (the isolate's heap is one: it collects everything). Loaded
 * only when a collection is first due.
 */
function fullGc(): void {
  if (!gc) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === 'function') gc = exposed;
    else {
      // node:v8 and node:vm only now: a start that never collects does not load them.
      process.getBuiltinModule('node:v8').setFlagsFromString('--expose-gc');
      gc = process.getBuiltinModule('node:vm').runInNewContext('gc') as () => void;
    }
  }
  gc();
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
    const now = performance.now();
    if (!policy.sample(process.memoryUsage().arrayBuffers, now)) return;
    fullGc();
    collections++;
    policy.collected(process.memoryUsage().arrayBuffers, performance.now());
  }, everyMs);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    get collections() {
      return collections;
    },
  };
}
