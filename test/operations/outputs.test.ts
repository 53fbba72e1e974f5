import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { ROUTES } from "../../scripts/openapi";
import { errorBodySchema } from "../../src/operations/outputs";
import { webhookEnv } from "../support/events";
import { finch } from "../support/finch";
import { rememberToken, seedConnection } from "../support/fixtures";
import { API_KEY, api } from "../support/http";
import { scopedWorker } from "../support/scoped-keys";
import { workerWith } from "../support/worker";

/**
 * docs/openapi.json against the running code. Every route is driven into every status the
 * document lists for it, and each body is checked with the same valibot schema the document
 * was generated from (scripts/openapi.ts). A status the document does not list fails the test
 * (5xx are the document's `default`), and so does a listed status no scenario produced.
 */
const produced = new Set<string>();
const BAD_KEY = "Bearer not-a-key";
const BIG = JSON.stringify({ pad: "x".repeat(17 * 1024) });

async function check(operationId: string, res: Response): Promise<number> {
  const route = ROUTES.find((r) => r.operationId === operationId);
  expect(route, operationId).toBeDefined();
  if (!route) return res.status;
  const text = await res.text();
  const body: unknown = JSON.parse(text);
  const ok = route.ok[res.status];
  let schema: v.GenericSchema;
  if (ok) schema = ok;
  else if (route.errors.includes(res.status)) schema = errorBodySchema(res.status);
  else {
    expect(res.status, `${operationId} answered an undocumented ${res.status}: ${text}`).toBeGreaterThanOrEqual(500);
    schema = errorBodySchema();
  }
  const parsed = v.safeParse(schema, body);
  expect(parsed.issues, `${operationId} ${res.status}: ${text}`).toBeUndefined();
  // valibot's object drops keys it does not know: a difference is an undocumented field.
  expect(parsed.output, `${operationId} ${res.status} has undocumented fields`).toEqual(body);
  produced.add(`${operationId} ${res.status}`);
  return res.status;
}

const post = (path: string, body?: string, authorization?: string) =>
  api(path, { method: "POST", headers: { "content-type": "application/json" }, body }, authorization);

describe("every documented (route, status) is produced, with the documented body", () => {
  it("listConnections", async () => {
    await seedConnection();
    expect(await check("listConnections", await api("/api/connections?limit=5"))).toBe(200);
    expect(await check("listConnections", await api("/api/connections?customer_id=acme"))).toBe(200);
    expect(await check("listConnections", await api("/api/connections?limit=0"))).toBe(400);
    expect(await check("listConnections", await api("/api/connections", {}, BAD_KEY))).toBe(401);
  });

  it("getConnection", async () => {
    const { connectionId } = await seedConnection();
    expect(await check("getConnection", await api(`/api/connections/${connectionId}`))).toBe(200);
    expect(await check("getConnection", await api("/api/connections/-bad"))).toBe(400);
    expect(await check("getConnection", await api(`/api/connections/${connectionId}`, {}, BAD_KEY))).toBe(401);
    expect(await check("getConnection", await api("/api/connections/no-such-connection"))).toBe(404);
  });

  it("getAccessToken, introspectConnection, disconnectConnection", async () => {
    for (const [op, suffix, method] of [
      ["getAccessToken", "/token", "POST"],
      ["introspectConnection", "/introspect", "POST"],
      ["disconnectConnection", "", "DELETE"],
    ] as const) {
      const { connectionId } = await seedConnection();
      const path = `/api/connections/${connectionId}${suffix}`;
      expect(await check(op, await api(path, { method, body: BIG }))).toBe(413);
      expect(await check(op, await api(path, { method, body: "[1]" }))).toBe(400);
      expect(await check(op, await api(path, { method }, BAD_KEY))).toBe(401);
      expect(await check(op, await api(`/api/connections/no-such-connection${suffix}`, { method }))).toBe(404);
      expect(await check(op, await api(path, { method }))).toBe(200);
    }
    const { connectionId } = await seedConnection();
    finch().mock.failNext(
      { method: "GET", path: "/introspect" },
      { status: 401, name: "authentication_error", finch_code: "reauthenticate_user" },
    );
    const res = await post(`/api/connections/${connectionId}/introspect`);
    expect(await check("introspectConnection", res)).toBe(409);
  });

  it("getAuditTrail", async () => {
    const { connectionId } = await seedConnection();
    expect((await api(`/api/connections/${connectionId}/token`, { method: "POST" })).status).toBe(200);
    const path = `/api/connections/${connectionId}/audit`;
    expect(await check("getAuditTrail", await api(path))).toBe(200);
    expect(await check("getAuditTrail", await api(`${path}?limit=0`))).toBe(400);
    expect(await check("getAuditTrail", await api(path, {}, BAD_KEY))).toBe(401);
    expect(await check("getAuditTrail", await api("/api/connections/no-such-connection/audit"))).toBe(404);
  });

  it("importConnection", async () => {
    const seeded = finch().mock.seedConnection({ customerId: "acme", customerName: "Acme Inc" });
    rememberToken(seeded.accessToken);
    const body = (over: Record<string, unknown> = {}) =>
      JSON.stringify({ access_token: seeded.accessToken, customer_id: "acme", customer_name: "Acme Inc", ...over });
    const path = "/api/connections/import";
    expect(await check("importConnection", await post(path, body()))).toBe(201);
    expect(await check("importConnection", await post(path, body()))).toBe(200);
    expect(await check("importConnection", await post(path, body({ customer_id: "other" })))).toBe(403);
    expect(await check("importConnection", await post(path, body({ access_token: "not-a-token" })))).toBe(422);
    expect(await check("importConnection", await post(path, body({ customer_id: "" })))).toBe(400);
    expect(await check("importConnection", await post(path, BIG))).toBe(413);
    expect(await check("importConnection", await post(path, body(), BAD_KEY))).toBe(401);
    finch().override("POST /disconnect", () => Response.json({ status: "success" }));
    expect((await api(`/api/connections/${seeded.connectionId}`, { method: "DELETE" })).status).toBe(200);
    expect(await check("importConnection", await post(path, body()))).toBe(409);
  });

  it("disconnectEntities", async () => {
    const { connectionId } = await seedConnection();
    const path = `/api/connections/${connectionId}/entities/disconnect`;
    const entity = finch().mock.connections.get(connectionId)?.entities[0]?.id;
    // The writer learns the connection's entities (so it knows the one below is its last).
    expect((await post(`/api/connections/${connectionId}/introspect`)).status).toBe(200);
    const body = (ids: unknown[]) => JSON.stringify({ entity_ids: ids });
    expect(await check("disconnectEntities", await post(path, body([])))).toBe(400);
    expect(await check("disconnectEntities", await post(path, BIG))).toBe(413);
    expect(await check("disconnectEntities", await post(path, body([entity]), BAD_KEY))).toBe(401);
    expect(await check("disconnectEntities", await post(path, body(["not-an-entity-of-it"])))).toBe(404);
    // Its only entity: Finch ends the connection with it.
    expect(await check("disconnectEntities", await post(path, body([entity])))).toBe(200);
    expect(await check("disconnectEntities", await post(path, body([entity])))).toBe(409);
  });

  it("syncConnection", async () => {
    const { connectionId } = await seedConnection();
    const path = `/api/connections/${connectionId}/sync`;
    expect(await check("syncConnection", await post(path, "[1]"))).toBe(400);
    expect(await check("syncConnection", await post(path, BIG))).toBe(413);
    expect(await check("syncConnection", await post(path, undefined, BAD_KEY))).toBe(401);
    expect(await check("syncConnection", await post("/api/connections/no-such-connection/sync"))).toBe(404);
    expect(await check("syncConnection", await post(path))).toBe(202);
    finch().mock.completeJob(connectionId);
    expect(await check("syncConnection", await post(path))).toBe(429);
    expect((await api(`/api/connections/${connectionId}`, { method: "DELETE" })).status).toBe(200);
    expect(await check("syncConnection", await post(path))).toBe(409);
  });

  it("createSandboxConnection", async () => {
    const worker = workerWith({ FINCH_SANDBOX: "finch" });
    const call = (body?: string, authorization = `Bearer ${API_KEY}`, via = worker) =>
      via("/api/sandbox/connections", { method: "POST", headers: { authorization }, body });
    const body = (over: Record<string, unknown> = {}) =>
      JSON.stringify({ customer_id: "acme", customer_name: "Acme Inc", provider_id: "gusto", ...over });
    expect(await check("createSandboxConnection", await call(body()))).toBe(201);
    expect(await check("createSandboxConnection", await call(body({ provider_id: "Gusto" })))).toBe(400);
    expect(await check("createSandboxConnection", await call(BIG))).toBe(413);
    expect(await check("createSandboxConnection", await call(body(), BAD_KEY))).toBe(401);
    expect(await check("createSandboxConnection", await call(body({ provider_id: "no_such_provider" })))).toBe(422);
    expect(await check("createSandboxConnection", await call(body(), undefined, workerWith({})))).toBe(404);
    const acmeOnly = scopedWorker({ FINCH_SANDBOX: "finch" })("acme");
    const res = await acmeOnly("/api/sandbox/connections", { method: "POST", body: body({ customer_id: "globex" }) });
    expect(await check("createSandboxConnection", res)).toBe(403);
  });

  it("reencrypt", async () => {
    await seedConnection();
    expect(await check("reencrypt", await post("/api/admin/reencrypt"))).toBe(200);
    expect(await check("reencrypt", await post("/api/admin/reencrypt?limit=0"))).toBe(400);
    expect(await check("reencrypt", await post("/api/admin/reencrypt", BIG))).toBe(413);
    expect(await check("reencrypt", await post("/api/admin/reencrypt", undefined, BAD_KEY))).toBe(401);
  });

  it("redeliverEvents", async () => {
    const call = (path: string, body?: string, authorization = `Bearer ${API_KEY}`) =>
      workerWith(webhookEnv())(path, { method: "POST", headers: { authorization }, body });
    expect(await check("redeliverEvents", await call("/api/events/redeliver"))).toBe(200);
    expect(await check("redeliverEvents", await call("/api/events/redeliver?limit=0"))).toBe(400);
    expect(await check("redeliverEvents", await call("/api/events/redeliver", BIG))).toBe(413);
    expect(await check("redeliverEvents", await call("/api/events/redeliver", undefined, BAD_KEY))).toBe(401);
    // Without APP_WEBHOOK_URL there is nowhere to redeliver to: a 5xx, the document's default.
    expect(await check("redeliverEvents", await api("/api/events/redeliver", { method: "POST" }))).toBe(500);
  });
});

it("every route answers 403 scope_missing to a key without its scope", async () => {
  const { connectionId } = await seedConnection();
  const reader = scopedWorker(webhookEnv())("reader");
  const tokenOnly = scopedWorker()("tokenOnly");
  const byId = `/api/connections/${connectionId}`;
  const cases: [string, Promise<Response>][] = [
    ["listConnections", tokenOnly("/api/connections")],
    ["getConnection", tokenOnly(byId)],
    ["getAuditTrail", tokenOnly(`${byId}/audit`)],
    ["getAccessToken", reader(`${byId}/token`, { method: "POST" })],
    ["introspectConnection", reader(`${byId}/introspect`, { method: "POST" })],
    ["disconnectConnection", reader(byId, { method: "DELETE" })],
    ["importConnection", reader("/api/connections/import", { method: "POST", body: "{}" })],
    ["reencrypt", reader("/api/admin/reencrypt", { method: "POST" })],
    ["redeliverEvents", reader("/api/events/redeliver", { method: "POST" })],
    ["disconnectEntities", reader(`${byId}/entities/disconnect`, { method: "POST", body: "{}" })],
    ["syncConnection", reader(`${byId}/sync`, { method: "POST" })],
    [
      "createSandboxConnection",
      scopedWorker({ FINCH_SANDBOX: "finch" })("reader")("/api/sandbox/connections", { method: "POST", body: "{}" }),
    ],
  ];
  for (const [op, res] of cases) expect(await check(op, await res)).toBe(403);
});

it("produced every (route, status) the document lists", () => {
  const documented = ROUTES.flatMap((r) =>
    [...Object.keys(r.ok).map(Number), ...r.errors].map((status) => `${r.operationId} ${status}`),
  );
  const missing = documented.filter((pair) => !produced.has(pair));
  expect(missing, "documented but never produced").toEqual([]);
});
