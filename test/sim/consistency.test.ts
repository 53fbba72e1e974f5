import fc from "fast-check";
import { expect, it } from "vitest";
import { APP_EVENT_TYPES, type AppEvent, type ConnectionState } from "../../src/app-events/model";
import { parseRecord } from "../../src/storage/connection-store";
import { publicFacts, readiness, type StoredConnection } from "../../src/storage/records";
import { verifyChain } from "../../src/writer/audit";
import { generation, type WriterState } from "../../src/writer/state";
import { propertyRuns, propertyTimeout, runProperty } from "../support/property";
import { unsealSim } from "../support/sim-finch";
import { CONNECTIONS, emptyTally, type FaultPlan, GHOST, LOCATIONS, type Tally, World } from "../support/sim-world";

/**
 * The single writer under eventually consistent KV and under faults (docs/consistency.md
 * quotes this test as its evidence). Each case is a random schedule, interleaved across
 * LOCATIONS locations whose KV caches serve stale values (negative lookups too) for a random
 * TTL up to 60 s, with Finch replies that come back in an order fast-check's scheduler picks:
 * connects and re-authentications, Finch changing statuses, webhook deliveries (first
 * deliveries, Finch's retries re-signed with a fresh timestamp, duplicates, any order),
 * introspects, proxied calls, disconnects, key rotations with re-encryption, reads.
 *
 * Faults, drawn per schedule: the writer's KV writes fail, land but report failure, land late
 * (after a "timeout") or hang; writers are reset at any moment (memory and attempts in flight
 * lost, committed storage kept; a call in flight fails to its caller); alarms fire early, late
 * or twice; event hand-offs fail, land unreported, or are delivered twice.
 *
 * After each schedule Finch redelivers what was not acknowledged, employers and apps repeat
 * what failed (a Connect flow, a DELETE), alarms run until nothing is owed, and every cache
 * expires; then:
 *  1. the writer's token is Finch's current token, and KV at every location shows the
 *     writer's generation (or nothing, after a disconnect); one index entry per live
 *     connection, none for a disconnected one; nothing owed, no alarm needed;
 *  2. no proxied call was left failing on a stale token while the writer held a valid one;
 *  3. the stored status is Finch's status (every change was announced and is asked of Finch);
 *  4. a disconnected connection stays gone; nothing is ever stored for one never connected;
 *     `GET` at every location answers the writer's state;
 *  5. every committed change carries exactly its one lifecycle event (in the same commit), with
 *     the connection's state after it; no event describes a change that was not committed, and
 *     the app received every one of them (deduplicated by id) and nothing else;
 *  6. the newest event of each connection holds its state as finally stored;
 *  7. every commit that told an event has its audit entry, and each writer's trail is one valid chain;
 *  8. a `connection.data_synced` tells only a sync Finch confirmed, with Finch's time (job
 *     webhooks are prompts; forged ones, signed with a leaked secret, record nothing).
 *
 *   FC_RUNS=10000 npx vitest run --project workers test/consistency.test.ts
 */
const STATUSES = ["connected", "reauth", "processing", "error_permissions", "pending"] as const;
// conn-a carries most of the traffic, so re-authentications meet proxied calls and prompts.
const id = fc.constantFrom("conn-a", "conn-a", "conn-a", "conn-b");

const step = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("connect" as const), id }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("status" as const), id, status: fc.constantFrom(...STATUSES) }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("deliver" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("ghost" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("introspect" as const), id }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("reconcile" as const), id, maxAgeMs: fc.constantFrom(0, 5_000, 60_000) }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("proxy" as const),
      id: fc.oneof({ weight: 6, arbitrary: id }, { weight: 1, arbitrary: fc.constant(GHOST) }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("disconnect" as const), id }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reencrypt" as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("reset" as const), id }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("alarm" as const), id }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("read" as const), id }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("job" as const),
      id,
      // Few ids, so some deliveries are redeliveries of an earlier one.
      eventId: fc.nat(4),
      jobType: fc.constantFrom("initial_data_sync_org", "initial_data_sync_payroll", "data_sync_all"),
      // Signed with a leaked secret: a job Finch never ran.
      forged: fc.boolean(),
    }),
  },
);
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

const timed = fc.record({
  step,
  at: fc.nat(LOCATIONS - 1),
  /** Simulated milliseconds before the step starts. */
  dt: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 20_000 })),
  /** Finch replies let through before the next step starts. */
  drain: fc.nat(6),
});

/** Mostly successes, so schedules still get somewhere; every kind of failure is drawn. */
const faultPlan: fc.Arbitrary<FaultPlan> = fc.record({
  kv: fc.array(
    fc.oneof(
      { weight: 6, arbitrary: fc.constant("ok" as const) },
      { weight: 1, arbitrary: fc.constantFrom("fail" as const, "landed" as const, "late" as const, "hang" as const) },
    ),
    { maxLength: 40 },
  ),
  handoff: fc.array(
    fc.oneof(
      { weight: 6, arbitrary: fc.constant("ok" as const) },
      { weight: 1, arbitrary: fc.constantFrom("fail" as const, "landed" as const, "dup" as const) },
    ),
    { maxLength: 12 },
  ),
});

function addTally(total: Tally, run: Tally): void {
  for (const key of ["proxied", "healed", "staleFailures", "notYetVisible", "introspects", "deliveries"] as const) {
    total[key] += run[key];
  }
  for (const [k, n] of Object.entries(run.byStatus)) total.byStatus[k] = (total.byStatus[k] ?? 0) + n;
  for (const [k, n] of Object.entries(run.events)) total.events[k] = (total.events[k] ?? 0) + n;
  for (const [k, n] of Object.entries(run.faults)) total.faults[k] = (total.faults[k] ?? 0) + n;
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function run(world: World, s: Step, at: number): Promise<void> {
  switch (s.kind) {
    case "connect":
      return world.connect(s.id);
    case "status":
      world.finch.changeStatus(s.id, s.status);
      for (const e of world.finch.events.slice(-1)) world.unacked.add(e);
      return Promise.resolve();
    case "deliver": {
      const events = world.finch.events;
      const event = events[s.pick % Math.max(events.length, 1)];
      return event ? world.deliver(event) : Promise.resolve();
    }
    case "ghost":
      return world.deliver({ eventId: `msg_ghost_${world.clock}`, connectionId: GHOST, status: "reauth" });
    case "introspect":
      return world.introspect(s.id);
    case "reconcile":
      return world.reconcile(s.id, s.maxAgeMs);
    case "proxy":
      return world.proxy(s.id, at);
    case "disconnect":
      return world.disconnect(s.id);
    case "reencrypt":
      return world.reencrypt(at);
    case "reset":
      world.reset(s.id);
      return Promise.resolve();
    case "alarm":
      return world.alarm(s.id);
    case "read":
      return world.read(s.id, at).then(() => undefined);
    case "job":
      return world.deliverJob(s.id, `msg_job_${s.id}_${s.eventId}`, s.jobType, s.forged);
  }
}

async function checkInvariants(world: World): Promise<void> {
  expect(world.problems).toEqual([]);
  expect(world.tally.staleFailures, "proxied calls left failing on a stale token").toBe(0);
  expect(world.unsettled(), `still owed after the alarms ran: ${world.describeUnsettled()}`).toBe(0);
  for (const cid of CONNECTIONS) {
    const state = world.writerState(cid);
    const atFinch = world.finch.connections.get(cid);
    const views = await Promise.all(
      Array.from({ length: LOCATIONS }, (_, l) => world.kv.view(l).get(`conn:${cid}`, "text")),
    );
    const reads = await Promise.all(Array.from({ length: LOCATIONS }, (_, l) => world.read(cid, l)));
    const index = [...world.kv.central.keys()].filter((k) => k.startsWith("cust:") && k.endsWith(`:${cid}`));
    expect(world.writers.get(cid)?.storage.alarmAt, `${cid}: an alarm with nothing to do`).toBeUndefined();
    if (state?.kind === "live") {
      // 1. The writer holds Finch's current token; every location converged on its generation.
      expect(atFinch?.live, `${cid} live here but not at Finch`).toBe(true);
      expect(unsealSim(state.record.token)).toBe(atFinch?.token);
      for (const raw of views) expect(raw && parseRecord(raw, cid).gen).toBe(state.record.gen);
      for (const read of reads) expect(read).toEqual({ gen: state.record.gen });
      expect(index).toHaveLength(1);
      // 3. The stored status is Finch's.
      expect(state.record.status).toBe(atFinch?.status);
    } else {
      // 4. Gone (or never connected here): nothing in KV anywhere, not live at Finch, not found.
      for (const raw of views) expect(raw).toBeNull();
      for (const read of reads) expect(read).toEqual({ code: "connection_not_found" });
      expect(index).toEqual([]);
      if (state?.kind === "gone") expect(atFinch?.live).toBe(false);
    }
  }
  // 4. Never connected: no KV entry, no writer state, no remembered event id.
  expect([...world.kv.central.keys()].filter((k) => k.includes(GHOST))).toEqual([]);
  // (The writer may remember that Finch announced something for it: no record, no token.)
  const ghost = world.writers.get(GHOST)?.storage;
  expect(ghost?.state === undefined || ghost.state.kind === "prompted").toBe(true);
  expect(ghost?.ids.size ?? 0).toBe(0);
  await checkEvents(world);
}

/**
 * 5. Every stored change has exactly its one event, and no event describes a change that was
 * not stored. Derived here from the states alone (not from the writer's own rule): a save that
 * moved the generation is a change; what changed says which event it must carry.
 */
function expectedEvent(before: WriterState | undefined, after: WriterState): Partial<AppEvent> | undefined {
  if (generation(after) === generation(before)) return undefined;
  if (after.kind === "gone") {
    expect(before?.kind).toBe("live");
    return { type: "connection.disconnected" };
  }
  if (after.kind !== "live") return undefined;
  if (before?.kind !== "live") return { type: "connection.created" };
  const [a, b] = [after.record, before.record];
  if (a.token_gen !== b.token_gen) return { type: "connection.reauthenticated" };
  if (a.status !== b.status) {
    return {
      type: "connection.status_changed",
      data: { old_status: b.status, new_status: a.status },
    } as Partial<AppEvent>;
  }
  if (a.last_initial_sync_at !== b.last_initial_sync_at || a.last_data_sync_all_at !== b.last_data_sync_all_at) {
    return { type: "connection.data_synced" };
  }
  if (JSON.stringify(shown(a)) !== JSON.stringify(shown(b))) return { type: "connection.updated" };
  return undefined;
}

/**
 * A record's facts under the names events carry them (`connection`, without the generation):
 * what the app is told. The simulation's values are all in the events' alphabet, so nothing is
 * normalised here.
 */
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

/**
 * 7. A `connection.data_synced` tells only what Finch confirmed, with Finch's time: a
 * data_sync_all is a job Finch finished for this connection, at its completion time; an initial
 * sync, a successful sync Finch reported for it. Forged job webhooks record nothing.
 */
function expectConfirmedSync(world: World, cid: string, event: AppEvent): void {
  if (event.type !== "connection.data_synced") return;
  const { job_type, job_id, completed_at } = event.data;
  if (job_type === "data_sync_all") {
    expect(world.finch.jobs.get(job_id), `${cid}: data_synced for a job Finch did not finish`).toEqual({
      connectionId: cid,
      completedAt: completed_at,
    });
  } else {
    expect(world.finch.syncTimes.get(cid)?.has(completed_at), `${cid}: an initial sync Finch did not report`).toBe(
      true,
    );
  }
}

/** What `connection` must say after a save: the record, or the last one with status `disconnected`. */
function expectedState(saved: { before: WriterState | undefined; after: WriterState }): ConnectionState | undefined {
  if (saved.after.kind === "live") return { generation: generation(saved.after), ...shown(saved.after.record) };
  if (saved.after.kind === "gone" && saved.before?.kind === "live") {
    return { generation: generation(saved.after), ...shown(saved.before.record), status: "disconnected" };
  }
  return undefined;
}

async function checkEvents(world: World): Promise<void> {
  const ids = new Set<string>();
  for (const [cid, w] of world.writers) {
    let lastGen = 0;
    // 7. Every commit that told an event recorded it in the audit trail, in one valid chain.
    for (const saved of w.storage.history) {
      if (saved.events.length > 0) expect(saved.audit, `${cid}: a change without its audit entry`).toBeDefined();
    }
    expect(await verifyChain(w.storage.anchor, w.storage.audit), `${cid}: audit chain`).toBe("valid");
    for (const saved of w.storage.history) {
      const expected = expectedEvent(saved.before, saved.after);
      const summary = (st: WriterState | undefined) =>
        st?.kind === "live"
          ? `live gen ${st.record.gen} token_gen ${st.record.token_gen} ${st.record.status}`
          : `${st?.kind} ${generation(st)}`;
      const at = `${cid} save to generation ${generation(saved.after)} (${summary(saved.before)} -> ${summary(saved.after)}, events ${saved.events.map((e) => e.type).join(",")})`;
      expect(saved.events.length, `${at}: events`).toBe(expected ? 1 : 0);
      const [event] = saved.events;
      if (!expected || !event) continue;
      expect(event, at).toMatchObject({ ...expected, connection_id: cid, generation: generation(saved.after) });
      expect(event.connection, `${at}: the state it tells`).toEqual(expectedState(saved));
      expectConfirmedSync(world, cid, event);
      expect(event.generation, `${at}: generations only grow`).toBeGreaterThan(lastGen);
      lastGen = event.generation;
      expect(ids.has(event.id), `${at}: event id reused`).toBe(false);
      ids.add(event.id);
      world.tally.events[event.type] = (world.tally.events[event.type] ?? 0) + 1;
    }
    // The last stored change is the newest event: nothing was told that the storage lacks.
    expect(lastGen, `${cid}: an event beyond the stored generation`).toBeLessThanOrEqual(generation(w.storage.state));
    // 6. The newest event holds the state as stored now: an app that keeps only the event with
    // the highest generation (docs/events.md, "The receiver rule") knows everything it was told.
    const newest = w.storage.history.flatMap((h) => h.events).at(-1);
    const final = w.storage.state;
    if (final?.kind === "live") {
      const { generation: _g, ...told } = newest?.connection ?? ({} as ConnectionState);
      expect(told, `${cid}: the newest event's state`).toEqual(shown(final.record));
    } else if (final?.kind === "gone") {
      expect(newest?.type, `${cid}: the newest event of a disconnected connection`).toBe("connection.disconnected");
    }
  }
  expect(world.writers.get(GHOST)?.storage.history.flatMap((h) => h.events) ?? []).toEqual([]);
  // The app got every committed event (at least once: it dedupes on the id), and nothing else.
  expect([...world.received.keys()].sort(), "events the app received").toEqual([...ids].sort());
}

it(
  "a single writer per connection keeps tokens, statuses and tombstones right under stale KV and racing Finch replies",
  async () => {
    const total = emptyTally();
    await runProperty(
      "consistency",
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 0, max: 60_000 }),
        fc.array(timed, { minLength: 3, maxLength: 30 }),
        fc.boolean(),
        faultPlan,
        async (scheduler, ttlMs, steps, prelude, plan) => {
          const world = new World(scheduler, ttlMs, plan);
          // Most schedules start from a connected conn-a, and some locations have read it.
          if (prelude) {
            await scheduler.waitFor(world.connect("conn-a"));
            for (let l = 0; l < LOCATIONS; l++) await world.kv.view(l).get("conn:conn-a");
          }
          const running: Promise<void>[] = [];
          for (const { step: s, at, dt, drain } of steps) {
            world.advance(dt);
            running.push(run(world, s, at));
            // Let the step run up to its first Finch call (real I/O, e.g. reading a request
            // body, needs the event loop), then let some of the pending replies through.
            await tick();
            for (let i = 0; i < drain && scheduler.count() > 0; i++) {
              await scheduler.waitNext(1);
              await tick();
            }
          }
          await scheduler.waitFor(Promise.all(running));
          await world.quiesce();
          expect(world.unacked.size, "deliveries Finch would still be retrying").toBe(0);
          world.advance(61_000);
          await checkInvariants(world);
          addTally(total, world.tally);
        },
      ),
    );
    console.log(JSON.stringify({ property: "consistency", ...total }));
    // A simulation in which no stale token was ever healed would prove nothing about healing.
    // A run in which no fault fired proves nothing about faults.
    for (const kind of ["kv fail", "kv landed", "kv late", "kv hang", "writer reset", "handoff fail", "handoff dup"]) {
      if (propertyRuns() >= 200) expect(total.faults[kind] ?? 0, `faults fired: ${kind}`).toBeGreaterThan(0);
    }
    expect(
      Object.values(total.faults).reduce((a, b) => a + b, 0),
      "no fault fired",
    ).toBeGreaterThan(0);
    if (propertyRuns() >= 200) {
      expect(total.healed, "no proxied call ever met a stale token").toBeGreaterThan(0);
      // Forged job webhooks were refused, and real ones recorded, somewhere in the schedules.
      expect(total.byStatus["job forged unverified"] ?? 0, "no forged job refused").toBeGreaterThan(0);
      expect(total.byStatus["job real applied"] ?? 0, "no real job recorded").toBeGreaterThan(0);
      // Every kind of event was stored (and checked) somewhere in the schedules.
      expect(Object.keys(total.events).sort()).toEqual([...APP_EVENT_TYPES].sort());
    }
  },
  propertyTimeout(40),
);
