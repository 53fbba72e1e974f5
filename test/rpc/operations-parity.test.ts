import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FinchRpcError } from "../../src/rpc/error";
import { finch } from "../support/finch";
import { seedConnection } from "../support/fixtures";
import { api } from "../support/http";

/**
 * HTTP and RPC are two adapters over the same operations (src/operations/): the same input
 * must get the same verdict from both, "ok" or the same error code. Before the operations
 * layer the rules differed (RPC took a customer_id with control characters; HTTP did not).
 */
const rpc = exports.FinchConnections;

type Verdict = string;

async function httpVerdict(path: string, init?: RequestInit): Promise<Verdict> {
  const res = await api(path, init);
  if (res.ok) return "ok";
  return ((await res.json()) as { error: { code: string } }).error.code;
}

async function rpcVerdict(call: Promise<unknown>): Promise<Verdict> {
  try {
    await call;
    return "ok";
  } catch (e) {
    return FinchRpcError.from(e)?.code ?? `foreign error: ${String(e)}`;
  }
}

interface Query {
  customerId?: string;
  status?: string;
  limit?: number;
  cursor?: string;
}

function listPath(q: Query): string {
  const params = new URLSearchParams();
  if (q.customerId !== undefined) params.set("customer_id", q.customerId);
  if (q.status !== undefined) params.set("status", q.status);
  if (q.limit !== undefined) params.set("limit", String(q.limit));
  if (q.cursor !== undefined) params.set("cursor", q.cursor);
  return `/api/connections?${params}`;
}

describe("the same input gets the same verdict over HTTP and RPC", () => {
  const queries: [Query, Verdict][] = [
    [{}, "ok"],
    [{ customerId: "acme" }, "ok"],
    [{ customerId: "Ünïcode Co" }, "ok"],
    [{ customerId: "a\u0001b" }, "param_invalid"],
    [{ customerId: "line\nbreak" }, "param_invalid"],
    [{ customerId: "" }, "param_invalid"],
    [{ customerId: "x".repeat(255) }, "ok"],
    [{ customerId: "x".repeat(256) }, "param_invalid"],
    [{ status: "connected" }, "ok"],
    [{ status: "Connected" }, "param_invalid"],
    [{ status: "" }, "param_invalid"],
    [{ limit: 1 }, "ok"],
    [{ limit: 100 }, "ok"],
    [{ limit: 0 }, "param_invalid"],
    [{ limit: 101 }, "param_invalid"],
    [{ limit: 1.5 }, "param_invalid"],
    [{ cursor: "" }, "param_invalid"],
    [{ cursor: "nonsense" }, "param_invalid"],
    [{ cursor: "c".repeat(2049) }, "param_invalid"],
  ];

  it.each(queries)("listing %j: %s", async (query, expected) => {
    await seedConnection();
    const viaHttp = await httpVerdict(listPath(query));
    const viaRpc = await rpcVerdict(rpc.listConnections(query));
    expect({ http: viaHttp, rpc: viaRpc }).toEqual({ http: expected, rpc: expected });
  });

  const ids: [string, Verdict][] = [
    ["0a1b2c3d-0000-4000-8000-000000000000", "connection_not_found"],
    ["conn_abc-123", "connection_not_found"],
    ["-leading-dash", "param_invalid"],
    ["_leading-underscore", "param_invalid"],
    ["a.b", "param_invalid"],
    ["a b", "param_invalid"],
    ["é", "param_invalid"],
    ["x".repeat(128), "connection_not_found"],
    ["x".repeat(129), "param_invalid"],
  ];

  it.each(ids)("connection id %j: %s", async (id, expected) => {
    const path = `/api/connections/${encodeURIComponent(id)}`;
    expect(await httpVerdict(path)).toBe(expected);
    expect(await rpcVerdict(rpc.getConnection(id))).toBe(expected);
    expect(await httpVerdict(`${path}/token`, { method: "POST" })).toBe(expected);
    expect(await rpcVerdict(rpc.getAccessToken(id))).toBe(expected);
    expect(await httpVerdict(`${path}/introspect`, { method: "POST" })).toBe(expected);
    expect(await rpcVerdict(rpc.introspect(id))).toBe(expected);
    expect(await httpVerdict(`${path}/finch/employer/company`)).toBe(expected);
    expect(await rpcVerdict(rpc.fetchFinch(id, { path: "/employer/company" }))).toBe(expected);
    expect(await httpVerdict(path, { method: "DELETE" })).toBe(expected);
    expect(await rpcVerdict(rpc.disconnect(id))).toBe(expected);
    // Nothing reached Finch for an id that does not exist or is malformed.
    expect(finch().sent).toEqual([]);
  });

  it("a stored connection: both surfaces answer it, and an id that is not a string is refused by RPC", async () => {
    const { connectionId } = await seedConnection();
    expect(await httpVerdict(`/api/connections/${connectionId}`)).toBe("ok");
    expect(await rpcVerdict(rpc.getConnection(connectionId))).toBe("ok");
    expect(await rpcVerdict(rpc.getConnection(42 as never))).toBe("param_invalid");
    expect(await rpcVerdict(rpc.listConnections("acme" as never))).toBe("param_invalid");
  });
});
