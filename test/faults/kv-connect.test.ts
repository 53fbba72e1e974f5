import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { expectError, expectNoSecrets, JSON_ACCEPT } from "../support/assert";
import { failKv, watchKvWrites } from "../support/faults";
import { finch } from "../support/finch";
import { clearKv, kvEntries, rawRecord, retiredRing, seedConnection } from "../support/fixtures";
import { callbackPath, connectCustomer, startFlow } from "../support/flow";
import { call, mintTicket } from "../support/http";
import { alarmLater } from "../support/writer";

/**
 * KV failures in the Connect flow. A read that fails is storage_unavailable (503, try again);
 * a stored value that does not parse is record_unreadable (500): neither is shown as a success,
 * neither changes what is stored. A write that fails after the writer committed the connection
 * is owed, and its alarm writes it (the token Finch issued is never lost). The next request is
 * served normally.
 */
beforeEach(clearKv);

const callback = (flow: Awaited<ReturnType<typeof startFlow>>, code: string) =>
  call(callbackPath({ code, state: flow.state }), { headers: { ...JSON_ACCEPT, cookie: flow.jar.header() } });

/** A connect flow for another customer, end to end: the isolate is still healthy. */
async function expectNextFlowWorks() {
  finch().override("POST /auth/token", (req) => finch().mock.fetch(req));
  const { res } = await connectCustomer(
    { sub: `next-${crypto.randomUUID()}`, name: "Next Co" },
    undefined,
    call,
    JSON_ACCEPT,
  );
  expect(res.status, await res.clone().text()).toBe(200);
}

describe("callback: KV fails after Finch issued the token", () => {
  it.each([
    ["every write fails", () => true],
    ["only the customer index write fails", (key: string) => key.startsWith("cust:")],
    ["only the record write fails", (key: string) => key.startsWith("conn:")],
  ])("%s: the connect succeeds, and the writer's alarm writes KV", async (_, which) => {
    await seedConnection({ customerId: "globex", customerName: "Globex" });
    const flow = await startFlow();
    const code = finch().mock.approve(flow.sessionId);
    const put = failKv("put", which);
    const res = await callback(flow, code);
    expect(res.status, await res.clone().text()).toBe(200);
    await expectNoSecrets(res, [code, flow.state]);
    expect(finch().calls("POST /auth/token")).toHaveLength(1);
    const { connection_id: id } = await res.json<{ connection_id: string }>();
    put.mockRestore();
    expect(await alarmLater(id)).toBe(true);
    expect(await rawRecord(id)).not.toBeNull();
    expect((await kvEntries()).filter((e) => e.name.startsWith("cust:") && e.name.endsWith(`:${id}`))).toHaveLength(1);
    await expectNextFlowWorks();
  });

  it("a read that fails: 503 storage_unavailable, no write attempted", async () => {
    const flow = await startFlow();
    const code = finch().mock.approve(flow.sessionId);
    const writes = watchKvWrites();
    const get = failKv("get");
    const res = await callback(flow, code);
    await expectError(res, 503, "storage_unavailable");
    expect(writes).toEqual([]);
    get.mockRestore();
    await expectNextFlowWorks();
  });
});

describe("re-authentication over a stored record that cannot be used", () => {
  const CORRUPT: [string, (id: string) => string][] = [
    ["not JSON", () => '{"v":1,"connection_id":'],
    ["JSON of the wrong shape", (id) => JSON.stringify({ v: 1, connection_id: id, customer_id: "acme" })],
    ["a record of another connection copied under this key", () => JSON.stringify({ v: 1, connection_id: "other" })],
  ];

  it.each(CORRUPT)("start, record %s: 500 record_unreadable, no Finch call", async (_, corrupt) => {
    const { connectionId } = await seedConnection();
    await env.CONNECTIONS.put(`conn:${connectionId}`, corrupt(connectionId));
    const before = await kvEntries();
    const ticket = await mintTicket({ connection_id: connectionId });
    const res = await call(`/connect/session?ticket=${ticket}`);
    await expectError(res, 500, "record_unreadable");
    expect(finch().sent).toHaveLength(0);
    expect(await kvEntries()).toEqual(before);
    await expectNextFlowWorks();
  });

  it.each(CORRUPT)("callback, record turned %s: 500 record_unreadable, left as found", async (_, corrupt) => {
    const { connectionId } = await seedConnection();
    const flow = await startFlow({ connection_id: connectionId });
    const code = finch().mock.approve(flow.sessionId);
    await env.CONNECTIONS.put(`conn:${connectionId}`, corrupt(connectionId));
    const before = await kvEntries();
    const res = await callback(flow, code);
    // Who owns the connection cannot be checked, so the new token is not stored over it.
    await expectError(res, 500, "record_unreadable");
    expect(await kvEntries()).toEqual(before);
    await expectNextFlowWorks();
  });

  it("start, KV read fails: 503 storage_unavailable, no Finch call", async () => {
    const { connectionId } = await seedConnection();
    const ticket = await mintTicket({ connection_id: connectionId });
    const get = failKv("get");
    const res = await call(`/connect/session?ticket=${ticket}`);
    await expectError(res, 503, "storage_unavailable");
    expect(finch().sent).toHaveLength(0);
    get.mockRestore();
    await expectNextFlowWorks();
  });

  it("a record sealed under a retired key is repaired: the new token is sealed under the active key", async () => {
    const { connectionId } = await seedConnection({ store: undefined });
    const stale = await retiredRing().seal("old-token-under-k0", `conn:${connectionId}`);
    const record = await rawRecord(connectionId);
    await env.CONNECTIONS.put(`conn:${connectionId}`, JSON.stringify({ ...record, token: stale }));
    const { res } = await connectCustomer({ connection_id: connectionId }, undefined, call, JSON_ACCEPT);
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await rawRecord(connectionId))?.token.kid).toBe("k2");
  });
});
