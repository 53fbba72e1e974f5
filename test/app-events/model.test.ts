import { describe, expect, it } from "vitest";
import { APP_EVENT_TYPES, AppEventSchema, jobCompletion, newEvent, parseAppEvent } from "../../src/app-events/model";
import { CONNECTION, connectionAt, statusChanged } from "../support/events";

/** The event model: every type builds, ids are fixed at creation, and nothing unlisted rides along. */
const base = { connection_id: CONNECTION, customer_id: "acme", generation: 4, connection: connectionAt(4) };

describe("newEvent", () => {
  it("builds every type with an evt_ id, the envelope and the occurred_at it is given or now", () => {
    const built = [
      newEvent({
        ...base,
        type: "connection.created",
        data: { source: "connect", status: "connected", products: ["company"], provider_id: "gusto" },
      }),
      newEvent({ ...base, type: "connection.reauthenticated", data: { status: "connected", products: ["company"] } }),
      newEvent({
        ...base,
        type: "connection.status_changed",
        data: { old_status: "pending", new_status: "connected", reason: "webhook" },
      }),
      newEvent({
        ...base,
        type: "connection.data_synced",
        occurred_at: "2026-03-01T12:00:00.000Z",
        data: { job_type: "data_sync_all", job_id: "job-1", completed_at: "2026-03-01T12:00:00.000Z" },
      }),
      newEvent({
        ...base,
        type: "connection.updated",
        data: { changed: ["entities", "last_successful_sync"], reason: "reconcile" },
      }),
      newEvent({
        ...base,
        connection: connectionAt(4, { status: "disconnected" }),
        type: "connection.disconnected",
        data: { old_status: "reauth" },
      }),
    ];
    expect(built.map((e) => e.type)).toEqual(APP_EVENT_TYPES);
    for (const e of built) {
      expect(e.id).toMatch(/^evt_[A-Za-z0-9_-]{22}$/);
      const { connection, ...envelope } = base;
      expect(e).toMatchObject(envelope);
      expect(e.connection).toEqual(
        e.type === "connection.disconnected" ? { ...connection, status: "disconnected" } : connection,
      );
      expect(Date.parse(e.occurred_at)).not.toBeNaN();
    }
    expect(built[3]?.occurred_at).toBe("2026-03-01T12:00:00.000Z");
    expect(new Set(built.map((e) => e.id)).size).toBe(built.length);
  });

  it("keeps the id through serialisation (what a redelivery sends is what was built)", () => {
    const e = statusChanged();
    expect(parseAppEvent(JSON.parse(JSON.stringify(e)))).toEqual(e);
  });

  it("refuses a field the schema does not list, so a token cannot ride along", () => {
    const e = statusChanged();
    for (const bad of [
      { ...e, access_token: "tok-should-never-travel" },
      { ...e, data: { ...e.data, access_token: "tok-should-never-travel" } },
      { ...e, connection: { ...e.connection, access_token: "tok-should-never-travel" } },
      { ...e, connection: { ...e.connection, entities: [{ id: "e-1", status: null, token: "tok" }] } },
    ]) {
      expect(() => parseAppEvent(bad)).toThrow();
    }
    expect(() =>
      newEvent({ ...base, type: "connection.disconnected", data: { old_status: null, token: "x" } as never }),
    ).toThrow();
  });

  it("refuses a wrong envelope: negative generation, bad connection id, unknown type or reason", () => {
    const e = statusChanged();
    for (const bad of [
      { ...e, generation: -1 },
      { ...e, generation: 1.5 },
      { ...e, connection_id: "../x" },
      { ...e, type: "connection.exploded" },
      { ...e, data: { ...e.data, reason: "guess" } },
      { ...e, id: "evt_short" },
      { ...e, occurred_at: "yesterday" },
      { ...e, connection: undefined },
      // The state's generation and customer are the envelope's.
      { ...e, connection: { ...e.connection, generation: e.generation - 1 } },
      { ...e, connection: { ...e.connection, customer_id: "someone-else" } },
      { ...e, connection: { ...e.connection, products: ["caf\u00e9"] } },
      {
        ...e,
        connection: {
          ...e.connection,
          entities: Array.from({ length: 33 }, (_, i) => ({ id: `e${i}`, status: null })),
        },
      },
      { ...e, connection: { ...e.connection, last_initial_sync_at: "soon" } },
      { ...e, type: "connection.updated", data: { changed: [], reason: "introspect" } },
      { ...e, type: "connection.updated", data: { changed: ["generation"], reason: "introspect" } },
    ]) {
      expect(AppEventSchema.options.length).toBe(6);
      expect(() => parseAppEvent(bad)).toThrow(/invalid/);
    }
  });
});

describe("jobCompletion", () => {
  it("reads the sync jobs Finch reports (names as in the SDK's webhook types), with no time of its own", () => {
    const data = { job_id: "j-1", job_url: "https://api.tryfinch.com/jobs/automated/j-1" };
    expect(jobCompletion("job.initial_data_sync_org.succeeded", data)).toEqual({
      job_type: "initial_data_sync_org",
      job_id: "j-1",
    });
    expect(jobCompletion("job.initial_data_sync_payroll.succeeded", data)?.job_type).toBe("initial_data_sync_payroll");
    expect(jobCompletion("job.data_sync_all.completed", data)?.job_type).toBe("data_sync_all");
  });

  it("ignores other events and jobs, and job events without a job id", () => {
    expect(jobCompletion("job.benefit_create.completed", { job_id: "j" })).toBeUndefined();
    expect(jobCompletion("account.updated", { job_id: "j" })).toBeUndefined();
    expect(jobCompletion("job.data_sync_all.completed", {})).toBeUndefined();
    expect(jobCompletion("job.data_sync_all.completed", null)).toBeUndefined();
  });
});
