import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { AppEvent } from "../../src/app-events/model";
import { watchQueue } from "../support/events";
import { finch } from "../support/finch";
import { clearKv, rawRecord, seedConnection } from "../support/fixtures";
import { api } from "../support/http";
import { accountUpdated, deliver, outcome, signed, watchBindings } from "../support/webhooks";

/**
 * Job webhooks are prompts (issue 18): a signed `job.*` webhook names a job, and the writer asks
 * Finch about it (GET /jobs/automated/{job_id}, or introspect for an initial sync) with the
 * connection's token before it records anything. A forged or wrong one (made with a leaked
 * WEBHOOK_SECRETS) is claimed and records nothing: no readiness, no `connection.data_synced`.
 */
beforeEach(clearKv);

const JOB_ID = "9a1b2c3d-0000-4000-8000-00000000f00d";

function jobWebhook(id: string, jobType: string, jobId: string, eventId?: string) {
  const type = `job.${jobType}.${jobType === "data_sync_all" ? "completed" : "succeeded"}`;
  const body = {
    ...accountUpdated(id, "x"),
    event_type: type,
    data: { job_id: jobId, job_url: `https://api.tryfinch.com/jobs/automated/${jobId}` },
  };
  return signed(body, eventId ? { eventId } : {});
}

const appEvents = () => {
  const q = watchQueue(env.APP_EVENTS as Queue<unknown>, "pass");
  return () => q.bodies() as AppEvent[];
};

/** A stored connection, live at the mock Finch, whose writer already holds it. */
async function held() {
  const seeded = await seedConnection();
  expect((await api(`/api/connections/${seeded.connectionId}/introspect`, { method: "POST" })).status).toBe(200);
  return { ...seeded, before: await rawRecord(seeded.connectionId) };
}

describe("a job webhook Finch does not confirm records nothing", () => {
  it("a forged data_sync_all (a job Finch does not know): asked of Finch, claimed, nothing stored or told", async () => {
    const { connectionId: id, accessToken, before } = await held();
    const events = appEvents();
    const forged = await jobWebhook(id, "data_sync_all", JOB_ID);
    expect(await outcome(deliver(forged))).toBe("unverified");
    const [asked] = finch().calls(`GET /jobs/automated/${JOB_ID}`);
    expect(asked?.headers.get("authorization")).toBe(`Bearer ${accessToken}`);
    expect(await rawRecord(id)).toEqual(before);
    expect(events()).toEqual([]);
    // Finch's redelivery of the same id is a duplicate: Finch is not asked again.
    expect(await outcome(deliver(forged))).toBe("duplicate");
    expect(finch().calls(`GET /jobs/automated/${JOB_ID}`)).toHaveLength(1);
  });

  it("another connection's job, a job still running, and one that ended in error are not recorded", async () => {
    const { connectionId: id, before } = await held();
    const other = await seedConnection({ customerId: "globex" });
    const events = appEvents();
    // Another connection's finished job: Finch answers 404 for this connection's token.
    expect((await api(`/api/connections/${other.connectionId}/sync`, { method: "POST" })).status).toBe(202);
    const theirs = finch().mock.completeJob(other.connectionId);
    expect(await outcome(deliver(await jobWebhook(id, "data_sync_all", theirs.jobId)))).toBe("unverified");
    // This connection's job, still pending at Finch.
    const started = await (await api(`/api/connections/${id}/sync`, { method: "POST" })).json<any>();
    expect(await outcome(deliver(await jobWebhook(id, "data_sync_all", started.job_id)))).toBe("unverified");
    // Ended in error (Finch's sandbox configuration decides how jobs end).
    const token = finch().mock.connections.get(id)?.accessToken as string;
    const configure = new Request("https://api.tryfinch.com/sandbox/jobs/configuration", {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "data_sync_all", completion_status: "error" }),
    });
    expect((await finch().mock.fetch(configure)).status).toBe(200);
    const failed = finch().mock.completeJob(id);
    expect(failed.status).toBe("error");
    expect(await outcome(deliver(await jobWebhook(id, "data_sync_all", failed.jobId)))).toBe("unverified");
    expect(await rawRecord(id)).toEqual(before);
    expect(events()).toEqual([]);
  });

  it("a job id that cannot be one of Finch's is not recorded, and never reaches a Finch path", async () => {
    const { connectionId: id, before } = await held();
    expect(await outcome(deliver(await jobWebhook(id, "data_sync_all", "../../disconnect")))).toBe("unverified");
    expect(finch().sent.filter((r) => r.path.startsWith("/jobs") || r.path === "/disconnect")).toEqual([]);
    expect(await rawRecord(id)).toEqual(before);
  });

  it("an initial sync while Finch reports no successful sync yet is not recorded", async () => {
    const { connectionId: id, before } = await held();
    const mock = finch().mock.connections.get(id) as { lastSuccessfulSync: string | null };
    mock.lastSuccessfulSync = null;
    const events = appEvents();
    for (const jobType of ["initial_data_sync_org", "initial_data_sync_payroll"]) {
      expect(await outcome(deliver(await jobWebhook(id, jobType, JOB_ID)))).toBe("unverified");
    }
    expect(finch().calls("GET /introspect").length).toBeGreaterThanOrEqual(3);
    expect(await rawRecord(id)).toEqual(before);
    expect(events()).toEqual([]);
  });

  it("a token Finch refuses confirms nothing: claimed, nothing recorded", async () => {
    const { connectionId: id, accessToken, before } = await held();
    const revoke = new Request("https://api.tryfinch.com/disconnect", {
      method: "POST",
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect((await finch().mock.fetch(revoke)).status).toBe(200);
    const webhook = await jobWebhook(id, "initial_data_sync_org", JOB_ID);
    expect(await outcome(deliver(webhook))).toBe("unverified");
    expect(await outcome(deliver(webhook))).toBe("duplicate");
    expect(await rawRecord(id)).toEqual(before);
  });

  it("the raw message still goes to the EVENTS fan-out as received; only the lifecycle event waits for Finch", async () => {
    const { connectionId: id } = await held();
    const watch = watchBindings();
    const forged = await jobWebhook(id, "data_sync_all", JOB_ID);
    expect(await outcome(deliver(forged))).toBe("unverified");
    expect(watch.messages()).toMatchObject([{ event_id: forged.eventId, event_type: "job.data_sync_all.completed" }]);
  });
});

describe("a job webhook Finch confirms", () => {
  it("when Finch cannot be asked, nothing is claimed: 5xx, and Finch's redelivery records it", async () => {
    const { connectionId: id } = await held();
    expect((await api(`/api/connections/${id}/sync`, { method: "POST" })).status).toBe(202);
    const job = finch().mock.completeJob(id);
    const webhook = await jobWebhook(id, "data_sync_all", job.jobId);
    finch().override(`GET /jobs/automated/${job.jobId}`, (req, n) =>
      n <= 3
        ? Response.json({ code: 503, name: "server_error", message: "down" }, { status: 503 })
        : finch().mock.fetch(req),
    );
    const events = appEvents();
    const first = await deliver(webhook);
    expect(first.status).toBeGreaterThanOrEqual(500);
    expect(events()).toEqual([]);
    expect(await outcome(deliver(webhook))).toBe("applied");
    expect(events()).toMatchObject([{ type: "connection.data_synced", data: { job_id: job.jobId } }]);
  });

  it("records Finch's completion time, not the webhook's arrival", async () => {
    const { connectionId: id } = await held();
    expect((await api(`/api/connections/${id}/sync`, { method: "POST" })).status).toBe(202);
    const job = finch().mock.completeJob(id);
    const completedAt = (await (await api(`/api/connections/${id}/finch/jobs/automated/${job.jobId}`)).json<any>())
      .completed_at as string;
    // Later: the webhook arrives a minute after Finch finished.
    finch().mock.advanceClock(60_000);
    expect(await outcome(deliver(await jobWebhook(id, "data_sync_all", job.jobId)))).toBe("applied");
    expect((await rawRecord(id))?.last_data_sync_all_at).toBe(completedAt);
  });
});
