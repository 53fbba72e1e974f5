import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { connectionCreated } from "../../src/app-events/builders";
import { EVENT_MAX_BYTES, parseAppEvent } from "../../src/app-events/model";
import { jsonBytes } from "../../src/app-events/outbox";
import { MAX_AUTH_METHODS, MAX_ENTITIES, type StoredConnection } from "../../src/storage/records";
import { changeEvents, disconnectEvents } from "../../src/writer/change-events";
import type { WriterState } from "../../src/writer/state";
import { storedConnection } from "../support/events";
import { anyText, runProperty } from "../support/property";

/**
 * The connection state every event carries (`connection`, built by src/writer/emit.ts from the
 * stored record): whatever the record holds, every event of every change is valid and within
 * EVENT_MAX_BYTES, so a change never fails to store because of its event; odd values are
 * folded, not refused.
 */
const AT = "2026-03-01T12:00:00.000Z";
const live = (r: StoredConnection): WriterState => ({ kind: "live", record: r });

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
        const before = storedConnection({ ...a, token_gen: 1 });
        const after = storedConnection({ ...b, customer_id: a.customer_id, token_gen: 1, gen: a.gen + 1 });
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
    const record = storedConnection({
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
    });
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
      storedConnection({
        status: "Needs Re-Auth!",
        provider_id: "x".repeat(129),
        products: ["company", "", "caf\u00e9", "p".repeat(65), "directory"],
        entities: [
          { id: "", status: "connected" },
          { id: "e-1", status: "" },
        ],
        last_successful_sync: "Sun, 01 Mar 2026 11:00:00 GMT",
        last_initial_sync_at: "not a time",
      }),
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
