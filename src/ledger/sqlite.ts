/**
 * node:sqlite, loaded only when the ledger is on (start-up does not pay for it otherwise), and only
 * the part the ledger uses. Built into Node from 22.5; on older Nodes the ledger is unavailable and
 * the bridge runs without it. Chosen over better-sqlite3: no native module to compile per Node ABI
 * (the suite runs Node 20, 22 and 24) and no prebuilt binary to download.
 *
 * @types/node 20 has no types for it: this is the part the ledger uses, typed by hand.
 */
export interface SqliteStatement {
  run(...params: SqliteValue[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: SqliteValue[]): Record<string, SqliteValue> | undefined;
  all(...params: SqliteValue[]): Array<Record<string, SqliteValue>>;
}

export type SqliteValue = string | number | bigint | null | Uint8Array;

export interface SqliteDatabase {
  readonly isOpen?: boolean;
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

interface SqliteModule {
  DatabaseSync: new (path: string, options?: { readOnly?: boolean; open?: boolean }) => SqliteDatabase;
}

/** The ledger cannot run on this Node. */
export class LedgerUnavailableError extends Error {
  override name = 'LedgerUnavailableError';
}

/** The one line the CLI prints (once) when the ledger is asked for on a Node without node:sqlite. */
export function unavailableMessage(): string {
  return `the ledger needs Node 22.5 or newer (node:sqlite); this is Node ${process.versions.node}: the bridge runs without it (--no-ledger silences this)`;
}

let loaded: SqliteModule | null = null;

/** node:sqlite's DatabaseSync, or LedgerUnavailableError on a Node without it. */
export function sqlite(): SqliteModule {
  if (loaded) return loaded;
  // node:sqlite says once that it is experimental: that one warning is ours to silence, not others.
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    const name = typeof warning === 'string' ? type : warning.name;
    const message = typeof warning === 'string' ? warning : warning.message;
    if (name === 'ExperimentalWarning' && /sqlite/i.test(message)) return;
    return (emitWarning as (...a: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  let mod: SqliteModule | undefined;
  try {
    mod = (process.getBuiltinModule?.('node:sqlite') as SqliteModule | undefined) ?? undefined;
  } catch {
    mod = undefined;
  } finally {
    process.emitWarning = emitWarning;
  }
  if (!mod?.DatabaseSync) throw new LedgerUnavailableError(unavailableMessage());
  loaded = mod;
  return mod;
}

/** Whether this Node has node:sqlite (loads it). */
export function ledgerAvailable(): boolean {
  try {
    sqlite();
    return true;
  } catch {
    return false;
  }
}
