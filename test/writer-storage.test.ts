import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AppEvent } from "../src/events/model";
import { EventOutbox } from "../src/events/outbox-table";
import { sqlWriterStorage } from "../src/writer/sql-storage";
import { EVENT_ID_TTL_MS, MAX_EVENT_IDS, type WriterState } from "../src/writer/state";
import { statusChanged } from "./support/events";

/** The writer's SQLite storage, inside a real (local) Durable Object of the Worker's own class. */
const inObject = <T>(name: string, work: (sql: SqlStorage, storage: DurableObjectStorage) => Promise<T>) => {
  const ns = env.CONNECTION_WRITER as DurableObjectNamespace;
  return runInDurableObject(ns.get(ns.idFromName(name)), (_instance, state) => work(state.storage.sql, state.storage));
};
const writerStorage = (storage: DurableObjectStorage) => sqlWriterStorage(storage, new EventOutbox(storage.sql));

describe("writer storage (SQLite)", () => {
  it("keeps the state it is given, checked against the record schema on the way back", async () => {
    await inObject("storage-state", async (sql, durable) => {
      const storage = writerStorage(durable);
      expect(await storage.load()).toBeUndefined();
      const state: WriterState = { kind: "gone", gen: 3, at: "2026-11-29T00:00:00.000Z" };
      await storage.save(state);
      expect(await writerStorage(durable).load()).toEqual(state);
      sql.exec("UPDATE writer_state SET v = ? WHERE k = 'state'", JSON.stringify({ kind: "live", record: { v: 1 } }));
      await expect(storage.load()).rejects.toThrow();
    });
  });

  it("remembers event ids for three days, and at most MAX_EVENT_IDS of them", async () => {
    await inObject("storage-events", async (sql, durable) => {
      const storage = writerStorage(durable);
      const t0 = Date.parse("2026-11-29T00:00:00Z");
      await storage.remember("msg_first", t0);
      expect(await storage.seen("msg_first", t0 + 1000)).toBe(true);
      expect(await storage.seen("msg_other", t0 + 1000)).toBe(false);
      expect(await storage.seen("msg_first", t0 + EVENT_ID_TTL_MS)).toBe(false);
      for (let i = 0; i < MAX_EVENT_IDS + 10; i++) await storage.remember(`msg_${i}`, t0 + 10 + i);
      const { n } = sql.exec<{ n: number }>("SELECT count(*) AS n FROM event_ids").one();
      expect(n).toBe(MAX_EVENT_IDS);
      // The oldest went first: the first id and the first ten of the loop.
      expect(await storage.seen("msg_first", t0 + 20_000)).toBe(false);
      expect(await storage.seen("msg_9", t0 + 20_000)).toBe(false);
      expect(await storage.seen(`msg_${MAX_EVENT_IDS + 9}`, t0 + 20_000)).toBe(true);
    });
  });

  it("saves a state and its events in one transaction: an event that cannot be stored keeps neither", async () => {
    await inObject("storage-outbox", async (sql, durable) => {
      const outbox = new EventOutbox(sql);
      const storage = sqlWriterStorage(durable, outbox);
      const first: WriterState = { kind: "gone", gen: 3, at: "2026-11-29T00:00:00.000Z" };
      const event = statusChanged(3);
      await storage.save(first, [event]);
      expect(outbox.pending()).toBe(1);
      const row = sql.exec<{ event_id: string; body: string }>("SELECT event_id, body FROM event_outbox").one();
      expect(row.event_id).toBe(event.id);
      expect(JSON.parse(row.body)).toEqual(event);

      // An event with a field the schema refuses (a token riding along) rolls the state back too.
      const bad = { ...statusChanged(4), access_token: "tok_should_never_be_stored" } as unknown as AppEvent;
      const second: WriterState = { kind: "gone", gen: 4, at: "2026-11-29T00:01:00.000Z" };
      await expect(storage.save(second, [statusChanged(4), bad])).rejects.toThrow();
      expect(await storage.load()).toEqual(first);
      expect(outbox.pending()).toBe(1);
    });
  });
});
