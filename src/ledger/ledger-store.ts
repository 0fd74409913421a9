import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { decodeHistogram, encodeHistogram, mergeInto } from './duration-histogram.ts';

/**
 * The ledger's SQLite file: WAL (readers — `fpm-bridge report`, the admin page — never block the
 * writer), synchronous=NORMAL (a crash of the process loses nothing committed; a power cut may lose
 * the last transactions), one transaction per batch, prepared statements, a versioned schema.
 *
 * better-sqlite3 (12.x), not node:sqlite: node:sqlite only exists from Node 22.5 and the bridge runs
 * on Node 20 too; better-sqlite3 12 builds and runs on 20, 22 and 24. Synchronous, which suits one
 * short write per second better than a thread hop per statement.
 */
export const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS routes (
  id INTEGER PRIMARY KEY,
  method TEXT NOT NULL,
  route TEXT NOT NULL,
  claimed INTEGER NOT NULL DEFAULT 0,
  shadow_streak INTEGER NOT NULL DEFAULT 0,
  UNIQUE (method, route)
);
CREATE TABLE IF NOT EXISTS hits (
  route_id INTEGER NOT NULL,
  hour INTEGER NOT NULL,
  side TEXT NOT NULL,
  count INTEGER NOT NULL,
  s1xx INTEGER NOT NULL, s2xx INTEGER NOT NULL, s3xx INTEGER NOT NULL, s4xx INTEGER NOT NULL, s5xx INTEGER NOT NULL,
  durations TEXT NOT NULL,
  first_ms INTEGER NOT NULL,
  last_ms INTEGER NOT NULL,
  PRIMARY KEY (route_id, hour, side)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shadows (
  route_id INTEGER NOT NULL,
  hour INTEGER NOT NULL,
  matched INTEGER NOT NULL,
  mismatched INTEGER NOT NULL,
  skipped INTEGER NOT NULL,
  PRIMARY KEY (route_id, hour)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shadow_diffs (
  id INTEGER PRIMARY KEY,
  route_id INTEGER NOT NULL,
  at_ms INTEGER NOT NULL,
  diff TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS shadow_diffs_route ON shadow_diffs (route_id, id);
`;

/** Who served a request, as the ledger counts it. */
export type Side = 'php' | 'static' | 'app' | 'php→app' | 'app→php' | 'declined' | 'bridge';

/** One (route, hour, side) cell of a batch. */
export interface HitCell {
  method: string;
  route: string;
  claimed: boolean;
  hour: number;
  side: Side;
  count: number;
  /** Counts by status class: index 0 is 1xx ... index 4 is 5xx (a 499 counts as 4xx). */
  statuses: number[];
  durations: number[];
  firstMs: number;
  lastMs: number;
}

export interface ShadowCell {
  method: string;
  route: string;
  hour: number;
  matched: number;
  mismatched: number;
  skipped: number;
  /** Matches since the last mismatch, in this batch (-1 would not fit: see `reset`). */
  streakAdd: number;
  /** A mismatch happened in this batch: the streak restarts from streakAdd. */
  reset: boolean;
  diffs: Array<{ atMs: number; diff: string }>;
}

export class LedgerOpenError extends Error {
  override name = 'LedgerOpenError';
}

/** How many diffs are kept per route. */
export const KEPT_DIFFS = 5;

export class LedgerStore {
  readonly db: Database.Database;
  private readonly routeId: Database.Statement;
  private readonly insertRoute: Database.Statement;
  private readonly getHit: Database.Statement;
  private readonly putHit: Database.Statement;
  private readonly addShadow: Database.Statement;
  private readonly setStreak: Database.Statement;
  private readonly addDiff: Database.Statement;
  private readonly trimDiffs: Database.Statement;
  private readonly claim: Database.Statement;

  /** Opens (creating when missing) and checks the file; LedgerOpenError says why it cannot be used. */
  constructor(
    readonly file: string,
    options: { readonly?: boolean } = {},
  ) {
    try {
      if (!options.readonly) mkdirSync(dirname(file), { recursive: true });
      this.db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false, timeout: 2_000 });
    } catch (err) {
      throw new LedgerOpenError(`cannot open the ledger ${file}: ${describe(err)}`);
    }
    try {
      if (!options.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = NORMAL');
      }
      const check = this.db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
      if (!options.readonly) this.db.exec(SCHEMA);
      const row = this.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
      if (row && Number(row.value) > SCHEMA_VERSION) throw new Error(`written by a newer fpm-bridge (schema ${row.value}, this one reads ${SCHEMA_VERSION})`);
      if (!row && !options.readonly) this.db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION));
    } catch (err) {
      this.db.close();
      throw new LedgerOpenError(`the ledger ${file} cannot be used: ${describe(err)} (move it aside, point --ledger elsewhere, or --no-ledger)`);
    }
    if (options.readonly) {
      // The report only reads: no statements for writing (they would need the tables to exist).
      this.routeId = this.insertRoute = this.getHit = this.putHit = this.addShadow = this.setStreak = this.addDiff = this.trimDiffs = this.claim = null as never;
      return;
    }
    this.routeId = this.db.prepare('SELECT id FROM routes WHERE method = ? AND route = ?').pluck();
    this.insertRoute = this.db.prepare('INSERT INTO routes (method, route, claimed) VALUES (?, ?, ?)');
    this.claim = this.db.prepare('UPDATE routes SET claimed = 1 WHERE id = ? AND claimed = 0');
    this.getHit = this.db.prepare('SELECT count, s1xx, s2xx, s3xx, s4xx, s5xx, durations, first_ms, last_ms FROM hits WHERE route_id = ? AND hour = ? AND side = ?');
    this.putHit = this.db.prepare(
      'INSERT OR REPLACE INTO hits (route_id, hour, side, count, s1xx, s2xx, s3xx, s4xx, s5xx, durations, first_ms, last_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.addShadow = this.db.prepare(
      `INSERT INTO shadows (route_id, hour, matched, mismatched, skipped) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (route_id, hour) DO UPDATE SET matched = matched + excluded.matched, mismatched = mismatched + excluded.mismatched, skipped = skipped + excluded.skipped`,
    );
    this.setStreak = this.db.prepare('UPDATE routes SET shadow_streak = CASE WHEN ? THEN ? ELSE shadow_streak + ? END WHERE id = ?');
    this.addDiff = this.db.prepare('INSERT INTO shadow_diffs (route_id, at_ms, diff) VALUES (?, ?, ?)');
    this.trimDiffs = this.db.prepare('DELETE FROM shadow_diffs WHERE route_id = ? AND id NOT IN (SELECT id FROM shadow_diffs WHERE route_id = ? ORDER BY id DESC LIMIT ?)');
  }

  /** How many routes the file holds (for the cardinality bound across restarts). */
  routeCount(): number {
    return (this.db.prepare('SELECT count(*) FROM routes').pluck().get() as number) ?? 0;
  }

  /** Every (method, route) the file knows. */
  knownRoutes(): Array<{ method: string; route: string }> {
    return this.db.prepare('SELECT method, route FROM routes').all() as Array<{ method: string; route: string }>;
  }

  /** Writes one batch in one transaction. */
  write(hits: Iterable<HitCell>, shadows: Iterable<ShadowCell>): void {
    this.db.transaction(() => {
      for (const h of hits) {
        const id = this.idOf(h.method, h.route, h.claimed);
        const old = this.getHit.get(id, h.hour, h.side) as
          | { count: number; s1xx: number; s2xx: number; s3xx: number; s4xx: number; s5xx: number; durations: string; first_ms: number; last_ms: number }
          | undefined;
        const s = h.statuses;
        let durations = h.durations;
        if (old) {
          durations = decodeHistogram(old.durations);
          mergeInto(durations, h.durations);
        }
        this.putHit.run(
          id,
          h.hour,
          h.side,
          h.count + (old?.count ?? 0),
          s[0]! + (old?.s1xx ?? 0),
          s[1]! + (old?.s2xx ?? 0),
          s[2]! + (old?.s3xx ?? 0),
          s[3]! + (old?.s4xx ?? 0),
          s[4]! + (old?.s5xx ?? 0),
          encodeHistogram(durations),
          Math.min(h.firstMs, old?.first_ms ?? Infinity),
          Math.max(h.lastMs, old?.last_ms ?? 0),
        );
      }
      for (const c of shadows) {
        const id = this.idOf(c.method, c.route, false);
        this.addShadow.run(id, c.hour, c.matched, c.mismatched, c.skipped);
        this.setStreak.run(c.reset ? 1 : 0, c.streakAdd, c.streakAdd, id);
        for (const d of c.diffs) this.addDiff.run(id, d.atMs, d.diff);
        if (c.diffs.length > 0) this.trimDiffs.run(id, id, KEPT_DIFFS);
      }
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private idOf(method: string, route: string, claimed: boolean): number {
    const id = this.routeId.get(method, route) as number | undefined;
    if (id !== undefined) {
      if (claimed) this.claim.run(id);
      return id;
    }
    return Number(this.insertRoute.run(method, route, claimed ? 1 : 0).lastInsertRowid);
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code ? `${e.message} (${e.code})` : String(e.message ?? err);
}
