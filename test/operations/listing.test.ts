import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { ConnectionPage } from "../../src/operations/listing";
import { customerIndexKey } from "../../src/storage/keys";
import { allPagesOf, expectError } from "../support/assert";
import { clearKv, rawRecord, seedConnection } from "../support/fixtures";
import { api } from "../support/http";

beforeEach(clearKv);

/** Follows cursors to the end; every page is checked for tokens on the way. */
const allPages = (query: string) =>
  allPagesOf<ConnectionPage>(
    (cursor) =>
      api(`/api/connections?${[query, cursor && `cursor=${encodeURIComponent(cursor)}`].filter(Boolean).join("&")}`),
    (page) => page.cursor,
  );

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

describe("GET /api/connections?customer_id=...", () => {
  it("lists one customer's connections newest first, across pages, each exactly once", async () => {
    const ids: string[] = [];
    for (let i = 5; i >= 1; i--) {
      ids.push((await seedConnection({ customerId: "acme", createdAt: minutesAgo(i) })).connectionId);
    }
    await seedConnection({ customerId: "other-customer" });
    const pages = await allPages("customer_id=acme&limit=2");
    expect(pages.map((p) => p.connections.length)).toEqual([2, 2, 1]);
    const listed = pages.flatMap((p) => p.connections);
    expect(listed.map((c) => c.connection_id)).toEqual([...ids].reverse());
    expect(listed.every((c) => c.customer_id === "acme")).toBe(true);
    expect(Object.keys(listed[0] ?? {}).sort()).toEqual(
      [
        "connection_id",
        "created_at",
        "customer_id",
        "customer_name",
        "provider_id",
        "status",
        "updated_at",
        "authentication_methods",
        "entities",
        "entity_counts",
        "last_successful_sync",
        "last_initial_sync_at",
        "last_data_sync_all_at",
      ].sort(),
    );
  });

  it("shows the record's current status (webhooks update only conn:) and filters on it", async () => {
    const a = await seedConnection({ customerId: "acme", createdAt: minutesAgo(3) });
    const b = await seedConnection({ customerId: "acme", createdAt: minutesAgo(2) });
    const c = await seedConnection({ customerId: "acme", createdAt: minutesAgo(1) });
    // As a webhook would: the record changes, the index entry does not.
    for (const s of [a, c])
      await env.CONNECTIONS.put(`conn:${s.connectionId}`, JSON.stringify({ ...s.record, status: "reauth" }));
    const pages = await allPages("customer_id=acme&status=reauth&limit=1");
    const listed = pages.flatMap((p) => p.connections);
    expect(listed.map((x) => x.connection_id)).toEqual([c.connectionId, a.connectionId]);
    expect(listed.every((x) => x.status === "reauth")).toBe(true);
    const all = (await allPages("customer_id=acme")).flatMap((p) => p.connections);
    expect(all.find((x) => x.connection_id === b.connectionId)?.status).toBe("connected");
  });

  it("skips index entries whose record is gone", async () => {
    const kept = await seedConnection({ customerId: "acme", createdAt: minutesAgo(2) });
    const gone = await seedConnection({ customerId: "acme", createdAt: minutesAgo(1) });
    await env.CONNECTIONS.delete(`conn:${gone.connectionId}`);
    const key = await customerIndexKey("acme", gone.record.created_at, gone.connectionId);
    expect(await env.CONNECTIONS.get(key)).toBe(gone.connectionId);
    const listed = (await allPages("customer_id=acme&limit=1")).flatMap((p) => p.connections);
    expect(listed.map((x) => x.connection_id)).toEqual([kept.connectionId]);
  });

  it("returns an empty page for a customer without connections", async () => {
    await seedConnection({ customerId: "acme" });
    const res = await api("/api/connections?customer_id=nobody");
    expect(await res.json()).toEqual({ connections: [], cursor: null });
  });
});

describe("GET /api/connections (all customers)", () => {
  it("lists every connection from listing metadata, ordered by id, across pages", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await seedConnection({ customerId: `c${i % 3}` })).connectionId);
    const pages = await allPages("limit=3");
    expect(pages.map((p) => p.connections.length)).toEqual([3, 3, 1]);
    const listed = pages.flatMap((p) => p.connections);
    expect(listed.map((c) => c.connection_id)).toEqual([...ids].sort());
    const first = listed.find((c) => c.connection_id === ids[0]);
    expect(first).toMatchObject({ customer_id: "c0", customer_name: "Acme Inc", provider_id: "gusto" });
  });

  it("filters by status, following the cursor through pages with no match", async () => {
    const wanted: string[] = [];
    for (let i = 0; i < 9; i++) {
      const s = await seedConnection({ status: i % 4 === 0 ? "reauth" : "connected" });
      if (i % 4 === 0) wanted.push(s.connectionId);
    }
    const listed = (await allPages("status=reauth&limit=1")).flatMap((p) => p.connections);
    expect(listed.map((c) => c.connection_id)).toEqual([...wanted].sort());
  });

  it("resumes a filtered listing mid-page and may return a short page with a cursor", async () => {
    const reauth = new Set(["c02", "c03", "c05", "c08"]);
    for (let i = 1; i <= 9; i++) {
      const id = `c0${i}`;
      await seedConnection({ connectionId: id, status: reauth.has(id) ? "reauth" : "connected" });
    }
    const ids = (pages: ConnectionPage[]) => pages.map((p) => p.connections.map((c) => c.connection_id));
    // Page 1 stops inside the second KV page (after c03); page 2 resumes right after it.
    expect(ids(await allPages("status=reauth&limit=2"))).toEqual([["c02", "c03"], ["c05", "c08"], []]);
    // One key per KV page: every match is still found once, in order.
    const sparse = ids(await allPages("status=reauth&limit=1"));
    expect(sparse.flat()).toEqual(["c02", "c03", "c05", "c08"]);
    await clearKv();
    for (let i = 1; i <= 5; i++)
      await seedConnection({ connectionId: `d0${i}`, status: i === 5 ? "reauth" : "connected" });
    // Three KV pages scanned, nothing found yet: an empty page that still has a cursor.
    expect(ids(await allPages("status=reauth&limit=1"))).toEqual([[], ["d05"]]);
  });

  it("reads the record when the metadata was only partial", async () => {
    const s = await seedConnection({ customerId: "acme", customerName: "Acme" });
    await env.CONNECTIONS.put(`conn:${s.connectionId}`, JSON.stringify(s.record), {
      metadata: { pid: "gusto", st: "connected", ca: s.record.created_at, ua: s.record.updated_at, partial: 1 },
    });
    const res = await api("/api/connections");
    const page = await res.json<ConnectionPage>();
    expect(page.connections).toEqual([expect.objectContaining({ customer_id: "acme", customer_name: "Acme" })]);
  });
});

describe("listing parameters", () => {
  it("refuses bad limits, statuses and cursors with param_invalid, without touching storage", async () => {
    const s = await seedConnection();
    for (const q of [
      "limit=0",
      "limit=101",
      "limit=abc",
      "limit=1&limit=2",
      "status=Re-Auth",
      "cursor=%%%",
      "cursor=e30",
    ]) {
      await expectError(await api(`/api/connections?${q}`), 400, "param_invalid");
    }
    await expectError(await api(`/api/connections?customer_id=${"x".repeat(256)}`), 400, "param_invalid");
    expect(await rawRecord(s.connectionId)).toEqual(s.record);
  });

  it("refuses a cursor taken from another query", async () => {
    for (let i = 0; i < 3; i++) await seedConnection({ customerId: "acme" });
    const first = await (await api("/api/connections?customer_id=acme&limit=1")).json<ConnectionPage>();
    expect(first.cursor).not.toBeNull();
    const cursor = encodeURIComponent(first.cursor ?? "");
    await expectError(await api(`/api/connections?customer_id=other&cursor=${cursor}`), 400, "param_invalid");
    await expectError(await api(`/api/connections?cursor=${cursor}`), 400, "param_invalid");
    expect((await api(`/api/connections?customer_id=acme&limit=1&cursor=${cursor}`)).status).toBe(200);
  });
});
