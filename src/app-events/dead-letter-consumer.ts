import { AppError } from "../errors";
import type { DeadLetterStore } from "./dead-letters";
import { logDelivery } from "./delivery";
import { type AppEvent, parseAppEvent } from "./model";
import { DEAD_LETTER_MAX_RETRIES, retryDelaySeconds } from "./retry";

/**
 * The dead-letter queues' consumer: keeps each dead-lettered event in EventDeadLetters for
 * `POST /api/events/redeliver`, and never lets Cloudflare delete one while the store is down.
 *
 * - It stores before it acks. A failed store retries each message with the webhook backoff
 *   (30 s doubling, capped at 1 h), never at once: DEAD_LETTER_MAX_RETRIES retries cover just
 *   over 24 h of outage.
 * - Level 1, APP_WEBHOOK_DLQ (finch-app-webhooks-dlq), has a dead-letter queue of its own:
 *   after its last retry Cloudflare moves the message to level 2 (finch-app-webhooks-dlq2)
 *   instead of deleting it. A batch that throws (a bug, not a failed store) is retried after
 *   the consumers' `retry_delay` (1 h) and ends up there too.
 * - Level 2 runs the same consumer with another 24 h of retries. When its last attempt fails
 *   too, it sends the event back to level 1 as a new message and acks: an outage of any length
 *   only cycles the event between the two queues. Only if that send fails as well does
 *   Cloudflare delete the message, logged as `app_webhook_dead_letter_lost` with its id.
 *
 * Why not one queue with 100 retries: a consumer that throws on every batch (a bad deploy)
 * uses up retries at `retry_delay` and the message would be deleted; a second queue keeps it.
 * Why not a longer chain: the send back makes two levels enough for any outage of the store.
 */
export interface DeadLetterDeps {
  /** The store; throws (config_invalid) when the binding is missing: the batch is retried like a failed store. */
  store(): DeadLetterStore;
  now(): number;
  /**
   * Level 2 only: where an event goes back when its last attempt here failed (APP_WEBHOOK_DLQ).
   * `queue` undefined: the binding is missing, and the event is lost (logged).
   */
  sendBack?: { queue: Pick<Queue<unknown>, "send"> | undefined };
}

/** A dead letter sent back to level 1 waits this long before level 1 tries the store again. */
export const SEND_BACK_DELAY_S = 3600;

/** One batch of a dead-letter queue: stored in one write, or every message kept for later. */
export async function storeDeadLetterBatch(batch: MessageBatch<unknown>, deps: DeadLetterDeps): Promise<void> {
  const keep: { message: Message<unknown>; event: AppEvent }[] = [];
  for (const message of batch.messages) {
    try {
      keep.push({ message, event: parseAppEvent(message.body) });
    } catch {
      logDelivery(message, undefined, { kind: "unreadable", reason: "dead letter is not an app event" });
      message.ack();
    }
  }
  if (keep.length === 0) return;
  const entries = keep.map(({ event }) => ({ event_id: event.id, body: JSON.stringify(event) }));
  let dropped: number;
  try {
    ({ dropped } = await deps.store().store(entries, new Date(deps.now()).toISOString()));
  } catch (e) {
    const reason = e instanceof AppError ? e.code : "dead letter store failed";
    await Promise.all(keep.map(({ message, event }) => keepForLater(message, event, reason, deps)));
    return;
  }
  for (const { message, event } of keep) {
    logDelivery(message, event, { kind: "stored", reason: "kept for redelivery" });
    message.ack();
  }
  if (dropped > 0) console.log(JSON.stringify({ level: "error", msg: "app_webhook_dead_letters_full", dropped }));
}

async function keepForLater(message: Message<unknown>, event: AppEvent, reason: string, deps: DeadLetterDeps) {
  const last = message.attempts > DEAD_LETTER_MAX_RETRIES;
  if (!last || !deps.sendBack) {
    // Level 1's last retry: Cloudflare moves it to level 2.
    const delay = retryDelaySeconds(message.attempts);
    logDelivery(message, event, { kind: "store_failed", reason }, delay);
    message.retry({ delaySeconds: delay });
    return;
  }
  try {
    if (!deps.sendBack.queue) throw new Error("APP_WEBHOOK_DLQ binding missing");
    await deps.sendBack.queue.send(event, { contentType: "json", delaySeconds: SEND_BACK_DELAY_S });
  } catch {
    console.log(
      JSON.stringify({
        level: "error",
        msg: "app_webhook_dead_letter_lost",
        event_id: event.id,
        event_type: event.type,
        connection_id: event.connection_id,
      }),
    );
    message.retry();
    return;
  }
  logDelivery(message, event, { kind: "requeued", reason: `${reason}, sent back to the dead-letter queue` });
  message.ack();
}
