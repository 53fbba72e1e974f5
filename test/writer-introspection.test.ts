import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { IntrospectSchema } from "../src/finch/schemas";
import { MAX_AUTH_METHODS, MAX_ENTITIES, RECORD_VERSION, type StoredConnection } from "../src/storage/records";
import { applyIntrospection } from "../src/writer/introspection";

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
    expect(next?.entities?.[0]).toEqual({ id: "e0", status: "disconnected" });
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
