import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import type { ErrorCode } from "../../src/errors";
import { FinchConnections } from "../../src/rpc/entrypoint";
import { FinchRpcError } from "../../src/rpc/error";
import { finch } from "../support/finch";
import { clearKv, rawRecord, seedConnection } from "../support/fixtures";
import { jsonLogLinesSince, logLines } from "../support/logs";
import { SCOPED_API_KEYS } from "../support/scoped-keys";

/**
 * Least privilege over RPC: `forKey(name)` returns a stub limited to that named API key's scopes
 * and customers. The pool's binding runs with the bare test keys (no names), so the stub's rules
 * are driven on an entrypoint built with the JSON keys; the refusal of an unknown name goes
 * through the real binding.
 */
const entry = () => new FinchConnections(createExecutionContext(), { ...env, API_KEYS: SCOPED_API_KEYS } as Env);

async function rpcCode(work: Promise<unknown>): Promise<ErrorCode | "ok"> {
  return work.then(
    () => "ok" as const,
    (e: unknown) => {
      const typed = FinchRpcError.from(e);
      expect(typed, String(e)).toBeDefined();
      return (typed as FinchRpcError).code as ErrorCode;
    },
  );
}

beforeEach(clearKv);

describe("forKey", () => {
  it("an unknown or malformed name fails closed (over the real binding)", async () => {
    expect(await rpcCode(exports.FinchConnections.forKey("billing-service"))).toBe("unauthorized");
    expect(await rpcCode(exports.FinchConnections.forKey(42 as never))).toBe("unauthorized");
    expect(await rpcCode(entry().forKey("nobody"))).toBe("unauthorized");
  });

  it("a connections:read key reads, and gets scope_missing for the token, proxy and writes", async () => {
    const { connectionId, record } = await seedConnection();
    const reader = await entry().forKey("reader");
    expect(await reader.getConnection(connectionId)).toMatchObject({ connection_id: connectionId });
    expect((await reader.listConnections()).connections).toHaveLength(1);
    expect(await rpcCode(reader.getAccessToken(connectionId))).toBe("scope_missing");
    expect(await rpcCode(reader.fetchFinch(connectionId, { path: "/employer/company" }))).toBe("scope_missing");
    expect(await rpcCode(reader.introspect(connectionId))).toBe("scope_missing");
    expect(await rpcCode(reader.disconnect(connectionId))).toBe("scope_missing");
    expect(finch().sent).toEqual([]);
    expect(await rawRecord(connectionId)).toEqual(record);
  });

  it("a key limited to acme: another customer's connection is not found, the listing is acme's", async () => {
    const mine = await seedConnection({ customerId: "acme" });
    const other = await seedConnection({ customerId: "globex" });
    const acme = await entry().forKey("acme-app");
    const id = other.connectionId;
    for (const work of [
      () => acme.getConnection(id),
      () => acme.getAccessToken(id),
      () => acme.fetchFinch(id, { path: "/employer/company" }),
      () => acme.introspect(id),
      () => acme.disconnect(id),
    ]) {
      expect(await rpcCode(work())).toBe("connection_not_found");
    }
    expect(finch().sent).toEqual([]);
    expect((await acme.listConnections()).connections.map((c) => c.connection_id)).toEqual([mine.connectionId]);
    expect(await acme.listConnections({ customerId: "globex" })).toEqual({ connections: [], cursor: null });
    expect(await acme.getAccessToken(mine.connectionId)).toBe(mine.accessToken);
    const res = await acme.fetchFinch(mine.connectionId, { path: "/employer/company" });
    expect(res.status).toBe(200);
  });

  it("the plain entrypoint stays unrestricted (actor rpc); a stub's log line names its key", async () => {
    const other = await seedConnection({ customerId: "globex" });
    const mark = logLines().length;
    expect(await entry().getAccessToken(other.connectionId)).toBe(other.accessToken);
    expect(await rpcCode((await entry().forKey("acme-app")).getConnection(other.connectionId))).toBe(
      "connection_not_found",
    );
    const lines = jsonLogLinesSince(mark).filter((l) => l.msg === "rpc");
    expect(lines.map((l) => [l.method, l.actor, l.outcome])).toEqual([
      ["getAccessToken", "rpc", "ok"],
      ["forKey", "rpc", "ok"],
      ["getConnection", "acme-app", "connection_not_found"],
    ]);
  });
});
