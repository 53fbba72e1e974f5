import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SCOPES, type Scope } from "../../src/access/api-keys";
import { OPERATION_SCOPES, type OperationId, type Principal, principalOf } from "../../src/access/principal";
import { AppError } from "../../src/errors";
import { sha256Hex } from "../../src/lib/encoding";
import { newTrace } from "../../src/lib/trace";
import { disconnectEntities, syncConnection } from "../../src/operations/account";
import { importConnection, redeliverEvents, reencrypt } from "../../src/operations/admin";
import {
  disconnectConnection,
  getAccessToken,
  getAuditTrail,
  getConnection,
  introspectConnection,
  listConnections,
} from "../../src/operations/connections";
import type { OperationContext } from "../../src/operations/context";
import { proxyFinch } from "../../src/operations/proxy";
import { createSandboxConnection } from "../../src/operations/sandbox";
import { finch } from "../support/finch";

/**
 * The scope table (src/operations/principal.ts) against the operations themselves: each one,
 * called directly, refuses a caller holding every scope but its own, before reading its input,
 * and gets past the check with it. A new operation must be added to both.
 */
const OPERATIONS: Record<OperationId, (ctx: OperationContext, input: unknown) => Promise<unknown>> = {
  listConnections,
  getConnection,
  getAuditTrail,
  introspectConnection,
  disconnectConnection,
  importConnection,
  disconnectEntities,
  syncConnection,
  createSandboxConnection,
  proxyFinch: (ctx, input) =>
    proxyFinch(ctx, input, {
      method: "GET",
      path: "/employer/company",
      search: "",
      headers: new Headers(),
      body: null,
    }),
  getAccessToken,
  redeliverEvents,
  reencrypt,
};

const principal = (scopes: Scope[]): Principal => ({
  actor: "unit",
  name: "unit",
  scopes: new Set(scopes),
  customers: undefined,
});
const ctx = (p: Principal): OperationContext => ({ env, trace: newTrace("unit-test"), principal: p });

async function failure(work: Promise<unknown>): Promise<AppError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe("every operation checks its own scope first", () => {
  it.each(Object.keys(OPERATIONS) as OperationId[])("%s", async (id) => {
    const scope = OPERATION_SCOPES[id];
    const run = OPERATIONS[id];
    // Input that no schema accepts: with the scope the operation goes on to refuse the input.
    const without = await failure(run(ctx(principal(SCOPES.filter((s) => s !== scope))), "garbage"));
    expect([without.code, without.expose]).toEqual(["scope_missing", `Scope: ${scope}.`]);
    const withIt = await failure(run(ctx(principal([scope])), "garbage"));
    expect(withIt.code).not.toBe("scope_missing");
    expect(finch().sent).toEqual([]);
  });
});

describe("principalOf", () => {
  it("names a bare key key:<first 8 hex of its SHA-256>, a named key by its name", async () => {
    const bare = {
      name: undefined,
      key: "fce_unit_bare_key_0123456789abcdef",
      scopes: new Set(SCOPES),
      customers: undefined,
    };
    const hex = await sha256Hex(bare.key);
    expect((await principalOf(bare)).actor).toBe(`key:${hex.slice(0, 8)}`);
    expect((await principalOf({ ...bare, name: "billing" })).actor).toBe("billing");
  });
});
