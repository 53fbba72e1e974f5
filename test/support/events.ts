import { env } from "cloudflare:workers";
import { vi } from "vitest";
import type { DeliveryDeps } from "../../src/app-events/delivery";
import { type AppEvent, type ConnectionState, newEvent } from "../../src/app-events/model";
import { getConfig } from "../../src/config";
import type { Env } from "../../src/env";
import type { StoredConnection } from "../../src/storage/records";
import { markSecret } from "./logs";

/**
 * App-event test helpers: a configured receiver, events, and message batches whose ack/retry
 * calls are recorded (the consumer is driven directly, as Cloudflare would call it).
 */
export const RECEIVER = "https://app.example.com/finch-events";
/** 32 bytes, Standard Webhooks form. */
export const APP_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
export const CONNECTION = "0b7d5a3c-1111-4000-8000-000000000001";

/** The Worker's bindings with signed delivery configured (the pool's default has none). */
export function webhookEnv(extra: Partial<Env> = {}): Env {
  markSecret("APP_WEBHOOK_SECRET", APP_SECRET);
  return { ...env, APP_WEBHOOK_URL: RECEIVER, APP_WEBHOOK_SECRET: APP_SECRET, ...extra } as Env;
}

/** A connection's state as events carry it, at `generation` (a connected single-entity connection). */
export function connectionAt(generation: number, overrides: Partial<ConnectionState> = {}): ConnectionState {
  return {
    generation,
    status: "reauth",
    customer_id: "acme",
    provider_id: "gusto",
    products: ["company", "directory"],
    authentication_methods: [{ type: "credential", status: "reauth" }],
    entities: null,
    last_successful_sync: "2026-03-01T11:00:00.000Z",
    last_initial_sync_at: null,
    last_data_sync_all_at: null,
    ...overrides,
  };
}

/** A stored record (the writer's view) with made-up token parts: for the pure event rules in src/writer/change-events.ts. */
export function storedConnection(overrides: Partial<StoredConnection> = {}): StoredConnection {
  const at = "2026-03-01T12:00:00.000Z";
  return {
    v: 1,
    connection_id: CONNECTION,
    customer_id: "acme",
    customer_name: "Acme",
    customer_email: null,
    provider_id: "gusto",
    products: ["company"],
    client_type: null,
    connection_type: null,
    company_id: null,
    account_id: null,
    status: "connected",
    status_at: at,
    created_at: at,
    updated_at: at,
    gen: 1,
    token_gen: 1,
    token: { kid: "k1", iv: "iv", ct: "ct" },
    ...overrides,
  };
}

export function statusChanged(generation = 3, overrides: Partial<AppEvent> = {}): AppEvent {
  return {
    ...newEvent({
      type: "connection.status_changed",
      connection_id: CONNECTION,
      customer_id: "acme",
      generation,
      connection: connectionAt(generation),
      data: { old_status: "connected", new_status: "reauth", reason: "proxy_401" },
    }),
    ...overrides,
  } as AppEvent;
}

export interface RecordedMessage extends Message<unknown> {
  acked: boolean;
  retried: { delaySeconds?: number } | undefined;
}

export interface RecordedBatch extends MessageBatch<unknown> {
  messages: readonly RecordedMessage[];
}

/** A batch from `queue`, one message per body; `attempts` as Cloudflare counts them (1 = first try). */
export function batchOf(queue: string, bodies: unknown[], attempts = 1): RecordedBatch {
  const messages = bodies.map((body, i): RecordedMessage => {
    const m: RecordedMessage = {
      id: `msg-${attempts}-${i}`,
      timestamp: new Date(),
      body,
      attempts,
      acked: false,
      retried: undefined,
      ack: () => {
        m.acked = true;
      },
      retry: (options) => {
        m.retried = options ?? {};
      },
    };
    return m;
  });
  return {
    queue,
    metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } },
    messages,
    ackAll: () => {
      for (const m of messages) m.ack();
    },
    retryAll: (options) => {
      for (const m of messages) m.retry(options);
    },
  };
}

/** Consumer dependencies over `bindings`, with the real fetch (the harness) and a short timeout. */
export function deliveryDeps(bindings: Env, overrides: Partial<DeliveryDeps> = {}): DeliveryDeps {
  const config = getConfig(bindings);
  return {
    webhook: () => config.appEvents().webhook,
    fetch: (input, init) => fetch(input, init),
    now: () => Date.now(),
    timeoutMs: 2_000,
    ...overrides,
  };
}

/**
 * Spies on a queue binding's sends; `bodies()` lists what was sent, in order. "pass" really
 * enqueues; "accept" answers success without enqueueing (so no consumer runs in the background);
 * "refuse" throws like an unavailable queue.
 */
export function watchQueue(queue: Queue<unknown>, mode: "pass" | "accept" | "refuse" = "accept") {
  const send = vi.spyOn(queue, "send");
  const sendBatch = vi.spyOn(queue, "sendBatch");
  // A binding watched twice in one test gets the same spy back: start it afresh.
  send.mockReset();
  sendBatch.mockReset();
  const metadata = { metrics: { backlogCount: 0, backlogBytes: 0 } };
  if (mode === "accept") {
    send.mockResolvedValue({ metadata });
    sendBatch.mockResolvedValue({ metadata });
  } else if (mode === "refuse") {
    send.mockRejectedValue(new Error("queue unavailable"));
    sendBatch.mockRejectedValue(new Error("queue unavailable"));
  }
  return {
    send,
    sendBatch,
    bodies: () => [
      ...send.mock.calls.map((c) => c[0]),
      ...sendBatch.mock.calls.flatMap((c) => [...c[0]].map((m) => m.body)),
    ],
  };
}
