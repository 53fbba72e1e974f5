import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMockFinch } from "../../mock-finch/src/mock";
import { getConfig } from "../../src/config/index";
import { ConnectionStore } from "../../src/storage/connection-store";
import { finch } from "../support/finch";
import { clearKv, kvNames, storedRecord as record } from "../support/fixtures";
import { connectCustomer } from "../support/flow";
import { call } from "../support/http";
import { CONNECT_ORIGIN, TEST_SECRETS, WORKER_ORIGIN } from "../support/secrets";
import { accountUpdated, deliver, nowS, outcome, signed } from "../support/webhooks";

/**
 * The connection lifecycle around webhooks, end to end through the Worker and the mock
 * Finch: connected -> Finch says reauth -> the employer re-authenticates with a ticket
 * naming the connection -> connected with a new token, and late or replayed events from
 * before the re-authentication change nothing.
 */
// In the future on purpose: Durable Object alarms run on the real clock, and one set for a faked
// past time (the ticket ledger forgets a ticket after its expiry) would fire at once, mid-flow.
const T0 = Date.parse("2036-06-01T09:00:00Z");
const at = (seconds: number) => vi.setSystemTime(T0 + seconds * 1000);

/** The app's view: `GET /api/connections?...`, the ids listed. */
async function listed(query: string): Promise<string[]> {
  const res = await call(`/api/connections?${query}`, {
    headers: { authorization: `Bearer ${TEST_SECRETS.API_KEYS.split(",")[0]}` },
  });
  expect(res.status).toBe(200);
  return (await res.json<{ connections: { connection_id: string }[] }>()).connections.map((c) => c.connection_id);
}

async function storedToken(connectionId: string): Promise<string> {
  const config = getConfig(env);
  const store = new ConnectionStore(config.kv(), config.keyRing());
  return store.token(await store.require(connectionId));
}

describe("re-authentication driven by webhooks", () => {
  beforeEach(async () => {
    await clearKv();
    vi.useFakeTimers({ toFake: ["Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reauth event -> reauth ticket -> callback -> connected; older events do not undo it", async () => {
    at(0);
    const first = await connectCustomer({ sub: "acme" });
    expect(first.res.status).toBe(200);
    const [key] = (await kvNames()).filter((k) => k.startsWith("conn:"));
    const id = (key as string).slice("conn:".length);
    const oldToken = await storedToken(id);

    // Finch notices the credentials stopped working.
    at(60);
    finch().mock.setConnectionStatus(id, "reauth");
    const reauthEvent = await signed(accountUpdated(id, "reauth"));
    expect(await outcome(deliver(reauthEvent))).toBe("applied");
    expect(await record(id)).toMatchObject({ status: "reauth", status_at: new Date(T0 + 60_000).toISOString() });
    // The app finds the connections that need attention.
    expect(await listed("status=reauth")).toEqual([id]);
    expect(await listed("customer_id=acme&status=reauth")).toEqual([id]);
    expect(await listed("status=connected")).toEqual([]);

    // The app sends the employer through Connect again with a ticket naming the connection.
    at(120);
    const again = await connectCustomer({ sub: "acme", connection_id: id });
    expect(again.res.status).toBe(200);
    expect(finch().calls("POST /connect/sessions/reauthenticate")).toHaveLength(1);
    expect(finch().calls("POST /connect/sessions/reauthenticate")[0]?.json().connection_id).toBe(id);
    const repaired = await record(id);
    expect(repaired).toMatchObject({ status: "connected", status_at: new Date(T0 + 120_000).toISOString() });
    const newToken = await storedToken(id);
    expect(newToken).not.toBe(oldToken);
    expect(newToken).toBe(finch().mock.connections.get(id)?.accessToken);
    expect((await kvNames()).filter((k) => k.startsWith("cust:"))).toHaveLength(1);
    expect(await listed("status=reauth")).toEqual([]);
    expect(await listed("customer_id=acme&status=connected")).toEqual([id]);

    // Late deliveries from before the re-authentication: the same event, and a retry of the
    // old status re-signed with a fresh timestamp, as Finch re-signs every retry. Each is a
    // prompt: Finch says connected, so neither touches the repaired connection.
    at(180);
    expect(await outcome(deliver(reauthEvent))).toBe("duplicate");
    const replay = await signed(accountUpdated(id, "reauth"), { timestamp: nowS() });
    expect(await outcome(deliver(replay))).toBe("unchanged");
    expect(await record(id)).toMatchObject({ status: "connected", status_at: new Date(T0 + 120_000).toISOString() });
    expect(await storedToken(id)).toBe(newToken);
    // The reauth event's prompt, the writer's check of the re-authenticated token, the replay's prompt.
    expect(finch().calls("GET /introspect")).toHaveLength(3);
  });
});

describe("the mock Finch's webhook sender (what `npm start` uses)", () => {
  it("delivers a webhook the Worker verifies, through POST /_mock/webhooks/send", async () => {
    await clearKv();
    const delivered: Request[] = [];
    const mock = createMockFinch({
      clientId: TEST_SECRETS.FINCH_CLIENT_ID,
      clientSecret: TEST_SECRETS.FINCH_CLIENT_SECRET,
      connectOrigin: CONNECT_ORIGIN,
      webhook: {
        secret: TEST_SECRETS.WEBHOOK_SECRETS,
        targetUrl: `${WORKER_ORIGIN}/webhooks/finch`,
        fetch: (request) => {
          delivered.push(request.clone());
          return exports.default.fetch(request);
        },
      },
    });
    const { connectionId } = mock.seedConnection({ customerId: "acme", customerName: "Acme Inc" });
    mock.setConnectionStatus(connectionId, "error_permissions");
    const res = await mock.fetch(
      new Request("http://127.0.0.1:8788/_mock/webhooks/send", {
        method: "POST",
        body: JSON.stringify({ connection_id: connectionId }),
      }),
    );
    const answer = await res.json<{ status: number; body: string; event_id: string }>();
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({
      received: true,
      event_id: answer.event_id,
      outcome: "unknown_connection",
    });
    expect(delivered).toHaveLength(1);
    expect(await delivered[0]?.json()).toMatchObject({
      connection_id: connectionId,
      event_type: "account.updated",
      data: { status: "error_permissions" },
    });
    // Signed with a secret the Worker does not have: refused, as a forged delivery would be.
    const forged = createMockFinch({
      clientId: "x",
      clientSecret: "y",
      webhook: { secret: btoa("an unrelated 32-byte secret!!!!!"), targetUrl: `${WORKER_ORIGIN}/webhooks/finch` },
    });
    const seeded = forged.seedConnection({ customerId: "acme", customerName: "Acme Inc" });
    const refused = await exports.default.fetch(await forged.webhookRequest({ connection_id: seeded.connectionId }));
    expect(refused.status).toBe(401);
    expect(await kvNames()).toEqual([]);
  });
});
