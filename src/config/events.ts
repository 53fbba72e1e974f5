import type { Binding, Env } from "../env";
import { ConfigError } from "../errors";
import { fromBase64 } from "../lib/encoding";
import { durableObject, httpUrl, LOOPBACK_HOSTS, list, optional, queueBinding, required } from "./read";

/** Lifecycle events to the app (docs/events.md). Both ways are optional. */
export interface AppEventSettings {
  /** APP_EVENTS, the app's own Queue, when bound. */
  appQueue: Queue<unknown> | undefined;
  /** Signed HTTP delivery, when APP_WEBHOOK_URL is set: then the secret and both queues are required. */
  webhook:
    | { url: string; secret: { id: string; key: Uint8Array }; queue: Queue<unknown>; dlq: Queue<unknown> }
    | undefined;
}

/** Finch's webhook signing secrets (several while rotating). */
export function parseWebhookSecrets(env: Env): { id: string; key: Uint8Array }[] {
  return list(required(env, "WEBHOOK_SECRETS")).map((text, i) => {
    const key = fromBase64(text);
    if (!key || key.byteLength < 16) {
      throw new ConfigError("WEBHOOK_SECRETS", `entry ${i + 1} must be base64 of at least 16 bytes`);
    }
    return { id: text, key };
  });
}

export function parseAppEvents(env: Env): AppEventSettings {
  const appQueue = queueBinding(env.APP_EVENTS);
  const urlText = optional(env, "APP_WEBHOOK_URL");
  if (urlText === undefined) return { appQueue, webhook: undefined };
  const url = httpUrl("APP_WEBHOOK_URL", urlText, { allowPath: true });
  // Plain http only to this machine (npm start's receiver): events must not cross a network unencrypted.
  if (url.protocol !== "https:" && !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new ConfigError("APP_WEBHOOK_URL", "must be https (http only for 127.0.0.1 or localhost)");
  }
  const secretText = required(env, "APP_WEBHOOK_SECRET");
  const key = fromBase64(secretText.startsWith("whsec_") ? secretText.slice("whsec_".length) : secretText);
  if (!key || key.byteLength < 16) {
    throw new ConfigError("APP_WEBHOOK_SECRET", "must be whsec_ followed by base64 of at least 16 bytes");
  }
  const queue = queueBinding(env.APP_WEBHOOK_QUEUE);
  if (!queue) throw new ConfigError("APP_WEBHOOK_QUEUE", "Queue binding is missing (needed for APP_WEBHOOK_URL)");
  const dlq = queueBinding(env.APP_WEBHOOK_DLQ);
  if (!dlq) throw new ConfigError("APP_WEBHOOK_DLQ", "Queue binding is missing (needed for APP_WEBHOOK_URL)");
  return { appQueue, webhook: { url: url.href, secret: { id: secretText, key }, queue, dlq } };
}

export function parseDeadLetters(env: Env): Binding<"EVENT_DEAD_LETTERS"> {
  return durableObject(env.EVENT_DEAD_LETTERS, "EVENT_DEAD_LETTERS");
}
