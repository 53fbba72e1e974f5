import { describe, expect, it } from "vitest";
import type { KvWrite } from "../../../src/storage/connection-store";
import { KV_SETTLE_MS, type OwedRow, OwedWrites, retryDelayMs } from "../../../src/writer/owed";
import { SimWriterStorage } from "../../support/sim-writer";

/**
 * The owed KV writes, rule by rule (src/writer/owed.ts), on a clock and a KV whose every
 * answer the test gives by hand. test/consistency.test.ts checks the same rules in random
 * schedules; these pin each one.
 */
interface Sent {
  write: KvWrite;
  ok: () => void;
  fail: () => void;
}

function harness() {
  let now = 1_000_000;
  const sent: Sent[] = [];
  const timeouts: (() => void)[] = [];
  const storage = new SimWriterStorage();
  const kv = {
    apply: (write: KvWrite) =>
      new Promise<void>((resolve, reject) => sent.push({ write, ok: resolve, fail: () => reject(new Error("503")) })),
  };
  const engine = () =>
    new OwedWrites(storage.handle(), kv, {
      now: () => now,
      wait: () => new Promise<void>((resolve) => timeouts.push(resolve)),
    });
  return {
    storage,
    sent,
    timeouts,
    engine,
    tick: (ms: number) => {
      now += ms;
    },
    now: () => now,
    /** A commit of `writes` at `gen` through `owed`, as WriterCommits.persist makes it. */
    commit(owed: OwedWrites, gen: number, writes: KvWrite[]) {
      const rows = owed.plan(writes, gen);
      storage.handle().commit({ state: { kind: "prompted", at: "x" }, owed: rows });
      owed.kick(rows);
      return rows;
    },
  };
}

const put = (gen: number): KvWrite => ({ key: "conn:a", value: `record-${gen}` });
const settle = () => new Promise((r) => setTimeout(r, 0));
const row = (h: ReturnType<typeof harness>): OwedRow | undefined => h.storage.owedRows.get("conn:a");

describe("owed KV writes", () => {
  it("a write KV confirms is no longer owed", async () => {
    const h = harness();
    const owed = h.engine();
    h.commit(owed, 1, [put(1)]);
    expect(row(h)).toMatchObject({ gen: 1, sent_at: h.now() });
    h.sent[0]?.ok();
    await owed.settled();
    expect(row(h)).toBeUndefined();
  });

  it("a failed write stays owed with backoff, and a confirmed repeat after the settle time ends it", async () => {
    const h = harness();
    const owed = h.engine();
    const start = h.now();
    h.commit(owed, 1, [put(1)]);
    h.sent[0]?.fail();
    await owed.settled();
    // It may have landed anyway: nothing it proves before start + KV_SETTLE_MS.
    expect(row(h)).toMatchObject({ attempts: 1, sent_at: null, clean_from: start + KV_SETTLE_MS });
    expect(row(h)?.due_at).toBe(start + retryDelayMs(1));
    h.tick(retryDelayMs(1));
    const flushed = owed.flush();
    h.sent[1]?.ok();
    await flushed;
    // Landed, but the first attempt could still land over it: once more at clean_from.
    expect(row(h)).toMatchObject({ due_at: start + KV_SETTLE_MS, sent_at: null });
    h.tick(KV_SETTLE_MS);
    const last = owed.flush();
    expect(h.sent).toHaveLength(3);
    h.sent[2]?.ok();
    await last;
    expect(row(h)).toBeUndefined();
  });

  it("an attempt with no answer before the timeout counts as unknown, like a failure", async () => {
    const h = harness();
    const owed = h.engine();
    const start = h.now();
    h.commit(owed, 1, [put(1)]);
    h.timeouts[0]?.();
    await owed.settled();
    expect(row(h)).toMatchObject({ attempts: 1, clean_from: start + KV_SETTLE_MS });
  });

  it("a newer write waits for the attempt in flight on its key; the older success never drops it", async () => {
    const h = harness();
    const owed = h.engine();
    h.commit(owed, 1, [put(1)]);
    h.commit(owed, 2, [put(2)]);
    expect(h.sent).toHaveLength(1);
    expect(row(h)).toMatchObject({ gen: 2, value: "record-2" });
    h.sent[0]?.ok();
    await settle();
    expect(row(h)?.gen).toBe(2);
    const drained = owed.drain();
    await settle();
    expect(h.sent.map((s) => s.write.value)).toEqual(["record-1", "record-2"]);
    h.sent[1]?.ok();
    await drained;
    expect(row(h)).toBeUndefined();
  });

  it("a row left by a reset instance is an unknown outcome: a newer write is repeated after the settle time", async () => {
    const h = harness();
    const first = h.engine();
    const start = h.now();
    h.commit(first, 1, [put(1)]);
    // The object is reset with the first attempt on its way (it may still land).
    h.storage.reset();
    h.tick(1_000);
    const second = h.engine();
    h.commit(second, 2, [put(2)]);
    expect(row(h)).toMatchObject({ gen: 2, clean_from: start + KV_SETTLE_MS });
    h.sent[1]?.ok();
    await second.settled();
    // Confirmed, but the old write could land over it until clean_from: owed once more.
    expect(row(h)).toMatchObject({ gen: 2, due_at: start + KV_SETTLE_MS });
    h.tick(KV_SETTLE_MS);
    const last = second.flush();
    h.sent[2]?.ok();
    await last;
    expect(h.sent.map((s) => s.write.value)).toEqual(["record-1", "record-2", "record-2"]);
    expect(row(h)).toBeUndefined();
  });

  it("deletes are owed like puts, and the earliest due row sets the alarm", async () => {
    const h = harness();
    const owed = h.engine();
    h.commit(owed, 3, [
      { key: "cust:x:1:a", value: null },
      { key: "conn:a", value: null },
    ]);
    expect(h.sent.map((s) => [s.write.key, s.write.value])).toEqual([
      ["cust:x:1:a", null],
      ["conn:a", null],
    ]);
    h.sent[0]?.ok();
    h.sent[1]?.fail();
    await owed.settled();
    expect([...h.storage.owedRows.keys()]).toEqual(["conn:a"]);
    expect(owed.nextDue()).toBe(h.now() + retryDelayMs(1));
  });
});
