// The ledger as the CLI starts it (loaded only when the ledger is on, node:sqlite with it): opened
// before php-fpm so a file that cannot be used stops start-up naming it; on a Node without
// node:sqlite one line says so and the bridge runs without it.
import { resolve } from 'node:path';
import type { Bridge } from '../bridge/create-bridge.ts';
import { Ledger } from '../ledger/ledger.ts';
import { LedgerOpenError, LedgerStore } from '../ledger/ledger-store.ts';
import { LedgerUnavailableError } from '../ledger/sqlite.ts';
import type { Logger } from '../log/logger.ts';
import { parseShadowPattern } from '../shadow/shadow-config.ts';

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

/** Subscribes the ledger to the bridge's finished requests and its shadow results. */
export function attachLedger(ledger: Ledger, bridge: Bridge): void {
  ledger.attach(bridge.events, bridge.shadowEvents);
}

/**
 * The --shadow patterns without their `@RATE`: a shadowed route's requests count under its pattern
 * from the first one, on the same row as its shadow results.
 */
export function shadowPatterns(shadow: readonly string[]): string[] {
  const out: string[] = [];
  for (const text of shadow) {
    try {
      out.push(parseShadowPattern(text, 1, true).pattern.source);
    } catch {
      // Checked (exit 2) where the flags are parsed; nothing to count under here.
    }
  }
  return out;
}
