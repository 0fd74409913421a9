import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import { decodeHistogram, encodeHistogram, mergeInto } from './duration-histogram.ts';
import { sqlite, type SqliteDatabase, type SqliteStatement } from './sqlite.ts';

/**
 * The ledger's SQLite file (node:sqlite): WAL, so readers (`fpm-bridge report`, the admin page)
 * never block the writer; synchronous=NORMAL, so a crash of the process loses nothing committed (a
 * power cut may lose the last transactions); one transaction per batch; a versioned schema.
 *
 * Rows are (route, hour, side) cells: counts, status classes, a duration histogram, the first and
 * last time that side served the route in that hour. Shadow results are (route, hour) cells, the run
 * of matches is kept on the route, and the last few diffs per route in their own table.
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
CREATE INDEX IF NOT EXISTS hits_hour ON hits (hour);
CREATE TABLE IF NOT EXISTS shadows (
  route_id INTEGER NOT NULL,
  hour INTEGER NOT NULL,
  matched INTEGER NOT NULL,
  mismatched INTEGER NOT NULL,
  skipped INTEGER NOT NULL,
  failed INTEGER NOT NULL,
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

/**
 * Who served a request, as the ledger counts it: the access log's servedBy, except that PHP's 404
 * after the app's 404 (both declined) is `declined`.
 */
export type Side = 'php' | 'static' | 'app' | 'php→app' | 'app→php' | 'declined' | 'bridge';
export const SIDES: readonly Side[] = ['php', 'static', 'app', 'php→app', 'app→php', 'declined', 'bridge'];

/** When one side served one route, first and last, over the whole ledger. */
export interface ServedRow {
  route_id: number;
  method: string;
  route: string;
  side: Side;
  first_ms: number;
  last_ms: number;
}

/** One (route, hour, side) cell of a batch. */
export interface HitCell {
  method: string;
  route: string;
  /** The last request of this batch on the route came through a claim. */
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

/** One (route, hour) cell of shadow results in a batch. */
export interface ShadowCell {
  method: string;
  route: string;
  hour: number;
  matched: number;
  mismatched: number;
  /** Not compared: skipped-busy, skipped-large. */
  skipped: number;
  /** The app threw, hung or answered nothing. */
  failed: number;
  diffs: Array<{ atMs: number; diff: string }>;
}

/** The run of matches of a route in a batch: `reset` when it broke (then `add` counts from there). */
export interface StreakChange {
  method: string;
  route: string;
  reset: boolean;
  add: number;
}

export interface Batch {
  hits: Iterable<HitCell>;
  shadows: Iterable<ShadowCell>;
  streaks: Iterable<StreakChange>;
}

/** The file cannot be used: start-up stops with this message (it names the file). */
export class LedgerOpenError extends Error {
  override name = 'LedgerOpenError';
}

/** How many diffs are kept per route. */
export const KEPT_DIFFS = 5;

export interface HitRow {
  id: number;
  method: string;
  route: string;
  claimed: number;
  shadow_streak: number;
  hour: number;
  side: Side;
  count: number;
  s1xx: number;
  s2xx: number;
  s3xx: number;
  s4xx: number;
  s5xx: number;
  durations: string;
  first_ms: number;
  last_ms: number;
}

export interface ShadowRow {
  id: number;
  method: string;
  route: string;
  claimed: number;
  shadow_streak: number;
  matched: number;
  mismatched: number;
  skipped: number;
  failed: number;
}

export interface DiffRow {
  route_id: number;
  at_ms: number;
  diff: string;
}

interface Writer {
  routeId: SqliteStatement;
  insertRoute: SqliteStatement;
  setClaimed: SqliteStatement;
  getHit: SqliteStatement;
  putHit: SqliteStatement;
  addShadow: SqliteStatement;
  setStreak: SqliteStatement;
  addDiff: SqliteStatement;
  trimDiffs: SqliteStatement;
}

export class LedgerStore {
  readonly db: SqliteDatabase;
  private readonly writer: Writer | null;
  private open = true;

  /**
   * Opens (creating when missing) and checks the file: LedgerOpenError says why it cannot be used.
   * `readonly`: for the report and the admin page, which never write (the file must exist).
   * Throws LedgerUnavailableError on a Node without node:sqlite.
   */
  constructor(
    readonly file: string,
    options: { readonly?: boolean } = {},
  ) {
    const { DatabaseSync } = sqlite();
    const readonly = options.readonly ?? false;
    try {
      if (!readonly) makeDir(dirname(file));
      else checkReadable(file);
      this.db = new DatabaseSync(file, { readOnly: readonly });
    } catch (err) {
      throw new LedgerOpenError(`cannot open the ledger ${file}: ${describe(err)}${readonly ? '' : ' (point --ledger elsewhere, or --no-ledger)'}`);
    }
    try {
      this.db.exec('PRAGMA busy_timeout = 2000');
      if (!readonly) {
        this.db.exec('PRAGMA journal_mode = WAL');
        this.db.exec('PRAGMA synchronous = NORMAL');
      }
      const check = this.db.prepare('PRAGMA quick_check').get();
      const verdict = check ? Object.values(check)[0] : 'no answer';
      if (verdict !== 'ok') throw new Error(`integrity check failed: ${String(verdict)}`);
      if (!readonly) this.db.exec(SCHEMA);
      const row = this.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
      if (row && Number(row.value) > SCHEMA_VERSION) throw new Error(`written by a newer fpm-bridge (schema ${row.value}, this one knows ${SCHEMA_VERSION})`);
      if (!row && !readonly) this.db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION));
      if (!row && readonly) throw new Error('not an fpm-bridge ledger (no schema version)');
      this.writer = readonly ? null : this.prepareWriter();
    } catch (err) {
      this.db.close();
      throw new LedgerOpenError(`the ledger ${file} cannot be used: ${describe(err)}${readonly ? '' : ' (move it aside, point --ledger elsewhere, or --no-ledger)'}`);
    }
  }

  private prepareWriter(): Writer {
    const db = this.db;
    return {
      routeId: db.prepare('SELECT id FROM routes WHERE method = ? AND route = ?'),
      insertRoute: db.prepare('INSERT INTO routes (method, route, claimed) VALUES (?, ?, ?)'),
      setClaimed: db.prepare('UPDATE routes SET claimed = ? WHERE id = ?'),
      getHit: db.prepare('SELECT count, s1xx, s2xx, s3xx, s4xx, s5xx, durations, first_ms, last_ms FROM hits WHERE route_id = ? AND hour = ? AND side = ?'),
      putHit: db.prepare('INSERT OR REPLACE INTO hits (route_id, hour, side, count, s1xx, s2xx, s3xx, s4xx, s5xx, durations, first_ms, last_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      addShadow: db.prepare(
        `INSERT INTO shadows (route_id, hour, matched, mismatched, skipped, failed) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (route_id, hour) DO UPDATE SET matched = matched + excluded.matched, mismatched = mismatched + excluded.mismatched,
           skipped = skipped + excluded.skipped, failed = failed + excluded.failed`,
      ),
      setStreak: db.prepare('UPDATE routes SET shadow_streak = CASE WHEN ? THEN ? ELSE shadow_streak + ? END WHERE id = ?'),
      addDiff: db.prepare('INSERT INTO shadow_diffs (route_id, at_ms, diff) VALUES (?, ?, ?)'),
      trimDiffs: db.prepare('DELETE FROM shadow_diffs WHERE route_id = ? AND id NOT IN (SELECT id FROM shadow_diffs WHERE route_id = ? ORDER BY id DESC LIMIT ?)'),
    };
  }

  /** Every (method, route) the file knows (for the cardinality bound across restarts). */
  knownRoutes(): Array<{ method: string; route: string }> {
    return this.db.prepare('SELECT method, route FROM routes').all() as unknown as Array<{ method: string; route: string }>;
  }

  /** Writes one batch in one transaction (all of it or nothing). */
  write(batch: Batch): void {
    const w = this.writer;
    if (!w) throw new Error('the ledger was opened read-only');
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const h of batch.hits) {
        const id = this.idOf(w, h.method, h.route, h.claimed);
        const old = w.getHit.get(id, h.hour, h.side) as
          | { count: number; s1xx: number; s2xx: number; s3xx: number; s4xx: number; s5xx: number; durations: string; first_ms: number; last_ms: number }
          | undefined;
        const s = h.statuses;
        let durations = h.durations;
        if (old) {
          durations = decodeHistogram(old.durations);
          mergeInto(durations, h.durations);
        }
        w.putHit.run(
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
      for (const c of batch.shadows) {
        const id = this.idOf(w, c.method, c.route, null);
        w.addShadow.run(id, c.hour, c.matched, c.mismatched, c.skipped, c.failed);
        for (const d of c.diffs) w.addDiff.run(id, d.atMs, d.diff);
        if (c.diffs.length > 0) w.trimDiffs.run(id, id, KEPT_DIFFS);
      }
      for (const s of batch.streaks) {
        const id = this.idOf(w, s.method, s.route, null);
        w.setStreak.run(s.reset ? 1 : 0, s.add, s.add, id);
      }
      this.db.exec('COMMIT');
    } catch (err) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // The transaction may already be gone (SQLite rolls back by itself on some errors).
      }
      throw err;
    }
  }

  /** The hits from `fromHour` (hours since the epoch) on, with their route. */
  hitsSince(fromHour: number): HitRow[] {
    return this.db
      .prepare(
        `SELECT r.id, r.method, r.route, r.claimed, r.shadow_streak, h.hour, h.side, h.count, h.s1xx, h.s2xx, h.s3xx, h.s4xx, h.s5xx, h.durations, h.first_ms, h.last_ms
         FROM hits h JOIN routes r ON r.id = h.route_id WHERE h.hour >= ?`,
      )
      .all(fromHour) as unknown as HitRow[];
  }

  /** Shadow results per route from `fromHour` on. */
  shadowsSince(fromHour: number): ShadowRow[] {
    return this.db
      .prepare(
        `SELECT r.id, r.method, r.route, r.claimed, r.shadow_streak, sum(s.matched) matched, sum(s.mismatched) mismatched, sum(s.skipped) skipped, sum(s.failed) failed
         FROM shadows s JOIN routes r ON r.id = s.route_id WHERE s.hour >= ? GROUP BY r.id`,
      )
      .all(fromHour) as unknown as ShadowRow[];
  }

  /** The first and last time each side served each route, over the whole file. */
  servedTimes(): ServedRow[] {
    return this.db
      .prepare('SELECT h.route_id, r.method, r.route, h.side, min(h.first_ms) first_ms, max(h.last_ms) last_ms FROM hits h JOIN routes r ON r.id = h.route_id GROUP BY h.route_id, h.side')
      .all() as unknown as ServedRow[];
  }

  /** The kept diffs, newest first. */
  diffs(): DiffRow[] {
    return this.db.prepare('SELECT route_id, at_ms, diff FROM shadow_diffs ORDER BY id DESC').all() as unknown as DiffRow[];
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.db.close();
  }

  private idOf(w: Writer, method: string, route: string, claimed: boolean | null): number {
    const row = w.routeId.get(method, route) as { id: number } | undefined;
    if (row) {
      if (claimed !== null) w.setClaimed.run(claimed ? 1 : 0, row.id);
      return row.id;
    }
    return Number(w.insertRoute.run(method, route, claimed ? 1 : 0).lastInsertRowid);
  }
}

function makeDir(dir: string): void {
  try {
    // Private when we make it: shadow diffs may quote response bodies (a user's page).
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${dir} is not a directory`);
    throw err;
  }
}

/** A read-only open of a missing file would say "unable to open database file": say it plainly. */
function checkReadable(file: string): void {
  const fd = openSync(file, 'r');
  try {
    readSync(fd, Buffer.alloc(1), 0, 1, 0);
  } finally {
    closeSync(fd);
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; errstr?: string };
  const message = String(e.message ?? err);
  return e.code && !message.includes(e.code) && e.code !== 'ERR_SQLITE_ERROR' ? `${message} (${e.code})` : message;
}
