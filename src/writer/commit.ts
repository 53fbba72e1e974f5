import type { AppEvent } from "../app-events/model";
import { AppError } from "../errors";
import type { FinchSettings } from "../finch/http";
import { toBase64Url, utf8 } from "../lib/encoding";
import type { Trace } from "../lib/trace";
import type { ConnectionStore, KvWrite } from "../storage/connection-store";
import type { StoredConnection } from "../storage/records";
import { type AuditAction, nextEntry } from "./audit";
import { type Cause, changeEvents } from "./change-events";
import type { OwedWrites } from "./owed";
import { type Claim, type Commit, generation, type WriterState, type WriterStorage } from "./state";

/** What Finch webhooks a commit handled: their ids (claimed with it) and the messages to forward. */
export interface WebhookHandled {
  claims: readonly Claim[];
  forward: readonly unknown[];
}

export const NO_WEBHOOK: WebhookHandled = { claims: [], forward: [] };

/** What a change is, for its event and its audit entry. */
export interface Change {
  cause: Cause;
  /** A new connection: its customer index entry is written too. */
  isNew?: boolean;
  /** Finch's introspect answer (the reconciliation's clock restarts). */
  checked?: boolean;
  delivered?: WebhookHandled;
  /** The call the change is made for: its actor and request id go into the audit trail. */
  trace: Trace;
}

/** What a non-record state stores with it. */
export interface Kept {
  events?: readonly AppEvent[];
  writes?: readonly KvWrite[];
  delivered?: WebhookHandled;
  /** Records the state's event in the audit trail, for this call. */
  trace?: Trace;
}

/** The audit action a change's event (or, without one, its cause) records; undefined: nothing to record. */
function auditAction(events: readonly AppEvent[], cause?: Cause): AuditAction | undefined {
  switch (events[0]?.type) {
    case "connection.created":
      return cause?.op === "import" || cause?.op === "sandbox" ? "imported" : "connected";
    case "connection.reauthenticated":
      return "reauthenticated";
    case "connection.status_changed":
      return "status_changed";
    case "connection.updated":
      return "updated";
    case "connection.data_synced":
      return "data_synced";
    case "connection.disconnected":
      return "disconnected";
    default:
      return cause?.op === "reencrypt" ? "resealed" : undefined;
  }
}

/**
 * The id of a lifecycle event caused by a Finch webhook: derived from Finch's event id, so
 * every copy and every redelivery of that webhook would tell the app the same id (a claim
 * makes the writer apply it once anyway; this holds even past the claim's three days).
 */
async function derivedEventId(connectionId: string, finchEventId: string, type: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", utf8(`${connectionId}\n${finchEventId}\n${type}`));
  return `evt_${toBase64Url(new Uint8Array(digest))}`;
}

export interface WriterDeps {
  connectionId: string;
  storage: WriterStorage;
  /** KV as seen from where the writer runs: legacy adoption reads, sealing, planning writes. */
  store: ConnectionStore;
  /** The KV writes this object owes, and the attempts in flight (one per object instance). */
  owed: OwedWrites;
  finch: () => FinchSettings;
  /** The webhook fan-out queue, when bound. */
  events: () => Queue<unknown> | undefined;
  now: () => Date;
}

/** A commit that owes KV writes (or events) also sets the alarm: it finishes them if the object is reset first. */
export const SAFETY_ALARM_MS = 10_000;

/**
 * What every writer operation (operations.ts) stands on: the committed state (memory, else the
 * writer's storage, else adopted once from KV), the lock that runs changes one at a time, and
 * `commit`, the one way a changed record is stored, with its lifecycle event and the KV writes
 * it owes. The writer's storage is the commit point: KV is written only after it (owed.ts).
 */
export class WriterCommits {
  #state: WriterState | undefined;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(protected readonly deps: WriterDeps) {}

  /**
   * The state, from memory, else the writer's storage, else (once) adopted from KV: a record
   * written before the single writer existed. Whatever a change committed while this was
   * reading wins over what it read.
   */
  protected async load(trace: Trace): Promise<WriterState | undefined> {
    if (this.#state) return this.#state;
    const saved = this.deps.storage.load();
    if (saved?.kind === "gone" && saved.cleanup) {
      // A tombstone from before the owed table: its KV removal becomes owed writes.
      const writes = await this.deps.store.removeWrites(saved.cleanup);
      if (this.#state) return this.#state;
      this.persist({ state: { kind: "gone", gen: saved.gen, at: saved.at } }, writes);
      return this.#state;
    }
    if (saved) {
      this.#state = saved;
      return saved;
    }
    const found = await this.deps.store.get(this.deps.connectionId);
    if (this.#state) return this.#state;
    // Never connected: nothing is stored, here or in KV.
    if (!found) return undefined;
    const gen = found.gen ?? 0;
    const adopted: WriterState = { kind: "live", record: { ...found, gen, token_gen: found.token_gen ?? gen } };
    this.persist({ state: adopted });
    trace.notes.push(`writer adopted the KV record at generation ${gen}`);
    return adopted;
  }

  protected exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(work, work);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Stores a changed record: the state, the change's lifecycle event (change-events.ts), its audit
   * entry (audit.ts) and the KV writes it owes, in one commit; the writes are sent after it.
   * The event and the entry are built before anything is written, so a change is never stored
   * without them. `checked`: the change is Finch's introspect answer (the reconciliation's
   * clock restarts). `delivered`: the Finch webhooks that caused it, claimed in the same commit
   * (their first id names the event). Callers hold the writer's lock (the audit chain's next
   * entry follows the last one read here).
   */
  protected async commit(record: StoredConnection, change: Change): Promise<StoredConnection> {
    const before = this.#state;
    const at = this.deps.now().toISOString();
    let events = changeEvents(before, record, change.cause, at);
    const delivered = change.delivered ?? NO_WEBHOOK;
    const finchEventId = delivered.claims[0]?.eventId;
    if (finchEventId !== undefined) {
      const id = this.deps.connectionId;
      events = await Promise.all(
        events.map(async (e) => ({ ...e, id: await derivedEventId(id, finchEventId, e.type) })),
      );
    }
    const writes = await this.deps.store.storeWrites(record, change.isNew ?? false);
    const audit = await this.auditEntry(auditAction(events, change.cause), change.trace, at);
    const checkedAt = change.checked ? at : before?.kind === "live" ? before.checked_at : undefined;
    const state: WriterState = { kind: "live", record, ...(checkedAt ? { checked_at: checkedAt } : {}) };
    this.persist({ state, events, ...delivered, ...(audit ? { audit } : {}) }, writes);
    return record;
  }

  /**
   * A state that is not a record change (a marker, a tombstone with its event and deletes),
   * stored; with `trace`, its event is recorded in the audit trail too.
   */
  protected async keep(state: WriterState, extra: Kept = {}): Promise<void> {
    const events = extra.events ?? [];
    const audit = extra.trace ? await this.auditEntry(auditAction(events), extra.trace) : undefined;
    this.persist({ state, events, ...(extra.delivered ?? NO_WEBHOOK), ...(audit ? { audit } : {}) }, extra.writes);
  }

  /** Claims webhooks that changed nothing (and keeps their messages to forward), with the state as it is. */
  protected claimOnly(delivered: WebhookHandled): void {
    const state = this.#state;
    if (!state || (delivered.claims.length === 0 && delivered.forward.length === 0)) return;
    this.persist({ state, ...delivered });
  }

  /** Records `action` in the audit trail alone, with the state as it is (a token handed out). */
  protected async audited(action: AuditAction, trace: Trace): Promise<void> {
    const state = this.#state;
    const audit = await this.auditEntry(action, trace);
    if (state && audit) this.persist({ state, audit });
  }

  /** The next audit entry for `action` by the call of `trace` (the caller holds the lock). */
  private async auditEntry(action: AuditAction | undefined, trace: Trace | undefined, at?: string) {
    if (!action || !trace) return undefined;
    return nextEntry(this.deps.storage.auditLast(), {
      at: at ?? this.deps.now().toISOString(),
      action,
      actor: trace.actor ?? "unknown",
      request_id: trace.requestId,
    });
  }

  /**
   * The commit itself, synchronous from the plan to the first sends: the rows say their
   * writes were sent at this instant, and they are.
   */
  protected persist(change: Omit<Commit, "owed" | "alarmBy">, writes: readonly KvWrite[] = []): void {
    const owed = this.deps.owed.plan(writes, generation(change.state));
    const safety = owed.length > 0 || (change.events?.length ?? 0) > 0 || (change.forward?.length ?? 0) > 0;
    this.deps.storage.commit({
      ...change,
      owed,
      ...(safety ? { alarmBy: this.deps.now().getTime() + SAFETY_ALARM_MS } : {}),
    });
    this.#state = change.state;
    this.deps.owed.kick(owed);
  }

  protected async live(trace: Trace): Promise<StoredConnection> {
    const state = await this.load(trace);
    if (state?.kind !== "live") throw new AppError("connection_not_found", `connection ${this.deps.connectionId}`);
    return state.record;
  }

  /** Finch answered, nothing changed: only the writer's own clock for the reconciliation moves (no KV write). */
  protected markChecked(record: StoredConnection, delivered: WebhookHandled = NO_WEBHOOK): void {
    this.persist({ state: { kind: "live", record, checked_at: this.deps.now().toISOString() }, ...delivered });
  }

  /** The committed state, as this writer holds it now (for diagnostics and the simulation's checks). */
  get committed(): WriterState | undefined {
    return this.#state;
  }
}
