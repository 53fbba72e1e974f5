import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { AppEvent } from "../../src/app-events/model";
import { MAX_SANDBOX_EMPLOYEES } from "../../src/operations/sandbox-connection";
import { expectError, expectNoSecrets, expectStored } from "../support/assert";
import { watchQueue } from "../support/events";
import { finch } from "../support/finch";
import { clearKv, kvNames, rawRecord } from "../support/fixtures";
import { api } from "../support/http";
import { SCOPED, SCOPED_API_KEYS } from "../support/scoped-keys";
import { TEST_SECRETS } from "../support/secrets";
import { workerWith } from "../support/worker";

/**
 * Sandbox connections in one command (issue 21): with FINCH_SANDBOX set, POST
 * /api/sandbox/connections makes a connection through Finch's POST /sandbox/connections and
 * stores it like an import (connection.created, source "sandbox"); without it, the route does
 * not exist.
 */
beforeEach(clearKv);

const sandbox = workerWith({ FINCH_SANDBOX: "finch" });
const post = (body: unknown, via = sandbox, key = TEST_SECRETS.API_KEYS.split(",")[0]) =>
  via("/api/sandbox/connections", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const ACME = { customer_id: "acme", customer_name: "Acme Inc" };
const basic = `Basic ${btoa(`${TEST_SECRETS.FINCH_CLIENT_ID}:${TEST_SECRETS.FINCH_CLIENT_SECRET}`)}`;

describe("POST /api/sandbox/connections", () => {
  it("makes the connection at Finch, stores it like an import and answers 201 with it as GET shows it", async () => {
    const q = watchQueue(env.APP_EVENTS as Queue<unknown>, "pass");
    const res = await post({ ...ACME, provider_id: "gusto", products: ["company", "directory"], employee_size: 5 });
    expect(res.status, await res.clone().text()).toBe(201);
    await expectNoSecrets(res);
    const created = await res.json<any>();
    const [sent] = finch().calls("POST /sandbox/connections");
    expect(sent?.headers.get("authorization")).toBe(basic);
    expect(sent?.json()).toEqual({ provider_id: "gusto", products: ["company", "directory"], employee_size: 5 });
    const id = created.connection_id as string;
    const mock = finch().mock.connections.get(id);
    expect(mock?.directory).toHaveLength(5);
    // Finch was asked about the new connection: its entities are stored.
    expect(created).toMatchObject({
      customer_id: "acme",
      customer_name: "Acme Inc",
      provider_id: "gusto",
      status: "connected",
      entity_ids: [mock?.entities[0]?.id],
      entity_counts: { connected: 1 },
    });
    const shown = await (await api(`/api/connections/${id}`)).json();
    expect(shown).toEqual(created);
    const stored = await rawRecord(id);
    expect(stored?.gen).toBe(1);
    expect(q.bodies() as AppEvent[]).toMatchObject([
      { type: "connection.created", connection_id: id, data: { source: "sandbox", provider_id: "gusto" } },
    ]);
    // The token is Finch's, usable at once through the proxy.
    expect((await api(`/api/connections/${id}/finch/employer/company`)).status).toBe(200);
  });

  it("finch_multi_entity: two entities; disconnecting one leaves one connected", async () => {
    const created = await (await post({ ...ACME, provider_id: "finch_multi_entity" })).json<any>();
    expect(created.entities).toHaveLength(2);
    expect(created.entity_counts).toEqual({ connected: 2 });
    const [first] = created.entities;
    const res = await api(`/api/connections/${created.connection_id}/entities/disconnect`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ entity_ids: [first.id] }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await res.json<any>()).connection.entity_counts).toEqual({ connected: 1, disconnected: 1 });
  });

  it("an unknown provider is Finch's 422 sandbox_rejected; nothing is stored", async () => {
    await expectError(await post({ ...ACME, provider_id: "no_such_provider" }), 422, "sandbox_rejected");
    expect(finch().calls("POST /sandbox/connections")).toHaveLength(1);
    await expectStored([]);
  });

  it("refuses bad input with 400 before Finch is asked, and takes the bounds exactly", async () => {
    for (const body of [
      { customer_name: "Acme", provider_id: "gusto" },
      { ...ACME },
      { ...ACME, provider_id: "Gusto" },
      { ...ACME, provider_id: "gusto/../x" },
      { ...ACME, provider_id: "gusto", products: [] },
      { ...ACME, provider_id: "gusto", products: ["Company"] },
      { ...ACME, provider_id: "gusto", employee_size: 0 },
      { ...ACME, provider_id: "gusto", employee_size: MAX_SANDBOX_EMPLOYEES + 1 },
      { ...ACME, provider_id: "gusto", employee_size: 1.5 },
      { ...ACME, customer_id: "x".repeat(256), provider_id: "gusto" },
      { ...ACME, customer_name: "Acme\nInc", provider_id: "gusto" },
      { ...ACME, provider_id: "gusto", authentication_type: "assisted" },
    ]) {
      await expectError(await post(body), 400, "body_invalid");
    }
    expect(finch().sent).toEqual([]);
    await expectStored([]);
    // At the bounds: past the input rules (the mock Finch then refuses more than its 1,000 people).
    await expectError(
      await post({ ...ACME, provider_id: "gusto", employee_size: MAX_SANDBOX_EMPLOYEES }),
      422,
      "sandbox_rejected",
    );
    const res = await post({ ...ACME, customer_id: "x".repeat(255), provider_id: "gusto", employee_size: 1 });
    expect(res.status, await res.clone().text()).toBe(201);
  });

  it("without FINCH_SANDBOX the route does not exist: 404 not_found for every method and key", async () => {
    const res = await post({ ...ACME, provider_id: "gusto" }, workerWith({}));
    await expectError(res, 404, "not_found");
    await expectError(
      await workerWith({ FINCH_SANDBOX: "" })("/api/sandbox/connections", {
        headers: { authorization: `Bearer ${TEST_SECRETS.API_KEYS.split(",")[0]}` },
      }),
      404,
      "not_found",
    );
    const scoped = workerWith({ API_KEYS: SCOPED_API_KEYS });
    await expectError(await post({ ...ACME, provider_id: "gusto" }, scoped, SCOPED.reader), 404, "not_found");
    expect(finch().sent).toEqual([]);
    expect(
      (
        await sandbox("/api/sandbox/connections", {
          headers: { authorization: `Bearer ${TEST_SECRETS.API_KEYS.split(",")[0]}` },
        })
      ).status,
    ).toBe(405);
  });

  it("needs connections:write; a key limited to customers makes them only for its customers", async () => {
    const scoped = workerWith({ FINCH_SANDBOX: "provider", API_KEYS: SCOPED_API_KEYS });
    await expectError(await post({ ...ACME, provider_id: "gusto" }, scoped, SCOPED.reader), 403, "scope_missing");
    await expectError(
      await post({ customer_id: "globex", customer_name: "Globex", provider_id: "gusto" }, scoped, SCOPED.acme),
      403,
      "customer_not_allowed",
    );
    expect(finch().sent).toEqual([]);
    await expectStored([]);
    expect((await post({ ...ACME, provider_id: "gusto" }, scoped, SCOPED.acme)).status).toBe(201);
    expect((await kvNames()).filter((k) => k.startsWith("conn:"))).toHaveLength(1);
  });

  it("when Finch cannot be asked about the new connection, its sandbox answer is stored", async () => {
    finch().override("GET /introspect", () =>
      Response.json({ code: 500, name: "server_error", message: "down" }, { status: 500 }),
    );
    const res = await post({ ...ACME, provider_id: "finch_multi_entity" });
    expect(res.status, await res.clone().text()).toBe(201);
    const created = await res.json<any>();
    const first = finch().mock.connections.get(created.connection_id)?.entities[0]?.id;
    expect(created).toMatchObject({
      status: "connected",
      entity_ids: [first],
      entities: [{ id: first, status: null }],
    });
  });
});
