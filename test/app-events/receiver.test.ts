import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AppEvent, ConnectionState } from "../../src/app-events/model";
import type { Introspection } from "../../src/finch/schemas";
import { publicFacts, readiness, type StoredConnection } from "../../src/storage/records";
import { changeEvents, disconnectEvents, type StatusReason, type SyncJob } from "../../src/writer/change-events";
import { applyIntrospection, markedReauth, recordedSync } from "../../src/writer/finch-facts";
import type { WriterState } from "../../src/writer/state";
import { storedConnection } from "../support/events";
import { propertyTimeout, runProperty } from "../support/property";

/**
 * The receiver rule of docs/events.md, proved: an app that, per connection, keeps the event
 * with the highest generation (its `connection` is the current state) and deduplicates by id
 * ends in the writer's final state, whatever order, duplicates and delays the delivery brings,
 * and still sees every `data_synced` fact. The events are the real ones (`changeEvents`,
 * `disconnectEvents`) of random change sequences built with the writer's own record rules.
 */

/** The documented receiver: per connection the newest state, plus the sync jobs it was told of. */
class Receiver {
  readonly seen = new Set<string>();
  readonly state = new Map<string, ConnectionState>();
  readonly jobs: string[] = [];

  receive(event: AppEvent): void {
    // 1. Deduplicate by id.
    if (this.seen.has(event.id)) return;
    this.seen.add(event.id);
    // 2. Type-specific facts are history: act on them whatever their generation.
    if (event.type === "connection.data_synced") this.jobs.push(event.data.job_id);
    // 3. The state: only an event newer than the one kept replaces it.
    const kept = this.state.get(event.connection_id);
    if (!kept || event.generation > kept.generation) this.state.set(event.connection_id, event.connection);
  }
}

/** A record's facts under the names events carry them, without the generation. */
function shown(r: StoredConnection): Omit<ConnectionState, "generation"> {
  const f = publicFacts(r);
  // Entity counts, names and source ids are the API's: events carry each entity's id and status.
  const { entity_counts: _counts, entities, ...ready } = readiness(f);
  return {
    status: f.status,
    customer_id: f.customer_id,
    provider_id: f.provider_id,
    products: f.products,
    ...ready,
    entities: entities && entities.map(({ id, status }) => ({ id, status })),
  };
}

const T0 = Date.parse("2026-03-01T12:00:00.000Z");
const STATUSES = ["connected", "reauth", "pending", "processing", "error_permissions"] as const;
const PRODUCTS = ["company", "directory", "individual", "employment", "payment"] as const;

type Step =
  | { kind: "connect"; products: string[] | null }
  | { kind: "introspect"; reason: StatusReason; facts: Introspection }
  | { kind: "proxy_401" }
  | { kind: "job"; job_type: SyncJob["job_type"]; lateMs: number }
  | { kind: "reseal" }
  | { kind: "disconnect" };

const introspection: fc.Arbitrary<Introspection> = fc.record(
  {
    connection_status: fc.record(
      {
        status: fc.constantFrom(...STATUSES),
        last_successful_sync: fc.integer({ min: 0, max: 5 }).map((h) => new Date(T0 - h * 3_600_000).toISOString()),
      },
      { requiredKeys: ["status"] },
    ),
    products: fc.subarray([...PRODUCTS], { minLength: 1 }),
    entities: fc.array(fc.record({ id: fc.constantFrom("e-1", "e-2", "e-3"), status: fc.constantFrom(...STATUSES) }), {
      maxLength: 3,
    }),
    authentication_methods: fc.array(
      fc.record({
        type: fc.constantFrom("assisted", "credential", "api_token"),
        connection_status: fc.record({ status: fc.constantFrom(...STATUSES) }),
      }),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: [] },
);

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("connect" as const),
      products: fc.option(fc.subarray([...PRODUCTS]), { nil: null }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("introspect" as const),
      reason: fc.constantFrom("webhook", "introspect", "reconcile" as StatusReason),
      facts: introspection,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "proxy_401" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("job" as const),
      job_type: fc.constantFrom("initial_data_sync_org", "initial_data_sync_payroll", "data_sync_all" as const),
      lateMs: fc.integer({ min: 0, max: 120_000 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "reseal" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "disconnect" as const }) },
);

/** One connection's writer, reduced to its decisions: the records it stores and the events they carry. */
class Writer {
  state: WriterState | undefined;
  readonly events: AppEvent[] = [];
  /** The last record held (a tombstone keeps the one it replaced). */
  last: StoredConnection | undefined;
  private clock = T0;

  constructor(readonly id: string) {}

  private gen(): number {
    const s = this.state;
    return s?.kind === "live" ? (s.record.gen ?? 0) : s?.kind === "gone" ? s.gen : 0;
  }

  private commit(after: StoredConnection, cause: Parameters<typeof changeEvents>[2]): void {
    this.events.push(...changeEvents(this.state, after, cause, new Date(this.clock).toISOString()));
    this.state = { kind: "live", record: after };
    this.last = after;
  }

  apply(s: Step): void {
    this.clock += 60_000;
    const now = new Date(this.clock);
    const at = now.toISOString();
    const gen = this.gen() + 1;
    const record = this.state?.kind === "live" ? this.state.record : undefined;
    if (s.kind === "connect") {
      const base = record ?? storedConnection({ connection_id: this.id, products: [], created_at: at });
      const token = { kid: "k1", iv: `iv-${gen}`, ct: `ct-${gen}` };
      const products = s.products ?? base.products;
      this.commit(
        { ...base, products, status: "connected", status_at: at, gen, token_gen: gen, token },
        { op: "connect" },
      );
      return;
    }
    if (!record) return; // Nothing else changes a connection this writer does not hold.
    if (s.kind === "introspect") {
      const next = applyIntrospection(record, s.facts, now);
      if (next) this.commit({ ...next, gen }, { op: "status", reason: s.reason });
    } else if (s.kind === "proxy_401") {
      const next = markedReauth(record, now);
      if (next) this.commit({ ...next, gen }, { op: "status", reason: "proxy_401" });
    } else if (s.kind === "job") {
      // Finch's job events arrive late and out of order: the completion time may be older.
      const job = {
        job_type: s.job_type,
        job_id: `job-${this.id}-${gen}`,
        completed_at: new Date(this.clock - s.lateMs).toISOString(),
      };
      // A completion no newer than the stored one changes nothing (the writer commits no event).
      const next = recordedSync(record, job, now);
      if (next) this.commit({ ...next, gen }, { op: "job", job });
    } else if (s.kind === "reseal") {
      this.commit({ ...record, token: { ...record.token, kid: `k${gen}` }, gen }, { op: "reencrypt" });
    } else {
      this.events.push(...disconnectEvents(record, gen, at));
      this.state = { kind: "gone", gen, at };
    }
  }

  /** What a receiver must end with: the state as stored now (a disconnected one: its last, status disconnected). */
  expected(): Omit<ConnectionState, "generation"> | undefined {
    if (!this.last) return undefined;
    return this.state?.kind === "gone" ? { ...shown(this.last), status: "disconnected" } : shown(this.last);
  }
}

const MAX_STEPS = 40;

/** Each event delivered 1-3 times, each delivery some steps late; ties broken by `order`. */
const deliveryPlan = fc.record({
  copies: fc.array(fc.array(fc.nat({ max: 12 }), { minLength: 1, maxLength: 3 }), {
    minLength: MAX_STEPS,
    maxLength: MAX_STEPS,
  }),
  order: fc.array(fc.nat(), { minLength: 3 * MAX_STEPS, maxLength: 3 * MAX_STEPS }),
});

function deliveries(events: readonly AppEvent[], plan: { copies: number[][]; order: number[] }): AppEvent[] {
  const out: { t: number; tie: number; event: AppEvent }[] = [];
  events.forEach((event, i) => {
    for (const delay of plan.copies[i % plan.copies.length] ?? [0]) {
      out.push({ t: i + delay, tie: plan.order[out.length % plan.order.length] ?? 0, event });
    }
  });
  return out.sort((a, b) => a.t - b.t || a.tie - b.tie).map((d) => d.event);
}

describe("the receiver rule (docs/events.md)", () => {
  it(
    "keeping the highest generation per connection ends in the writer's final state, in any delivery order",
    async () => {
      await runProperty(
        "receiver-rule",
        fc.asyncProperty(
          fc.array(fc.tuple(fc.constantFrom("conn-a", "conn-a", "conn-b"), step), {
            minLength: 1,
            maxLength: MAX_STEPS,
          }),
          deliveryPlan,
          async (steps, plan) => {
            const writers = new Map(["conn-a", "conn-b"].map((id) => [id, new Writer(id)]));
            const emitted: AppEvent[] = [];
            for (const [id, s] of steps) {
              const w = writers.get(id) as Writer;
              const before = w.events.length;
              w.apply(s);
              emitted.push(...w.events.slice(before));
            }
            const receiver = new Receiver();
            for (const event of deliveries(emitted, plan)) receiver.receive(event);

            for (const [id, w] of writers) {
              const kept = receiver.state.get(id);
              const expected = w.expected();
              if (!expected) {
                expect(kept).toBeUndefined();
                continue;
              }
              const { generation, ...state } = kept as ConnectionState;
              expect(state, `${id}: the state the receiver kept`).toEqual(expected);
              // The generation kept is the newest told (a re-seal after it moves the writer's, and tells nothing).
              expect(generation).toBe(Math.max(...w.events.map((e) => e.generation)));
            }
            // Every sync fact was seen, exactly once, though older events lost to newer ones.
            const jobs = emitted.flatMap((e) => (e.type === "connection.data_synced" ? [e.data.job_id] : []));
            expect([...receiver.jobs].sort()).toEqual([...jobs].sort());
          },
        ),
      );
    },
    propertyTimeout(5),
  );

  it("a data_synced overtaken by a later status change is not lost: the later event says when data synced", () => {
    const w = new Writer("conn-a");
    w.apply({ kind: "connect", products: ["company"] });
    w.apply({ kind: "job", job_type: "initial_data_sync_org", lateMs: 0 });
    w.apply({ kind: "proxy_401" });
    const [created, synced, reauth] = w.events as [AppEvent, AppEvent, AppEvent];
    expect([created.type, synced.type, reauth.type]).toEqual([
      "connection.created",
      "connection.data_synced",
      "connection.status_changed",
    ]);
    const receiver = new Receiver();
    // The data_synced delivery failed once and its retry came after the status change.
    for (const event of [created, reauth, synced]) receiver.receive(event);
    expect(receiver.state.get("conn-a")).toEqual({ generation: 3, ...shown(w.last as StoredConnection) });
    const completed = synced.type === "connection.data_synced" ? synced.data.completed_at : undefined;
    expect(completed).toEqual(expect.any(String));
    expect(receiver.state.get("conn-a")?.last_initial_sync_at).toBe(completed);
  });
});
