import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AppEvent } from "../../src/app-events/model";
import { EventOutbox } from "../../src/app-events/outbox-table";
import { SCHEMA_TABLE } from "../../src/lib/sql-schema";
import type { OwedRow } from "../../src/writer/owed";
import { sqlWriterStorage, WRITER_SCHEMA } from "../../src/writer/sql-storage";
import { EVENT_ID_TTL_MS, MAX_EVENT_IDS, type WriterState } from "../../src/writer/state";
import { statusChanged } from "../support/events";

/** The writer's SQLite storage, inside a real (local) Durable Object of the Worker's own class. */
const inObject = <T>(name: string, work: (sql: SqlStorage, storage: DurableObjectStorage) => Promise<T>) => {
  const ns = env.CONNECTION_WRITER as DurableObjectNamespace;
  return runInDurableObject(ns.get(ns.idFromName(name)), (_instance, state) => work(state.storage.sql, state.storage));
};
const writerStorage = (storage: DurableObjectStorage) => sqlWriterStorage(storage, new EventOutbox(storage.sql));

const owedRow = (key: string, gen: number, extra: Partial<OwedRow> = {}): OwedRow => ({
  key,
  gen,
  value: `value-${gen}`,
  metadata: { pid: null, st: "connected", ca: "2026-11-29T00:00:00.000Z", ua: "2026-11-29T00:00:00.000Z" },
  attempts: 0,
  due_at: 1000,
  sent_at: 1000,
  clean_from: 0,
  ...extra,
});

describe("writer storage (SQLite)", () => {
  it("keeps the state it is given, checked against the record schema on the way back", async () => {
    await inObject("storage-state", async (sql, durable) => {
      const storage = writerStorage(durable);
      expect(storage.load()).toBeUndefined();
      const state: WriterState = { kind: "gone", gen: 3, at: "2026-11-29T00:00:00.000Z" };
      storage.commit({ state });
      expect(writerStorage(durable).load()).toEqual(state);
      sql.exec("UPDATE writer_state SET v = ? WHERE k = 'state'", JSON.stringify({ kind: "live", record: { v: 1 } }));
      expect(() => storage.load()).toThrow();
    });
  });

  it("remembers claimed event ids for three days, and at most MAX_EVENT_IDS of them", async () => {
    await inObject("storage-events", async (sql, durable) => {
      const storage = writerStorage(durable);
      const state: WriterState = { kind: "prompted", at: "2026-11-29T00:00:00.000Z" };
      const t0 = Date.parse("2026-11-29T00:00:00Z");
      storage.commit({ state, claims: [{ eventId: "msg_first", atMs: t0 }] });
      expect(storage.seen("msg_first", t0 + 1000)).toBe(true);
      expect(storage.seen("msg_other", t0 + 1000)).toBe(false);
      expect(storage.seen("msg_first", t0 + EVENT_ID_TTL_MS)).toBe(false);
      for (let i = 0; i < MAX_EVENT_IDS + 10; i++)
        storage.commit({ state, claims: [{ eventId: `msg_${i}`, atMs: t0 + 10 + i }] });
      const { n } = sql.exec<{ n: number }>("SELECT count(*) AS n FROM event_ids").one();
      expect(n).toBe(MAX_EVENT_IDS);
      // The oldest went first: the first id and the first ten of the loop.
      expect(storage.seen("msg_first", t0 + 20_000)).toBe(false);
      expect(storage.seen("msg_9", t0 + 20_000)).toBe(false);
      expect(storage.seen(`msg_${MAX_EVENT_IDS + 9}`, t0 + 20_000)).toBe(true);
    });
  });

  it("commits a state, its events, its owed KV writes and its claim together: a bad event keeps none", async () => {
    await inObject("storage-outbox", async (sql, durable) => {
      const outbox = new EventOutbox(sql);
      const storage = sqlWriterStorage(durable, outbox);
      const first: WriterState = { kind: "gone", gen: 3, at: "2026-11-29T00:00:00.000Z" };
      const event = statusChanged(3);
      storage.commit({ state: first, events: [event], owed: [owedRow("conn:a", 3)] });
      expect(outbox.pending()).toBe(1);
      const row = sql.exec<{ event_id: string; body: string }>("SELECT event_id, body FROM event_outbox").one();
      expect(row.event_id).toBe(event.id);
      expect(JSON.parse(row.body)).toEqual(event);
      expect(storage.owed()).toEqual([owedRow("conn:a", 3)]);

      // An event with a field the schema refuses (a token riding along) rolls everything back.
      const bad = { ...statusChanged(4), access_token: "tok_should_never_be_stored" } as unknown as AppEvent;
      const second: WriterState = { kind: "gone", gen: 4, at: "2026-11-29T00:01:00.000Z" };
      expect(() =>
        storage.commit({
          state: second,
          events: [statusChanged(4), bad],
          owed: [owedRow("conn:a", 4), owedRow("cust:x", 4)],
          claims: [{ eventId: "msg_rolled_back", atMs: 5 }],
        }),
      ).toThrow();
      expect(storage.load()).toEqual(first);
      expect(outbox.pending()).toBe(1);
      expect(storage.owed()).toEqual([owedRow("conn:a", 3)]);
      expect(storage.seen("msg_rolled_back", 6)).toBe(false);
    });
  });

  it("keeps owed rows as written, replaces by key, and drops a row only at its own generation", async () => {
    await inObject("storage-owed", async (_sql, durable) => {
      const storage = writerStorage(durable);
      const del = owedRow("cust:x:1", 2, { value: null, metadata: undefined, sent_at: null });
      storage.putOwed(owedRow("conn:a", 2));
      storage.putOwed(del);
      expect(storage.owedRow("cust:x:1")).toEqual(del);
      storage.putOwed(owedRow("conn:a", 5, { attempts: 2, due_at: 9000, clean_from: 7000 }));
      storage.dropOwed("conn:a", 2);
      expect(storage.owedRow("conn:a")?.gen).toBe(5);
      storage.dropOwed("conn:a", 5);
      expect(storage.owed().map((r) => r.key)).toEqual(["cust:x:1"]);
    });
  });

  it("sets the alarm with a commit that asks for one, and never later than one already set", async () => {
    await inObject("storage-alarm", async (_sql, durable) => {
      const storage = writerStorage(durable);
      const state: WriterState = { kind: "prompted", at: "2026-11-29T00:00:00.000Z" };
      const soon = Date.now() + 60_000;
      storage.commit({ state, alarmBy: soon });
      expect(await durable.getAlarm()).toBe(soon);
      storage.commit({ state, alarmBy: soon + 5_000 });
      expect(await durable.getAlarm()).toBe(soon);
      storage.setAlarm(undefined);
      expect(await durable.getAlarm()).toBeNull();
    });
  });
});

describe("writer schema versions", () => {
  it("upgrades an object stored by the previous release (no owed table, no version row), once", async () => {
    await inObject("storage-upgrade", async (sql, durable) => {
      // As the previous release left it: its three tables, a state, no version row.
      for (const ddl of WRITER_SCHEMA[0] ?? []) sql.exec(ddl);
      const old: WriterState = { kind: "gone", gen: 7, at: "2026-11-29T00:00:00.000Z" };
      sql.exec("INSERT INTO writer_state (k, v) VALUES ('state', ?)", JSON.stringify(old));
      sql.exec("INSERT INTO event_ids (id, at) VALUES ('msg_old', ?)", Date.now());

      const storage = writerStorage(durable);
      expect(storage.load()).toEqual(old);
      expect(storage.seen("msg_old", Date.now())).toBe(true);
      expect(storage.owed()).toEqual([]);
      const version = () => sql.exec<{ version: number }>(`SELECT version FROM ${SCHEMA_TABLE}`).one().version;
      expect(version()).toBe(WRITER_SCHEMA.length);

      // Waking again runs no DDL, only the version read.
      const statements: string[] = [];
      const watched = {
        sql: {
          exec: (query: string, ...args: unknown[]) => {
            statements.push(query);
            return sql.exec(query, ...args);
          },
        },
        transactionSync: <T>(fn: () => T) => durable.transactionSync(fn),
        setAlarm: (at: number) => durable.setAlarm(at),
        deleteAlarm: () => durable.deleteAlarm(),
      } as unknown as DurableObjectStorage;
      expect(writerStorage(watched).load()).toEqual(old);
      expect(statements.filter((q) => /^\s*(CREATE|ALTER|DROP)/i.test(q))).toEqual([]);
      expect(version()).toBe(WRITER_SCHEMA.length);
    });
  });

  it("refuses storage written by a newer release instead of guessing", async () => {
    await inObject("storage-newer", async (sql, durable) => {
      writerStorage(durable);
      sql.exec(`UPDATE ${SCHEMA_TABLE} SET version = ?`, WRITER_SCHEMA.length + 1);
      expect(() => writerStorage(durable)).toThrow(/newer/);
    });
  });
});
