import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { deliverWebhookBatch } from "../../src/app-events/delivery";
import { APP_WEBHOOK_QUEUE_NAME } from "../../src/app-events/queue";
import { APP_SECRET, batchOf, deliveryDeps, RECEIVER, statusChanged, watchQueue, webhookEnv } from "../support/events";
import { finch } from "../support/finch";
import { jsonLogLinesSince, logLines } from "../support/logs";

/**
 * Signed delivery to APP_WEBHOOK_URL: the consumer is driven with message batches whose
 * ack/retry are recorded, the receiver is a harness handler, and every delivery must verify
 * with the `standardwebhooks` library, as the app's receiver would verify it.
 */
const verify = (req: { body: string; headers: Headers }, secret = APP_SECRET) =>
  new Webhook(secret).verify(req.body, Object.fromEntries(req.headers));

/** Runs the consumer on one message carrying `body`, at this attempt number. */
async function attempt(body: unknown, attempts = 1, bindings = webhookEnv(), timeoutMs?: number) {
  const batch = batchOf(APP_WEBHOOK_QUEUE_NAME, [body], attempts);
  await deliverWebhookBatch(batch, deliveryDeps(bindings, timeoutMs ? { timeoutMs } : {}));
  return batch.messages[0]!;
}

describe("a receiver that answers 2xx", () => {
  it("gets the event JSON, signed as Standard Webhooks sign, and the message is acked", async () => {
    finch().receive(RECEIVER, () => new Response(null, { status: 204 }));
    const event = statusChanged();
    const m = await attempt(event);
    expect(m).toMatchObject({ acked: true, retried: undefined });
    const [req] = finch().received;
    expect(req?.method).toBe("POST");
    expect(req?.url.href).toBe(RECEIVER);
    expect(req?.headers.get("content-type")).toBe("application/json");
    expect(req?.headers.get("webhook-id")).toBe(event.id);
    expect(Number(req?.headers.get("webhook-timestamp"))).toBeCloseTo(Date.now() / 1000, -1);
    expect(verify(req!)).toEqual(event);
    expect(req?.json()).toEqual(event);
  });

  it("does not verify with another secret, nor after the body changed", async () => {
    finch().receive(RECEIVER, () => new Response("ok"));
    await attempt(statusChanged());
    const req = finch().received[0]!;
    expect(() => verify(req, "whsec_b3RoZXItc2VjcmV0LW9mLXR3ZW50eS1mb3VyIQ==")).toThrow();
    expect(() => verify({ ...req, body: req.body.replace('"reauth"', '"connected"') })).toThrow();
  });
});

describe("a receiver that fails, then recovers", () => {
  it("is retried with growing delays on 503, a network error and a timeout, and gets the event once it recovers", async () => {
    const answers: Array<(req: Request) => Response | Promise<Response>> = [
      () => new Response("busy", { status: 503 }),
      () => {
        throw new TypeError("connection refused");
      },
      // Hangs until the consumer's timeout aborts the request.
      (req) => new Promise((_, fail) => req.signal.addEventListener("abort", () => fail(req.signal.reason))),
      () => new Response("ok", { status: 200 }),
    ];
    finch().receive(RECEIVER, (req, n) => answers[n - 1]!(req));
    const event = statusChanged();
    const results = [];
    for (let n = 1; n <= answers.length; n++) results.push(await attempt(event, n, webhookEnv(), 50));
    expect(results.map((m) => [m.acked, m.retried?.delaySeconds])).toEqual([
      [false, 30],
      [false, 60],
      [false, 120],
      [true, undefined],
    ]);
    const received = finch().received;
    expect(received.map((r) => r.headers.get("webhook-id"))).toEqual(Array(4).fill(event.id));
    expect(verify(received[3]!)).toEqual(event);
  });

  it("honours 429 with a Retry-After longer than the backoff", async () => {
    finch().receive(RECEIVER, () => new Response(null, { status: 429, headers: { "retry-after": "900" } }));
    const m = await attempt(statusChanged(), 2);
    expect(m).toMatchObject({ acked: false, retried: { delaySeconds: 900 } });
  });

  it("keeps the backoff when Retry-After asks for less, and caps a huge one at Queues' 12 h", async () => {
    finch().receive(
      RECEIVER,
      (_req, n) => new Response(null, { status: 429, headers: { "retry-after": n === 1 ? "1" : "999999" } }),
    );
    expect((await attempt(statusChanged(), 4)).retried).toEqual({ delaySeconds: 240 });
    expect((await attempt(statusChanged(), 4)).retried).toEqual({ delaySeconds: 43_200 });
  });
});

describe("a receiver that refuses with another 4xx", () => {
  it("is not retried: the event goes to the dead-letter queue unchanged, and the message is acked", async () => {
    finch().receive(RECEIVER, () => new Response("no such hook", { status: 404 }));
    const dlq = watchQueue(env.APP_WEBHOOK_DLQ as Queue<unknown>);
    const event = statusChanged();
    const m = await attempt(event);
    expect(m).toMatchObject({ acked: true, retried: undefined });
    expect(dlq.bodies()).toEqual([event]);
    expect(finch().received).toHaveLength(1);
  });

  it("is retried instead when the dead-letter queue refuses, so the event is not lost", async () => {
    finch().receive(RECEIVER, () => new Response(null, { status: 400 }));
    watchQueue(env.APP_WEBHOOK_DLQ as Queue<unknown>, "refuse");
    const m = await attempt(statusChanged());
    expect(m).toMatchObject({ acked: false, retried: { delaySeconds: 30 } });
  });
});

describe("what the consumer cannot deliver", () => {
  it("retries (never drops) events while APP_WEBHOOK_URL is unset or broken, without calling anyone", async () => {
    const event = statusChanged();
    const unset = await attempt(event, 1, { ...env });
    const broken = await attempt(event, 3, webhookEnv({ APP_WEBHOOK_URL: "http://app.example.com/hooks" }));
    const noSecret = await attempt(event, 1, webhookEnv({ APP_WEBHOOK_SECRET: undefined }));
    expect([unset, broken, noSecret].map((m) => [m.acked, m.retried?.delaySeconds])).toEqual([
      [false, 30],
      [false, 120],
      [false, 30],
    ]);
    expect(finch().received).toEqual([]);
  });

  it("acks a message that is not an app event (nothing to deliver or replay), without calling anyone", async () => {
    const m = await attempt({ type: "connection.created", access_token: "never-an-event-field" });
    expect(m.acked).toBe(true);
    expect(finch().received).toEqual([]);
  });
});

describe("logs", () => {
  it("name ids, status and decision; never the receiver URL, the secret or the body", async () => {
    const mark = logLines().length;
    finch().receive(RECEIVER, (_req, n) => new Response(null, { status: n === 1 ? 500 : 200 }));
    const event = statusChanged();
    await attempt(event, 1);
    await attempt(event, 2);
    const lines = jsonLogLinesSince(mark).filter((l) => l.msg === "app_webhook_delivery");
    expect(lines.map((l) => [l.event_id, l.outcome, l.status, l.retry_in_s])).toEqual([
      [event.id, "retry", 500, 30],
      [event.id, "delivered", 200, undefined],
    ]);
    const text = logLines().slice(mark).join("\n");
    expect(text).not.toContain("app.example.com");
    expect(text).not.toContain(APP_SECRET.slice(6));
    expect(text).not.toContain("proxy_401");
  });
});
