import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { ConnectionPage } from "../../src/operations/listing";
import type { StoredConnection } from "../../src/storage/records";
import { expectNoSecrets } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv, seedConnection, writeRecord } from "../support/fixtures";
import { api } from "../support/http";

/**
 * Data readiness (issue 12): what Finch reported about a connection's data, shown by
 * GET /api/connections/:id and both listings, and Finch's 202 for a read before the initial
 * sync passed through untouched.
 */
beforeEach(clearKv);

const READY = {
  status: "connected",
  last_successful_sync: "2026-03-01T12:00:00.000Z",
  last_initial_sync_at: "2026-03-01T12:41:09.000Z",
  last_data_sync_all_at: null,
  authentication_methods: [{ type: "assisted", status: "connected" }],
  entities: [{ id: "e-1", status: "connected" }],
};

/** A stored connection with readiness fields, written as the writer writes it (metadata included). */
async function readyConnection(customerId = "acme", extra: Partial<StoredConnection> = {}) {
  const seeded = await seedConnection({ customerId });
  const record: StoredConnection = { ...seeded.record, ...READY, ...extra };
  await writeRecord(record, false);
  return { ...seeded, record };
}

describe("readiness fields", () => {
  it("GET /api/connections/:id shows them, null until Finch reported them", async () => {
    const { connectionId } = await readyConnection();
    expect(await (await api(`/api/connections/${connectionId}`)).json()).toMatchObject(READY);
    const bare = await seedConnection();
    expect(await (await api(`/api/connections/${bare.connectionId}`)).json()).toMatchObject({
      last_successful_sync: null,
      last_initial_sync_at: null,
      last_data_sync_all_at: null,
      authentication_methods: null,
      entities: null,
    });
  });

  it("both listings show them: from metadata, from the record, and for entries written before they existed", async () => {
    const fromMeta = await readyConnection("acme");
    // An entry whose metadata predates readiness: the listing reads the record.
    const legacy = await readyConnection("acme", { status: "pending" });
    const { rd: _rd, ...oldMeta } = (
      await env.CONNECTIONS.getWithMetadata<Record<string, unknown>>(`conn:${legacy.connectionId}`)
    ).metadata as Record<string, unknown>;
    await env.CONNECTIONS.put(`conn:${legacy.connectionId}`, JSON.stringify(legacy.record), { metadata: oldMeta });

    for (const query of ["", "?customer_id=acme"]) {
      const res = await api(`/api/connections${query}`);
      await expectNoSecrets(res);
      const page = await res.json<ConnectionPage>();
      const byId = new Map(page.connections.map((c) => [c.connection_id, c]));
      expect(byId.get(fromMeta.connectionId), query).toMatchObject(READY);
      expect(byId.get(legacy.connectionId), query).toMatchObject({ ...READY, status: "pending" });
    }
    const pending = await (await api("/api/connections?status=pending")).json<ConnectionPage>();
    expect(pending.connections.map((c) => c.connection_id)).toEqual([legacy.connectionId]);
  });
});

describe("reads before the initial sync", () => {
  it("the proxy passes Finch's 202 through untouched", async () => {
    const { connectionId } = await seedConnection();
    const body = JSON.stringify({ code: 202, name: "accepted", message: "The initial sync is still running" });
    finch().override("GET /employer/directory", () =>
      Promise.resolve(
        new Response(body, { status: 202, headers: { "content-type": "application/json", "retry-after": "30" } }),
      ),
    );
    const res = await api(`/api/connections/${connectionId}/finch/employer/directory`);
    expect(res.status).toBe(202);
    expect(res.headers.get("retry-after")).toBe("30");
    expect(await res.text()).toBe(body);
    expect(finch().calls("GET /employer/directory")).toHaveLength(1);
  });
});
