import { type AppEvent, parseAppEvent } from "../../src/app-events/model";
import type { EventSinks } from "../../src/app-events/outbox";
import { type AuditAnchor, type AuditEntry, GENESIS, MAX_AUDIT_ENTRIES } from "../../src/writer/audit";
import type { OutboxPort } from "../../src/writer/host";
import type { OwedRow } from "../../src/writer/owed";
import { type Commit, EVENT_ID_TTL_MS, type WriterState, type WriterStorage } from "../../src/writer/state";

/**
 * A connection writer's own storage for the consistency simulation, in memory: what a Durable
 * Object's SQLite holds (state, claimed event ids, owed KV writes, the event outbox, the alarm).
 * A commit is one step, as the SQLite transaction is. `history` keeps every commit (the state
 * before and after, and its events) so the simulation can match each change with its events.
 *
 * Resets: each object instance reaches the storage through `handle()`. `reset()` ends the
 * current instance: its handle refuses every later call (an instance that is gone writes
 * nothing), while the storage itself, committed, stays.
 */
export interface Saved {
  before: WriterState | undefined;
  after: WriterState;
  events: AppEvent[];
  /** The audit entry committed with it, if any. */
  audit?: AuditEntry;
}

export class SimReset extends Error {
  constructor() {
    super("the object was reset");
    this.name = "SimReset";
  }
}

export class SimWriterStorage {
  state: WriterState | undefined;
  readonly ids = new Map<string, number>();
  readonly owedRows = new Map<string, OwedRow>();
  readonly history: Saved[] = [];
  outbox: AppEvent[] = [];
  forwarded: { seq: number; message: unknown }[] = [];
  audit: AuditEntry[] = [];
  anchor: AuditAnchor = GENESIS;
  private forwardSeq = 0;
  alarmAt: number | undefined;
  epoch = 0;
  /** Commits refused because their instance was gone. */
  refused = 0;

  reset(): void {
    this.epoch++;
  }

  /** The storage as one instance sees it: usable until the next reset. */
  handle(): WriterStorage & OutboxPort {
    const epoch = this.epoch;
    const alive = () => {
      if (epoch !== this.epoch) {
        this.refused++;
        throw new SimReset();
      }
    };
    return {
      load: () => {
        alive();
        return this.state && structuredClone(this.state);
      },
      commit: (change: Commit) => {
        alive();
        // Validated as the SQL outbox validates: an invalid event keeps nothing.
        const events = (change.events ?? []).map((e) => parseAppEvent(e, "internal_error"));
        if (change.audit) {
          const last = this.audit.at(-1) ?? this.anchor;
          if (change.audit.seq !== last.seq + 1) throw new Error("audit entry out of sequence");
        }
        this.history.push({
          before: this.state,
          after: structuredClone(change.state),
          events,
          ...(change.audit ? { audit: { ...change.audit } } : {}),
        });
        if (change.audit) {
          this.audit.push({ ...change.audit });
          if (this.audit.length > MAX_AUDIT_ENTRIES) this.anchor = this.audit.shift() as AuditEntry;
        }
        this.state = structuredClone(change.state);
        this.outbox.push(...events);
        for (const row of change.owed ?? []) this.owedRows.set(row.key, { ...row });
        for (const claim of change.claims ?? []) this.ids.set(claim.eventId, claim.atMs);
        for (const message of change.forward ?? []) this.forwarded.push({ seq: ++this.forwardSeq, message });
        if (change.alarmBy !== undefined && (this.alarmAt === undefined || this.alarmAt > change.alarmBy)) {
          this.alarmAt = change.alarmBy;
        }
      },
      seen: (eventId, nowMs) => {
        alive();
        const at = this.ids.get(eventId);
        return at !== undefined && at > nowMs - EVENT_ID_TTL_MS;
      },
      owed: () => {
        alive();
        return [...this.owedRows.values()].sort((a, b) => a.key.localeCompare(b.key)).map((r) => ({ ...r }));
      },
      owedRow: (key) => {
        alive();
        const row = this.owedRows.get(key);
        return row && { ...row };
      },
      putOwed: (row) => {
        alive();
        this.owedRows.set(row.key, { ...row });
      },
      dropOwed: (key, gen) => {
        alive();
        if (this.owedRows.get(key)?.gen === gen) this.owedRows.delete(key);
      },
      forwards: (limit) => {
        alive();
        return this.forwarded.slice(0, limit);
      },
      dropForwards: (seq) => {
        alive();
        this.forwarded = this.forwarded.filter((f) => f.seq > seq);
      },
      auditLast: () => {
        alive();
        const last = this.audit.at(-1) ?? this.anchor;
        return { seq: last.seq, hash: last.hash };
      },
      auditAnchor: () => {
        alive();
        return { seq: this.anchor.seq, hash: this.anchor.hash };
      },
      auditEntries: (afterSeq, limit) => {
        alive();
        const after = this.audit.filter((e) => e.seq > afterSeq).map((e) => ({ ...e }));
        return limit === undefined ? after : after.slice(0, limit);
      },
      setAlarm: (atMs) => {
        alive();
        this.alarmAt = atMs;
      },
      alarmFired: () => {
        alive();
        this.alarmAt = undefined;
      },
      pending: () => {
        alive();
        return this.outbox.length;
      },
      flush: async (sinks: EventSinks) => {
        alive();
        const page = this.outbox.slice(0, 100);
        if (page.length === 0) return { sent: 0, remaining: 0 };
        if (sinks.appQueue) await sinks.appQueue.sendBatch(page.map((body) => ({ body })));
        // Deleted only after the hand-off, by the instance that made it (a reset in between
        // leaves the rows: they are sent again, and the receiver dedupes on the event id).
        alive();
        this.outbox = this.outbox.filter((e) => !page.includes(e));
        return { sent: page.length, remaining: this.outbox.length };
      },
    };
  }
}
