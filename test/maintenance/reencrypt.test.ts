import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { ReencryptResult } from "../../src/maintenance/reencrypt";
import { allPagesOf, expectError } from "../support/assert";
import { clearKv, rawRecord, type Seeded, seedConnection, testStore } from "../support/fixtures";
import { api, call } from "../support/http";
import { TEST_SECRETS } from "../support/secrets";

/** The ring as it was before k2 was prepended: only the old k1 entry. */
const OLD_RING = TEST_SECRETS.ENCRYPTION_KEYS.split(",").find((entry) => entry.startsWith("k1:")) as string;

beforeEach(clearKv);

const runPass = (limit: number) =>
  allPagesOf<ReencryptResult>(
    (cursor) => {
      const query = new URLSearchParams({ limit: String(limit), ...(cursor ? { cursor } : {}) });
      return api(`/api/admin/reencrypt?${query}`, { method: "POST" });
    },
    (answer) => answer.cursor,
  );

describe("POST /api/admin/reencrypt", () => {
  it("moves every record from the old key to the active one, in pages, keeping tokens and facts", async () => {
    const oldStore = testStore(OLD_RING);
    const old: Seeded[] = [];
    for (let i = 0; i < 5; i++) old.push(await seedConnection({ store: oldStore, customerId: `cust-${i}` }));
    const current = await seedConnection();
    for (const s of old) expect((await rawRecord(s.connectionId))?.token.kid).toBe("k1");
    const metaBefore = await env.CONNECTIONS.getWithMetadata(`conn:${old[0]!.connectionId}`);

    const answers = await runPass(2);
    expect(answers.map((a) => a.scanned)).toEqual([2, 2, 2]);
    expect(answers.every((a) => a.active_kid === "k2")).toBe(true);
    const last = answers.at(-1)!;
    expect(last.cursor).toBeNull();
    expect(last.pass).toEqual({ scanned: 6, rewritten: 5, remaining_on_old_keys: 0, unreadable: 0 });
    expect(answers.reduce((n, a) => n + a.rewritten, 0)).toBe(5);

    const store = testStore();
    for (const s of [...old, current]) {
      const record = await rawRecord(s.connectionId);
      expect(record?.token.kid).toBe("k2");
      expect(await store.token(record!)).toBe(s.accessToken);
      // Only the envelope changes (and the writer's generation): the facts and the token stay.
      const envelope = { token: null, gen: null, token_gen: null };
      expect({ ...record, ...envelope }).toEqual({ ...s.record, ...envelope });
    }
    // Each rewrite was a change by the connection's writer: the next generation.
    for (const s of old) expect((await rawRecord(s.connectionId))?.gen).toBe(1);
    // The unchanged record was not rewritten at all.
    expect((await rawRecord(current.connectionId))?.token).toEqual(current.record.token);
    // Listing metadata survives the rewrite.
    expect((await env.CONNECTIONS.getWithMetadata(`conn:${old[0]!.connectionId}`)).metadata).toEqual(
      metaBefore.metadata,
    );

    // A second pass finds nothing left to do.
    const again = await runPass(100);
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ scanned: 6, rewritten: 0, remaining_on_old_keys: 0, cursor: null });
  });

  it("counts records whose key is no longer configured as remaining, and carries on", async () => {
    const retired = "k0:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const lost = await seedConnection({ store: testStore(retired) });
    const fine = await seedConnection({ store: testStore(OLD_RING) });
    const [answer] = await runPass(100);
    expect(answer).toMatchObject({ scanned: 2, rewritten: 1, remaining_on_old_keys: 1, unreadable: 0 });
    expect((await rawRecord(lost.connectionId))?.token).toEqual(lost.record.token);
    expect((await rawRecord(fine.connectionId))?.token.kid).toBe("k2");
  });

  it("counts unreadable records without failing the batch", async () => {
    const s = await seedConnection({ store: testStore(OLD_RING) });
    await env.CONNECTIONS.put("conn:broken-record", "{not json");
    const [answer] = await runPass(100);
    expect(answer).toMatchObject({ scanned: 2, rewritten: 1, unreadable: 1 });
    expect((await rawRecord(s.connectionId))?.token.kid).toBe("k2");
  });

  it("requires an API key, POST, and a valid cursor and limit", async () => {
    const s = await seedConnection({ store: testStore(OLD_RING) });
    await expectError(await call("/api/admin/reencrypt", { method: "POST" }), 401, "unauthorized");
    await expectError(await api("/api/admin/reencrypt"), 405, "method_not_allowed");
    for (const q of ["cursor=abc", "limit=0", "limit=101", `cursor=${btoa('{"c":"x"}')}`]) {
      await expectError(await api(`/api/admin/reencrypt?${q}`, { method: "POST" }), 400, "param_invalid");
    }
    expect(await rawRecord(s.connectionId)).toEqual(s.record);
  });
});
