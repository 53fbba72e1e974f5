import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { expectError, expectNoSecrets } from "../support/assert";
import { failKv, watchKvWrites } from "../support/faults";
import { finch } from "../support/finch";
import { clearKv, kvEntries, rawRecord, retiredRing, seedConnection } from "../support/fixtures";
import { api } from "../support/http";
import { accountUpdated, deliver, signed } from "../support/webhooks";
import { alarmLater } from "../support/writer";

/**
 * KV failures behind the API, the proxy and the webhook receiver: a read that fails is 503
 * storage_unavailable, a record that cannot be read (corrupt, wrong shape, or sealed under a
 * key no longer in ENCRYPTION_KEYS) is 500 record_unreadable: never a 2xx, never a token,
 * no Finch call made with a token we could not read. A write that fails after the writer
 * committed the change is owed, not an error: the writer's alarm writes it (docs/consistency.md).
 * The next request is served either way.
 */
beforeEach(clearKv);

let good: string;
beforeEach(async () => {
  good = (await seedConnection({ customerId: "globex", customerName: "Globex" })).connectionId;
});

/** After the fault is gone, the isolate still answers normally. */
async function expectServes() {
  const res = await api(`/api/connections/${good}`);
  expect(res.status, await res.clone().text()).toBe(200);
}

const post = { method: "POST" } as const;

describe("KV unavailable", () => {
  const READS: [string, (id: string) => Promise<Response>][] = [
    ["GET connection", (id) => api(`/api/connections/${id}`)],
    ["token", (id) => api(`/api/connections/${id}/token`, post)],
    ["introspect", (id) => api(`/api/connections/${id}/introspect`, post)],
    ["disconnect", (id) => api(`/api/connections/${id}`, { method: "DELETE" })],
    ["proxy", (id) => api(`/api/connections/${id}/finch/employer/company`)],
    ["webhook", async (id) => deliver(await signed(accountUpdated(id, "reauth")))],
  ];

  it.each(READS)("%s, read fails: 503 storage_unavailable, no Finch call, no write", async (_, send) => {
    const { connectionId } = await seedConnection();
    const before = await kvEntries();
    const writes = watchKvWrites();
    const get = failKv("get");
    const res = await send(connectionId);
    await expectError(res, 503, "storage_unavailable");
    await expectNoSecrets(res);
    expect(finch().sent).toEqual([]);
    expect(writes).toEqual([]);
    get.mockRestore();
    expect(await kvEntries()).toEqual(before);
    await expectServes();
  });

  it.each([
    ["listing", "/api/connections"],
    ["customer listing", "/api/connections?customer_id=acme"],
    ["re-encryption", "/api/admin/reencrypt"],
  ])("%s, list fails: 503 storage_unavailable", async (_, path) => {
    const list = failKv("list");
    const res = await api(path, path.includes("reencrypt") ? post : {});
    await expectError(res, 503, "storage_unavailable");
    list.mockRestore();
    await expectServes();
  });

  it.each([
    ["introspect", "POST", "/introspect", "GET /introspect"],
    ["webhook", "WEBHOOK", "", "GET /introspect"],
  ])(
    "%s, write fails after the work was done: the writer keeps the change, the alarm writes it",
    async (_, method, suffix, route) => {
      const { connectionId } = await seedConnection();
      finch().mock.setConnectionStatus(connectionId, "reauth");
      const put = failKv("put");
      const res =
        method === "WEBHOOK"
          ? await deliver(await signed(accountUpdated(connectionId, "reauth")))
          : await api(`/api/connections/${connectionId}${suffix}`, { method });
      expect(res.status, await res.clone().text()).toBe(200);
      expect(finch().calls(route)).toHaveLength(1);
      expect((await rawRecord(connectionId))?.status).toBe("connected");
      put.mockRestore();
      expect(await alarmLater(connectionId)).toBe(true);
      expect((await rawRecord(connectionId))?.status).toBe("reauth");
      await expectServes();
    },
  );

  it("disconnect, delete fails after Finch disconnected: answered, and the alarm forgets it", async () => {
    const { connectionId } = await seedConnection();
    const del = failKv("delete");
    const res = await api(`/api/connections/${connectionId}`, { method: "DELETE" });
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await res.json<{ finch: string }>()).finch).toBe("disconnected");
    expect(await rawRecord(connectionId)).not.toBeNull();
    del.mockRestore();
    expect(await alarmLater(connectionId)).toBe(true);
    expect(finch().calls("POST /disconnect")).toHaveLength(1);
    expect(await rawRecord(connectionId)).toBeNull();
    expect((await kvEntries()).map((e) => e.name).filter((n) => n.includes(connectionId))).toEqual([]);
    // A second DELETE finds the tombstone.
    await expectError(await api(`/api/connections/${connectionId}`, { method: "DELETE" }), 404, "connection_not_found");
  });
});

describe("a stored record that cannot be read", () => {
  const UNREADABLE: [string, (id: string) => Promise<void>][] = [
    ["is not JSON", (id) => env.CONNECTIONS.put(`conn:${id}`, "\u0000garbage")],
    ["has the wrong shape", (id) => env.CONNECTIONS.put(`conn:${id}`, JSON.stringify({ v: 1, connection_id: id }))],
    [
      "is sealed under a key no longer configured",
      async (id) => {
        const record = await rawRecord(id);
        const token = await retiredRing().seal("token-under-a-retired-key", `conn:${id}`);
        await env.CONNECTIONS.put(`conn:${id}`, JSON.stringify({ ...record, token }));
      },
    ],
  ];
  const USES: [string, string, string][] = [
    ["token", "POST", "/token"],
    ["introspect", "POST", "/introspect"],
    ["disconnect", "DELETE", ""],
    ["proxy", "GET", "/finch/employer/company"],
  ];

  describe.each(UNREADABLE)("record %s", (_, spoil) => {
    it.each(USES)("%s: 500 record_unreadable, no Finch call, left as found", async (_, method, suffix) => {
      const { connectionId } = await seedConnection();
      await spoil(connectionId);
      const before = await kvEntries();
      const res = await api(`/api/connections/${connectionId}${suffix}`, { method });
      await expectError(res, 500, "record_unreadable");
      await expectNoSecrets(res);
      expect(finch().sent).toEqual([]);
      expect(await kvEntries()).toEqual(before);
      await expectServes();
    });
  });

  it("a webhook for a corrupt record is 500, so Finch delivers it again later", async () => {
    const { connectionId } = await seedConnection();
    await env.CONNECTIONS.put(`conn:${connectionId}`, "{");
    const res = await deliver(await signed(accountUpdated(connectionId, "reauth")));
    await expectError(res, 500, "record_unreadable");
    expect(await env.CONNECTIONS.get(`conn:${connectionId}`)).toBe("{");
    await expectServes();
  });

  it("re-encryption counts it as unreadable and still re-seals the rest of the page", async () => {
    const { connectionId } = await seedConnection();
    await env.CONNECTIONS.put(`conn:${connectionId}`, "{");
    const res = await api("/api/admin/reencrypt", post);
    expect(res.status, await res.clone().text()).toBe(200);
    const body = await res.json<{ unreadable: number; scanned: number }>();
    expect(body).toMatchObject({ unreadable: 1, scanned: 2 });
    await expectServes();
  });
});
