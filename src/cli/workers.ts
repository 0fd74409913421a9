// --workers N: this process (the primary) runs no server of its own. It starts (or checks) the one
// php-fpm, forks N workers that share the listening port through node:cluster (Node 20 has no
// reusePort for net; cluster's round-robin hands each accepted connection to the next worker), splits
// the php-fpm connections between them, replaces a worker that dies, reloads them on SIGHUP and drains
// them on SIGTERM. A worker is the ordinary fpm-bridge process, told by WORKER_ENV which php-fpm to
// use and how many connections it may open (see workerBackend).
import cluster, { type Worker } from 'node:cluster';
import { Backoff } from '../fpm/backoff.ts';
import type { Logger } from '../log/logger.ts';
import type { PhpBackend } from './php-backend.ts';

/** The environment variable that makes a forked process a worker and carries its share. */
export const WORKER_ENV = 'FPM_BRIDGE_WORKER';

export interface WorkerShare {
  /** php-fpm's address, as for --fpm (several pools: each --fpm). */
  fpm: string | readonly string[];
  /** The connections this worker may open: its part of the total, so the sum stays within the pool. */
  connections: number;
  /** Its slot, 0..N-1 (a replacement takes the slot of the one it replaces). */
  slot: number;
}

/** Messages between the primary and its workers. */
export type WorkerMessage = { fpmBridge: 'ready'; url: string } | { fpmBridge: 'fpm-restarting'; value: boolean } | { fpmBridge: 'retire' };

/** In a worker: its share, from the primary. Null in any other process. */
export function workerShare(): WorkerShare | null {
  const text = process.env[WORKER_ENV];
  if (!text || !cluster.isWorker) return null;
  return JSON.parse(text) as WorkerShare;
}

/** In a worker: the primary's php-fpm, as the bridge needs it; the primary starts and stops it. */
export function workerBackend(share: WorkerShare): PhpBackend {
  let restarting = false;
  process.on('message', (m: WorkerMessage | null) => {
    if (m?.fpmBridge === 'fpm-restarting') restarting = m.value;
  });
  return {
    address: share.fpm,
    describe: `php-fpm at ${share.fpm} (shared by the workers)`,
    connections: share.connections,
    stop: () => Promise.resolve(),
    killNow: () => {},
    restarting: () => restarting,
  };
}

/**
 * In a worker: resolves when the primary retires it (a reload, a stop). Signals do not stop a worker:
 * a terminal's Ctrl-C or systemd's SIGTERM reach the whole process group, and the primary, which gets
 * them too, retires each worker in order (see retire). A primary that died outright (kill -9) closes
 * the channel, and node:cluster then ends the worker at once.
 */
export function workerRetired(): Promise<string> {
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => {});
  return new Promise((resolve) => {
    const on = (m: WorkerMessage | null) => {
      if (m?.fpmBridge !== 'retire') return;
      process.off('message', on);
      resolve('retired');
    };
    process.on('message', on);
  });
}

/** In a worker: tells the primary it serves. */
export function workerReady(url: string): void {
  process.send?.({ fpmBridge: 'ready', url } satisfies WorkerMessage);
}

/**
 * Slot `slot` of `workers`: the total split as evenly as it goes, at least one each (a worker with
 * no connection could serve no PHP; the caller warns when that overshoots the total).
 */
export function shareOf(total: number, workers: number, slot: number): number {
  return Math.max(1, Math.floor(total / workers) + (slot < total % workers ? 1 : 0));
}

export interface PrimaryOptions {
  workers: number;
  php: PhpBackend;
  logger: Logger;
  /** In-flight requests' grace on a stop; workers that outlive it (plus a margin) are killed. */
  shutdownTimeoutMs: number;
  /** Resolves with the stop signal (SIGINT/SIGTERM). */
  stop: Promise<NodeJS.Signals>;
  /** Once the first generation serves, with the URL a worker listens on. */
  onServing(url: string): void;
}

interface Slot {
  worker: Worker | null;
  startedAt: number;
  backoff: Backoff;
  timer: NodeJS.Timeout | null;
}

/**
 * Runs the workers until a stop signal; resolves with the exit code (1 when the first generation
 * failed to start: each worker printed why).
 */
export async function runPrimary(options: PrimaryOptions): Promise<number> {
  const { workers, php, logger } = options;
  if (php.connections < workers) {
    logger.warn(`${workers} workers and ${php.connections} php-fpm connections: each worker gets one, ${workers} in all. Make sure php-fpm's pm.max_children is at least ${workers}.`);
  }
  let stopping = false;
  let fpmRestarting = false;
  const slots: Slot[] = Array.from({ length: workers }, () => ({ worker: null, startedAt: 0, backoff: new Backoff(), timer: null }));
  /** Workers on their way out (reload, stop): their exit is expected. */
  const retiring = new Set<Worker>();

  const fork = (slot: number): Worker => {
    const share: WorkerShare = { fpm: php.address, connections: shareOf(php.connections, workers, slot), slot };
    const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(share) });
    worker.on('online', () => {
      if (fpmRestarting) send(worker, { fpmBridge: 'fpm-restarting', value: true });
    });
    return worker;
  };
  let url = '';
  /** Resolves true once the worker serves, false when it exits first (it printed why). */
  const ready = (worker: Worker): Promise<boolean> =>
    new Promise((resolve) => {
      const onMessage = (m: WorkerMessage | null) => {
        if (m?.fpmBridge !== 'ready') return;
        url = m.url;
        worker.off('exit', onExit);
        worker.off('message', onMessage);
        resolve(true);
      };
      const onExit = () => {
        worker.off('message', onMessage);
        resolve(false);
      };
      worker.on('message', onMessage);
      worker.once('exit', onExit);
    });
  const place = (slot: number, worker: Worker): void => {
    const s = slots[slot]!;
    s.worker = worker;
    s.startedAt = performance.now();
    worker.once('exit', (code, signal) => onExit(slot, worker, code, signal));
  };
  const onExit = (slot: number, worker: Worker, code: number | null, signal: string | null): void => {
    if (retiring.delete(worker) || stopping) return;
    const s = slots[slot]!;
    if (s.worker !== worker) return;
    s.worker = null;
    const uptime = performance.now() - s.startedAt;
    const delay = s.backoff.next(uptime);
    logger.error(`worker ${worker.process.pid} died (${signal ?? `exit code ${code}`}) after ${formatMs(uptime)}; starting another in ${formatMs(delay)}`);
    s.timer = setTimeout(() => {
      s.timer = null;
      if (stopping) return;
      const next = fork(slot);
      place(slot, next);
      void ready(next).then((ok) => {
        if (ok) logger.info(`worker ${next.process.pid} serving (replaces ${worker.process.pid})`);
      });
    }, delay);
  };
  const retire = (worker: Worker): void => {
    retiring.add(worker);
    retireWorker(worker);
  };

  // The first generation: all must come up, or start-up failed.
  const first = Array.from({ length: workers }, (_, i) => fork(i));
  first.forEach((w, i) => place(i, w));
  const up = await Promise.race([Promise.all(first.map(ready)), options.stop.then(() => null)]);
  if (up === null || up.includes(false)) {
    stopping = true;
    for (const s of slots) if (s.timer) clearTimeout(s.timer);
    await stopAll(first, options.shutdownTimeoutMs);
    await php.stop();
    return up === null ? 0 : 1;
  }
  options.onServing(url);
  logger.info(`  ${workers} workers (pids ${first.map((w) => w.process.pid).join(', ')}); SIGHUP reloads them`);

  // A spawned php-fpm that is restarting: workers answer 503 + Retry-After, as one process does.
  const watchFpm = setInterval(() => {
    const now = php.restarting();
    if (now === fpmRestarting) return;
    fpmRestarting = now;
    for (const s of slots) if (s.worker) send(s.worker, { fpmBridge: 'fpm-restarting', value: now });
  }, 250);
  watchFpm.unref();

  let reloading: Promise<void> | null = null;
  const reload = async (): Promise<void> => {
    logger.info('SIGHUP: starting new workers; the old ones finish what they hold');
    // All new workers load the app at once (the slow part); each old one retires the moment its
    // replacement serves. Only retiring workers hold connections beyond their slot's share, and only
    // until they finish the requests in hand.
    const next = slots.map((_, i) => fork(i));
    const results = await Promise.all(
      next.map(async (worker, i) => {
        if (!(await ready(worker))) return false;
        if (stopping) return true;
        const s = slots[i]!;
        const old = s.worker;
        if (s.timer) clearTimeout(s.timer);
        s.timer = null;
        place(i, worker);
        if (old) {
          const gone = new Promise((resolve) => old.once('exit', resolve));
          retire(old);
          await gone;
        }
        return true;
      }),
    );
    if (results.includes(false)) {
      logger.error(`reload incomplete: ${results.filter((r) => !r).length} new worker(s) did not start (see above); the old workers of those slots keep serving`);
      return;
    }
    logger.info(`reloaded: workers ${slots.map((s) => s.worker?.process.pid ?? '-').join(', ')}`);
  };
  const onHup = () => {
    if (stopping) return;
    // A second SIGHUP during a reload reloads again once the first is done.
    reloading = (reloading ?? Promise.resolve()).then(reload).finally(() => (reloading = null));
  };
  process.on('SIGHUP', onHup);

  const signal = await options.stop;
  stopping = true;
  process.off('SIGHUP', onHup);
  clearInterval(watchFpm);
  logger.info(`${signal}: stopping ${workers} workers (send it again to stop at once)`);
  for (const s of slots) if (s.timer) clearTimeout(s.timer);
  await stopAll(Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined), options.shutdownTimeoutMs);
  await php.stop();
  return 0;
}

/**
 * Asks a worker to finish what it holds and exit. 'retire' first, then disconnect: disconnect takes
 * the worker out of the rotation in the same step, so no connection is handed to it after 'retire',
 * and the ones handed before arrive ahead of 'retire' on the channel and are served. (A SIGTERM instead
 * would race the hand-off: a connection handed to a worker that has just exited is lost.)
 */
function retireWorker(worker: Worker): void {
  if (!worker.isConnected()) return;
  send(worker, { fpmBridge: 'retire' });
  worker.disconnect();
}

/** Retires each (each drains within the grace), SIGKILL to those still there after it. */
async function stopAll(workers: Worker[], graceMs: number): Promise<void> {
  const alive = workers.filter((w) => !w.isDead());
  const exits = alive.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))));
  for (const w of alive) retireWorker(w);
  // A grace of 0 is no limit: each worker drains for as long as its responses take.
  const timer =
    graceMs > 0
      ? setTimeout(() => {
          for (const w of alive) if (!w.isDead()) w.process.kill('SIGKILL');
        }, graceMs + 5_000)
      : null;
  await Promise.all(exits);
  if (timer) clearTimeout(timer);
}

function send(worker: Worker, message: WorkerMessage): void {
  if (worker.isConnected()) worker.send(message, (err: Error | null) => void err);
}

function formatMs(ms: number): string {
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1_000).toFixed(1)} s`;
}
