import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { AppEvent } from "../../src/app-events/model";
import { expectError, JSON_ACCEPT } from "../support/assert";
import { failKv, landKvThenFail } from "../support/faults";
import { finch } from "../support/finch";
import { clearKv, fullRing, kvNames, rawRecord, rememberToken, storedRecord } from "../support/fixtures";
import { connectCustomer } from "../support/flow";
import { api } from "../support/http";
import { markSecret } from "../support/logs";
import { alarmLater, owedKeys, resetWriterOnKvWrite } from "../support/writer";

/**
 * The writer's own storage is the commit point (docs/consistency.md): each case of issue 17
 * that lost a token, a listing entry or an event when KV failed, reported a failure after
 * landing, timed out, or the writer was reset between two awaits. Every case here failed when
 * KV was the commit point; now the change is kept, told once, and KV is repaired.
 */
beforeEach(clearKv);

const currentToken = (id: string) => finch().mock.connections.get(id)?.accessToken ?? "";
const kvToken = async (id: string) => fullRing().open((await storedRecord(id)).token, `conn:${id}`);
const isRecord = (id: string) => (key: string) => key === `conn:${id}`;
const isIndex = (key: string) => key.startsWith("cust:");

function appQueue() {
  const sendBatch = vi.spyOn(env.APP_EVENTS as Queue<unknown>, "sendBatch");
  return (): AppEvent[] => sendBatch.mock.calls.flatMap(([batch]) => [...batch].map((m) => m.body as AppEvent));
}

async function connected(customer = "acme"): Promise<string> {
  const { res } = await connectCustomer({ sub: customer }, undefined, undefined, JSON_ACCEPT);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json<{ connection_id: string }>()).connection_id;
}

async function reauthenticate(id: string): Promise<Response> {
  const { res } = await connectCustomer({ sub: "acme", connection_id: id }, undefined, undefined, JSON_ACCEPT);
  return res;
}

/** Finch's exchange names `id` (a connection Finch already knows) with a fresh token. */
function exchangeFor(id: string): string {
  const token = `fresh_${crypto.randomUUID()}`;
  markSecret("an access token", token);
  rememberToken(token);
  finch().override("POST /auth/token", () =>
    Response.json({ access_token: token, connection_id: id, customer_id: "acme", customer_name: "Acme Inc" }),
  );
  finch().override("GET /introspect", (req) =>
    req.headers.get("authorization") === `Bearer ${token}`
      ? Response.json({ connection_id: id, connection_status: { status: "connected" } })
      : Response.json({ code: 401, name: "authentication_error", message: "no" }, { status: 401 }),
  );
  return token;
}

const listing = async (customer = "acme") =>
  (await (await api(`/api/connections?customer_id=${customer}`)).json<{ connections: { connection_id: string }[] }>())
    .connections;

describe("1. a re-authentication whose KV write fails", () => {
  it("is kept by the writer: the token endpoint and the proxy use the new token, and KV is repaired", async () => {
    const id = await connected();
    const oldToken = currentToken(id);
    const put = failKv("put", isRecord(id));
    const res = await reauthenticate(id);
    expect(res.status, await res.clone().text()).toBe(200);
    const newToken = currentToken(id);
    expect(newToken).not.toBe(oldToken);
    expect(await kvToken(id)).toBe(oldToken);
    put.mockRestore();

    const token = await api(`/api/connections/${id}/token`, { method: "POST" });
    expect((await token.json<{ access_token: string }>()).access_token).toBe(newToken);
    // KV still serves the revoked token here: Finch refuses it, the writer has the new one.
    expect((await api(`/api/connections/${id}/finch/employer/company`)).status).toBe(200);
    expect(await owedKeys(id)).toEqual([`conn:${id}`]);
    expect(await alarmLater(id)).toBe(true);
    expect(await kvToken(id)).toBe(newToken);
    expect(await owedKeys(id)).toEqual([]);
  });
});

describe("2. a re-authentication whose KV write lands but reports failure, or whose writer is reset after the commit", () => {
  it("lands but reports failure: the writer keeps the new token, and its next change never writes the old one back", async () => {
    const id = await connected();
    const landed = landKvThenFail("put", isRecord(id));
    expect((await reauthenticate(id)).status).toBe(200);
    landed.mockRestore();
    const newToken = currentToken(id);
    const token = await api(`/api/connections/${id}/token`, { method: "POST" });
    expect((await token.json<{ access_token: string }>()).access_token).toBe(newToken);
    // The writer's next change (Finch reports a new status) writes its own record: the new token.
    finch().mock.setConnectionStatus(id, "reauth");
    expect((await api(`/api/connections/${id}/introspect`, { method: "POST" })).status).toBe(200);
    expect(await kvToken(id)).toBe(newToken);
    expect((await storedRecord(id)).status).toBe("reauth");
  });

  it("reset after the commit: the callback still succeeds, the token is the new one, KV catches up", async () => {
    const id = await connected();
    const reset = await resetWriterOnKvWrite(id, isRecord(id));
    const res = await reauthenticate(id);
    expect(reset.fired()).toBe(true);
    expect(res.status, await res.clone().text()).toBe(200);
    reset.spy.mockRestore();
    const newToken = currentToken(id);
    const token = await api(`/api/connections/${id}/token`, { method: "POST" });
    expect((await token.json<{ access_token: string }>()).access_token).toBe(newToken);
    await alarmLater(id);
    expect(await kvToken(id)).toBe(newToken);
    expect(await owedKeys(id)).toEqual([]);
  });
});

describe("3. a first connect whose record write times out after landing", () => {
  it("answers success, is listed for its customer, and is told to the app", async () => {
    const events = appQueue();
    const id = `c-${crypto.randomUUID()}`;
    exchangeFor(id);
    const timedOut = landKvThenFail("put", isRecord(id), { hang: true });
    const { res } = await connectCustomer({ sub: "acme" }, undefined, undefined, JSON_ACCEPT);
    expect(res.status, await res.clone().text()).toBe(200);
    timedOut.mockRestore();
    expect((await listing()).map((c) => c.connection_id)).toEqual([id]);
    expect(
      events()
        .filter((e) => e.connection_id === id)
        .map((e) => e.type),
    ).toEqual(["connection.created"]);
  }, 20_000);
});

describe("4. a first connect whose writer is reset after the commit", () => {
  it("is stored once, in KV and the listing after the repair, with exactly one connection.created", async () => {
    const events = appQueue();
    const id = `c-${crypto.randomUUID()}`;
    exchangeFor(id);
    const reset = await resetWriterOnKvWrite(id, isRecord(id));
    const { res } = await connectCustomer({ sub: "acme" }, undefined, undefined, JSON_ACCEPT);
    expect(reset.fired()).toBe(true);
    expect(res.status, await res.clone().text()).toBe(200);
    reset.spy.mockRestore();
    await alarmLater(id);
    expect(await rawRecord(id)).not.toBeNull();
    expect((await listing()).map((c) => c.connection_id)).toEqual([id]);
    expect(
      events()
        .filter((e) => e.connection_id === id)
        .map((e) => e.type),
    ).toEqual(["connection.created"]);
  });
});

describe("5. a disconnect whose KV delete fails", () => {
  it("answers success with the tombstone committed, and the alarm removes the record and its index entry", async () => {
    const id = await connected();
    const del = failKv("delete");
    const res = await api(`/api/connections/${id}`, { method: "DELETE" });
    expect(res.status, await res.clone().text()).toBe(200);
    del.mockRestore();
    expect(await owedKeys(id)).toHaveLength(2);
    // The writer holds the tombstone: nothing it is asked brings the connection back.
    await expectError(await api(`/api/connections/${id}/token`, { method: "POST" }), 404, "connection_not_found");
    expect(await alarmLater(id)).toBe(true);
    expect(await kvNames()).toEqual([]);
    await expectError(await api(`/api/connections/${id}`), 404, "connection_not_found");
    expect(await listing()).toEqual([]);
    expect(finch().calls("POST /disconnect")).toHaveLength(1);
  });
});

describe("6. an index delete that fails on disconnect, then a reconnect of the same id", () => {
  it("lists the connection once, and the alarm leaves one index entry", async () => {
    const id = await connected();
    const del = failKv("delete", isIndex);
    expect((await api(`/api/connections/${id}`, { method: "DELETE" })).status).toBe(200);
    del.mockRestore();
    exchangeFor(id);
    await connected();
    expect((await listing()).map((c) => c.connection_id)).toEqual([id]);
    await alarmLater(id);
    expect(await kvNames("cust:")).toHaveLength(1);
    expect((await listing()).map((c) => c.connection_id)).toEqual([id]);
  });
});

describe("7. a read where KV has cached a miss", () => {
  it("GET and RPC getConnection answer from the writer; a disconnected connection stays not found", async () => {
    const id = await connected();
    const original = env.CONNECTIONS.get.bind(env.CONNECTIONS);
    // This location's KV still serves the miss it cached before the connection existed.
    const miss = vi
      .spyOn(env.CONNECTIONS, "get")
      .mockImplementation(((key: string, ...rest: unknown[]) =>
        key === `conn:${id}`
          ? Promise.resolve(null)
          : (original as (...a: unknown[]) => unknown)(key, ...rest)) as KVNamespace["get"]);
    const res = await api(`/api/connections/${id}`);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ connection_id: id, customer_id: "acme", gen: 1 });
    // RPC reaches the same operation, the way a service binding does.
    expect(await exports.FinchConnections.getConnection(id)).toMatchObject({ connection_id: id, gen: 1 });
    miss.mockRestore();

    expect((await api(`/api/connections/${id}`, { method: "DELETE" })).status).toBe(200);
    await expectError(await api(`/api/connections/${id}`), 404, "connection_not_found");
    const refused = await exports.FinchConnections.getConnection(id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(refused)).toMatch(/connection_not_found/);
  });
});
