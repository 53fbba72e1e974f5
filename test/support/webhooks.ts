import { env } from "cloudflare:workers";
import { expect, vi } from "vitest";
import {
  readEnvelope,
  type VerifiedWebhook,
  verifySignature,
  type WebhookSecret,
} from "../../src/finch-webhooks/verify";
import { finch } from "./finch";
import { kvNames } from "./fixtures";
import { connectCustomer } from "./flow";
import { call } from "./http";
import { TEST_SECRETS } from "./secrets";
import { type Caller, workerWith } from "./worker";

/**
 * Webhook test helpers: Finch-signed deliveries (signed by the mock Finch's own signer, the
 * one `npm start` uses), the Worker with other bindings, and views of what was stored/sent.
 */
export const WEBHOOK_SECRET = TEST_SECRETS.WEBHOOK_SECRETS;
/** A second, valid base64 secret (for rotation): not configured in the default bindings. */
export const OTHER_WEBHOOK_SECRET = "b3RoZXItd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ==";

/**
 * Both verification steps at once, for tests that hold the whole delivery: the Worker
 * itself checks the envelope before reading the body (src/routes/webhooks.ts).
 */
export async function verifyWebhook(
  body: string,
  headers: Headers,
  secrets: readonly WebhookSecret[],
  nowMs = Date.now(),
): Promise<VerifiedWebhook> {
  return verifySignature(readEnvelope(headers, nowMs), body, secrets);
}

export const nowS = () => Math.floor(Date.now() / 1000);
export const eventId = () => `msg_${crypto.randomUUID().replace(/-/g, "")}`;

export interface Delivery {
  body: string;
  headers: Record<string, string>;
  eventId: string;
  timestamp: number;
}

/** A body signed like Finch signs it. `secret` may list several (one signature each). */
export async function signed(
  body: string | object,
  opts: { eventId?: string; timestamp?: number; secret?: string | string[] } = {},
): Promise<Delivery> {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const id = opts.eventId ?? eventId();
  const timestamp = opts.timestamp ?? nowS();
  const headers = await finch().mock.signWebhook(text, {
    eventId: id,
    timestamp,
    secret: opts.secret ?? WEBHOOK_SECRET,
  });
  return { body: text, headers: { "content-type": "application/json", ...headers }, eventId: id, timestamp };
}

/** Finch's account.updated payload for a connection. */
export function accountUpdated(connectionId: string, status: string) {
  return {
    connection_id: connectionId,
    company_id: "c0a8e1f2-0000-4000-8000-000000000001",
    account_id: "a0a8e1f2-0000-4000-8000-000000000002",
    event_type: "account.updated",
    data: { status, authentication_method: { type: "credential" } },
  };
}

/** The app exactly as deployed without a queue: EVENTS unbound. */
export const withoutQueue = () => workerWith({ EVENTS: undefined });

/** The outcome of an acknowledged delivery; anything but a 200 fails with the answer. */
export async function outcome(res: Response | Promise<Response>): Promise<string> {
  const answer = await res;
  const text = await answer.text();
  if (answer.status !== 200) throw new Error(`expected 200, got ${answer.status}: ${text}`);
  return JSON.parse(text).outcome;
}

export function deliver(d: Pick<Delivery, "body" | "headers">, via: Caller = call): Promise<Response> {
  return via("/webhooks/finch", { method: "POST", headers: d.headers, body: d.body });
}

/** Spies (pass-through) on KV reads/writes and queue sends made by the Worker. */
export function watchBindings() {
  const queue = env.EVENTS as Queue<unknown>;
  return {
    get: vi.spyOn(env.CONNECTIONS, "get"),
    put: vi.spyOn(env.CONNECTIONS, "put"),
    send: vi.spyOn(queue, "send"),
    /** The JSON messages sent to the EVENTS queue. */
    messages: () => vi.mocked(queue.send).mock.calls.map((c) => c[0] as Record<string, unknown>),
  };
}

/** Connects customer "acme" through the real flow; returns the stored connection id. */
export async function connected(): Promise<string> {
  const { res } = await connectCustomer();
  expect(res.status).toBe(200);
  const [name] = (await kvNames()).filter((k) => k.startsWith("conn:"));
  return (name as string).slice("conn:".length);
}
