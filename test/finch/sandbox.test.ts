import { env } from "cloudflare:workers";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config/index";
import { AppError } from "../../src/errors";
import { disconnectEntities } from "../../src/finch/api";
import { FINCH_API_VERSION } from "../../src/finch/http";
import { createSandboxConnection } from "../../src/finch/sandbox";
import { IntrospectSchema, MAX_FINCH_ENTITIES, TokenSchema } from "../../src/finch/schemas";
import { newTrace } from "../../src/lib/trace";
import { callMock, finch } from "../support/finch";
import { TEST_SECRETS } from "../support/secrets";

/**
 * The Worker's Finch client for sandbox connections and entity disconnects: what it sends
 * (method, path, auth kind, body), what it makes of Finch's answer, and each refusal as a
 * stable error code.
 */
const settings = () => getConfig(env).finch();
const basic = `Basic ${btoa(`${TEST_SECRETS.FINCH_CLIENT_ID}:${TEST_SECRETS.FINCH_CLIENT_SECRET}`)}`;

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe("createSandboxConnection", () => {
  it("sends POST /sandbox/connections with Basic auth and returns the live connection", async () => {
    const trace = newTrace("t");
    const c = await createSandboxConnection(
      settings(),
      { providerId: "gusto", products: ["company", "directory"], employeeSize: 5, authenticationType: "credential" },
      trace,
    );
    const [sent] = finch().calls("POST /sandbox/connections");
    expect(sent.headers.get("authorization")).toBe(basic);
    expect(sent.headers.get("finch-api-version")).toBe(FINCH_API_VERSION);
    expect(sent.headers.get("content-type")).toBe("application/json");
    expect(sent.json()).toEqual({
      provider_id: "gusto",
      products: ["company", "directory"],
      employee_size: 5,
      authentication_type: "credential",
    });
    const stored = finch().mock.connections.get(c.connectionId);
    expect(c).toEqual({
      accessToken: stored?.accessToken,
      connectionId: stored?.connectionId,
      entityIds: [stored?.entities[0]?.id],
      providerId: "gusto",
      products: ["company", "directory"],
      authenticationType: "credential",
      companyId: stored?.companyId,
      accountId: stored?.accountId,
    });
    expect(trace.connectionId).toBe(c.connectionId);
  });

  it("sends only provider_id when nothing else is asked", async () => {
    await createSandboxConnection(settings(), { providerId: "finch_multi_entity" }, newTrace("t"));
    expect(finch().calls("POST /sandbox/connections")[0].json()).toEqual({ provider_id: "finch_multi_entity" });
  });

  it("an unknown provider is sandbox_rejected (422), asked once", async () => {
    const e = await refusal(createSandboxConnection(settings(), { providerId: "no_such_payroll" }, newTrace("t")));
    expect([e.code, e.status]).toEqual(["sandbox_rejected", 422]);
    expect(finch().calls("POST /sandbox/connections")).toHaveLength(1);
    expect(finch().mock.connections.size).toBe(0);
  });

  it("credentials Finch refuses are finch_invalid_client", async () => {
    const wrong = { ...settings(), clientSecret: "not-the-secret" };
    const e = await refusal(createSandboxConnection(wrong, { providerId: "gusto" }, newTrace("t")));
    expect(e.code).toBe("finch_invalid_client");
  });

  it("is never repeated after a 502: a repeat could make a second connection", async () => {
    finch().mock.failNext({ path: "/sandbox/connections" }, { status: 502, name: "server_error" });
    const e = await refusal(createSandboxConnection(settings(), { providerId: "gusto" }, newTrace("t")));
    expect(e.code).toBe("finch_unavailable");
    expect(finch().calls("POST /sandbox/connections")).toHaveLength(1);
  });

  it.each([
    ["no access_token", { connection_id: "c-1", provider_id: "gusto", products: [] }],
    [
      "a connection_id of the wrong shape",
      { access_token: "t", connection_id: "../x", provider_id: "gusto", products: [] },
    ],
    ["no products", { access_token: "t", connection_id: "c-1", provider_id: "gusto" }],
    [
      "an entity id over 128 characters",
      { access_token: "t", connection_id: "c-1", provider_id: "gusto", products: [], entity_id: "e".repeat(129) },
    ],
    ["not an object", ["access_token"]],
  ])("an answer with %s is finch_bad_response", async (_, body) => {
    finch().override("POST /sandbox/connections", () => Response.json(body));
    const e = await refusal(createSandboxConnection(settings(), { providerId: "gusto" }, newTrace("t")));
    expect(e.code).toBe("finch_bad_response");
  });
});

describe("disconnectEntities", () => {
  async function multiEntity() {
    const c = await createSandboxConnection(settings(), { providerId: "finch_multi_entity" }, newTrace("t"));
    const entities = (await callMock("GET", "/introspect", { auth: { bearer: c.accessToken } })).body.entities;
    return { ...c, entities: entities.map((e: { id: string }) => e.id) as string[] };
  }

  it("sends POST /disconnect-entity with the token and the ids; the other entity stays", async () => {
    const c = await multiEntity();
    const [first = "", second = ""] = c.entities;
    expect(await disconnectEntities(settings(), c.accessToken, [first], newTrace("t"))).toBe("disconnected");
    const [sent] = finch().calls("POST /disconnect-entity");
    expect(sent.headers.get("authorization")).toBe(`Bearer ${c.accessToken}`);
    expect(sent.json()).toEqual({ entity_ids: [first] });
    const after = finch().mock.connections.get(c.connectionId)?.entities;
    expect(after?.map((e) => [e.id, e.disconnected])).toEqual([
      [first, true],
      [second, false],
    ]);
  });

  it("an entity Finch does not know for the connection is entity_not_found (404); nothing changes", async () => {
    const c = await multiEntity();
    const e = await refusal(
      disconnectEntities(settings(), c.accessToken, [c.entities[0]!, "e-unknown"], newTrace("t")),
    );
    expect([e.code, e.status]).toEqual(["entity_not_found", 404]);
    expect(
      finch()
        .mock.connections.get(c.connectionId)
        ?.entities.every((x) => !x.disconnected),
    ).toBe(true);
  });

  it("a token Finch no longer accepts is already_invalid; reauthenticate_user is finch_reauthenticate", async () => {
    const c = await multiEntity();
    expect(await disconnectEntities(settings(), "revoked-token", [c.entities[0]!], newTrace("t"))).toBe(
      "already_invalid",
    );
    finch().mock.failNext(
      { path: "/disconnect-entity" },
      { status: 401, name: "authentication_error", finch_code: "reauthenticate_user" },
    );
    const e = await refusal(disconnectEntities(settings(), c.accessToken, [c.entities[0]!], newTrace("t")));
    expect(e.code).toBe("finch_reauthenticate");
  });

  it("an answer without status is finch_bad_response", async () => {
    const c = await multiEntity();
    finch().override("POST /disconnect-entity", () => Response.json({ ok: true }));
    const e = await refusal(disconnectEntities(settings(), c.accessToken, [c.entities[0]!], newTrace("t")));
    expect(e.code).toBe("finch_bad_response");
  });
});

describe("entity bounds in Finch's answers", () => {
  const token = { access_token: "t", connection_id: "c-1" };
  const ids = (n: number, length = 36) => Array.from({ length: n }, (_, i) => `${i}`.padStart(length, "e"));

  it.each([
    [MAX_FINCH_ENTITIES, 128, true],
    [MAX_FINCH_ENTITIES + 1, 36, false],
    [1, 129, false],
  ])("the exchange's entity_ids: %i ids of %i characters -> accepted %s", (count, length, ok) => {
    expect(v.safeParse(TokenSchema, { ...token, entity_ids: ids(count, length) }).success).toBe(ok);
  });

  it.each([
    ["name", 255, true],
    ["name", 256, false],
    ["source_id", 255, true],
    ["source_id", 256, false],
  ])("introspect's entities[].%s of %i characters -> accepted %s", (field, length, ok) => {
    const entity = { id: "e-1", status: "connected", [field]: "x".repeat(length) };
    const parsed = v.safeParse(IntrospectSchema, { entities: [entity] });
    expect(parsed.success).toBe(ok);
    if (parsed.success) expect(parsed.output.entities?.[0]).toMatchObject({ [field]: "x".repeat(length) });
  });
});
