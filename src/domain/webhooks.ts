import { AppError } from "../errors";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connections";
import type { StoredConnection } from "../storage/records";
import type { WebhookEvent } from "../webhooks/event";

/**
 * Applies one verified Finch webhook to the stored connection: at most one KV read and one
 * KV write, no call to Finch. Finch delivers at least once, unordered, and retries for hours
 * on any non-2xx, so everything here is idempotent and every failure to record is an error
 * (the route answers 5xx and Finch delivers again).
 *
 * - account.updated: the new status is stored only if the event's timestamp is newer than
 *   the record's `status_at`. The callback sets status_at to its own time, so a stale
 *   `reauth` from before a re-authentication cannot undo it. Applied event ids are kept
 *   (the last RECENT_EVENT_IDS) in the same record and same write, so a redelivery is a
 *   "duplicate" with no write at all.
 * - Other event types change nothing stored and are not written: KV allows about one write
 *   per second per key, and a burst of `individual.updated` for one connection would turn
 *   into throttled writes, 5xx and retries for events that change nothing. Their redelivery
 *   is therefore not detected here; the queue's consumers dedupe on event_id.
 * - Unknown connection, no connection id, or a dashboard `test`: acknowledged, noted in the log.
 *
 * Fan-out: when the EVENTS queue is bound, every verified event that is not a recognised
 * duplicate is sent to it BEFORE the KV write. An id is recorded only after its send
 * succeeded, so a duplicate never needs re-sending; if the write fails after the send,
 * Finch redelivers and the event is sent again (consumers must dedupe on event_id).
 */
export const RECENT_EVENT_IDS = 50;

export interface WebhookDeps {
  store: ConnectionStore;
  /** The Queue producer for fan-out; undefined when EVENTS is not bound. */
  events: Queue<unknown> | undefined;
}

export type WebhookOutcome = "applied" | "stale" | "duplicate" | "acknowledged" | "unknown_connection" | "test";

/** What consumers of the EVENTS queue receive (JSON). Documented in docs/webhooks.md. */
export interface WebhookMessage {
  event_id: string;
  event_type: string;
  connection_id: string | null;
  company_id?: string;
  account_id?: string;
  entity_id?: string;
  data: unknown;
  /** When this Worker accepted the event, ISO-8601. */
  received_at: string;
  /** Finch's finch-timestamp header, ISO-8601. */
  timestamp: string;
}

export interface VerifiedEvent {
  eventId: string;
  /** Unix seconds (finch-timestamp). */
  timestamp: number;
  event: WebhookEvent;
}

export async function handleWebhookEvent(
  deps: WebhookDeps,
  verified: VerifiedEvent,
  trace: Trace,
  now = new Date(),
): Promise<WebhookOutcome> {
  const { eventId, event } = verified;
  if (event.connection_id) trace.connectionId = event.connection_id;
  const done = (outcome: WebhookOutcome) => {
    trace.notes.push(`webhook ${eventId} ${event.event_type}: ${outcome}`);
    return outcome;
  };
  const send = () => fanOut(deps.events, toMessage(verified, now));

  if (event.event_type === "test") {
    await send();
    return done("test");
  }
  const record = event.connection_id ? await deps.store.get(event.connection_id) : undefined;
  if (!record) {
    await send();
    return done("unknown_connection");
  }
  if (record.events?.recent_ids.includes(eventId)) return done("duplicate");
  if (event.event_type !== "account.updated" || event.status === undefined) {
    await send();
    return done("acknowledged");
  }

  const eventAt = verified.timestamp * 1000;
  const storedAt = Date.parse(record.status_at);
  // Equal is not newer: Finch's timestamps have one-second resolution, and a redelivery of
  // the event that set status_at must not count as a change (see docs/webhooks.md).
  if (Number.isFinite(storedAt) && eventAt <= storedAt) {
    await send();
    return done("stale");
  }
  const next: StoredConnection = {
    ...record,
    status: event.status,
    status_at: new Date(eventAt).toISOString(),
    updated_at: now.toISOString(),
    events: { recent_ids: rememberId(record.events?.recent_ids ?? [], eventId) },
  };
  await send();
  await deps.store.write(next, { indexNew: false });
  return done("applied");
}

/** The last RECENT_EVENT_IDS ids, newest last. */
export function rememberId(ids: readonly string[], id: string): string[] {
  return [...ids.filter((x) => x !== id), id].slice(-RECENT_EVENT_IDS);
}

export function toMessage(verified: VerifiedEvent, now: Date): WebhookMessage {
  const { event } = verified;
  return {
    event_id: verified.eventId,
    event_type: event.event_type,
    connection_id: event.connection_id ?? null,
    ...(event.company_id ? { company_id: event.company_id } : {}),
    ...(event.account_id ? { account_id: event.account_id } : {}),
    ...(event.entity_id ? { entity_id: event.entity_id } : {}),
    data: event.data,
    received_at: now.toISOString(),
    timestamp: new Date(verified.timestamp * 1000).toISOString(),
  };
}

async function fanOut(queue: Queue<unknown> | undefined, message: WebhookMessage): Promise<void> {
  if (!queue) return;
  try {
    await queue.send(message, { contentType: "json" });
  } catch {
    // Same answer as a failed KV write: Finch must deliver the event again.
    throw new AppError("storage_unavailable", "queue send failed");
  }
}
