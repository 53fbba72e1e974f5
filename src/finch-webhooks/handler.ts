import { jobCompletion } from "../app-events/model";
import type { Trace } from "../lib/trace";
import type { WebhookOutcome, Writers } from "../writer/commands";
import { fanOut } from "../writer/fan-out";
import type { WebhookEvent } from "./event";

/**
 * Handles one verified Finch webhook. Finch delivers at least once, unordered, retries for
 * hours on any non-2xx, and re-signs every retry with a fresh finch-timestamp, so neither the
 * timestamp nor the arrival order says which status is newer.
 *
 * - account.updated is a prompt, not the truth: the connection's writer dedupes the event id
 *   (in its own strongly consistent storage), asks Finch (GET /introspect, coalescing prompts
 *   that arrive while one is in flight) and stores Finch's answer. One writer call, one
 *   introspect, at most one KV write; a duplicate costs no KV write. If Finch cannot be
 *   reached the answer is 5xx and Finch delivers again.
 * - A sync job's completion (`job.initial_data_sync_org.succeeded`, `..._payroll.succeeded`,
 *   `job.data_sync_all.completed`, see app-events/model.ts jobCompletion) is a prompt too: the
 *   writer dedupes the id the same way, asks Finch whether that job completed for this
 *   connection (src/writer/job-check.ts), and only then records Finch's completion time in the
 *   record (data readiness) and emits `connection.data_synced`. A job Finch does not confirm
 *   is claimed and records nothing ("unverified").
 * - Other event types change nothing stored and touch neither the writer nor KV; their
 *   redeliveries are not detected here (queue consumers dedupe on event_id).
 * - No connection id, or a dashboard `test`: acknowledged, noted in the log.
 *
 * Fan-out: when the EVENTS queue is bound, every verified event that is not a recognised
 * duplicate is sent to it. For account.updated the writer sends it after storing Finch's
 * answer and remembers the id only after the send succeeded, so a failed send is redelivered
 * by Finch and sent again (consumers must dedupe on event_id).
 */
export interface WebhookDeps {
  writers: Writers;
  /** The Queue producer for fan-out; undefined when EVENTS is not bound. */
  events: Queue<unknown> | undefined;
}

export type HandledOutcome = WebhookOutcome | "acknowledged" | "test";

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
): Promise<HandledOutcome> {
  const { eventId, event } = verified;
  if (event.connection_id) trace.connectionId = event.connection_id;
  const done = (outcome: HandledOutcome) => {
    trace.notes.push(`webhook ${eventId} ${event.event_type}: ${outcome}`);
    return outcome;
  };
  const message = toMessage(verified, now);

  if (event.event_type === "test") {
    await fanOut(deps.events, message);
    return done("test");
  }
  if (!event.connection_id) {
    await fanOut(deps.events, message);
    return done("unknown_connection");
  }
  // The writer sends the message itself (after storing), only when this Worker has a queue.
  const forward = deps.events ? message : undefined;
  const job = jobCompletion(event.event_type, event.data);
  if (job) return done(await deps.writers(event.connection_id).jobCompleted(eventId, job, forward, trace));
  if (event.event_type !== "account.updated") {
    await fanOut(deps.events, message);
    return done("acknowledged");
  }
  return done(await deps.writers(event.connection_id).accountUpdated(eventId, forward, trace));
}

function toMessage(verified: VerifiedEvent, now: Date): WebhookMessage {
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
