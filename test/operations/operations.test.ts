import { env } from "cloudflare:workers";
import fc from "fast-check";
import type * as v from "valibot";
import { describe, expect, it, vi } from "vitest";
import { RPC_PRINCIPAL } from "../../src/access/principal";
import type { Env } from "../../src/env";
import { AppError, ConfigError, publicMessage } from "../../src/errors";
import { newTrace } from "../../src/lib/trace";
import { redeliverEvents } from "../../src/operations/admin";
import { getConnection, listConnections } from "../../src/operations/connections";
import * as inputs from "../../src/operations/input";
import { ImportInput, ListInput, parseInput, RedeliverInput } from "../../src/operations/input";
import { FinchRpcError } from "../../src/rpc/error";
import { seedConnection } from "../support/fixtures";
import { runProperty } from "../support/property";

/**
 * Unit tests of the operations layer: its input parsing and a few operations called directly
 * (no HTTP, no RPC), beside the integration tests that go through exports.default.fetch.
 */
const ctx = (bindings: Env = env) => ({ env: bindings, trace: newTrace("unit-test"), principal: RPC_PRINCIPAL });

function refusal(work: () => unknown): AppError {
  try {
    work();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error("expected a refusal");
}

describe("parseInput", () => {
  it("a body field fails as body_invalid and names the field (never the value) to the caller", () => {
    const secret = "tok_do_not_echo_0123456789";
    const e = refusal(() =>
      parseInput(ImportInput, { body: { access_token: secret, customer_id: "", customer_name: "A" } }),
    );
    expect(e.code).toBe("body_invalid");
    expect(e.expose).toBe("Field: customer_id.");
    expect(`${e.detail} ${e.expose} ${publicMessage(e)}`).not.toContain(secret);
  });

  it("a query or path field fails as param_invalid, named in the log detail", () => {
    const e = refusal(() => parseInput(ListInput, { query: { limit: 0 } }));
    expect(e.code).toBe("param_invalid");
    expect(e.detail).toBe("query.limit invalid");
    expect(refusal(() => parseInput(ListInput, "not an object")).code).toBe("param_invalid");
    expect(refusal(() => parseInput(ListInput, {})).detail).toBe("query invalid");
  });

  it("a key the schema does not declare is an unknown field: never named, in the answer or the log", () => {
    const e = refusal(() => parseInput(RedeliverInput, { query: {}, body: { zq_caller_key: true } }));
    expect(e.code).toBe("body_invalid");
    expect(e.expose).toBe("Unknown field.");
    expect(e.detail).toBe("body unknown field");
    // A declared field is still named.
    expect(refusal(() => parseInput(RedeliverInput, { query: {}, body: { event_ids: [] } })).expose).toBe(
      "Field: event_ids.",
    );
  });

  it("no operation's refusal holds a key the caller made up (every input schema, keys anywhere)", async () => {
    const schemas = Object.entries(inputs).filter(([name]) => /^[A-Z]\w*Input$/.test(name)) as [
      string,
      v.GenericSchema,
    ][];
    expect(schemas.map(([name]) => name).sort()).toEqual([
      "AuditInput",
      "ByIdInput",
      "DisconnectEntitiesInput",
      "ImportInput",
      "ListInput",
      "RedeliverInput",
      "ReencryptInput",
      "SandboxInput",
    ]);
    // A valid input per operation, so the invented key is what gets judged.
    const valid: Record<string, Record<string, Record<string, unknown>>> = {
      AuditInput: { path: { connection_id: "c-1" }, query: {} },
      ByIdInput: { path: { connection_id: "c-1" } },
      ImportInput: { body: { access_token: "t", customer_id: "acme", customer_name: "Acme" } },
      ListInput: { query: {} },
      RedeliverInput: { query: {} },
      ReencryptInput: { query: {} },
      DisconnectEntitiesInput: { path: { connection_id: "c-1" }, body: { entity_ids: ["e-1"] } },
      SandboxInput: { body: { customer_id: "acme", customer_name: "Acme", provider_id: "gusto" } },
    };
    for (const [name, schema] of schemas) expect(() => parseInput(schema, valid[name])).not.toThrow();
    // Invented keys carry a marker no schema uses; `place` puts one at the top, in a part, or in a list item.
    const key = fc.string({ maxLength: 24 }).map((s) => `zq${s}`);
    const value = fc.oneof(fc.constant(true), fc.string(), fc.constant(null), fc.constant({ a: 1 }));
    const place = fc.constantFrom("top", "path", "query", "body", "list-item");
    await runProperty(
      "parse-input-unknown-keys",
      fc.asyncProperty(fc.constantFrom(...schemas), key, value, place, async ([name, schema], k, x, where) => {
        const input: Record<string, unknown> = { ...valid[name] };
        const part = (p: string) => (input[p] ?? {}) as Record<string, unknown>;
        if (where === "top") input[k] = x;
        else if (where === "list-item") input.body = { ...part("body"), event_ids: [{ [k]: x }] };
        else input[where] = { ...part(where), [k]: x };
        try {
          parseInput(schema, input);
        } catch (e) {
          expect(e).toBeInstanceOf(AppError);
          const told = `${(e as AppError).detail} ${(e as AppError).expose} ${publicMessage(e as AppError)}`;
          expect(told).not.toContain("zq");
        }
      }),
    );
  });

  it("returns the parsed input, unknown keys dropped", () => {
    expect(parseInput(ListInput, { query: { customer_id: "acme", limit: 5, extra: "x" } })).toEqual({
      query: { customer_id: "acme", limit: 5 },
    });
  });

  it.each([
    ["acme", true],
    ["Ünïcode Co", true],
    ["tab\there", false],
    ["nul\u0000", false],
    ["del\u007f", false],
    [" ", true],
  ])("customer_id %j printable: %s", (customerId, ok) => {
    const run = () => parseInput(ListInput, { query: { customer_id: customerId } });
    if (ok) expect(run().query.customer_id).toBe(customerId);
    else expect(refusal(run).code).toBe("param_invalid");
  });
});

describe("operations called directly", () => {
  it("getConnection: the facts without the token, and the trace names the connection", async () => {
    const { connectionId, accessToken } = await seedConnection();
    const c = ctx();
    const facts = await getConnection(c, { path: { connection_id: connectionId } });
    expect(facts.connection_id).toBe(connectionId);
    expect(JSON.stringify(facts)).not.toContain(accessToken);
    expect(c.trace.connectionId).toBe(connectionId);
  });

  it("a malformed id is refused before any storage read", async () => {
    const get = vi.spyOn(env.CONNECTIONS, "get");
    const c = ctx();
    await expect(getConnection(c, { path: { connection_id: "../x" } })).rejects.toMatchObject({
      code: "param_invalid",
    });
    expect(get).not.toHaveBeenCalled();
    expect(c.trace.connectionId).toBeUndefined();
  });

  it("listConnections: a customer's page", async () => {
    const { connectionId } = await seedConnection({ customerId: "unit-co" });
    const page = await listConnections(ctx(), { query: { customer_id: "unit-co" } });
    expect(page.connections.map((c) => c.connection_id)).toEqual([connectionId]);
    expect(page.cursor).toBeNull();
  });

  it("redeliverEvents: named ids with a cursor are refused before configuration is read", async () => {
    const input = { query: { cursor: "abc" }, body: { event_ids: [`evt_${"a".repeat(20)}`] } };
    const noWebhook = { ...env, APP_WEBHOOK_URL: undefined } as Env;
    await expect(redeliverEvents(ctx(noWebhook), input)).rejects.toMatchObject({ code: "param_invalid" });
    const e = await redeliverEvents(ctx(noWebhook), { query: {} }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect(publicMessage(e as AppError)).toContain("APP_WEBHOOK_URL");
  });
});

describe("FinchRpcError", () => {
  it("round-trips through its message, as Workers RPC carries it", () => {
    const sent = new FinchRpcError({
      code: "connection_not_found",
      message: "No such connection.",
      status: 404,
      request_id: "r1",
    });
    const received = FinchRpcError.from(Object.assign(new Error(sent.message), { name: sent.name }));
    expect(received).toMatchObject({ code: "connection_not_found", status: 404, request_id: "r1" });
    expect(received?.text).toBe("No such connection.");
  });

  it("is not fooled by other errors", () => {
    expect(FinchRpcError.from(new Error("connection_not_found: No such connection."))).toBeUndefined();
    expect(FinchRpcError.from(new Error('{"code":"connection_not_found"}'))).toBeUndefined();
    expect(FinchRpcError.from(new Error('{"code":"x","message":"","status":404,"request_id":""}'))).toBeUndefined();
    expect(FinchRpcError.from({ message: "{}" })).toBeUndefined();
  });
});
