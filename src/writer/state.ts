import type { AppEvent } from "../app-events/model";
import type { StoredConnection } from "../storage/records";
import type { AuditAnchor, AuditEntry } from "./audit";
import type { OwedRow, OwedStorage } from "./owed";

/**
 * What a connection's writer keeps in its own (strongly consistent) storage. `live` holds the
 * authoritative record, token sealed exactly as in KV. `gone` is the tombstone a disconnect
 * leaves: nothing but a fresh connect may bring the connection back (the KV deletes it owes
 * are rows of the owed table, like every other KV write), and the customer it belonged to (a
 * restricted caller's read of its audit trail is checked on it). `cleanup` is only read: tombstones
 * stored before the owed table existed named the record whose KV entries were still to be
 * removed; loading one turns it into owed deletes. `prompted`: never connected here, but
 * Finch has announced a change (its webhook can overtake the callback of a first connect):
 * that connect then asks Finch for the status instead of assuming "connected". Nothing goes
 * to KV for it. `checked_at` (live only, never in KV): when Finch last answered an introspect
 * for the record, changed or not; the reconciliation (src/maintenance/reconcile.ts) skips
 * connections checked recently.
 */
export type WriterState =
  | { kind: "live"; record: StoredConnection; checked_at?: string }
  | { kind: "gone"; gen: number; at: string; customer_id?: string; cleanup?: StoredConnection }
  | { kind: "prompted"; at: string };

/** A Finch webhook event id, handled at `atMs`. */
export interface Claim {
  eventId: string;
  atMs: number;
}

/** One commit of the writer: everything in it is stored together, or nothing is. */
export interface Commit {
  state: WriterState;
  /** The change's lifecycle events, appended to the outbox. */
  events?: readonly AppEvent[];
  /** KV writes the change owes, as rows of the owed table (replacing a row of the same key). */
  owed?: readonly OwedRow[];
  /** Finch webhook event ids this change handled: remembered, so a redelivery is a duplicate. */
  claims?: readonly Claim[];
  /** Finch webhook messages to forward to the EVENTS queue (docs/webhooks.md), kept until sent. */
  forward?: readonly unknown[];
  /** An alarm no later than this (ms): the safety net that finishes the owed writes after a reset. */
  alarmBy?: number;
  /** The audit entry recording this change (audit.ts): the next in the chain. */
  audit?: AuditEntry;
}

/**
 * The writer's own storage: the commit point (docs/consistency.md). Every method is
 * synchronous, as SQLite in a Durable Object is: nothing else runs between a read here and
 * the commit that follows it.
 */
export interface WriterStorage extends OwedStorage {
  load(): WriterState | undefined;
  /** One transaction: the state, its events, its owed KV writes, its claimed event id, its alarm. */
  commit(change: Commit): void;
  /** Whether a webhook event id was already handled (and not expired). */
  seen(eventId: string, nowMs: number): boolean;
  /** The oldest webhook messages still to forward, at most `limit`. */
  forwards(limit: number): { seq: number; message: unknown }[];
  /** Forgets the forwarded messages up to `seq` (they were sent). */
  dropForwards(seq: number): void;
  /** The last audit entry kept (or the anchor, or the chain's start): what the next entry follows. */
  auditLast(): AuditAnchor;
  /** Where the kept entries start: the last dropped entry, or the chain's start. */
  auditAnchor(): AuditAnchor;
  /** Kept audit entries after `afterSeq`, in order, at most `limit` (all of them when omitted). */
  auditEntries(afterSeq: number, limit?: number): AuditEntry[];
  /** Sets the one alarm to `atMs`, or removes it (undefined). */
  setAlarm(atMs: number | undefined): void;
  /** The alarm has just fired: none is set until the next setAlarm. */
  alarmFired(): void;
}

/** Finch retries a delivery for hours: ids are kept three days, at most this many per connection. */
export const EVENT_ID_TTL_MS = 3 * 24 * 3600 * 1000;
export const MAX_EVENT_IDS = 500;

export function generation(state: WriterState | undefined): number {
  if (state?.kind === "live") return state.record.gen ?? 0;
  return state?.kind === "gone" ? state.gen : 0;
}
