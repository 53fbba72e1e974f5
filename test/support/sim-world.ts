import { env } from "cloudflare:workers";
import type fc from "fast-check";
import { getConfig } from "../../src/config";
import { completeConnect } from "../../src/domain/callback";
import { disconnectConnection, introspectConnection } from "../../src/domain/connections";
import type { PendingFlow } from "../../src/domain/flow-state";
import { proxyToFinch } from "../../src/domain/proxy";
import { reencryptBatch } from "../../src/domain/reencrypt";
import { handleWebhookEvent } from "../../src/domain/webhooks";
import { AppError } from "../../src/errors";
import { type AppEvent, parseAppEvent } from "../../src/events/model";
import { newTrace } from "../../src/lib/trace";
import { ConnectionStore } from "../../src/storage/connections";
import { localWriter } from "../../src/writer/client";
import { WriterCore } from "../../src/writer/core";
import type { CurrentToken, Writers } from "../../src/writer/protocol";
import type { WriterState, WriterStorage } from "../../src/writer/state";
import { type PendingEvent, SimFinch, simRing, unsealSim } from "./sim-finch";
import { SimKv } from "./sim-kv";

/**
 * One simulated deployment for test/consistency.test.ts: several locations, each running the
 * real domain functions against its own view of KV (SimKv), one WriterCore per connection
 * (as the Durable Object would hold it, with in-memory storage), the simulated Finch, and a
 * clock that only the schedule moves.
 */
export const LOCATIONS = 3;
export const WRITER_LOCATION = 0;
export const CONNECTIONS = ["conn-a", "conn-b"];
/** Never connected: nothing may ever be stored for it. */
export const GHOST = "conn-ghost";

/** One save of the writer's storage: the state before and after, and the events appended with it. */
export interface Saved {
  before: WriterState | undefined;
  after: WriterState;
  events: AppEvent[];
}

/**
 * The writer's own storage, in memory (the Durable Object's SQLite in production). Its outbox
 * keeps every event ever appended, in the order of the saves that stored them (`history`), so
 * the simulation can match each stored change with its events.
 */
export class MemoryWriterStorage implements WriterStorage {
  state: WriterState | undefined;
  readonly ids = new Map<string, number>();
  readonly history: Saved[] = [];
  async load() {
    return this.state && structuredClone(this.state);
  }
  async save(state: WriterState, events: readonly AppEvent[] = []) {
    // One step, as the SQLite transaction: the state and its events, or neither.
    const checked = events.map((e) => parseAppEvent(e, "internal_error"));
    this.history.push({ before: this.state, after: structuredClone(state), events: checked });
    this.state = structuredClone(state);
  }
  get outbox(): AppEvent[] {
    return this.history.flatMap((h) => h.events);
  }
  async seen(id: string) {
    return this.ids.has(id);
  }
  async remember(id: string, nowMs: number) {
    this.ids.set(id, nowMs);
  }
}

export interface SimWriter {
  core: WriterCore;
  storage: MemoryWriterStorage;
  /** Calls in flight. */
  busy: number;
}

export interface Tally {
  proxied: number;
  healed: number;
  /** Proxied calls answered 401 with a stale token while the writer held a valid one: must stay 0. */
  staleFailures: number;
  /** Reads that found no record at their location although the writer had one (stale negative cache). */
  notYetVisible: number;
  introspects: number;
  deliveries: number;
  /** Proxied calls by connection and outcome. */
  byStatus: Record<string, number>;
  /** Lifecycle events stored, by type (the event check must not pass for want of events). */
  events: Record<string, number>;
}

export const emptyTally = (): Tally => ({
  proxied: 0,
  healed: 0,
  staleFailures: 0,
  notYetVisible: 0,
  introspects: 0,
  deliveries: 0,
  byStatus: {},
  events: {},
});

const OK_CODES = new Set(["connection_not_found", "finch_rejected", "finch_reauthenticate"]);

export class World {
  clock = Date.parse("2026-11-29T00:00:00Z");
  readonly kv: SimKv;
  readonly ring = simRing();
  readonly finch: SimFinch;
  readonly writers = new Map<string, SimWriter>();
  readonly unacked = new Set<PendingEvent>();
  readonly problems: string[] = [];
  private readonly settings = getConfig(env).finch();

  readonly tally: Tally = emptyTally();

  constructor(scheduler: fc.Scheduler, ttlMs: number) {
    this.kv = new SimKv(LOCATIONS, ttlMs, () => this.clock);
    this.finch = new SimFinch(scheduler);
    this.finch.install();
  }

  store(location: number): ConnectionStore {
    return new ConnectionStore(this.kv.view(location), this.ring);
  }

  writer(id: string): SimWriter {
    let w = this.writers.get(id);
    if (!w) {
      const storage = new MemoryWriterStorage();
      w = { core: this.newCore(id, storage), storage, busy: 0 };
      this.writers.set(id, w);
    }
    return w;
  }

  private newCore(id: string, storage: MemoryWriterStorage): WriterCore {
    return new WriterCore({
      connectionId: id,
      storage,
      store: this.store(WRITER_LOCATION),
      finch: () => this.settings,
      events: () => undefined,
      now: () => new Date(this.clock),
    });
  }

  /**
   * The runtime evicts an idle object: its memory is gone, the next call starts from its
   * storage. Only while no call is in flight (the runtime never runs two instances of one).
   */
  evict(id: string): void {
    const w = this.writers.get(id);
    if (w && w.busy === 0) w.core = this.newCore(id, w.storage);
  }

  /** Each call counts as in flight on its writer until it settles. */
  readonly allWriters: Writers = (id) => {
    const w = this.writer(id);
    const inner = localWriter(w.core);
    const track =
      <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        w.busy++;
        try {
          return await f(...args);
        } finally {
          w.busy--;
        }
      };
    return {
      connect: track(inner.connect),
      importConnection: track(inner.importConnection),
      current: track(inner.current),
      refresh: track(inner.refresh),
      prompt: track(inner.prompt),
      jobCompleted: track(inner.jobCompleted),
      reconcile: track(inner.reconcile),
      staleToken: track(inner.staleToken),
      disconnect: track(inner.disconnect),
      reseal: track(inner.reseal),
    };
  };

  /** The writer's committed state: in its memory, else (just evicted) in its storage. */
  writerState(id: string): WriterState | undefined {
    const w = this.writers.get(id);
    return w?.core.committed ?? w?.storage.state;
  }

  /** The writer's committed token, and whether Finch accepts it right now. */
  writerToken(id: string): { token: string | undefined; valid: boolean } {
    const state = this.writerState(id);
    const token = state?.kind === "live" ? unsealSim(state.record.token) : undefined;
    const c = this.finch.connections.get(id);
    return { token, valid: token !== undefined && !!c?.live && c.token === token };
  }

  private expected(e: unknown, what: string): void {
    if (e instanceof AppError && OK_CODES.has(e.code)) return;
    this.problems.push(`${what}: ${e instanceof AppError ? `${e.code} ${e.detail ?? ""}` : String(e)}`);
  }

  /** A completed Connect flow: the callback's exchange, then the writer (no KV read at the edge). */
  async connect(id: string): Promise<void> {
    const ctx: PendingFlow = {
      k: "pending",
      state: "sim-state",
      jti: "sim-ticket",
      flow: "embedded",
      customer_id: "acme",
      customer_name: "Acme",
      exp: Math.floor(Date.now() / 1000) + 1800,
    };
    const deps = { finch: this.settings, connect: getConfig(env).connect(), writers: this.allWriters };
    // finch_rejected: a later re-authentication revoked this token before it reached the
    // writer, after a disconnect (with a record, the writer keeps the newer one and says ok).
    await completeConnect(deps, ctx, this.finch.code(id), newTrace("sim")).catch((e) =>
      e instanceof AppError && e.code === "finch_rejected" ? undefined : this.expected(e, `connect ${id}`),
    );
  }

  async introspect(id: string): Promise<void> {
    this.tally.introspects++;
    await introspectConnection(this.allWriters, id, newTrace("sim")).catch((e) => this.expected(e, "introspect"));
  }

  /** The Cron Trigger's re-check of one connection (`maxAgeMs` 0: always asks Finch). */
  async reconcile(id: string, maxAgeMs: number): Promise<void> {
    this.tally.introspects++;
    await this.allWriters(id)
      .reconcile(maxAgeMs, newTrace("sim"))
      .catch((e) => this.expected(e, "reconcile"));
  }

  async disconnect(id: string): Promise<void> {
    await disconnectConnection(this.allWriters, id, newTrace("sim")).catch((e) => this.expected(e, "disconnect"));
  }

  async reencrypt(location: number): Promise<void> {
    this.ring.rotate();
    const deps = { store: this.store(location), ring: this.ring, writers: this.allWriters };
    let cursor: string | undefined;
    try {
      for (let page = 0; page < 10; page++) {
        const answer = await reencryptBatch(deps, { cursor, limit: 1 }, newTrace("sim"));
        if (answer.cursor === null) return;
        cursor = answer.cursor;
      }
    } catch (e) {
      this.expected(e, "reencrypt");
    }
  }

  /** A Finch delivery of `event` (a first delivery, a retry re-signed now, or a duplicate). */
  async deliver(event: PendingEvent | { eventId: string; connectionId: string; status: string }): Promise<void> {
    this.tally.deliveries++;
    const verified = {
      eventId: event.eventId,
      timestamp: Math.floor(this.clock / 1000),
      event: {
        event_type: "account.updated",
        connection_id: event.connectionId,
        company_id: undefined,
        account_id: undefined,
        entity_id: undefined,
        data: { status: event.status },
        status: event.status,
      },
    };
    try {
      await handleWebhookEvent({ writers: this.allWriters, events: undefined }, verified, newTrace("sim"));
      this.unacked.delete(event as PendingEvent);
    } catch (e) {
      // Any non-2xx: Finch delivers again later.
      if (!(e instanceof AppError && e.status >= 500)) this.problems.push(`webhook: ${String(e)}`);
    }
  }

  /** Finch's webhook that a sync job of `id` finished (its event id may repeat: a redelivery). */
  async deliverJob(id: string, eventId: string, jobType: string): Promise<void> {
    this.tally.deliveries++;
    const verified = {
      eventId,
      timestamp: Math.floor(this.clock / 1000),
      event: {
        event_type: `job.${jobType}.${jobType === "data_sync_all" ? "completed" : "succeeded"}`,
        connection_id: id,
        company_id: undefined,
        account_id: undefined,
        entity_id: undefined,
        data: { job_id: `job-${eventId}` },
        status: undefined,
      },
    };
    await handleWebhookEvent(
      { writers: this.allWriters, events: undefined },
      verified,
      newTrace("sim"),
      new Date(this.clock),
    ).catch((e) => this.expected(e, "job webhook"));
  }

  private count(outcome: string): void {
    this.tally.byStatus[outcome] = (this.tally.byStatus[outcome] ?? 0) + 1;
  }

  async proxy(id: string, location: number): Promise<void> {
    this.tally.proxied++;
    const asked: { valid: boolean; returned: CurrentToken | undefined }[] = [];
    const watched: Writers = (cid) => {
      const w = this.allWriters(cid);
      return {
        ...w,
        staleToken: async (gen, reauth, trace) => {
          const returned = await w.staleToken(gen, reauth, trace);
          asked.push({ valid: this.writerToken(cid).valid, returned });
          return returned;
        },
      };
    };
    const deps = { finch: this.settings, store: this.store(location), writers: watched };
    const call = {
      connectionId: id,
      method: "GET",
      path: "/employer/company",
      search: "",
      headers: new Headers(),
      body: null,
    };
    let res: Response;
    try {
      res = await proxyToFinch(deps, call, newTrace("sim"));
    } catch (e) {
      this.count(`${id} ${e instanceof AppError ? e.code : "?"}`);
      if (e instanceof AppError && e.code === "connection_not_found" && this.writerToken(id).token) {
        this.tally.notYetVisible++;
      }
      return this.expected(e, "proxy");
    }
    const body = await res.text();
    this.count(`${id} ${res.status}`);
    if (asked.length > 1 || asked[0]?.returned) this.tally.healed++;
    if (res.status !== 401 || body.includes("reauthenticate_user")) return;
    const first = asked[0];
    const healable =
      (first && !first.returned && first.valid) ||
      (first?.returned !== undefined && this.finch.connections.get(id)?.token === first.returned.token);
    if (healable) this.tally.staleFailures++;
  }
}
