import * as v from "valibot";
import { type EventOutbox, OUTBOX_DDL } from "../app-events/outbox-table";
import { migrate } from "../lib/sql-schema";
import { StoredConnectionSchema } from "../storage/records";
import { type AuditAnchor, type AuditEntry, GENESIS, MAX_AUDIT_ENTRIES } from "./audit";
import type { OwedRow } from "./owed";
import { EVENT_ID_TTL_MS, MAX_EVENT_IDS, type WriterState, type WriterStorage } from "./state";

/**
 * WriterStorage on a SQLite-backed Durable Object: one row for the state, the recent webhook
 * event ids, the owed KV writes (owed.ts) and the outbox of lifecycle events
 * (app-events/outbox-table.ts). A commit writes all of them in one transaction and sets the alarm
 * in the same synchronous step: the runtime stores a step's writes and its alarm together, and
 * holds every outgoing request (the KV writes included) until they are durable, so a reset
 * before the commit leaves nothing anywhere and a reset after it leaves rows the alarm finishes.
 * Reads are checked with the record schema like KV reads are.
 */
const StateSchema = v.variant("kind", [
  v.object({ kind: v.literal("live"), record: StoredConnectionSchema, checked_at: v.optional(v.string()) }),
  v.object({
    kind: v.literal("gone"),
    gen: v.number(),
    at: v.string(),
    customer_id: v.optional(v.string()),
    cleanup: v.optional(StoredConnectionSchema),
  }),
  v.object({ kind: v.literal("prompted"), at: v.string() }),
]);

/** The writer's schema, one entry per version (src/lib/sql-schema.ts); only ever appended. */
export const WRITER_SCHEMA: readonly (readonly string[])[] = [
  [
    "CREATE TABLE IF NOT EXISTS writer_state (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS event_ids (id TEXT PRIMARY KEY, at INTEGER NOT NULL)",
    OUTBOX_DDL,
  ],
  [
    `CREATE TABLE kv_owed (key TEXT PRIMARY KEY, gen INTEGER NOT NULL, value TEXT, metadata TEXT,
       attempts INTEGER NOT NULL, due_at INTEGER NOT NULL, sent_at INTEGER, clean_from INTEGER NOT NULL)`,
    "CREATE TABLE forward_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)",
  ],
  [
    `CREATE TABLE audit (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT NULL, actor TEXT NOT NULL,
       request_id TEXT NOT NULL, hash TEXT NOT NULL)`,
    "CREATE TABLE audit_anchor (k TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL)",
  ],
];

interface OwedSqlRow extends Record<string, SqlStorageValue> {
  key: string;
  gen: number;
  value: string | null;
  metadata: string | null;
  attempts: number;
  due_at: number;
  sent_at: number | null;
  clean_from: number;
}

const fromSql = (r: OwedSqlRow): OwedRow => ({
  key: r.key,
  gen: r.gen,
  value: r.value,
  metadata: r.metadata === null ? undefined : JSON.parse(r.metadata),
  attempts: r.attempts,
  due_at: r.due_at,
  sent_at: r.sent_at,
  clean_from: r.clean_from,
});

type Durable = Pick<DurableObjectStorage, "sql" | "transactionSync" | "setAlarm" | "deleteAlarm">;

export function sqlWriterStorage(storage: Durable, outbox: EventOutbox): WriterStorage {
  const { sql } = storage;
  migrate(storage, WRITER_SCHEMA);
  const OWED_COLUMNS = "key, gen, value, metadata, attempts, due_at, sent_at, clean_from";
  const putOwed = (row: OwedRow) =>
    sql.exec(
      `INSERT OR REPLACE INTO kv_owed (${OWED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      row.key,
      row.gen,
      row.value,
      row.metadata === undefined ? null : JSON.stringify(row.metadata),
      row.attempts,
      row.due_at,
      row.sent_at,
      row.clean_from,
    );
  const anchor = (): AuditAnchor =>
    sql.exec<{ seq: number; hash: string }>("SELECT seq, hash FROM audit_anchor WHERE k = 'anchor'").toArray()[0] ??
    GENESIS;
  const lastEntry = (): AuditAnchor | undefined =>
    sql.exec<{ seq: number; hash: string }>("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").toArray()[0];
  const appendAudit = (entry: AuditEntry) => {
    const last = lastEntry() ?? anchor();
    // Written under the writer's lock after it read the same last entry: anything else is a bug.
    if (entry.seq !== last.seq + 1) throw new Error("audit entry out of sequence");
    sql.exec(
      "INSERT INTO audit (seq, at, action, actor, request_id, hash) VALUES (?, ?, ?, ?, ?, ?)",
      entry.seq,
      entry.at,
      entry.action,
      entry.actor,
      entry.request_id,
      entry.hash,
    );
    // Bounded: the oldest entry leaves, its hash becomes the anchor the rest verify from.
    const oldest = entry.seq - MAX_AUDIT_ENTRIES;
    if (oldest < 1) return;
    const dropped = sql.exec<{ hash: string }>("SELECT hash FROM audit WHERE seq = ?", oldest).toArray()[0];
    if (!dropped) return;
    sql.exec("DELETE FROM audit WHERE seq = ?", oldest);
    sql.exec("INSERT OR REPLACE INTO audit_anchor (k, seq, hash) VALUES ('anchor', ?, ?)", oldest, dropped.hash);
  };
  // What this instance last asked the alarm to be (unknown after a wake: then it is set again).
  let alarmAt: number | undefined;
  const alarm = (atMs: number | undefined) => {
    alarmAt = atMs;
    const done = atMs === undefined ? storage.deleteAlarm() : storage.setAlarm(atMs);
    done.catch(() => console.log(JSON.stringify({ level: "warn", msg: "writer_alarm_set_failed" })));
  };
  return {
    load() {
      const row = sql.exec<{ v: string }>("SELECT v FROM writer_state WHERE k = 'state'").toArray()[0];
      if (!row) return undefined;
      return v.parse(StateSchema, JSON.parse(row.v)) as WriterState;
    },
    commit(change) {
      storage.transactionSync(() => {
        sql.exec("INSERT OR REPLACE INTO writer_state (k, v) VALUES ('state', ?)", JSON.stringify(change.state));
        outbox.append(change.events ?? []);
        for (const row of change.owed ?? []) putOwed(row);
        for (const message of change.forward ?? []) {
          sql.exec("INSERT INTO forward_outbox (body) VALUES (?)", JSON.stringify(message));
        }
        if (change.audit) appendAudit(change.audit);
        const claims = change.claims ?? [];
        for (const { eventId, atMs } of claims) {
          sql.exec("INSERT OR REPLACE INTO event_ids (id, at) VALUES (?, ?)", eventId, atMs);
        }
        const last = claims.at(-1);
        if (last) {
          sql.exec("DELETE FROM event_ids WHERE at <= ?", last.atMs - EVENT_ID_TTL_MS);
          sql.exec(
            "DELETE FROM event_ids WHERE id NOT IN (SELECT id FROM event_ids ORDER BY at DESC LIMIT ?)",
            MAX_EVENT_IDS,
          );
        }
      });
      // No await since the transaction: stored with it (see above).
      if (change.alarmBy !== undefined && (alarmAt === undefined || alarmAt > change.alarmBy)) alarm(change.alarmBy);
    },
    seen(eventId, nowMs) {
      const row = sql.exec<{ at: number }>("SELECT at FROM event_ids WHERE id = ?", eventId).toArray()[0];
      return row !== undefined && row.at > nowMs - EVENT_ID_TTL_MS;
    },
    owed() {
      return sql.exec<OwedSqlRow>(`SELECT ${OWED_COLUMNS} FROM kv_owed ORDER BY key`).toArray().map(fromSql);
    },
    owedRow(key) {
      const row = sql.exec<OwedSqlRow>(`SELECT ${OWED_COLUMNS} FROM kv_owed WHERE key = ?`, key).toArray()[0];
      return row && fromSql(row);
    },
    putOwed,
    auditLast: () => lastEntry() ?? anchor(),
    auditAnchor: anchor,
    auditEntries(afterSeq, limit) {
      const columns = "seq, at, action, actor, request_id, hash";
      const rows =
        limit === undefined
          ? sql.exec(`SELECT ${columns} FROM audit WHERE seq > ? ORDER BY seq`, afterSeq)
          : sql.exec(`SELECT ${columns} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit);
      return rows.toArray() as unknown as AuditEntry[];
    },
    forwards(limit) {
      return sql
        .exec<{ seq: number; body: string }>("SELECT seq, body FROM forward_outbox ORDER BY seq LIMIT ?", limit)
        .toArray()
        .map((r) => ({ seq: r.seq, message: JSON.parse(r.body) as unknown }));
    },
    dropForwards(seq) {
      sql.exec("DELETE FROM forward_outbox WHERE seq <= ?", seq);
    },
    dropOwed(key, gen) {
      sql.exec("DELETE FROM kv_owed WHERE key = ? AND gen = ?", key, gen);
    },
    setAlarm(atMs) {
      if (atMs === alarmAt) return;
      alarm(atMs);
    },
    alarmFired() {
      alarmAt = undefined;
    },
  };
}
