import { DurableObject } from "cloudflare:workers";
import { migrate } from "../lib/sql-schema";

/**
 * App events whose webhook delivery failed for good, kept until `POST /api/events/redeliver`
 * sends them again. One object for the whole app (dead-letters.ts names it).
 *
 * Why a Durable Object and not KV: a redelivery must see every dead letter stored before it
 * (KV's list can lag a minute behind a write at another location) and must remove exactly the
 * ones it re-enqueued; SQLite gives both, plus an ordered cursor that new arrivals cannot
 * disturb. Dead letters are rare, so one object is never a hot spot.
 *
 * Rows hold the event JSON exactly as it was queued (no token is ever in an event), keyed by
 * event id: a second dead-lettering of the same event replaces the first row.
 */
export interface DeadLetter {
  /** Arrival order; the redelivery cursor. */
  seq: number;
  event_id: string;
  body: string;
  dead_at: string;
}

/** At most this many rows per call, and the table never holds more than MAX_ROWS. */
const PAGE_MAX = 100;
/** Durable Objects' SQLite refuses a statement with more than 100 bound parameters. */
const SQL_MAX_PARAMS = 100;
const MAX_ROWS = 100_000;

/** Schema steps (lib/sql-schema.ts): append only. Step 1 is the table as first released. */
export const DEAD_LETTERS_SCHEMA = [
  [
    `CREATE TABLE IF NOT EXISTS dead (
       seq INTEGER PRIMARY KEY AUTOINCREMENT,
       event_id TEXT NOT NULL UNIQUE,
       body TEXT NOT NULL,
       dead_at TEXT NOT NULL
     )`,
  ],
] as const;

export class EventDeadLetters extends DurableObject {
  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    migrate(ctx.storage, DEAD_LETTERS_SCHEMA);
  }

  /** Stores dead letters; an event id already present moves to the end with the new body. */
  store(entries: readonly { event_id: string; body: string }[], deadAt: string): { stored: number; dropped: number } {
    const sql = this.ctx.storage.sql;
    let stored = 0;
    let dropped = 0;
    this.ctx.storage.transactionSync(() => {
      let count = this.count();
      for (const e of entries) {
        const old = sql.exec("SELECT seq FROM dead WHERE event_id = ?", e.event_id).toArray();
        if (old.length) sql.exec("DELETE FROM dead WHERE event_id = ?", e.event_id);
        count -= old.length;
        // Bounded: past the cap an event is reported as dropped (logged by the caller), never silently.
        if (count >= MAX_ROWS) {
          dropped++;
          continue;
        }
        sql.exec("INSERT INTO dead (event_id, body, dead_at) VALUES (?, ?, ?)", e.event_id, e.body, deadAt);
        count++;
        stored++;
      }
    });
    return { stored, dropped };
  }

  /** The oldest rows after `after` (a seq), or the rows with these ids; at most `limit`. */
  page(input: { after: number; limit: number; ids?: readonly string[] }): DeadLetter[] {
    const limit = Math.max(1, Math.min(PAGE_MAX, Math.floor(input.limit)));
    const sql = this.ctx.storage.sql;
    if (input.ids) {
      // Ids are unique, so each matches at most one row: no LIMIT parameter, and the lookup is
      // split so no statement binds more than SQL_MAX_PARAMS ids.
      const ids = [...new Set(input.ids)].slice(0, PAGE_MAX);
      const rows: DeadLetter[] = [];
      for (let i = 0; i < ids.length; i += SQL_MAX_PARAMS) {
        const chunk = ids.slice(i, i + SQL_MAX_PARAMS);
        const marks = chunk.map(() => "?").join(",");
        const found = sql
          .exec<Record<string, SqlStorageValue>>(
            `SELECT seq, event_id, body, dead_at FROM dead WHERE event_id IN (${marks})`,
            ...chunk,
          )
          .toArray() as unknown as DeadLetter[];
        rows.push(...found);
      }
      return rows.sort((a, b) => a.seq - b.seq).slice(0, limit);
    }
    return sql
      .exec<Record<string, SqlStorageValue>>(
        "SELECT seq, event_id, body, dead_at FROM dead WHERE seq > ? ORDER BY seq LIMIT ?",
        input.after,
        limit,
      )
      .toArray() as unknown as DeadLetter[];
  }

  /** Removes rows by seq (only the ones a redelivery re-enqueued; a newer copy of the same event stays). */
  remove(seqs: readonly number[]): number {
    let removed = 0;
    this.ctx.storage.transactionSync(() => {
      for (const seq of seqs) {
        const rows = this.ctx.storage.sql.exec("DELETE FROM dead WHERE seq = ? RETURNING seq", seq).toArray();
        removed += rows.length;
      }
    });
    return removed;
  }

  count(): number {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM dead").one().n;
  }
}
