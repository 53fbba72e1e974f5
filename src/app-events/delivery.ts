import type { AppEventSettings } from "../config";
import { AppError } from "../errors";
import { retryAfterSeconds } from "../lib/retry-after";
import { type AppEvent, parseAppEvent } from "./model";
import { classify, type Outcome, retryDelaySeconds } from "./retry";
import { signDelivery } from "./sign";

/**
 * Queue consumers for app events: APP_WEBHOOK_QUEUE (signed POSTs to APP_WEBHOOK_URL) and its
 * dead-letter queue (kept for redelivery). Each message is the event JSON as dispatched.
 * One log line per message, with ids, status and decision only: never the URL (it may carry
 * the receiver's own credentials), a header or a body.
 */
export const DELIVERY_TIMEOUT_MS = 10_000;
const USER_AGENT = "finch-connect-edge-webhooks/1";

export interface DeliveryDeps {
  /** The webhook settings; throws config_invalid when they are broken (the message is retried). */
  webhook(): AppEventSettings["webhook"];
  fetch: typeof fetch;
  now(): number;
  timeoutMs: number;
}

type Logged =
  | Outcome
  | { kind: "misconfigured" | "unreadable" | "stored" | "store_failed" | "requeued"; reason: string };

/** The one log line per message of both consumers (this one and dead-letter-consumer.ts). */
export function logDelivery(
  message: Message<unknown>,
  event: AppEvent | undefined,
  outcome: Logged,
  delayS?: number,
): void {
  const line: Record<string, unknown> = {
    level: outcome.kind === "delivered" ? "info" : "warn",
    msg: "app_webhook_delivery",
    message_id: message.id,
    attempt: message.attempts,
    outcome: outcome.kind,
  };
  if (event) Object.assign(line, { event_id: event.id, event_type: event.type, connection_id: event.connection_id });
  if ("status" in outcome && outcome.status !== undefined) line.status = outcome.status;
  if ("reason" in outcome) line.reason = outcome.reason;
  if (delayS !== undefined) line.retry_in_s = delayS;
  console.log(JSON.stringify(line));
}

async function post(deps: DeliveryDeps, url: string, secret: { id: string; key: Uint8Array }, event: AppEvent) {
  const body = JSON.stringify(event);
  const signed = await signDelivery(secret, event.id, Math.floor(deps.now() / 1000), body);
  try {
    const res = await deps.fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": USER_AGENT, ...signed },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(deps.timeoutMs),
    });
    // The answer's body is not ours to read or log; release the connection.
    await res.body?.cancel().catch(() => {});
    return classify(res.status, retryAfterSeconds(res.headers.get("retry-after"), deps.now()));
  } catch (e) {
    const timedOut = e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError");
    return {
      kind: "retry",
      status: undefined,
      retryAfter: undefined,
      reason: timedOut ? "timeout" : "network error",
    } as const;
  }
}

async function deliverOne(message: Message<unknown>, deps: DeliveryDeps): Promise<void> {
  let event: AppEvent;
  try {
    event = parseAppEvent(message.body);
  } catch (e) {
    // Nothing this service sends looks like this: there is nothing to deliver or replay.
    logDelivery(message, undefined, {
      kind: "unreadable",
      reason: e instanceof AppError ? (e.detail ?? e.code) : "unreadable",
    });
    message.ack();
    return;
  }
  let webhook: AppEventSettings["webhook"];
  try {
    webhook = deps.webhook();
  } catch (e) {
    webhook = undefined;
    if (!(e instanceof AppError)) throw e;
  }
  if (!webhook) {
    // Fail closed: keep the event (retries, then the dead-letter queue) until the setting is fixed.
    const delay = retryDelaySeconds(message.attempts);
    logDelivery(message, event, { kind: "misconfigured", reason: "APP_WEBHOOK_URL settings unusable" }, delay);
    message.retry({ delaySeconds: delay });
    return;
  }
  const outcome = await post(deps, webhook.url, webhook.secret, event);
  if (outcome.kind === "delivered") {
    logDelivery(message, event, outcome);
    message.ack();
  } else if (outcome.kind === "retry") {
    const delay = retryDelaySeconds(message.attempts, outcome.retryAfter);
    logDelivery(message, event, outcome, delay);
    message.retry({ delaySeconds: delay });
  } else {
    try {
      await webhook.dlq.send(event, { contentType: "json" });
    } catch {
      const delay = retryDelaySeconds(message.attempts);
      logDelivery(message, event, { ...outcome, reason: `${outcome.reason}, dead-letter queue unavailable` }, delay);
      message.retry({ delaySeconds: delay });
      return;
    }
    logDelivery(message, event, outcome);
    message.ack();
  }
}

/** APP_WEBHOOK_QUEUE: one POST per message, all messages of the batch at once. */
export async function deliverWebhookBatch(batch: MessageBatch<unknown>, deps: DeliveryDeps): Promise<void> {
  await Promise.all(batch.messages.map((m) => deliverOne(m, deps)));
}
