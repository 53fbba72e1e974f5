import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import { connectionCreated, statusChanged } from "../src/events/builders";
import { EVENT_MAX_BYTES, parseAppEvent } from "../src/events/model";
import { jsonBytes } from "../src/events/outbox";
import { MAX_AUTH_METHODS, MAX_ENTITIES, publicFacts, type StoredConnection } from "../src/storage/records";
import { changeEvents, disconnectEvents } from "../src/writer/emit";
import type { WriterState } from "../src/writer/state";
import { connectionAt } from "./support/events";
import { finch } from "./support/finch";
import { clearKv, storedRecord as record } from "./support/fixtures";
import { anyText, runProperty } from "./support/property";
import { connected } from "./support/webhooks";

/**
 * Which event a change is (src/writer/emit.ts) and what it carries: each change gives exactly
 * its event, with the connection as stored after it, and nothing of the token (plain or
 * sealed). Whatever the record holds, its event is valid and bounded, so a change never fails
 * to store because of its event.
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
  const base = (): StoredConnection => ({ ...changeBase, gen: 4 });

  it("a re-seal, or a change of facts events do not carry, tells nothing", () => {
    const r = base();
    expect(changeEvents(live(r), next(r, { token: { kid: "k2", iv: "x", ct: "y" } }), { op: "reseal" }, AT)).toEqual(
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

describe("bounded and normalised", () => {
  /** Any record the record schema admits (lists at its bounds), with odd text everywhere Finch's text goes. */
  const odd = anyText(200);
  const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
  const anyRecord = fc.record({
    customer_id: fc.string({ minLength: 1, maxLength: 255 }),
    provider_id: maybe(odd),
    products: fc.array(odd, { maxLength: 80 }),
    status: odd,
    authentication_methods: maybe(
      fc.array(fc.record({ type: fc.string({ maxLength: 64 }), status: maybe(fc.string({ maxLength: 64 })) }), {
        maxLength: MAX_AUTH_METHODS,
      }),
    ),
    entities: maybe(
      fc.array(fc.record({ id: fc.string({ maxLength: 128 }), status: maybe(fc.string({ maxLength: 64 })) }), {
        maxLength: MAX_ENTITIES,
      }),
    ),
    last_successful_sync: maybe(
      fc.oneof(
        odd,
        fc.date({ noInvalidDate: true }).map((d) => d.toString()),
      ),
    ),
    last_initial_sync_at: maybe(
      fc.oneof(
        odd,
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      ),
    ),
    last_data_sync_all_at: maybe(odd),
    gen: fc.nat({ max: 2 ** 40 }),
  });

  it("whatever the record holds, every event of every change is valid and within EVENT_MAX_BYTES", async () => {
    await runProperty(
      "event-normalised",
      fc.asyncProperty(anyRecord, anyRecord, async (a, b) => {
        const before = { ...changeBase, ...a, token_gen: 1 };
        const after = { ...changeBase, ...b, customer_id: a.customer_id, token_gen: 1, gen: a.gen + 1 };
        const events = [
          ...changeEvents(undefined, before, { op: "import" }, AT),
          ...changeEvents(live(before), after, { op: "status", reason: "introspect" }, AT),
          ...changeEvents(live(before), { ...after, token_gen: 2 }, { op: "connect" }, AT),
          ...disconnectEvents(before, a.gen + 1, AT),
        ];
        for (const event of events) {
          expect(parseAppEvent(JSON.parse(JSON.stringify(event)))).toEqual(event);
          expect(jsonBytes(event)).toBeLessThanOrEqual(EVENT_MAX_BYTES);
        }
      }),
    );
  });

  it("the largest event the bounds allow stays within EVENT_MAX_BYTES (and under Queues' 128 KB)", () => {
    // Every character doubled by JSON escaping, every list full, every name at its length limit.
    const q = (n: number) => '"'.repeat(n);
    const record: StoredConnection = {
      ...changeBase,
      customer_id: "\ud800".repeat(255),
      provider_id: q(128),
      products: Array.from({ length: 64 }, () => q(64)),
      status: "s".repeat(40),
      authentication_methods: Array.from({ length: MAX_AUTH_METHODS }, () => ({ type: q(64), status: q(64) })),
      entities: Array.from({ length: MAX_ENTITIES }, () => ({ id: q(128), status: q(64) })),
      last_successful_sync: AT,
      last_initial_sync_at: AT,
      last_data_sync_all_at: AT,
      gen: Number.MAX_SAFE_INTEGER - 1,
    };
    const [created] = changeEvents(undefined, record, { op: "connect" }, AT);
    expect(created?.connection.entities).toHaveLength(MAX_ENTITIES);
    expect(created?.connection.products).toHaveLength(64);
    const size = jsonBytes(created);
    expect(size).toBeGreaterThan(EVENT_MAX_BYTES * 0.75);
    expect(size).toBeLessThanOrEqual(EVENT_MAX_BYTES);
    expect(EVENT_MAX_BYTES).toBeLessThan(128 * 1024);
  });

  it("folds what is odd instead of refusing it", () => {
    const [e] = changeEvents(
      undefined,
      {
        ...changeBase,
        status: "Needs Re-Auth!",
        provider_id: "x".repeat(129),
        products: ["company", "", "caf\u00e9", "p".repeat(65), "directory"],
        entities: [
          { id: "", status: "connected" },
          { id: "e-1", status: "" },
        ],
        last_successful_sync: "Sun, 01 Mar 2026 11:00:00 GMT",
        last_initial_sync_at: "not a time",
      },
      { op: "connect" },
      AT,
    );
    expect(e?.connection).toMatchObject({
      status: "needs_re_auth_",
      provider_id: null,
      products: ["company", "directory"],
      entities: [{ id: "e-1", status: null }],
      last_successful_sync: "2026-03-01T11:00:00.000Z",
      last_initial_sync_at: null,
    });
    expect(connectionCreated({ connection_id: "c-1", connection: e!.connection }, "connect", AT).connection).toEqual(
      e?.connection,
    );
  });
});

const changeBase: StoredConnection = {
  v: 1,
  connection_id: "4232a412-ba2b-41d8-a41f-5426f6052971",
  customer_id: "acme",
  customer_name: "Acme",
  customer_email: null,
  provider_id: "gusto",
  products: ["company"],
  client_type: null,
  connection_type: null,
  company_id: null,
  account_id: null,
  status: "connected",
  status_at: AT,
  created_at: AT,
  updated_at: AT,
  gen: 1,
  token_gen: 1,
  token: { kid: "k1", iv: "iv", ct: "ct" },
};
