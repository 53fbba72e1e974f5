import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { IntrospectSchema } from "../../../src/finch/schemas";
import {
  EntityCountsSchema,
  entityCounts,
  MAX_AUTH_METHODS,
  MAX_ENTITIES,
  MAX_ENTITY_STATUSES,
  RECORD_VERSION,
  type StoredConnection,
} from "../../../src/storage/records";
import { applyIntrospection, markedEntitiesDisconnected, namesEveryLiveEntity } from "../../../src/writer/finch-facts";

/** Finch's introspect answer applied to a record: bounded, and no write when nothing changed. */
const at = "2026-11-29T00:00:00.000Z";
const record: StoredConnection = {
  v: RECORD_VERSION,
  connection_id: "c1",
  customer_id: "acme",
  customer_name: "Acme",
  customer_email: null,
  provider_id: "gusto",
  products: ["company"],
  client_type: "sandbox",
  connection_type: "provider",
  company_id: null,
  account_id: null,
  status: "connected",
  status_at: at,
  created_at: at,
  updated_at: at,
  gen: 1,
  token_gen: 1,
  token: { kid: "k1", iv: "iv", ct: "ct" },
};
const later = new Date("2026-11-29T01:00:00.000Z");
const answer = (extra: object) => v.parse(IntrospectSchema, { connection_id: "c1", ...extra });

describe("applyIntrospection", () => {
  it("stores Finch's status with its time, per method and per entity, within bounds", () => {
    const entities = Array.from({ length: MAX_ENTITIES + 5 }, (_, i) => ({ id: `e${i}`, status: "disconnected" }));
    const methods = Array.from({ length: MAX_AUTH_METHODS + 1 }, () => ({
      type: "credential",
      connection_status: { status: "reauth" },
    }));
    const next = applyIntrospection(
      record,
      answer({ connection_status: { status: "reauth" }, entities, authentication_methods: methods }),
      later,
    );
    expect(next?.status).toBe("reauth");
    expect(next?.status_at).toBe(later.toISOString());
    expect(next?.entities).toHaveLength(MAX_ENTITIES);
    expect(next?.entities?.[0]).toEqual({ id: "e0", name: null, source_id: null, status: "disconnected" });
    // Counted over every entity Finch listed, not only the stored prefix.
    expect(next?.entity_counts).toEqual({ disconnected: MAX_ENTITIES + 5 });
    expect(next?.authentication_methods).toHaveLength(MAX_AUTH_METHODS);
    // The token and the customer's identity are never Finch's to change here.
    expect(next?.token).toEqual(record.token);
    expect(next?.customer_id).toBe("acme");
  });

  it("is undefined when Finch says what is stored (no KV write), and keeps status_at when only facts change", () => {
    expect(applyIntrospection(record, answer({ connection_status: { status: "connected" } }), later)).toBeUndefined();
    const moved = applyIntrospection(record, answer({ products: ["company", "directory"] }), later);
    expect(moved?.status_at).toBe(at);
    expect(moved?.products).toEqual(["company", "directory"]);
  });

  it("refuses an answer with an unbounded list", () => {
    const many = Array.from({ length: 10_001 }, (_, i) => ({ id: `e${i}` }));
    expect(v.safeParse(IntrospectSchema, { entities: many }).success).toBe(false);
  });
});

describe("entities (multi-entity connections)", () => {
  it("keeps each entity's id, name, source_id and status, and counts them by status", () => {
    const next = applyIntrospection(
      record,
      answer({
        entities: [
          { id: "e1", name: "Acme East", source_id: "src-1", status: "connected" },
          { id: "e2", name: "Acme West", source_id: null, status: "disconnected" },
        ],
      }),
      later,
    );
    expect(next?.entities).toEqual([
      { id: "e1", name: "Acme East", source_id: "src-1", status: "connected" },
      { id: "e2", name: "Acme West", source_id: null, status: "disconnected" },
    ]);
    expect(next?.entity_counts).toEqual({ connected: 1, disconnected: 1 });
    // The same answer again stores nothing.
    expect(applyIntrospection(next as StoredConnection, answer({ entities: next?.entities }), later)).toBeUndefined();
  });

  it("counts at most MAX_ENTITY_STATUSES statuses by name, the rest as other", () => {
    const statuses = Array.from({ length: MAX_ENTITY_STATUSES + 3 }, (_, i) => `status_${i}`);
    const counts = entityCounts([...statuses, null, "status_0"].map((status) => ({ status })));
    expect(Object.keys(counts)).toHaveLength(MAX_ENTITY_STATUSES + 1);
    expect(counts.status_0).toBe(2);
    expect(counts.other).toBe(4);
    expect(v.is(EntityCountsSchema, counts)).toBe(true);
  });

  it("marks entities Finch disconnected when it could not be asked after, moving the counts", () => {
    const two: StoredConnection = {
      ...record,
      entities: [
        { id: "e1", name: "East", source_id: null, status: "connected" },
        { id: "e2", name: "West", source_id: null, status: "connected" },
      ],
      entity_counts: { connected: 40 },
    };
    const next = markedEntitiesDisconnected(two, ["e2", "not-stored"], later);
    expect(next?.entities?.map((e) => e.status)).toEqual(["connected", "disconnected"]);
    expect(next?.entity_counts).toEqual({ connected: 39, disconnected: 1 });
    expect(next?.updated_at).toBe(later.toISOString());
    // Nothing stored to change: no write.
    expect(markedEntitiesDisconnected(next as StoredConnection, ["e2"], later)).toBeUndefined();
    expect(markedEntitiesDisconnected(record, ["e1"], later)).toBeUndefined();
  });

  it("tells whether a disconnect named every live entity, as far as the record knows them all", () => {
    const two = (status: string | null) => ({
      ...record,
      entities: [
        { id: "e1", status: "connected" },
        { id: "e2", status },
      ],
    });
    expect(namesEveryLiveEntity(two("connected"), ["e1", "e2"])).toBe(true);
    expect(namesEveryLiveEntity(two("disconnected"), ["e1"])).toBe(true);
    expect(namesEveryLiveEntity(two("connected"), ["e1"])).toBe(false);
    // From the exchange's ids when introspect never listed them.
    expect(namesEveryLiveEntity({ ...record, entity_ids: ["e1", "e2"] }, ["e2", "e1"])).toBe(true);
    expect(namesEveryLiveEntity({ ...record, entity_ids: ["e1", "e2"] }, ["e1"])).toBe(false);
    // A stored prefix of a longer list, or nothing known: not proof.
    expect(namesEveryLiveEntity({ ...two("connected"), entity_counts: { connected: 40 } }, ["e1", "e2"])).toBe(false);
    expect(namesEveryLiveEntity(record, ["e1"])).toBe(false);
  });
});
