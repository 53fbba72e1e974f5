import type { AppEvent } from "../events/model";
import type { StoredConnection } from "../storage/records";

/**
 * What a connection's writer keeps in its own (strongly consistent) storage. `live` holds the
 * authoritative record, token sealed exactly as in KV. `gone` is the tombstone a disconnect
 * leaves: nothing but a fresh connect may bring the connection back. `cleanup` is the record
 * whose KV entries still have to be removed (a delete that failed half-way is finished by
 * the next call). `prompted`: never connected here, but Finch has announced a change (its
 * webhook can overtake the callback of a first connect): that connect then asks Finch for
 * the status instead of assuming "connected". Nothing goes to KV for it. `checked_at` (live
 * only, never in KV): when Finch last answered an introspect for the record, changed or not;
 * the reconciliation (src/domain/reconcile.ts) skips connections checked recently.
 */
export type WriterState =
  | { kind: "live"; record: StoredConnection; checked_at?: string }
  | { kind: "gone"; gen: number; at: string; cleanup?: StoredConnection }
  | { kind: "prompted"; at: string };

export interface WriterStorage {
  load(): Promise<WriterState | undefined>;
  /**
   * Stores the state and appends `events` (the lifecycle events of this change) to the
   * writer's outbox, both in one transaction: neither is kept without the other.
   */
  save(state: WriterState, events?: readonly AppEvent[]): Promise<void>;
  /** Whether a webhook event id was already handled (and not expired). */
  seen(eventId: string, nowMs: number): Promise<boolean>;
  /** Remembers an event id; old and surplus ids are dropped so the table stays bounded. */
  remember(eventId: string, nowMs: number): Promise<void>;
}

/** Finch retries a delivery for hours: ids are kept three days, at most this many per connection. */
export const EVENT_ID_TTL_MS = 3 * 24 * 3600 * 1000;
export const MAX_EVENT_IDS = 500;

export function generation(state: WriterState | undefined): number {
  if (state?.kind === "live") return state.record.gen ?? 0;
  return state?.kind === "gone" ? state.gen : 0;
}
