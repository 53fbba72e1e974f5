import { getConfig } from "../config";
import type { Env } from "../env";
import { AppError } from "../errors";
import type { AppEvent } from "./model";

/**
 * The outbox hand-off: how an event stored by the connection's writer reaches the app.
 *
 * The writer (issue 10) appends the events of a change to an outbox table in its own SQLite
 * storage, in the same transaction as the change itself, so no stored change is without its
 * event and no event describes a change that was not stored. After the transaction it calls
 * `dispatchEvents(eventSinks(env), rows)` and deletes the rows only once that resolved; if it
 * throws, the rows stay and the writer tries again later (its alarm). A crash between sending
 * and deleting sends the same events again: delivery is at least once, and receivers
 * deduplicate by event id (docs/events.md).
 *
 * Sinks are ports so a test (or another runtime) can pass its own; only `sendBatch` is used.
 */
export interface EventSink {
  sendBatch(messages: Iterable<MessageSendRequest<unknown>>): Promise<unknown>;
}

export interface EventSinks {
  /** APP_EVENTS, the app's own Queue (Workers on the same account), when bound. */
  appQueue: EventSink | undefined;
  /** APP_WEBHOOK_QUEUE, the signed HTTP delivery's queue, when APP_WEBHOOK_URL is set. */
  webhookQueue: EventSink | undefined;
}

/** What one call sent: events, and messages per sink. */
export interface DispatchResult {
  events: number;
  app_queue: number;
  webhook_queue: number;
}

/**
 * Queues take at most 100 messages and 256 KB per sendBatch (and 128 KB per message). An event
 * is at most EVENT_MAX_BYTES (model.ts; usually under 2 KB), so a batch is cut by count and by
 * bytes, with room left for the platform's per-message overhead.
 */
export const SEND_BATCH_MAX = 100;
export const SEND_BATCH_MAX_BYTES = 192 * 1024;

/** `events` in sendBatch-sized chunks, in order. */
function sendBatches(events: readonly AppEvent[]): AppEvent[][] {
  const batches: AppEvent[][] = [];
  let current: AppEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = jsonBytes(event);
    if (current.length > 0 && (current.length === SEND_BATCH_MAX || bytes + size > SEND_BATCH_MAX_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

const encoder = new TextEncoder();
export const jsonBytes = (value: unknown): number => encoder.encode(JSON.stringify(value)).byteLength;

/**
 * The sinks configured in `env`. Throws config_invalid (naming the setting) when
 * APP_WEBHOOK_URL is set but incomplete: the writer keeps its outbox rows until that is fixed.
 */
export function eventSinks(env: Env): EventSinks {
  const settings = getConfig(env).appEvents();
  return { appQueue: settings.appQueue, webhookQueue: settings.webhook?.queue };
}

async function sendAll(sink: EventSink, events: readonly AppEvent[], name: string): Promise<void> {
  for (const batch of sendBatches(events)) {
    const chunk = batch.map((body) => ({ body, contentType: "json" as const }));
    try {
      await sink.sendBatch(chunk);
    } catch (cause) {
      // The queue's own message can name the queue, never an event's content; keep it out anyway.
      throw new AppError("event_queue_unavailable", `${name} send failed`, { cause });
    }
  }
}

/**
 * Sends `events` to every configured sink; resolves once all of them accepted every event,
 * throws event_queue_unavailable otherwise. With no sink configured it sends nothing and resolves:
 * the app chose not to hear about events, and the writer may drop its rows.
 */
export async function dispatchEvents(sinks: EventSinks, events: readonly AppEvent[]): Promise<DispatchResult> {
  const result: DispatchResult = { events: events.length, app_queue: 0, webhook_queue: 0 };
  if (events.length === 0) return result;
  if (sinks.appQueue) {
    await sendAll(sinks.appQueue, events, "APP_EVENTS");
    result.app_queue = events.length;
  }
  if (sinks.webhookQueue) {
    await sendAll(sinks.webhookQueue, events, "APP_WEBHOOK_QUEUE");
    result.webhook_queue = events.length;
  }
  return result;
}
