import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { ConnectionPage } from "../../src/operations/listing";
import { MAX_ENTITIES } from "../../src/storage/records";
import { expectNoSecrets } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv, rawRecord, seedConnection, writeRecord } from "../support/fixtures";
import { connectMultiEntity as multiEntity } from "../support/flow";
import { api } from "../support/http";

/**
 * Multi-entity connections (issue 21): the entity ids Finch's exchange lists, each entity's
 * name, source id and status from introspect with counts by status, shown by GET and both
 * listings (test/entities-disconnect.test.ts: disconnecting some of them).
 */
beforeEach(clearKv);

describe("entities of a multi-entity connection", () => {
  it("keeps the exchange's entity_ids, then introspect's entities with names; GET and both listings show them with counts", async () => {
    const { id, entities } = await multiEntity();
    // The exchange lists the ids; no introspect has run yet.
    expect((await rawRecord(id))?.entity_ids).toEqual(entities);
    expect((await (await api(`/api/connections/${id}`)).json<Record<string, unknown>>()).entities).toBeNull();

    expect((await api(`/api/connections/${id}/introspect`, { method: "POST" })).status).toBe(200);
    const mock = finch().mock.connections.get(id);
    const expected = mock?.entities.map((e) => ({
      id: e.id,
      name: e.name,
      source_id: e.sourceId,
      status: "connected",
    }));
    const res = await api(`/api/connections/${id}`);
    await expectNoSecrets(res);
    expect(await res.json()).toMatchObject({
      entity_ids: entities,
      entities: expected,
      entity_counts: { connected: 2 },
    });
    for (const query of ["", "?customer_id=acme"]) {
      const page = await (await api(`/api/connections${query}`)).json<ConnectionPage>();
      expect(page.connections, query).toMatchObject([
        { connection_id: id, entities: expected, entity_counts: { connected: 2 } },
      ]);
    }
  });

  it("keeps listing metadata under KV's 1 KiB: many named entities make it partial, and the listing reads the record", async () => {
    const few = await seedConnection();
    const many = await seedConnection();
    const named = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        id: `e-${i}`,
        name: `Entity ${i} ${"x".repeat(200)}`,
        source_id: `src-${i}`,
        status: i % 2 ? "disconnected" : "connected",
      }));
    await writeRecord({ ...few.record, entities: named(2), entity_counts: { connected: 1, disconnected: 1 } }, false);
    await writeRecord(
      { ...many.record, entities: named(MAX_ENTITIES), entity_counts: { connected: 60, disconnected: 40 } },
      false,
    );
    const meta = async (id: string) =>
      (await env.CONNECTIONS.getWithMetadata<Record<string, any>>(`conn:${id}`)).metadata as Record<string, any>;
    const small = await meta(few.connectionId);
    expect(small.rd.ec).toEqual({ connected: 1, disconnected: 1 });
    expect(small.partial).toBeUndefined();
    const big = await meta(many.connectionId);
    expect(big.partial).toBe(1);
    expect(new TextEncoder().encode(JSON.stringify(big)).byteLength).toBeLessThanOrEqual(1024);
    const page = await (await api("/api/connections")).json<ConnectionPage>();
    const byId = new Map(page.connections.map((c) => [c.connection_id, c]));
    expect(byId.get(few.connectionId)?.entity_counts).toEqual({ connected: 1, disconnected: 1 });
    expect(byId.get(many.connectionId)?.entity_counts).toEqual({ connected: 60, disconnected: 40 });
    expect(byId.get(many.connectionId)?.entities).toHaveLength(MAX_ENTITIES);
  });

  it("a single-entity connection shows its one entity; one stored before entities existed shows nulls", async () => {
    const { connectionId } = await seedConnection();
    const before = await (await api(`/api/connections/${connectionId}`)).json<Record<string, unknown>>();
    expect(before).toMatchObject({ entities: null, entity_counts: null, entity_ids: null });
    expect((await api(`/api/connections/${connectionId}/introspect`, { method: "POST" })).status).toBe(200);
    const after = await (await api(`/api/connections/${connectionId}`)).json<Record<string, unknown>>();
    expect(after).toMatchObject({ entity_counts: { connected: 1 } });
    expect(after.entities).toHaveLength(1);
  });
});
