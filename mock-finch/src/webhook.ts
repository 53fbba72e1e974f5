// Finch webhook signing: HMAC-SHA256 over `${id}.${timestamp}.${body}`, key = base64-decoded secret.
import { base64Decode, base64Encode } from "./http";

/** Where the mock delivers webhooks: secret is base64 (Finch style); `fetch` replaces the network (tests). */
export interface WebhookTarget {
  secret: string;
  targetUrl: string;
  fetch?: (request: Request) => Promise<Response>;
}

export interface WebhookInput {
  connection_id: string;
  /** Default "account.updated". */
  event_type?: string;
  /** Default { status: <current status>, authentication_method: { type: "credential" } }. */
  data?: unknown;
}

export interface SignWebhookOptions {
  /** Default: a fresh `msg_...` id. */
  eventId?: string;
  /** Unix seconds. Default: the mock's clock. */
  timestamp?: number;
  /** Base64 secret(s); several produce several space-separated `v1,` signatures. Default: options.webhook.secret. */
  secret?: string | string[];
}

export interface WebhookHeaders {
  "finch-event-id": string;
  "finch-timestamp": string;
  "finch-signature": string;
}

export async function hmacSignature(secretBase64: string, content: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    base64Decode(secretBase64),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(content));
  return base64Encode(new Uint8Array(mac));
}

export async function webhookHeaders(
  body: string,
  eventId: string,
  timestamp: number,
  secrets: readonly string[],
): Promise<WebhookHeaders> {
  const content = `${eventId}.${timestamp}.${body}`;
  const signatures = await Promise.all(secrets.map(async (s) => `v1,${await hmacSignature(s, content)}`));
  return {
    "finch-event-id": eventId,
    "finch-timestamp": String(timestamp),
    "finch-signature": signatures.join(" "),
  };
}
