import { getConfig } from "../config";
import type { Env } from "../env";
import { type DeadLetterDeps, storeDeadLetterBatch } from "./dead-letter-consumer";
import { deadLetterStore } from "./dead-letters";
import { DELIVERY_TIMEOUT_MS, deliverWebhookBatch } from "./delivery";

/**
 * The Worker's `queue()` entry: routes a batch by the queue it came from. The names must
 * match wrangler.toml's [[queues.consumers]]; a batch from any other queue is refused (thrown),
 * so Cloudflare retries it instead of this code guessing what it holds.
 */
export const APP_WEBHOOK_QUEUE_NAME = "finch-app-webhooks";
export const APP_WEBHOOK_DLQ_NAME = "finch-app-webhooks-dlq";
/** The dead-letter queue's own dead-letter queue (dead-letter-consumer.ts): no producer binding. */
export const APP_WEBHOOK_DLQ2_NAME = "finch-app-webhooks-dlq2";

/** The dead-letter consumer's dependencies at `level` (1: APP_WEBHOOK_DLQ, 2: its own dead-letter queue). */
export function deadLetterDeps(env: Env, level: 1 | 2): DeadLetterDeps {
  const config = getConfig(env);
  return {
    store: () => deadLetterStore(config.deadLetters()),
    now: () => Date.now(),
    ...(level === 2 ? { sendBack: { queue: env.APP_WEBHOOK_DLQ } } : {}),
  };
}

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
  if (batch.queue === APP_WEBHOOK_DLQ_NAME) return storeDeadLetterBatch(batch, deadLetterDeps(env, 1));
  if (batch.queue === APP_WEBHOOK_DLQ2_NAME) return storeDeadLetterBatch(batch, deadLetterDeps(env, 2));
  console.log(JSON.stringify({ level: "error", msg: "queue_unknown", queue: batch.queue.slice(0, 64) }));
  throw new Error("batch from a queue this Worker does not consume");
}
