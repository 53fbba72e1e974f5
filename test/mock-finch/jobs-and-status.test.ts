import { describe, expect, it } from "vitest";
import { createMockFinch } from "../../mock-finch/src/mock";
import { jobCompletion } from "../../src/app-events/model";
import { TEST_SECRETS } from "../support/secrets";
import { verifyWebhook } from "../support/webhooks";

/**
 * The mock Finch's offline helpers for lifecycle events (what `npm start` uses): it sends
 * Finch-signed job events with the SDK's event type names, and moves a connection from
 * pending to connected with the account.updated webhook Finch would send.
 */
function mockWithInbox() {
  const inbox: Request[] = [];
  const mock = createMockFinch({
    clientId: TEST_SECRETS.FINCH_CLIENT_ID,
    clientSecret: TEST_SECRETS.FINCH_CLIENT_SECRET,
    webhook: {
      secret: TEST_SECRETS.WEBHOOK_SECRETS,
      targetUrl: "https://connect.example.com/webhooks/finch",
      fetch: async (request) => {
        inbox.push(request);
        return Response.json({ received: true });
      },
    },
  });
  const admin = (path: string, body: unknown) =>
    mock.fetch(new Request(`http://127.0.0.1:8788${path}`, { method: "POST", body: JSON.stringify(body) }));
  return { mock, inbox, admin };
}

describe("POST /_mock/connections/:id/jobs", () => {
  it.each([
    ["initial_data_sync_org", "job.initial_data_sync_org.succeeded"],
    ["initial_data_sync_payroll", "job.initial_data_sync_payroll.succeeded"],
    ["data_sync_all", "job.data_sync_all.completed"],
  ])("sends a signed %s job event that the edge reads as data_synced", async (jobType, eventType) => {
    const { mock, inbox, admin } = mockWithInbox();
    const { connectionId } = mock.seedConnection({ customerId: "acme", customerName: "Acme Inc" });
    const res = await admin(`/_mock/connections/${connectionId}/jobs`, { job_type: jobType });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ event_type: eventType, status: 200 });
    const [request] = inbox;
    const body = await request!.clone().text();
    const secrets = [{ id: "s", key: Uint8Array.from(atob(TEST_SECRETS.WEBHOOK_SECRETS), (c) => c.charCodeAt(0)) }];
    await expect(verifyWebhook(body, request!.headers, secrets)).resolves.toMatchObject({ body });
    const event = JSON.parse(body);
    expect(event).toMatchObject({ connection_id: connectionId, event_type: eventType });
    expect(jobCompletion(event.event_type, event.data)).toEqual({ job_type: jobType, job_id: event.data.job_id });
  });

  it("refuses an unknown job type or connection", async () => {
    const { mock, inbox, admin } = mockWithInbox();
    const { connectionId } = mock.seedConnection({ customerId: "acme", customerName: "Acme Inc" });
    expect((await admin(`/_mock/connections/${connectionId}/jobs`, { job_type: "benefit_create" })).status).toBe(400);
    expect((await admin("/_mock/connections/nope/jobs", { job_type: "data_sync_all" })).status).toBe(404);
    expect(inbox).toEqual([]);
  });
});

describe("POST /_mock/connections/:id/status with webhook: true", () => {
  it("moves a connection from pending to connected and sends account.updated each time", async () => {
    const { mock, inbox, admin } = mockWithInbox();
    const { connectionId } = mock.seedConnection({ customerId: "acme", customerName: "Acme Inc" });
    for (const status of ["pending", "connected"]) {
      const res = await admin(`/_mock/connections/${connectionId}/status`, { status, webhook: true });
      expect(await res.json()).toMatchObject({ status, webhook: { status: 200 } });
    }
    const sent = await Promise.all(inbox.map((r) => r.json<any>()));
    expect(sent.map((e) => [e.event_type, e.data.status])).toEqual([
      ["account.updated", "pending"],
      ["account.updated", "connected"],
    ]);
    expect(mock.connections.get(connectionId)?.status).toBe("connected");
    await admin(`/_mock/connections/${connectionId}/status`, { status: "reauth" });
    expect(inbox).toHaveLength(2);
  });
});
