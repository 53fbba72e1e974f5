/**
 * When a webhook delivery is tried again. Pure policy, no I/O: the consumer (consumer.ts)
 * applies it, and a unit test proves the schedule covers at least a day.
 *
 * Delay before retry n (n = 1 after the first failed attempt): 30 s doubling, capped at 1 h.
 * A receiver's Retry-After is honoured when it asks for longer, up to Queues' largest delay
 * (12 h). With MAX_RETRIES retries the backoff alone sums to just over 24 h; after the last
 * one Cloudflare moves the message to the dead-letter queue.
 */
const FIRST_DELAY_S = 30;
const MAX_BACKOFF_S = 3600;
/** Cloudflare Queues refuse a retry delay above 12 hours. */
export const QUEUE_MAX_DELAY_S = 43_200;
/** Must equal `max_retries` of the APP_WEBHOOK_QUEUE consumer in wrangler.toml (a test checks). */
export const MAX_RETRIES = 30;

/** Backoff before retry `n` (1-based), in seconds. */
function backoffSeconds(n: number): number {
  const exponent = Math.min(Math.max(n, 1) - 1, 20);
  return Math.min(FIRST_DELAY_S * 2 ** exponent, MAX_BACKOFF_S);
}

/** The delay for retry `n`: the backoff, or the receiver's Retry-After when longer, capped at Queues' limit. */
export function retryDelaySeconds(n: number, retryAfter?: number): number {
  return Math.min(Math.max(backoffSeconds(n), retryAfter ?? 0), QUEUE_MAX_DELAY_S);
}

export type Outcome =
  | { kind: "delivered"; status: number }
  | { kind: "retry"; status: number | undefined; retryAfter: number | undefined; reason: string }
  | { kind: "dead"; status: number; reason: string };

/**
 * What an answer means. 2xx: delivered. 429 and 5xx: the receiver is busy or broken, retry.
 * Any other status (3xx included: a redirect is a wrong URL, not a busy receiver): it will
 * refuse this event again, so no retry and straight to the dead-letter queue.
 */
export function classify(status: number, retryAfter: number | undefined): Outcome {
  if (status >= 200 && status < 300) return { kind: "delivered", status };
  if (status === 429 || status >= 500) return { kind: "retry", status, retryAfter, reason: `status ${status}` };
  return { kind: "dead", status, reason: `status ${status}` };
}

/**
 * The dead-letter queues' consumers (dead-letter-consumer.ts), both levels. Each must equal
 * `max_retries` and `retry_delay` of its consumer in wrangler.toml (a test checks). With the
 * backoff above a failed store is retried for just over 24 h per level; `retry_delay` is the
 * platform's wait after a batch that threw (a bug, not a failed store): 30 h per level.
 */
export const DEAD_LETTER_MAX_RETRIES = 30;
export const DEAD_LETTER_RETRY_DELAY_S = 3600;
