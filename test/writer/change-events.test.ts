import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AppEvent } from "../../src/app-events/model";
import { OUTBOX_TABLE } from "../../src/app-events/outbox-table";
import { JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv, kvNames, storedRecord as record, rememberToken } from "../support/fixtures";
import { connectCustomer } from "../support/flow";
import { api } from "../support/http";
import { accountUpdated, connected, deliver, outcome, signed } from "../support/webhooks";

/**
 * Each lifecycle change, through the real Worker and its ConnectionWriter, emits exactly its
 * event, handed to the app's queue (APP_EVENTS, bound in the pool) after the change is stored.
 * The queue binding is spied on: the writer's object shares this isolate's bindings.
 */
beforeEach(clearKv);
afterEach(() => vi.restoreAllMocks());

function appQueue() {
  const queue = env.APP_EVENTS as Queue<unknown>;
  const sendBatch = vi.spyOn(queue, "sendBatch");
  const events = (): AppEvent[] => sendBatch.mock.calls.flatMap(([batch]) => [...batch].map((m) => m.body as AppEvent));
  return { sendBatch, events };
}

const tokens = () => [...finch().mock.connections.values()].map((c) => c.accessToken).filter(Boolean);

/** No event carries any token the mock Finch ever issued. */
function expectNoTokens(events: AppEvent[]): void {
  const text = JSON.stringify(events);
  for (const token of tokens()) expect(text).not.toContain(token);
}

const writerOf = (id: string) => {
  const ns = env.CONNECTION_WRITER as DurableObjectNamespace;
  return ns.get(ns.idFromName(id));
};

async function jobDone(id: string, jobType: string, eventId?: string, jobId = `job-${jobType}`) {
  const type = `job.${jobType}.${jobType === "data_sync_all" ? "completed" : "succeeded"}`;
  const body = { ...accountUpdated(id, "x"), event_type: type, data: { job_id: jobId } };
  return signed(body, eventId ? { eventId } : {});
}

/** GET /jobs/automated/{job_id} as Finch would answer it for the connection's token. */
const jobRequest = (id: string, jobId: string) =>
  new Request(`https://api.tryfinch.com/jobs/automated/${jobId}`, {
    headers: { authorization: `Bearer ${finch().mock.connections.get(id)?.accessToken}` },
  });

describe("lifecycle events from the writer", () => {
  it("connect, re-authentication, webhook, introspect, proxy 401 and disconnect each emit exactly their event", async () => {
    const q = appQueue();
    const id = await connected();
    expect(q.events()).toMatchObject([
      {
        type: "connection.created",
        connection_id: id,
        customer_id: "acme",
        generation: 1,
        data: { source: "connect" },
      },
    ]);

    const { res } = await connectCustomer({ sub: "acme", connection_id: id }, undefined, undefined, JSON_ACCEPT);
    expect(res.status).toBe(200);
    expect(q.events()[1]).toMatchObject({ type: "connection.reauthenticated", generation: 2 });

    finch().mock.setConnectionStatus(id, "reauth");
    expect(await outcome(deliver(await signed(accountUpdated(id, "reauth"))))).toBe("applied");
    expect(q.events()[2]).toMatchObject({
      type: "connection.status_changed",
      generation: 3,
      data: { old_status: "connected", new_status: "reauth", reason: "webhook" },
    });

    finch().mock.setConnectionStatus(id, "connected");
    expect((await api(`/api/connections/${id}/introspect`, { method: "POST" })).status).toBe(200);
    expect(q.events()[3]).toMatchObject({
      type: "connection.status_changed",
      generation: 4,
      data: { old_status: "reauth", new_status: "connected", reason: "introspect" },
    });

    // An introspect that finds nothing new stores nothing and tells nothing.
    expect((await api(`/api/connections/${id}/introspect`, { method: "POST" })).status).toBe(200);
    expect(q.events()).toHaveLength(4);

    finch().mock.setConnectionStatus(id, "reauth");
    expect((await api(`/api/connections/${id}/finch/employer/company`)).status).toBe(401);
    expect(q.events()[4]).toMatchObject({
      type: "connection.status_changed",
      generation: 5,
      data: { old_status: "connected", new_status: "reauth", reason: "proxy_401" },
    });

    expect((await api(`/api/connections/${id}`, { method: "DELETE" })).status).toBe(200);
    expect(q.events()[5]).toMatchObject({
      type: "connection.disconnected",
      generation: 6,
      data: { old_status: "reauth" },
    });
    expect(q.events()).toHaveLength(6);
    expect(new Set(q.events().map((e) => e.id)).size).toBe(6);
    expectNoTokens(q.events());
    // Each carries the connection as stored after its change (the tombstone's: status disconnected).
    expect(q.events().map((e) => [e.connection.generation, e.connection.status])).toEqual([
      [1, "connected"],
      [2, "connected"],
      [3, "reauth"],
      [4, "connected"],
      [5, "reauth"],
      [6, "disconnected"],
    ]);
  });

  it("an import emits connection.created with source import; importing it again emits nothing", async () => {
    const q = appQueue();
    const seeded = finch().mock.seedConnection({ customerId: "acme", customerName: "Acme Inc" });
    rememberToken(seeded.accessToken);
    const body = JSON.stringify({ access_token: seeded.accessToken, customer_id: "acme", customer_name: "Acme Inc" });
    const post = () =>
      api("/api/connections/import", { method: "POST", headers: { "content-type": "application/json" }, body });
    expect((await post()).status).toBe(201);
    expect((await post()).status).toBe(200);
    expect(q.events()).toMatchObject([
      { type: "connection.created", connection_id: seeded.connectionId, generation: 1, data: { source: "import" } },
    ]);
    expectNoTokens(q.events());
  });

  it("Finch's sync-job webhooks, once Finch confirms them, record data readiness and emit connection.data_synced once per event id", async () => {
    const id = await connected();
    const q = appQueue();
    // Finch's introspect reports the connection's last successful sync: the initial sync is done.
    const lastSync = finch().mock.connections.get(id)?.lastSuccessfulSync;
    expect(lastSync).toBeTruthy();
    const initial = await jobDone(id, "initial_data_sync_org");
    expect(await outcome(deliver(initial))).toBe("applied");
    // Finch delivers again (same event id): nothing new.
    expect(await outcome(deliver(initial))).toBe("duplicate");
    // A data sync the app started, ended by Finch: its webhook names the job, Finch confirms it.
    expect((await api(`/api/connections/${id}/sync`, { method: "POST" })).status).toBe(202);
    const job = finch().mock.completeJob(id);
    expect(await outcome(deliver(await jobDone(id, "data_sync_all", undefined, job.jobId)))).toBe("applied");

    const finchJob = await (await finch().mock.fetch(jobRequest(id, job.jobId))).json<any>();
    expect(q.events()).toMatchObject([
      {
        type: "connection.data_synced",
        generation: 2,
        data: {
          job_type: "initial_data_sync_org",
          job_id: "job-initial_data_sync_org",
          completed_at: lastSync,
        },
      },
      {
        type: "connection.data_synced",
        generation: 3,
        data: { job_type: "data_sync_all", job_id: job.jobId, completed_at: finchJob.completed_at },
      },
    ]);
    const stored = await record(id);
    expect(stored.last_data_sync_all_at).toBe(finchJob.completed_at);
    expect(Date.parse(stored.last_initial_sync_at)).not.toBeNaN();
    // The later event still says when the initial sync finished: a receiver that kept only it knows.
    expect(q.events()[1]?.connection).toMatchObject({
      generation: 3,
      status: "connected",
      last_initial_sync_at: stored.last_initial_sync_at,
      last_data_sync_all_at: stored.last_data_sync_all_at,
    });
    const shown = await (await api(`/api/connections/${id}`)).json<Record<string, unknown>>();
    expect(shown).toMatchObject({
      status: "connected",
      last_initial_sync_at: stored.last_initial_sync_at,
      last_data_sync_all_at: stored.last_data_sync_all_at,
    });
    for (const field of ["authentication_methods", "entities", "last_successful_sync"])
      expect(shown).toHaveProperty(field);
  });

  it("a sync-job webhook for a connection not held (never, or disconnected) stores nothing and tells nothing", async () => {
    const q = appQueue();
    const ghost = "4f1c8a7e-0000-4000-8000-00000000dead";
    expect(await outcome(deliver(await jobDone(ghost, "data_sync_all")))).toBe("unknown_connection");
    expect(await kvNames()).toEqual([]);
    const id = await connected();
    expect((await api(`/api/connections/${id}`, { method: "DELETE" })).status).toBe(200);
    const before = q.events().length;
    expect(await outcome(deliver(await jobDone(id, "initial_data_sync_org")))).toBe("unknown_connection");
    expect(q.events()).toHaveLength(before);
    expect(await kvNames()).toEqual([]);
  });

  it("keeps events in the outbox when the queue refuses them, and sends them with the same ids later", async () => {
    const q = appQueue();
    q.sendBatch.mockRejectedValueOnce(new Error("queue down"));
    const id = await connected();
    expect(q.sendBatch).toHaveBeenCalledTimes(1);
    const refused = q.events()[0] as AppEvent;
    const pending = () =>
      runInDurableObject(
        writerOf(id),
        (_o, state) => state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${OUTBOX_TABLE}`).one().n,
      );
    expect(await pending()).toBe(1);
    // The change itself is stored and served.
    expect((await record(id)).gen).toBe(1);

    expect(await runDurableObjectAlarm(writerOf(id))).toBe(true);
    expect(q.sendBatch).toHaveBeenCalledTimes(2);
    expect(q.events()[1]).toEqual(refused);
    expect(await pending()).toBe(0);
  });

  it("an alarm that cannot be set never fails a connect that is already stored", async () => {
    // The writer sets its safety alarm with the commit; make that fail once. Every Durable
    // Object of this isolate shares the storage prototype, so the spy reaches the writer.
    const probe = (env.CONNECTION_WRITER as DurableObjectNamespace).idFromName("storage-prototype-probe");
    const proto = await runInDurableObject(
      (env.CONNECTION_WRITER as DurableObjectNamespace).get(probe),
      (_o, state) => Object.getPrototypeOf(state.storage) as DurableObjectStorage,
    );
    // Only a writer's storage (it has the outbox table) fails, and only once: the ticket ledger
    // of the same flow sets alarms too.
    const real = proto.setAlarm;
    const isWriter = (storage: DurableObjectStorage) =>
      storage.sql.exec("SELECT name FROM sqlite_master WHERE name = ?", OUTBOX_TABLE).toArray().length > 0;
    let failed = false;
    const setAlarm = vi.spyOn(proto, "setAlarm").mockImplementation(function (
      this: DurableObjectStorage,
      ...args: Parameters<DurableObjectStorage["setAlarm"]>
    ) {
      if (failed || !isWriter(this)) return real.apply(this, args);
      failed = true;
      return Promise.reject(new Error("alarm store down"));
    });
    const q = appQueue();
    const id = await connected();
    expect(failed).toBe(true);
    expect(setAlarm).toHaveBeenCalled();
    // Stored, served, and its event handed over in the same call.
    expect((await record(id)).gen).toBe(1);
    expect((await api(`/api/connections/${id}`)).status).toBe(200);
    expect(q.events()).toMatchObject([{ type: "connection.created", connection_id: id }]);
  });
});
