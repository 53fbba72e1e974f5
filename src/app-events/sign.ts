import { hmacKey, hmacSign } from "../crypto/hmac";
import { toBase64 } from "../lib/encoding";

/**
 * Standard Webhooks signing for deliveries to APP_WEBHOOK_URL, so receivers verify with the
 * `standardwebhooks` library in any language: HMAC-SHA256 over `${id}.${timestamp}.${body}`,
 * sent as `webhook-signature: v1,<base64>`. The key is APP_WEBHOOK_SECRET decoded by config.ts
 * (the base64 part of `whsec_...`, as the libraries read it).
 */
export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/**
 * Headers for one delivery attempt. `timestamp` is the attempt's time (unix seconds): receivers
 * refuse old timestamps, so every retry is signed afresh while the id stays the event's.
 */
export async function signDelivery(
  secret: { id: string; key: Uint8Array },
  eventId: string,
  timestamp: number,
  body: string,
): Promise<SignedHeaders> {
  const key = await hmacKey(secret.id, secret.key);
  const mac = await hmacSign(key, `${eventId}.${timestamp}.${body}`);
  return {
    "webhook-id": eventId,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": `v1,${toBase64(mac)}`,
  };
}
