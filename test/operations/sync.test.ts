import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { AppEvent } from "../../src/app-events/model";
import { expectError, expectNoSecrets } from "../support/assert";
import { watchQueue } from "../support/events";
import { finch } from "../support/finch";
import { clearKv, rawRecord, seedConnection } from "../support/fixtures";
import { api } from "../support/http";
import { scopedWorker } from "../support/scoped-keys";
import { accountUpdated, deliver, outcome, signed } from "../support/webhooks";

/**
 * Syncs on demand (issue 21): POST /api/connections/:id/sync starts Finch's data_sync_all with
 * the connection's token (inside its writer), answers 202 with Finch's job and quota, and the
 * job's completion reaches the app as connection.data_synced once Finch confirms it.
 */
beforeEach(clearKv);

const sync = (id: string, via = api) => via(`/api/connections/${id}/sync`, { method: "POST" });

describe("POST /api/connections/:id/sync", () => {
  it("starts data_sync_all with the connection's token and answers 202 with the job and Finch's quota", async () => {
    const { connectionId: id, accessToken } = await seedConnection();
    const before = await rawRecord(id);
    const res = await sync(id);
    expect(res.status, await res.clone().text()).toBe(202);
    await expectNoSecrets(res);
    const body = await res.json<any>();
    // Finch's quota as it says it: this was the hour's one forced refresh, the next from retry_at.
    expect(body).toEqual({
      job_id: expect.any(String),
      allowed_refreshes: 1,
      remaining_refreshes: 0,
      retry_at: expect.any(String),
    });
    const [sent] = finch().calls("POST /jobs/automated");
    expect(sent?.json()).toEqual({ type: "data_sync_all" });
    expect(sent?.headers.get("authorization")).toBe(`Bearer ${accessToken}`);
    // Starting a sync stores nothing.
    expect(await rawRecord(id)).toEqual(before);
    // While it runs, Finch answers the same job (and uses no refresh).
    const again = await (await sync(id)).json<any>();
    expect(again.job_id).toBe(body.job_id);
  });

  it("over Finch's hourly limit: 429 finch_sync_limited with Retry-After from retry_at", async () => {
    const { connectionId: id } = await seedConnection();
    expect((await sync(id)).status).toBe(202);
    finch().mock.completeJob(id);
    const res = await sync(id);
    await expectError(res, 429, "finch_sync_limited");
    const wait = Number(res.headers.get("retry-after"));
    expect(wait).toBeGreaterThan(3500);
    expect(wait).toBeLessThanOrEqual(3600);
    // An hour later Finch allows one again.
    finch().mock.advanceClock(3_600_000);
    expect((await sync(id)).status).toBe(202);
  });

  it("a disconnected connection: 409 connection_disconnected; one never held: 404; a bad id: 400; Finch is not asked", async () => {
    const { connectionId: id } = await seedConnection();
    expect((await api(`/api/connections/${id}`, { method: "DELETE" })).status).toBe(200);
    await expectError(await sync(id), 409, "connection_disconnected");
    await expectError(await sync("0f0f0f0f-0000-4000-8000-00000000beef"), 404, "connection_not_found");
    await expectError(await sync("not an id"), 400, "param_invalid");
    expect(finch().calls("POST /jobs/automated")).toEqual([]);
    expect((await api(`/api/connections/${id}/sync`)).status).toBe(405);
  });

  it("needs connections:write, and a key limited to customers only reaches theirs", async () => {
    const acme = await seedConnection({ customerId: "acme" });
    const other = await seedConnection({ customerId: "globex" });
    const as = scopedWorker();
    await expectError(await sync(acme.connectionId, as("reader")), 403, "scope_missing");
    await expectError(await sync(other.connectionId, as("acme")), 404, "connection_not_found");
    expect(finch().calls("POST /jobs/automated")).toEqual([]);
    expect((await sync(acme.connectionId, as("acme"))).status).toBe(202);
  });

  it("its completion reaches the app as connection.data_synced, confirmed with Finch, with Finch's time", async () => {
    const { connectionId: id } = await seedConnection();
    const q = watchQueue(env.APP_EVENTS as Queue<unknown>, "pass");
    const { job_id } = await (await sync(id)).json<any>();
    const done = finch().mock.completeJob(id);
    expect(done.jobId).toBe(job_id);
    const body = { ...accountUpdated(id, "x"), event_type: "job.data_sync_all.completed", data: { job_id } };
    expect(await outcome(deliver(await signed(body)))).toBe("applied");
    expect(finch().calls(`GET /jobs/automated/${job_id}`)).toHaveLength(1);
    const stored = await rawRecord(id);
    expect(q.bodies() as AppEvent[]).toMatchObject([
      {
        type: "connection.data_synced",
        connection_id: id,
        data: { job_type: "data_sync_all", job_id, completed_at: stored?.last_data_sync_all_at },
      },
    ]);
  });
});
