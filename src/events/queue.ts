import { getConfig } from "../config";
import type { Env } from "../env";
import { DELIVERY_TIMEOUT_MS, deliverWebhookBatch, storeDeadLetterBatch } from "./consumer";
import { deadLetterStore } from "./dead-letters";

/**
 * The Worker's `queue()` entry: routes a batch by the queue it came from. The names must
 * match wrangler.toml's [[queues.consumers]]; a batch from any other queue is refused (thrown),
 * so Cloudflare retries it instead of this code guessing what it holds.
 */
export const APP_WEBHOOK_QUEUE_NAME = "finch-app-webhooks";
export const APP_WEBHOOK_DLQ_NAME = "finch-app-webhooks-dlq";

export async function handleQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const config = getConfig(env);
  if (batch.queue === APP_WEBHOOK_QUEUE_NAME) {
    return deliverWebhookBatch(batch, {
      webhook: () => config.appEvents().webhook,
      fetch: (input, init) => fetch(input, init),
      now: () => Date.now(),
      timeoutMs: DELIVERY_TIMEOUT_MS,
    });
  }
  if (batch.queue === APP_WEBHOOK_DLQ_NAME) {
    return storeDeadLetterBatch(batch, deadLetterStore(config.deadLetters()), () => Date.now());
  }
  console.log(JSON.stringify({ level: "error", msg: "queue_unknown", queue: batch.queue.slice(0, 64) }));
  throw new Error("batch from a queue this Worker does not consume");
}
