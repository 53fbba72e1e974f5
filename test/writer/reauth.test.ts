import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { expectError, expectStored, JSON_ACCEPT } from "../support/assert";
import { finch, type Override } from "../support/finch";
import { clearKv, fullRing, kvEntries, kvNames, ringOf, seedConnection, storedRecord } from "../support/fixtures";
import { callbackPath, connectCustomer, startFlow } from "../support/flow";
import { call, mintTicket, type TicketClaims } from "../support/http";
import { jsonLogLinesSince, logLines } from "../support/logs";
import { TEST_SECRETS, TEST_VARS } from "../support/secrets";

/**
 * Re-authentication overwrites the same connection with Finch's new token; ownership
 * checks refuse a connection that belongs to someone else, before or after the exchange.
 */
beforeEach(clearKv);

const currentToken = (id: string) => finch().mock.connections.get(id)?.accessToken ?? "";
const indexEntries = async (id: string) =>
  (await kvNames()).filter((k) => k.startsWith("cust:") && k.endsWith(`:${id}`));

/** Runs /connect with `claims`, approves, and calls back with the browser's cookie. */
async function walk(claims: TicketClaims, tokenOverride?: Override) {
  const flow = await startFlow(claims);
  const code = finch().mock.approve(flow.sessionId);
  if (tokenOverride) finch().override("POST /auth/token", tokenOverride);
  return call(callbackPath({ code, state: flow.state }), { headers: { ...JSON_ACCEPT, cookie: flow.jar.header() } });
}

describe("re-authentication", () => {
  it("after a connect, overwrites the same record with the new token and no second index entry", async () => {
    const first = await connectCustomer();
    const [id = ""] = [...finch().mock.connections.keys()];
    const before = await storedRecord(id);
    const oldToken = currentToken(id);

    const res = await walk({ connection_id: id });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(first.res.status).toBe(200);

    const sent = finch().calls("POST /connect/sessions/reauthenticate");
    expect(sent).toHaveLength(1);
    expect(sent[0].headers.get("authorization")).toBe(
      `Basic ${btoa(`${TEST_SECRETS.FINCH_CLIENT_ID}:${TEST_SECRETS.FINCH_CLIENT_SECRET}`)}`,
    );
    expect(sent[0].json()).toEqual({
      connection_id: id,
      products: TEST_VARS.FINCH_PRODUCTS.split(","),
      redirect_uri: TEST_VARS.FINCH_REDIRECT_URI,
      minutes_to_expire: 60,
    });

    const after = await storedRecord(id);
    const newToken = currentToken(id);
    expect(newToken).not.toBe(oldToken);
    expect(await fullRing().open(after.token, `conn:${id}`)).toBe(newToken);
    expect(after.token.iv).not.toBe(before.token.iv);
    expect(after.created_at).toBe(before.created_at);
    expect(after.status).toBe("connected");
    expect(await indexEntries(id)).toHaveLength(1);
    expect(finch().mock.connections.size).toBe(1);
  });

  it("keeps created_at, re-seals under the active key, and refreshes updated_at", async () => {
    const seeded = finch().mock.seedConnection({ customerId: "acme", customerName: "Acme Inc" });
    const id = seeded.connectionId;
    const createdAt = "2025-01-02T03:04:05.000Z";
    await seedConnection({ connectionId: id, token: seeded.accessToken, ring: ringOf("k1"), createdAt });

    const res = await walk({ connection_id: id });
    expect(res.status, await res.clone().text()).toBe(200);
    const after = await storedRecord(id);
    expect(after.created_at).toBe(createdAt);
    expect(after.updated_at).not.toBe(after.created_at);
    expect(after.token.kid).toBe("k2");
    expect(await fullRing().open(after.token, `conn:${id}`)).toBe(currentToken(id));
    expect(await indexEntries(id)).toHaveLength(1);
  });

  it("of another customer's connection is refused before any upstream call", async () => {
    const seeded = finch().mock.seedConnection({ customerId: "globex", customerName: "Globex" });
    await seedConnection({ connectionId: seeded.connectionId, token: seeded.accessToken, customerId: "globex" });
    const stored = await kvEntries();

    const ticket = await mintTicket({ sub: "acme", connection_id: seeded.connectionId });
    const mark = logLines().length;
    await expectError(await call(`/connect?ticket=${ticket}`, { headers: JSON_ACCEPT }), 403, "customer_mismatch");
    expect(finch().sent).toEqual([]);
    expect(await kvEntries()).toEqual(stored);
    // Logged as a security event, like every customer_mismatch (lib/trace.ts).
    const line = jsonLogLinesSince(mark).find((l) => l.msg === "request");
    expect(line?.security_event).toBe("customer_mismatch");
  });

  it("answered with another connection than requested is refused: connection_mismatch", async () => {
    const seeded = finch().mock.seedConnection({ customerId: "acme", customerName: "Acme Inc" });
    await seedConnection({ connectionId: seeded.connectionId, token: seeded.accessToken });
    const stored = await kvEntries();
    const res = await walk({ connection_id: seeded.connectionId }, async (req) => {
      const body = (await (await finch().mock.fetch(req)).json()) as Record<string, unknown>;
      return Response.json({ ...body, connection_id: "9f9f9f9f-0000-4000-8000-000000000000" });
    });
    await expectError(res, 403, "connection_mismatch");
    expect(await kvEntries()).toEqual(stored);
  });
});

describe("customer checks on the callback", () => {
  it("a token whose customer_id differs from the ticket's sub is refused and nothing is stored", async () => {
    const res = await walk({ sub: "acme" }, async (req) => {
      const body = (await (await finch().mock.fetch(req)).json()) as Record<string, unknown>;
      return Response.json({ ...body, customer_id: "globex" });
    });
    await expectError(res, 403, "customer_mismatch");
    expect(finch().calls("POST /auth/token")).toHaveLength(1);
    await expectStored([]);
  });

  it("a connection already stored for another customer is refused and left untouched", async () => {
    const takenId = "7e7e7e7e-1111-4222-8333-444455556666";
    await seedConnection({ connectionId: takenId, token: "globex-token-0123456789", customerId: "globex" });
    const stored = await kvEntries();
    const res = await walk({ sub: "acme" }, async (req) => {
      const body = (await (await finch().mock.fetch(req)).json()) as Record<string, unknown>;
      return Response.json({ ...body, connection_id: takenId, customer_id: null });
    });
    await expectError(res, 403, "customer_mismatch");
    expect(await kvEntries()).toEqual(stored);
  });

  it("an existing record that cannot be read is reported as record_unreadable and left untouched", async () => {
    const brokenId = "5d5d5d5d-1111-4222-8333-444455556666";
    await env.CONNECTIONS.put(`conn:${brokenId}`, "{ this is not a record");
    const res = await walk({ sub: "acme" }, async (req) => {
      const body = (await (await finch().mock.fetch(req)).json()) as Record<string, unknown>;
      return Response.json({ ...body, connection_id: brokenId });
    });
    await expectError(res, 500, "record_unreadable");
    expect(await env.CONNECTIONS.get(`conn:${brokenId}`)).toBe("{ this is not a record");
    expect(await kvNames()).toEqual([`conn:${brokenId}`]);
  });

  it("a re-authentication ticket naming an unreadable record is refused: record_unreadable", async () => {
    const brokenId = "5d5d5d5d-1111-4222-8333-444455556666";
    await env.CONNECTIONS.put(`conn:${brokenId}`, JSON.stringify({ v: 1, connection_id: brokenId }));
    const ticket = await mintTicket({ connection_id: brokenId });
    await expectError(await call(`/connect?ticket=${ticket}`, { headers: JSON_ACCEPT }), 500, "record_unreadable");
    expect(finch().sent).toEqual([]);
  });
});
