import * as v from "valibot";
import type { EventOutbox } from "../events/outbox-table";
import { StoredConnectionSchema } from "../storage/records";
import { EVENT_ID_TTL_MS, MAX_EVENT_IDS, type WriterState, type WriterStorage } from "./state";

/**
 * WriterStorage on a SQLite-backed Durable Object: one row for the state, one table of
 * recent webhook event ids, and the outbox of lifecycle events (events/outbox-table.ts),
 * written in the same transaction as the state. Reads are checked with the record schema
 * like KV reads are.
 */
const StateSchema = v.variant("kind", [
  v.object({ kind: v.literal("live"), record: StoredConnectionSchema, checked_at: v.optional(v.string()) }),
  v.object({
    kind: v.literal("gone"),
    gen: v.number(),
    at: v.string(),
    cleanup: v.optional(StoredConnectionSchema),
  }),
  v.object({ kind: v.literal("prompted"), at: v.string() }),
]);

export function sqlWriterStorage(
  storage: Pick<DurableObjectStorage, "sql" | "transactionSync">,
  outbox: EventOutbox,
): WriterStorage {
  const { sql } = storage;
  sql.exec("CREATE TABLE IF NOT EXISTS writer_state (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
  sql.exec("CREATE TABLE IF NOT EXISTS event_ids (id TEXT PRIMARY KEY, at INTEGER NOT NULL)");
  return {
    async load() {
      const row = sql.exec<{ v: string }>("SELECT v FROM writer_state WHERE k = 'state'").toArray()[0];
      if (!row) return undefined;
      return v.parse(StateSchema, JSON.parse(row.v)) as WriterState;
    },
    async save(state, events = []) {
      storage.transactionSync(() => {
        sql.exec("INSERT OR REPLACE INTO writer_state (k, v) VALUES ('state', ?)", JSON.stringify(state));
        outbox.append(events);
      });
    },
    async seen(eventId, nowMs) {
      const row = sql.exec<{ at: number }>("SELECT at FROM event_ids WHERE id = ?", eventId).toArray()[0];
      return row !== undefined && row.at > nowMs - EVENT_ID_TTL_MS;
    },
    async remember(eventId, nowMs) {
      sql.exec("INSERT OR REPLACE INTO event_ids (id, at) VALUES (?, ?)", eventId, nowMs);
      sql.exec("DELETE FROM event_ids WHERE at <= ?", nowMs - EVENT_ID_TTL_MS);
      sql.exec(
        "DELETE FROM event_ids WHERE id NOT IN (SELECT id FROM event_ids ORDER BY at DESC LIMIT ?)",
        MAX_EVENT_IDS,
      );
    },
  };
}
