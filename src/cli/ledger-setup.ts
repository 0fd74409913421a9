// The ledger as the CLI starts it (loaded only when the ledger is on, node:sqlite with it): opened
// before php-fpm so a file that cannot be used stops start-up naming it; on a Node without
// node:sqlite one line says so and the bridge runs without it.
import { resolve } from 'node:path';
import type { Bridge } from '../bridge/create-bridge.ts';
import { Ledger } from '../ledger/ledger.ts';
import { LedgerOpenError, LedgerStore } from '../ledger/ledger-store.ts';
import { LedgerUnavailableError } from '../ledger/sqlite.ts';
import type { Logger } from '../log/logger.ts';
import type { ShadowEvents } from '../shadow/shadow-event.ts';

export type LedgerStart = { ledger: Ledger; file: string } | { unavailable: string } | { error: string };

/** Opens the ledger file and the ledger on it. */
export function startLedger(file: string, logger: Logger, patterns: readonly string[]): LedgerStart {
  const path = resolve(file);
  const store = openStore(path);
  if (!(store instanceof LedgerStore)) return store;
  return { ledger: new Ledger(store, { logger, patterns }), file: path };
}

/**
 * Only sees that the file can be used, then closes it: the --workers primary, whose workers each
 * write their own batches to the same file (WAL; SQLite serialises the writers).
 */
export function checkLedger(file: string): { ok: string } | { unavailable: string } | { error: string } {
  const path = resolve(file);
  const store = openStore(path);
  if (!(store instanceof LedgerStore)) return store;
  store.close();
  return { ok: path };
}

function openStore(path: string): LedgerStore | { unavailable: string } | { error: string } {
  try {
    return new LedgerStore(path);
  } catch (err) {
    if (err instanceof LedgerUnavailableError) return { unavailable: err.message };
    if (err instanceof LedgerOpenError) return { error: err.message };
    throw err;
  }
}

/** Subscribes the ledger to the bridge's requests, and to its shadow results once the bridge has them. */
export function attachLedger(ledger: Ledger, bridge: Bridge): void {
  const shadowEvents = (bridge as Bridge & { shadowEvents?: ShadowEvents }).shadowEvents ?? null;
  ledger.attach(bridge.events, shadowEvents);
}
