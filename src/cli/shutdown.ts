import type { Bridge } from '../bridge/create-bridge.ts';
import type { Listening } from '../http/listen.ts';
import { settles } from '../fpm/settles.ts';
import type { PhpBackend } from './php-backend.ts';

/** The signals that mean "stop" (SIGHUP: the terminal went away). */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Resolves with the first stop signal; from then on these signals no longer kill the process. */
/**
 * Starts listening for a stop signal now and hands back the promise of it. Called before start-up
 * work, so a signal that comes while php-fpm starts or the port opens is not the default action
 * (death with php-fpm's temp dir left) but a clean stop as soon as start-up is done.
 */
export function captureStopSignal(signals: readonly NodeJS.Signals[] = STOP_SIGNALS): Promise<NodeJS.Signals> {
  const first = stopSignal(signals);
  // A second signal means now, also while start-up is still running (a php-fpm that hangs on start):
  // exit at once; the 'exit' hook kills a spawned php-fpm.
  void first.then(() => {
    for (const s of signals) process.once(s, () => process.exit(0));
  });
  return first;
}

export function stopSignal(signals: readonly NodeJS.Signals[] = STOP_SIGNALS): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      for (const s of signals) process.off(s, on);
      resolve(signal);
    };
    for (const s of signals) process.on(s, on);
  });
}

/**
 * Stops in order: no new connections, in-flight responses get `graceMs` (a streaming page would
 * hold the server forever otherwise; 0: no limit, as for every timeout, and a second signal stops at
 * once), php-fpm connections closed, then php-fpm stopped gracefully.
 */
export async function shutdown(listening: Listening | readonly Listening[], bridge: Bridge, php: PhpBackend, graceMs = 3_000): Promise<void> {
  const all = ([] as Listening[]).concat(listening);
  const closed = Promise.all(all.map((l) => l.close()));
  if (graceMs <= 0) await closed;
  else if (!(await settles(closed, graceMs))) {
    for (const l of all) l.closeAll();
    await closed;
  }
  await settles(bridge.close(), 1_000);
  await php.stop();
}
