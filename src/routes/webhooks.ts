import { AppError } from "../errors";
import { parseWebhookEvent } from "../finch-webhooks/event";
import { handleWebhookEvent } from "../finch-webhooks/handler";
import { readEnvelope, verifySignature } from "../finch-webhooks/verify";
import { configOf } from "../http/deps";
import { newApp } from "../http/router";
import { readBounded } from "../lib/body";
import { writersFor } from "../operations/context";

/**
 * POST /webhooks/finch  Finch's webhook deliveries. Every check that can refuse a request
 * runs before storage is touched: headers and time window, then a bounded body read, then
 * the signature over the raw body, then the JSON shape. The answer is sent only after the
 * event is handled (Finch asked, the answer stored, the event queued), so a 5xx makes Finch
 * deliver it again.
 */
export const webhookRoutes = newApp();

/**
 * Finch's payloads are well under a kilobyte. 64 KiB leaves ample room and keeps every
 * event, with its envelope, under the 128 KB Cloudflare Queues message limit.
 */
export const MAX_WEBHOOK_BODY = 64 * 1024;

webhookRoutes.post("/finch", async (c) => {
  const config = configOf(c);
  const secrets = config.webhookSecrets();
  const envelope = readEnvelope(c.req.raw.headers, Date.now());

  const declared = Number(c.req.header("content-length"));
  if (Number.isFinite(declared) && declared > MAX_WEBHOOK_BODY) {
    throw new AppError("body_too_large", `webhook body declared over ${MAX_WEBHOOK_BODY} bytes`);
  }
  // readBounded counts while streaming too: a chunked or lying body is cut off at the limit.
  const body = await readBounded(new Response(c.req.raw.body), MAX_WEBHOOK_BODY);
  if (body === undefined) throw new AppError("body_too_large", `webhook body over ${MAX_WEBHOOK_BODY} bytes`);

  const verified = await verifySignature(envelope, body, secrets);
  c.get("trace").actor = "finch-webhook";
  const event = parseWebhookEvent(verified.body);
  const outcome = await handleWebhookEvent(
    { writers: writersFor(c.env), events: config.events() },
    { eventId: verified.eventId, timestamp: verified.timestamp, event },
    c.get("trace"),
  );
  return c.json({ received: true, event_id: verified.eventId, outcome });
});
