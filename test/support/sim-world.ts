import { env } from "cloudflare:workers";
import type fc from "fast-check";
import type { AppEvent } from "../../src/app-events/model";
import { getConfig } from "../../src/config";
import { completeConnect } from "../../src/connect-flow/callback";
import type { PendingFlow } from "../../src/connect-flow/flow-state";
import { AppError } from "../../src/errors";
import { handleWebhookEvent } from "../../src/finch-webhooks/handler";
import { newTrace } from "../../src/lib/trace";
import { reencryptBatch } from "../../src/maintenance/reencrypt";
import { connectionFacts } from "../../src/operations/connections";
import { proxyToFinch } from "../../src/proxy/proxy";
import { ConnectionStore } from "../../src/storage/connection-store";
import { inProcessWriters } from "../../src/writer/client";
import type { CurrentToken, Writers } from "../../src/writer/commands";
import { WriterHost } from "../../src/writer/host";
import type { WriterState } from "../../src/writer/state";
import { type PendingEvent, SimFinch, simRing, unsealSim } from "./sim-finch";
import { type KvFault, SimKv } from "./sim-kv";
import { SimReset, SimWriterStorage } from "./sim-writer";

/**
 * One simulated deployment for test/sim/consistency.test.ts: several locations, each running the
 * real domain functions against its own view of KV (SimKv), one writer per connection run by
 * the production WriterHost over in-memory storage (SimWriterStorage), the simulated Finch, the
 * app's event queue, and a clock that only the schedule moves. Faults come from a plan the
 * property draws: the writer's KV writes fail, land and report failure, land late or hang;
 * event hand-offs fail or are delivered twice; writers are reset at any moment.
 */
export const LOCATIONS = 3;
export const WRITER_LOCATION = 0;
export const CONNECTIONS = ["conn-a", "conn-b"];
/** Never connected: nothing may ever be stored for it. */
export const GHOST = "conn-ghost";

export type HandoffFault = "ok" | "fail" | "landed" | "dup";

/** The faults one schedule injects, consumed in order (then everything succeeds). */
export interface FaultPlan {
  kv: KvFault[];
  handoff: HandoffFault[];
}

export interface SimWriter {
  storage: SimWriterStorage;
  host: WriterHost | undefined;
  /** The storage epoch the host was made for (a reset makes a new one). */
  epoch: number;
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
  /** Faults that fired, by kind (a run in which none fired proves nothing about faults). */
  faults: Record<string, number>;
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
  faults: {},
});

/** Codes a caller may be answered in a schedule; any other is a problem. */
const OK_CODES = new Set(["connection_not_found", "finch_rejected", "finch_reauthenticate", "storage_unavailable"]);

export class World {
  clock = Date.parse("2026-11-29T00:00:00Z");
  readonly kv: SimKv;
  readonly ring = simRing();
  readonly finch: SimFinch;
  readonly writers = new Map<string, SimWriter>();
  readonly unacked = new Set<PendingEvent>();
  readonly problems: string[] = [];
  /** What the app received from its event queue, by event id (it dedupes on the id). */
  readonly received = new Map<string, AppEvent>();
  /** Connect flows whose callback failed: the employer connects again. */
  readonly retryConnect = new Set<string>();
  /** Disconnects answered with a 5xx: the app asks again. */
  readonly retryDisconnect = new Set<string>();
  readonly tally: Tally = emptyTally();
  private readonly settings = getConfig(env).finch();
  private kvFaults = 0;
  private handoffFaults = 0;

  constructor(
    private readonly scheduler: fc.Scheduler,
    ttlMs: number,
    private readonly plan: FaultPlan = { kv: [], handoff: [] },
  ) {
    this.kv = new SimKv(LOCATIONS, ttlMs, () => this.clock);
    this.finch = new SimFinch(scheduler);
    this.finch.install();
  }

  private fired(kind: string): void {
    this.tally.faults[kind] = (this.tally.faults[kind] ?? 0) + 1;
  }

  /** Moves the clock; late KV writes whose time has come land. */
  advance(ms: number): void {
    this.clock += ms;
    this.kv.landDue();
  }

  store(location: number): ConnectionStore {
    return new ConnectionStore(this.kv.view(location), this.ring);
  }

  /** KV as the writers reach it: the plan's faults apply to their writes. */
  private writerKv(): KVNamespace {
    return this.kv.view(WRITER_LOCATION, {
      next: () => {
        const fault = this.plan.kv[this.kvFaults++] ?? "ok";
        if (fault !== "ok") this.fired(`kv ${fault}`);
        return fault;
      },
      later: (land) => void this.scheduler.schedule(Promise.resolve(), "kv late write lands").then(land),
      answer: (settle) => this.scheduler.schedule(Promise.resolve(), "kv answers").then(settle),
    });
  }

  /** The app's event queue: the plan says whether a hand-off fails, lands unreported, or is delivered twice. */
  private readonly appQueue = {
    sendBatch: async (messages: Iterable<MessageSendRequest<unknown>>) => {
      const fault = this.plan.handoff[this.handoffFaults++] ?? "ok";
      if (fault !== "ok") this.fired(`handoff ${fault}`);
      if (fault === "fail") throw new Error("queue unavailable");
      const events = [...messages].map((m) => m.body as AppEvent);
      const times = fault === "dup" ? 2 : 1;
      for (let i = 0; i < times; i++) for (const e of events) this.received.set(e.id, e);
      if (fault === "landed") throw new Error("queue answered 503 after accepting");
    },
  };

  writer(id: string): SimWriter {
    let w = this.writers.get(id);
    if (!w) {
      w = { storage: new SimWriterStorage(), host: undefined, epoch: -1 };
      this.writers.set(id, w);
    }
    return w;
  }

  /** The instance serving `id` now: a new one after a reset (its memory empty, its storage kept). */
  private hostOf(id: string): WriterHost {
    const w = this.writer(id);
    if (!w.host || w.epoch !== w.storage.epoch) {
      const storage = w.storage.handle();
      w.epoch = w.storage.epoch;
      w.host = new WriterHost({
        storage,
        outbox: storage,
        store: new ConnectionStore(this.writerKv(), this.ring),
        sinks: () => ({ appQueue: this.appQueue, webhookQueue: undefined }),
        finch: () => this.settings,
        events: () => undefined,
        now: () => this.clock,
        // A KV attempt's timeout fires when the schedule says so.
        wait: () => this.scheduler.schedule(Promise.resolve(), "kv attempt timeout"),
      });
    }
    return w.host;
  }

  /** A writer reset: memory and attempts in flight are gone; what was committed stays. */
  reset(id: string): void {
    const w = this.writers.get(id);
    if (!w) return;
    w.storage.reset();
    this.fired("writer reset");
  }

  /**
   * The writer's alarm, whenever it fires (on time, late, or twice). An alarm whose handler
   * did not finish (its instance was reset) is run again by the runtime: it stays set.
   */
  async alarm(id: string): Promise<void> {
    const w = this.writers.get(id);
    const at = w?.storage.alarmAt;
    if (!w || at === undefined) return;
    try {
      await this.hostOf(id).alarm();
    } catch (e) {
      if (!(e instanceof SimReset)) this.problems.push(`alarm ${id}: ${String(e)}`);
      w.storage.alarmAt ??= at;
    }
  }

  /**
   * Every call through the Writers interface: a call whose instance was reset before it
   * answered fails as the Durable Object's would (storage_unavailable to the caller).
   */
  readonly allWriters: Writers = inProcessWriters((id) => {
    const host = this.hostOf(id);
    const epoch = this.writer(id).storage.epoch;
    return {
      run: async (cid, command, caller) => {
        const outcome = await host.run(cid, command, caller);
        if (this.writer(id).storage.epoch !== epoch) throw new SimReset();
        return outcome;
      },
    };
  });

  /** The writer's committed state (its storage: the commit point). */
  writerState(id: string): WriterState | undefined {
    return this.writers.get(id)?.storage.state;
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
    try {
      await completeConnect(deps, ctx, this.finch.code(id), newTrace("sim"));
      this.retryConnect.delete(id);
    } catch (e) {
      // finch_rejected: a later re-authentication revoked this token before it reached the
      // writer, after a disconnect (with a record, the writer keeps the newer one and says ok).
      if (e instanceof AppError && e.code === "finch_rejected") return;
      // The callback failed after Finch issued a token: the employer sees an error page and connects again.
      if (e instanceof AppError && e.status >= 500) this.retryConnect.add(id);
      this.expected(e, `connect ${id}`);
    }
  }

  async introspect(id: string): Promise<void> {
    this.tally.introspects++;
    await this.allWriters(id)
      .introspect("introspect", newTrace("sim"))
      .catch((e) => this.expected(e, "introspect"));
  }

  /** The Cron Trigger's re-check of one connection (`maxAgeMs` 0: always asks Finch). */
  async reconcile(id: string, maxAgeMs: number): Promise<void> {
    this.tally.introspects++;
    await this.allWriters(id)
      .reconcile(maxAgeMs, newTrace("sim"))
      .catch((e) => this.expected(e, "reconcile"));
  }

  async disconnect(id: string): Promise<void> {
    try {
      await this.allWriters(id).disconnect(null, newTrace("sim"));
      this.retryDisconnect.delete(id);
    } catch (e) {
      if (e instanceof AppError && e.code === "connection_not_found") this.retryDisconnect.delete(id);
      else if (e instanceof AppError && e.status >= 500) this.retryDisconnect.add(id);
      this.expected(e, "disconnect");
    }
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

  /**
   * Finch's webhook that a sync job of `id` finished (its event id may repeat: a redelivery).
   * A forged one (a leaked webhook secret) names a job Finch never ran: the writer asks Finch,
   * and must record nothing for it.
   */
  async deliverJob(id: string, eventId: string, jobType: string, forged = false): Promise<void> {
    this.tally.deliveries++;
    const jobId = `job-${eventId}`;
    if (!forged) this.finch.finishJob(id, jobId, jobType, new Date(this.clock).toISOString());
    this.finch.serveJob(jobId);
    const verified = {
      eventId,
      timestamp: Math.floor(this.clock / 1000),
      event: {
        event_type: `job.${jobType}.${jobType === "data_sync_all" ? "completed" : "succeeded"}`,
        connection_id: id,
        company_id: undefined,
        account_id: undefined,
        entity_id: undefined,
        data: { job_id: jobId },
        status: undefined,
      },
    };
    try {
      const outcome = await handleWebhookEvent(
        { writers: this.allWriters, events: undefined },
        verified,
        newTrace("sim"),
        new Date(this.clock),
      );
      this.count(`job ${forged ? "forged" : "real"} ${outcome}`);
    } catch (e) {
      this.expected(e, "job webhook");
    }
  }

  /** GET /api/connections/:id at `location`: the facts, or the error code. */
  async read(id: string, location: number): Promise<{ gen: number | undefined } | { code: string }> {
    try {
      const deps = { store: this.store(location), writers: this.allWriters };
      const facts = await connectionFacts(deps, id, newTrace("sim"), undefined);
      return { gen: facts.gen };
    } catch (e) {
      return { code: e instanceof AppError ? e.code : String(e) };
    }
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
          // The writer's token when it was asked, and still when it answered (a change while the
          // call was settling its KV writes is not the answer's fault).
          const before = this.writerToken(cid);
          const returned = await w.staleToken(gen, reauth, trace);
          const after = this.writerToken(cid);
          asked.push({ valid: before.valid && after.valid && before.token === after.token, returned });
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

  /** What is still owed, for a failure message. */
  describeUnsettled(): string {
    const parts = [`kv writes on their way: ${this.kv.inFlight()}`];
    for (const [id, w] of this.writers) {
      const rows = [...w.storage.owedRows.values()].map((r) => `${r.key}@${r.gen} due ${r.due_at - this.clock}`);
      parts.push(`${id}: owed [${rows.join(", ")}], outbox ${w.storage.outbox.length}, alarm ${w.storage.alarmAt}`);
    }
    return parts.join("; ");
  }

  /** What is still to do before the world is at rest: owed KV writes, late writes, events. */
  unsettled(): number {
    let n = this.kv.inFlight();
    for (const w of this.writers.values()) n += w.storage.owedRows.size + w.storage.outbox.length;
    return n;
  }

  /**
   * After the schedule: Finch redelivers what was not acknowledged, employers and apps repeat
   * what failed, and time passes with the alarms firing until nothing is owed anywhere.
   */
  async quiesce(): Promise<void> {
    for (let round = 0; round < 8; round++) {
      for (const e of [...this.unacked]) await this.scheduler.waitFor(this.deliver(e));
      for (const id of [...this.retryConnect]) await this.scheduler.waitFor(this.connect(id));
      for (const id of [...this.retryDisconnect]) await this.scheduler.waitFor(this.disconnect(id));
      if (this.unacked.size + this.retryConnect.size + this.retryDisconnect.size === 0) break;
    }
    for (let round = 0; round < 40 && this.unsettled() > 0; round++) {
      const due = [...this.writers.values()].map((w) => w.storage.alarmAt ?? this.clock);
      this.advance(Math.max(1_000, Math.max(...due) - this.clock + 1));
      for (const id of this.writers.keys()) await this.scheduler.waitFor(this.alarm(id));
    }
  }
}
