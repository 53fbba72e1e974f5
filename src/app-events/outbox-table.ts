import { type AppEvent, parseAppEvent } from "./model";
import { dispatchEvents, type EventSinks } from "./outbox";

/**
 * The outbox table inside a Durable Object's SQLite storage (the connection's writer).
 *
 * - `append(events)` runs inside the writer's `ctx.storage.transactionSync(...)` that stores the
 *   change: the events and the change commit together or not at all.
 * - `flush(sinks)` runs after the commit (and again from the writer's alarm): it sends pages of
 *   rows with dispatchEvents and deletes a page only after every sink accepted it. A failed send
 *   throws and keeps the rows; the writer sets an alarm and flushes again later.
 *
 * Flushes of one object run one after another (a second waits for the first, then picks up what
 * was appended meanwhile), so concurrent requests to the writer do not send a page twice.
 */
export const OUTBOX_TABLE = "event_outbox";
/** The table's definition, run by the owning object's schema migrations (src/writer/sql-storage.ts). */
export const OUTBOX_DDL = `CREATE TABLE IF NOT EXISTS ${OUTBOX_TABLE} (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, body TEXT NOT NULL)`;
const PAGE = 100;

export class EventOutbox {
  private tail: Promise<unknown> = Promise.resolve();

  /** `sql` must already hold the table (OUTBOX_DDL). */
  constructor(private readonly sql: SqlStorage) {}

  /** Adds events; call inside the transaction that stores their change. Invalid events throw (and roll it back). */
  append(events: readonly AppEvent[]): void {
    for (const event of events) {
      const checked = parseAppEvent(event, "internal_error");
      this.sql.exec(`INSERT INTO ${OUTBOX_TABLE} (event_id, body) VALUES (?, ?)`, checked.id, JSON.stringify(checked));
    }
  }

  /** Events not yet handed over. */
  pending(): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${OUTBOX_TABLE}`).one().n;
  }

  /** Sends everything pending (up to `maxPages` pages of 100). Resolves to what was sent and what is left. */
  flush(sinks: EventSinks, maxPages = 10): Promise<{ sent: number; remaining: number }> {
    const run = this.tail.catch(() => undefined).then(() => this.drain(sinks, maxPages));
    this.tail = run;
    return run;
  }

  private async drain(sinks: EventSinks, maxPages: number): Promise<{ sent: number; remaining: number }> {
    let sent = 0;
    for (let page = 0; page < maxPages; page++) {
      const rows = this.sql
        .exec<{ seq: number; body: string }>(`SELECT seq, body FROM ${OUTBOX_TABLE} ORDER BY seq LIMIT ?`, PAGE)
        .toArray();
      if (rows.length === 0) break;
      const events: AppEvent[] = [];
      for (const row of rows) {
        try {
          events.push(parseAppEvent(JSON.parse(row.body), "internal_error"));
        } catch {
          // Written by append() after validation, so this is corruption: it can never be sent, and
          // keeping it would stop every later event. Dropped with a log line naming only its seq.
          console.log(JSON.stringify({ level: "error", msg: "event_outbox_row_unreadable", seq: row.seq }));
        }
      }
      await dispatchEvents(sinks, events);
      const last = (rows.at(-1) as { seq: number }).seq;
      this.sql.exec(`DELETE FROM ${OUTBOX_TABLE} WHERE seq <= ?`, last);
      sent += events.length;
    }
    return { sent, remaining: this.pending() };
  }
}
