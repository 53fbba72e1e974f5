import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import { parseRecord, RECORD_MEMO_LIMIT, RECORD_MEMO_MAX_CHARS } from "../../src/storage/connection-store";
import { connectionKey } from "../../src/storage/keys";
import type { StoredConnection } from "../../src/storage/records";
import { clearKv, seedConnection, testStore, writeRecord } from "../support/fixtures";

/**
 * A stored record is parsed once per isolate, by its exact KV text (src/storage/connection-store.ts):
 * the same text gives the same deep-frozen record, a changed value is parsed afresh, the
 * connection id is still checked, and the memo is bounded.
 */
beforeEach(clearKv);

const rawOf = async (connectionId: string) => (await env.CONNECTIONS.get(connectionKey(connectionId))) ?? "";
const isUnreadable = (e: unknown) => e instanceof AppError && e.code === "record_unreadable";

async function seeded(connectionId: string) {
  const { record } = await seedConnection({ connectionId, token: `token-${connectionId}-0123456789` });
  return { record, raw: await rawOf(connectionId) };
}

describe("a stored record, parsed once per isolate", () => {
  it("gives the same frozen record for the same text, also across KV reads", async () => {
    const { raw } = await seeded("memo-same");
    const store = testStore();
    const first = await store.require("memo-same");
    expect(await store.require("memo-same")).toBe(first);
    // A fresh copy of the same text (as every KV read returns) finds it too.
    expect(parseRecord(`${raw} `.trimEnd(), "memo-same")).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.token)).toBe(true);
    expect(Object.isFrozen(first.products)).toBe(true);
    expect(() => {
      (first as { status: string }).status = "tampered";
    }).toThrow(TypeError);
    expect(() => (first.products as string[]).push("payment")).toThrow(TypeError);
    expect(() => {
      (first.token as { kid: string }).kid = "k0";
    }).toThrow(TypeError);
    const again = await store.require("memo-same");
    expect([again.status, again.products, again.token.kid]).toEqual(["connected", ["company", "directory"], "k2"]);
  });

  it("parses a changed value afresh", async () => {
    const { record } = await seeded("memo-changed");
    const store = testStore();
    const before = await store.require("memo-changed");
    await writeRecord({ ...record, status: "reauth", updated_at: new Date().toISOString() }, false);
    const after = await store.require("memo-changed");
    expect(after).not.toBe(before);
    expect(after.status).toBe("reauth");
    expect(before.status).toBe("connected");
  });

  it("refuses a record whose id is not the key's, whether or not its text was parsed before", async () => {
    const { raw } = await seeded("memo-id");
    // Not parsed yet: refused, and the refusal leaves nothing behind.
    expect(() => parseRecord(raw, "memo-other")).toThrow(expect.toSatisfy(isUnreadable));
    const record = parseRecord(raw, "memo-id");
    expect(record.connection_id).toBe("memo-id");
    // Parsed (and remembered): still refused under another key.
    expect(() => parseRecord(raw, "memo-other")).toThrow(expect.toSatisfy(isUnreadable));
    expect(parseRecord(raw, "memo-id")).toBe(record);
  });

  it("never remembers a text that does not parse", async () => {
    const { raw } = await seeded("memo-bad");
    const wrongVersion = JSON.stringify({ ...JSON.parse(raw), v: 999 });
    for (let i = 0; i < 2; i++) {
      expect(() => parseRecord(wrongVersion, "memo-bad")).toThrow(expect.toSatisfy(isUnreadable));
      expect(() => parseRecord("{not json", "memo-bad")).toThrow(expect.toSatisfy(isUnreadable));
    }
  });

  it(`holds at most ${RECORD_MEMO_LIMIT} records, the least recently used going first`, async () => {
    const { record } = await seeded("memo-bound");
    const parse = (name: string) =>
      parseRecord(JSON.stringify({ ...record, customer_name: name } satisfies StoredConnection), "memo-bound");
    const kept = parse("kept");
    // LIMIT - 1 others fill the memo exactly (whatever earlier tests left is pushed out).
    const fillers = Array.from({ length: RECORD_MEMO_LIMIT - 1 }, (_, i) => parse(`filler-${i}`));
    expect(parse("kept")).toBe(kept);
    expect(fillers.map((f, i) => parse(`filler-${i}`) === f)).not.toContain(false);
    // Full: `kept` is now the least recently used. One more pushes it out, and only it.
    parse("one-over");
    expect(parse("filler-0")).toBe(fillers[0]);
    const reparsed = parse("kept");
    expect(reparsed).not.toBe(kept);
    expect(reparsed).toEqual(kept);
    // `kept` came back, pushing out the then least recently used (filler-1).
    expect(parse("filler-1")).not.toBe(fillers[1]);
  });

  it(`remembers texts of up to ${RECORD_MEMO_MAX_CHARS} characters, and parses a longer one every time`, async () => {
    const { raw } = await seeded("memo-long");
    // JSON allows trailing whitespace: the same record, as texts of exactly the limit and one over.
    const atLimit = raw.padEnd(RECORD_MEMO_MAX_CHARS, " ");
    const over = raw.padEnd(RECORD_MEMO_MAX_CHARS + 1, " ");
    expect(parseRecord(atLimit, "memo-long")).toBe(parseRecord(atLimit, "memo-long"));
    const once = parseRecord(over, "memo-long");
    expect(parseRecord(over, "memo-long")).not.toBe(once);
    expect(parseRecord(over, "memo-long")).toEqual(once);
  });
});
