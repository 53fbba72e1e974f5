import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ERRORS, type ErrorCode } from "../../src/errors";
import { FinchRpcError } from "../../src/rpc/error";
import { customerIndexKey } from "../../src/storage/keys";
import { expectNoSecrets } from "../support/assert";
import { finch } from "../support/finch";
import { rawRecord, seedConnection } from "../support/fixtures";

/**
 * The named entrypoint, reached the way a service binding reaches it (the pool's loopback
 * binding for the main module's `FinchConnections` export): real RPC serialization, so
 * thrown errors arrive as a calling Worker would see them.
 */
const rpc = exports.FinchConnections;

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

/**
 * An error that crossed RPC is our documented shape (docs/api.md, "Workers RPC"): its message
 * is the JSON of { code, message, status, request_id }, rebuilt by FinchRpcError.from.
 */
async function expectRpcError(promise: Promise<unknown>, code: ErrorCode, secrets: string[] = []) {
  const error = await rejection(promise);
  const typed = FinchRpcError.from(error);
  expect(typed, error.message).toBeDefined();
  expect(JSON.parse(error.message)).toEqual({
    code,
    message: ERRORS[code].message,
    status: ERRORS[code].status,
    request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
  });
  expect(typed?.code).toBe(code);
  expect(typed?.status).toBe(ERRORS[code].status);
  for (const s of [...secrets, ...finch().mock.tokens.keys()]) expect(error.message).not.toContain(s);
  return error;
}

describe("FinchConnections (Workers RPC)", () => {
  it("gets a connection's facts, without the token", async () => {
    const { connectionId, accessToken } = await seedConnection({ customerId: "rpc-co" });
    const facts = await rpc.getConnection(connectionId);
    expect(facts).toMatchObject({ connection_id: connectionId, customer_id: "rpc-co", status: "connected" });
    expect(JSON.stringify(facts)).not.toContain(accessToken);
    expect(Object.keys(facts)).not.toContain("token");
  });

  it("lists a customer's connections newest first, with pagination", async () => {
    const older = await seedConnection({
      customerId: "rpc-list",
      createdAt: new Date(Date.now() - 60_000).toISOString(),
    });
    const newer = await seedConnection({ customerId: "rpc-list" });
    const first = await rpc.listConnections({ customerId: "rpc-list", limit: 1 });
    expect(first.connections.map((c) => c.connection_id)).toEqual([newer.connectionId]);
    expect(first.cursor).toEqual(expect.any(String));
    const second = await rpc.listConnections({ customerId: "rpc-list", limit: 1, cursor: first.cursor ?? "" });
    expect(second.connections.map((c) => c.connection_id)).toEqual([older.connectionId]);
    expect(JSON.stringify([first, second])).not.toContain(newer.accessToken);
  });

  it("hands out the access token on request", async () => {
    const { connectionId, accessToken } = await seedConnection();
    expect(await rpc.getAccessToken(connectionId)).toBe(accessToken);
  });

  it("calls Finch with a Request, like the proxy", async () => {
    const { connectionId, accessToken } = await seedConnection({ customerId: "initech", customerName: "Initech" });
    const res = await rpc.fetchFinch(
      connectionId,
      new Request("https://finch.invalid/employer/directory?limit=3", {
        headers: { authorization: "Bearer caller-secret", cookie: "a=b" },
      }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    await expectNoSecrets(res);
    expect(((await res.json()) as { individuals: unknown[] }).individuals).toHaveLength(3);
    const sent = finch().sent[0]!;
    expect(sent.url.href).toBe("https://api.tryfinch.com/employer/directory?limit=3");
    expect(sent.headers.get("authorization")).toBe(`Bearer ${accessToken}`);
    expect(sent.headers.has("cookie")).toBe(false);
  });

  it("calls Finch with a plain description, sending an object body as JSON", async () => {
    const { connectionId } = await seedConnection();
    finch().override("POST /employer/individual", async (req) =>
      Response.json({ got: await req.json(), type: req.headers.get("content-type") }),
    );
    const res = await rpc.fetchFinch(connectionId, {
      method: "POST",
      path: "/employer/individual",
      query: { trace: ["a", "b"] },
      body: { requests: [{ individual_id: "x" }] },
    });
    expect(await res.json()).toEqual({ got: { requests: [{ individual_id: "x" }] }, type: "application/json" });
    expect(finch().sent[0]?.url.search).toBe("?trace=a&trace=b");
  });

  it("marks reauth through fetchFinch and through introspect", async () => {
    const a = await seedConnection();
    finch().mock.setConnectionStatus(a.connectionId, "reauth");
    const res = await rpc.fetchFinch(a.connectionId, { path: "/employer/company" });
    expect(res.status).toBe(401);
    expect((await rawRecord(a.connectionId))?.status).toBe("reauth");

    const b = await seedConnection();
    finch().mock.setConnectionStatus(b.connectionId, "processing");
    const facts = await rpc.introspect(b.connectionId);
    expect(facts.status).toBe("processing");
    expect((await rawRecord(b.connectionId))?.status).toBe("processing");
  });

  it("disconnects, then reports connection_not_found", async () => {
    const s = await seedConnection();
    expect(await rpc.disconnect(s.connectionId)).toEqual({
      connection_id: s.connectionId,
      disconnected: true,
      finch: "disconnected",
    });
    expect(await rawRecord(s.connectionId)).toBeNull();
    expect(await env.CONNECTIONS.get(await customerIndexKey("acme", s.record.created_at, s.connectionId))).toBeNull();
    await expectRpcError(rpc.disconnect(s.connectionId), "connection_not_found");
  });

  it("keeps the record and throws the stable code when Finch fails the disconnect", async () => {
    const s = await seedConnection();
    finch().override("POST /disconnect", () => new Response("{}", { status: 500 }));
    await expectRpcError(rpc.disconnect(s.connectionId), "finch_unavailable", [s.accessToken]);
    expect(await rawRecord(s.connectionId)).toEqual(s.record);
  });

  it("refuses bad input with param_invalid and names no secret", async () => {
    const s = await seedConnection();
    await expectRpcError(rpc.getConnection("../conn"), "param_invalid");
    await expectRpcError(rpc.getAccessToken(""), "param_invalid");
    await expectRpcError(rpc.listConnections({ limit: 1000 }), "param_invalid");
    await expectRpcError(rpc.listConnections({ cursor: "nonsense" }), "param_invalid");
    await expectRpcError(rpc.fetchFinch(s.connectionId, { path: "/employer/..%2Fintrospect" }), "param_invalid");
    await expectRpcError(rpc.fetchFinch(s.connectionId, { path: 42 } as never), "param_invalid");
    await expectRpcError(rpc.getConnection("44444444-4444-4444-8444-444444444444"), "connection_not_found");
    expect(finch().sent).toEqual([]);
  });

  it("reports an unreadable record without its contents", async () => {
    const s = await seedConnection();
    await env.CONNECTIONS.put(`conn:${s.connectionId}`, "{not json");
    await expectRpcError(rpc.getAccessToken(s.connectionId), "record_unreadable");
  });

  it("throws an Error whose name and JSON message survive the binding; from() ignores foreign errors", async () => {
    const error = await rejection(rpc.getConnection("../conn"));
    // The runtime keeps the name and message; own fields (code, status) are rebuilt by from().
    expect(error.name).toBe("FinchRpcError");
    expect(FinchRpcError.from(new Error("param_invalid: nope"))).toBeUndefined();
    expect(
      FinchRpcError.from(new Error('{"code":"no_such_code","message":"","status":400,"request_id":""}')),
    ).toBeUndefined();
    expect(FinchRpcError.from("param_invalid")).toBeUndefined();
  });
});
