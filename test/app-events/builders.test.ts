import { beforeEach, describe, expect, it } from "vitest";
import { statusChanged } from "../../src/app-events/builders";
import { parseAppEvent } from "../../src/app-events/model";
import { publicFacts, type StoredConnection } from "../../src/storage/records";
import { changeEvents, disconnectEvents } from "../../src/writer/change-events";
import type { WriterState } from "../../src/writer/state";
import { connectionAt, storedConnection } from "../support/events";
import { finch } from "../support/finch";
import { clearKv, storedRecord as record } from "../support/fixtures";
import { connected } from "../support/webhooks";

/**
 * Which event a change is (src/writer/emit.ts) and what it carries: each change gives exactly
 * its event, with the connection as stored after it, and nothing of the token (plain or
 * sealed). Bounds and normalisation: test/events-state.test.ts.
 */
beforeEach(clearKv);

const AT = "2026-03-01T12:00:00.000Z";
const live = (r: StoredConnection): WriterState => ({ kind: "live", record: r });
const next = (r: StoredConnection, patch: Partial<StoredConnection> = {}): StoredConnection => ({
  ...r,
  ...patch,
  gen: (r.gen ?? 0) + 1,
});

describe("events over a real stored connection", () => {
  it("carry the connection as the API shows it, and no token, sealed or plain, in any event", async () => {
    const id = await connected();
    const stored: StoredConnection = await record(id);
    const plainTokens = [...finch().mock.tokens.keys()];
    expect(plainTokens.length).toBeGreaterThan(0);
    const job = { job_type: "data_sync_all", job_id: "j-1", completed_at: AT } as const;
    const events = [
      ...changeEvents(undefined, stored, { op: "connect" }, AT),
      ...changeEvents(live(stored), next(stored, { token_gen: 9 }), { op: "connect" }, AT),
      ...changeEvents(live(stored), next(stored, { status: "reauth" }), { op: "status", reason: "webhook" }, AT),
      ...changeEvents(live(stored), next(stored, { last_data_sync_all_at: AT }), { op: "job", job }, AT),
      ...changeEvents(live(stored), next(stored, { products: ["company"] }), { op: "status", reason: "reconcile" }, AT),
      ...disconnectEvents(stored, (stored.gen ?? 0) + 1, AT),
    ];
    expect(events.map((e) => e.type)).toEqual([
      "connection.created",
      "connection.reauthenticated",
      "connection.status_changed",
      "connection.data_synced",
      "connection.updated",
      "connection.disconnected",
    ]);
    // The API's connection object (GET /api/connections/:id), field for field where the names meet.
    const shown = publicFacts(stored);
    const { generation, ...state } = events[0]!.connection;
    expect(state).toEqual({
      status: shown.status,
      customer_id: shown.customer_id,
      provider_id: shown.provider_id,
      products: shown.products,
      authentication_methods: shown.authentication_methods,
      entities: shown.entities,
      last_successful_sync: shown.last_successful_sync,
      last_initial_sync_at: shown.last_initial_sync_at,
      last_data_sync_all_at: shown.last_data_sync_all_at,
    });
    expect(generation).toBe(stored.gen);
    for (const event of events) {
      const json = JSON.stringify(event);
      expect(parseAppEvent(JSON.parse(json))).toEqual(event);
      for (const secret of [...plainTokens, stored.token.ct, stored.token.iv]) expect(json).not.toContain(secret);
      expect(event).toMatchObject({ connection_id: id, customer_id: "acme", occurred_at: AT });
      expect(event.connection.generation).toBe(event.generation);
    }
    expect(events[0]?.data).toEqual({
      source: "connect",
      status: stored.status,
      products: stored.products,
      provider_id: stored.provider_id,
    });
    expect(events[2]).toMatchObject({
      data: { old_status: stored.status, new_status: "reauth", reason: "webhook" },
      connection: { status: "reauth" },
    });
    expect(events[3]?.connection.last_data_sync_all_at).toBe(AT);
    expect(events[4]).toMatchObject({
      data: { changed: ["products"], reason: "reconcile" },
      connection: { products: ["company"] },
    });
    expect(events[5]).toMatchObject({
      data: { old_status: stored.status },
      connection: { ...state, status: "disconnected", generation: (stored.gen ?? 0) + 1 },
    });
  });
});

describe("changeEvents: one change, at most one event", () => {
  const base = (): StoredConnection => storedConnection({ gen: 4 });

  it("a re-seal, or a change of facts events do not carry, tells nothing", () => {
    const r = base();
    expect(changeEvents(live(r), next(r, { token: { kid: "k2", iv: "x", ct: "y" } }), { op: "reencrypt" }, AT)).toEqual(
      [],
    );
    expect(changeEvents(live(r), next(r, { company_id: "co-1" }), { op: "status", reason: "introspect" }, AT)).toEqual(
      [],
    );
  });

  it("a status move is status_changed alone, with the other facts it brought in its connection", () => {
    const r = base();
    const [e, ...rest] = changeEvents(
      live(r),
      next(r, { status: "reauth", entities: [{ id: "e-1", status: "reauth" }] }),
      { op: "status", reason: "proxy_401" },
      AT,
    );
    expect(rest).toEqual([]);
    expect(e).toMatchObject({
      type: "connection.status_changed",
      generation: 5,
      connection: { status: "reauth", entities: [{ id: "e-1", status: "reauth" }] },
    });
  });

  it("facts without a status move are connection.updated, naming each changed field", () => {
    const r = base();
    const after = next(r, {
      last_successful_sync: "2026-03-01T10:00:00.000Z",
      authentication_methods: [{ type: "assisted", status: "pending" }],
    });
    expect(changeEvents(live(r), after, { op: "status", reason: "webhook" }, AT)).toMatchObject([
      {
        type: "connection.updated",
        data: { changed: ["authentication_methods", "last_successful_sync"], reason: "webhook" },
      },
    ]);
  });
});

describe("statusChanged", () => {
  const subject = { connection_id: "c-1", connection: connectionAt(5) };
  it("tells nothing when the status did not move", () => {
    expect(statusChanged(subject, "reauth", "introspect")).toBeUndefined();
  });
  it("gives one event with both statuses and the reason when it did", () => {
    expect(statusChanged(subject, null, "reconcile")).toMatchObject({
      type: "connection.status_changed",
      generation: 5,
      data: { old_status: null, new_status: "reauth", reason: "reconcile" },
    });
  });
});
