import { constantTimeEqual } from "../crypto/compare";
import { hmacKey, hmacSign } from "../crypto/hmac";
import { AppError } from "../errors";
import { toBase64 } from "../lib/encoding";

/**
 * Verifies a Finch webhook exactly as Finch signs it (and as the official SDK's
 * `webhooks.verifySignature` checks it): HMAC-SHA256 over `${id}.${timestamp}.${rawBody}`
 * with each base64-decoded secret, base64-encoded, compared in constant time against every
 * space-separated `v1,<base64>` entry of `finch-signature`; the timestamp must lie within
 * +/-300 s of now, both edges included. Pure: no I/O, the clock is an argument.
 *
 * Deliberately stricter than the SDK on malformed input (each of these the SDK would
 * accept in some edge case, none of which Finch sends): the timestamp must be canonical
 * decimal digits (the SDK's parseInt reads "17e8" or "0017..." and signs something other
 * than the header), the event id must be printable ASCII of bounded length, and a `v1`
 * entry is the whole rest after `v1,` (the SDK ignores anything after a second comma).
 */
export const WEBHOOK_TOLERANCE_S = 300;
/** Finch's event ids look like `msg_2Lh9...`; the bound keeps junk out of the signed content and the log. */
const EVENT_ID = /^[\x21-\x7e]{1,255}$/;
const TIMESTAMP = /^(0|[1-9][0-9]{0,11})$/;
/** Several signatures only appear during a secret rotation; more than a handful is not Finch. */
const MAX_SIGNATURE_HEADER = 2048;
const MAX_SIGNATURES = 16;

export interface WebhookSecret {
  id: string;
  key: Uint8Array;
}

/** The headers of a request whose signature is still to be checked. */
export interface WebhookEnvelope {
  eventId: string;
  /** Unix seconds, from finch-timestamp. */
  timestamp: number;
  signatures: readonly string[];
}

/** A webhook whose signature verified: the event id, its timestamp and the raw body. */
export interface VerifiedWebhook {
  eventId: string;
  timestamp: number;
  body: string;
}

interface HeaderSource {
  get(name: string): string | null;
}

/**
 * Step 1, before the body is read: the three headers are present and well formed, and the
 * timestamp is inside the window. Cheap rejections first, so a flood of unsigned or replayed
 * requests costs neither a body read nor an HMAC.
 */
export function readEnvelope(headers: HeaderSource, nowMs: number): WebhookEnvelope {
  const eventId = headers.get("finch-event-id");
  const timestampText = headers.get("finch-timestamp");
  const signature = headers.get("finch-signature");
  if (!eventId || !timestampText || !signature) {
    const missing = [
      !eventId && "finch-event-id",
      !timestampText && "finch-timestamp",
      !signature && "finch-signature",
    ];
    throw new AppError("webhook_signature_missing", `missing ${missing.filter(Boolean).join(", ")}`);
  }
  if (!EVENT_ID.test(eventId)) throw new AppError("webhook_signature_invalid", "finch-event-id malformed");
  if (!TIMESTAMP.test(timestampText)) throw new AppError("webhook_timestamp_invalid", "finch-timestamp malformed");
  const timestamp = Number(timestampText);
  const now = Math.floor(nowMs / 1000);
  if (now - timestamp > WEBHOOK_TOLERANCE_S) throw new AppError("webhook_timestamp_invalid", "timestamp too old");
  if (timestamp - now > WEBHOOK_TOLERANCE_S) throw new AppError("webhook_timestamp_invalid", "timestamp in the future");
  if (signature.length > MAX_SIGNATURE_HEADER)
    throw new AppError("webhook_signature_invalid", "finch-signature too long");
  // Only `v1` is defined; other versions are skipped (as the SDK does), not refused.
  const entries = signature.split(" ").filter(Boolean);
  if (entries.length > MAX_SIGNATURES) throw new AppError("webhook_signature_invalid", "too many signatures");
  const signatures = entries.filter((e) => e.startsWith("v1,")).map((e) => e.slice(3));
  if (signatures.length === 0) throw new AppError("webhook_signature_invalid", "no v1 signature");
  return { eventId, timestamp, signatures };
}

/**
 * Step 2: the raw body verifies against at least one configured secret. Every secret is
 * tried against every signature with no early exit, so timing says nothing about which
 * secret or entry matched. A malformed (e.g. non-base64) entry simply never matches.
 */
export async function verifySignature(
  envelope: WebhookEnvelope,
  body: string,
  secrets: readonly WebhookSecret[],
): Promise<VerifiedWebhook> {
  const content = `${envelope.eventId}.${envelope.timestamp}.${body}`;
  let valid = false;
  for (const secret of secrets) {
    const expected = toBase64(await hmacSign(await hmacKey(secret.id, secret.key), content));
    for (const candidate of envelope.signatures) {
      if (constantTimeEqual(candidate, expected)) valid = true;
    }
  }
  if (!valid) throw new AppError("webhook_signature_invalid", "no signature matches a configured secret");
  return { eventId: envelope.eventId, timestamp: envelope.timestamp, body };
}
