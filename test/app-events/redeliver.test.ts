import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { beforeEach, describe, expect, it } from "vitest";
import { REDELIVER_MAX } from "../../src/app-events/dead-letters";
import { deliverWebhookBatch } from "../../src/app-events/delivery";
import type { AppEvent } from "../../src/app-events/model";
import { APP_WEBHOOK_DLQ_NAME, APP_WEBHOOK_QUEUE_NAME, handleQueue } from "../../src/app-events/queue";
import type { Env } from "../../src/env";
import { APP_SECRET, batchOf, deliveryDeps, RECEIVER, statusChanged, watchQueue, webhookEnv } from "../support/events";
import { finch } from "../support/finch";
import { API_KEY } from "../support/http";
import { logLines } from "../support/logs";
import { workerWith } from "../support/worker";

/**
 * Dead letters: the DLQ consumer keeps them (EventDeadLetters), and `POST /api/events/redeliver`
 * re-enqueues them to APP_WEBHOOK_QUEUE with their original ids.
 */
const worker = (vars: Partial<Env> = {}) => {
  const bindings = webhookEnv(vars);
  return (path: string, body?: unknown, key = API_KEY) =>
    workerWith(bindings)(path, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
};
const webhookQueue = () => env.APP_WEBHOOK_QUEUE as Queue<unknown>;

async function deadLetter(events: AppEvent[]): Promise<void> {
  const batch = batchOf(APP_WEBHOOK_DLQ_NAME, events);
  await handleQueue(batch, webhookEnv());
  expect(batch.messages.every((m) => m.acked)).toBe(true);
}

/** Empties the store (it lives for the whole test file) so counts start at zero. */
async function drain(): Promise<void> {
  watchQueue(webhookQueue());
  let cursor: string | null = "";
  while (cursor !== null) {
    const res = await worker()(`/api/events/redeliver${cursor ? `?cursor=${cursor}` : ""}`);
    cursor = (await res.json<any>()).next_cursor;
  }
}

beforeEach(drain);

describe("POST /api/events/redeliver", () => {
  it("re-enqueues every dead letter with its original id, once", async () => {
    const events = [statusChanged(1), statusChanged(2), statusChanged(3)];
    await deadLetter(events);
    const queue = watchQueue(webhookQueue());
    const res = await worker()("/api/events/redeliver");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ redelivered: 3, not_found: [], unreadable: 0, next_cursor: null });
    expect(queue.bodies()).toEqual(events);
    const again = await worker()("/api/events/redeliver", {});
    expect((await again.json<any>()).redelivered).toBe(0);
    expect(queue.bodies()).toHaveLength(3);
  });

  it("replays only the ids asked for, and names the ones it does not hold", async () => {
    const [a, b] = [statusChanged(1), statusChanged(2)];
    await deadLetter([a, b]);
    const queue = watchQueue(webhookQueue());
    const missing = "evt_AAAAAAAAAAAAAAAAAAAAAA";
    const res = await worker()("/api/events/redeliver", { event_ids: [b.id, missing] });
    expect(await res.json()).toEqual({ redelivered: 1, not_found: [missing], unreadable: 0, next_cursor: null });
    expect(queue.bodies()).toEqual([b]);
    await worker()("/api/events/redeliver");
    expect(queue.bodies()).toEqual([b, a]);
  });

  it("replays exactly 100 named ids (the documented maximum) and refuses 101, touching nothing", async () => {
    const events = Array.from({ length: REDELIVER_MAX + 1 }, (_, i) => statusChanged(i + 1));
    await deadLetter(events);
    const ids = events.map((e) => e.id);

    let queue = watchQueue(webhookQueue());
    const over = await worker()("/api/events/redeliver", { event_ids: ids });
    expect([over.status, (await over.json<any>()).error.code]).toEqual([400, "body_invalid"]);
    expect(queue.bodies()).toEqual([]);

    queue = watchQueue(webhookQueue());
    const res = await worker()("/api/events/redeliver", { event_ids: ids.slice(0, REDELIVER_MAX) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ redelivered: REDELIVER_MAX, not_found: [], unreadable: 0, next_cursor: null });
    expect(queue.bodies()).toEqual(events.slice(0, REDELIVER_MAX));
    // Exactly those were removed: the 101st is still held.
    queue = watchQueue(webhookQueue());
    expect(await (await worker()("/api/events/redeliver")).json()).toMatchObject({ redelivered: 1 });
    expect(queue.bodies()).toEqual([events[REDELIVER_MAX]]);
  });

  it("pages with a cursor, bounded by limit", async () => {
    const events = Array.from({ length: 5 }, (_, i) => statusChanged(i));
    await deadLetter(events);
    const queue = watchQueue(webhookQueue());
    const first = await (await worker()("/api/events/redeliver?limit=2")).json<any>();
    expect(first.redelivered).toBe(2);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await (await worker()(`/api/events/redeliver?limit=2&cursor=${first.next_cursor}`)).json<any>();
    const third = await (await worker()(`/api/events/redeliver?limit=2&cursor=${second.next_cursor}`)).json<any>();
    expect([second.redelivered, third.redelivered, third.next_cursor]).toEqual([2, 1, null]);
    expect(queue.bodies()).toEqual(events);
  });

  it("removes nothing when the queue refuses (503), so a retry still finds them", async () => {
    const event = statusChanged();
    await deadLetter([event]);
    watchQueue(webhookQueue(), "refuse");
    const res = await worker()("/api/events/redeliver");
    expect(res.status).toBe(503);
    expect((await res.json<any>()).error.code).toBe("event_queue_unavailable");
    const queue = watchQueue(webhookQueue());
    expect((await (await worker()("/api/events/redeliver")).json<any>()).redelivered).toBe(1);
    expect(queue.bodies()).toEqual([event]);
  });

  it("refuses bad input with stable codes and touches nothing", async () => {
    await deadLetter([statusChanged()]);
    const queue = watchQueue(webhookQueue());
    const cases: [string, unknown, number, string][] = [
      ["/api/events/redeliver", { event_ids: [] }, 400, "body_invalid"],
      ["/api/events/redeliver", { event_ids: ["not-an-id"] }, 400, "body_invalid"],
      ["/api/events/redeliver", { all: true }, 400, "body_invalid"],
      ["/api/events/redeliver", [1], 400, "body_invalid"],
      ["/api/events/redeliver?limit=0", undefined, 400, "param_invalid"],
      ["/api/events/redeliver?limit=101", undefined, 400, "param_invalid"],
      ["/api/events/redeliver?cursor=%%%", undefined, 400, "param_invalid"],
      ["/api/events/redeliver?cursor=e30", { event_ids: ["evt_AAAAAAAAAAAAAAAAAAAAAA"] }, 400, "param_invalid"],
    ];
    for (const [path, body, status, code] of cases) {
      const res = await worker()(path, body);
      expect([path, res.status, (await res.json<any>()).error.code]).toEqual([path, status, code]);
    }
    expect(queue.send).not.toHaveBeenCalled();
    expect(queue.sendBatch).not.toHaveBeenCalled();
  });

  it("never repeats a key it does not know, in the answer or the log", async () => {
    const invented = "zz_caller_chosen_key_name";
    const mark = logLines().length;
    const res = await worker()("/api/events/redeliver", { [invented]: true });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(JSON.parse(text).error).toMatchObject({
      code: "body_invalid",
      message: expect.stringContaining("Unknown field"),
    });
    expect(text).not.toContain(invented);
    expect(logLines().slice(mark).join("\n")).not.toContain(invented);
  });

  it("needs the API key, POST, and APP_WEBHOOK_URL", async () => {
    expect((await worker()("/api/events/redeliver", undefined, "wrong-key-0123456789abcdefghij")).status).toBe(401);
    const get = await workerWith(webhookEnv())("/api/events/redeliver", {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(get.status).toBe(405);
    const unset = await worker({ APP_WEBHOOK_URL: undefined })("/api/events/redeliver");
    expect(unset.status).toBe(500);
    expect((await unset.json<any>()).error.message).toContain("APP_WEBHOOK_URL");
  });
});

describe("the whole way round", () => {
  it("a refused event is dead-lettered, kept, redelivered and verified by the recovered receiver", async () => {
    finch().receive(RECEIVER, (_req, n) => new Response(null, { status: n === 1 ? 410 : 200 }));
    const dlq = watchQueue(env.APP_WEBHOOK_DLQ as Queue<unknown>);
    const event = statusChanged(9);
    const first = batchOf(APP_WEBHOOK_QUEUE_NAME, [event]);
    await deliverWebhookBatch(first, deliveryDeps(webhookEnv()));
    await deadLetter(dlq.bodies() as AppEvent[]);

    const queue = watchQueue(webhookQueue());
    expect((await (await worker()("/api/events/redeliver")).json<any>()).redelivered).toBe(1);
    const replay = batchOf(APP_WEBHOOK_QUEUE_NAME, queue.bodies());
    await handleQueue(replay, webhookEnv());
    expect(replay.messages[0]?.acked).toBe(true);

    const [refused, delivered] = finch().received;
    expect(refused?.headers.get("webhook-id")).toBe(event.id);
    expect(delivered?.headers.get("webhook-id")).toBe(event.id);
    expect(new Webhook(APP_SECRET).verify(delivered!.body, Object.fromEntries(delivered!.headers))).toEqual(event);
  });
});

describe("through Miniflare's real dead-letter queue", () => {
  it("a message on APP_WEBHOOK_DLQ reaches queue(), is kept, and can be redelivered", async () => {
    const event = statusChanged(11);
    await (env.APP_WEBHOOK_DLQ as Queue<unknown>).send(event, { contentType: "json" });
    const queue = watchQueue(webhookQueue());
    // The consumer runs on its own schedule (max_batch_timeout = 1 s): ask until it has stored the event.
    let result: any;
    for (let i = 0; i < 100; i++) {
      result = await (await worker()("/api/events/redeliver", { event_ids: [event.id] })).json();
      if (result.redelivered === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(result).toEqual({ redelivered: 1, not_found: [], unreadable: 0, next_cursor: null });
    expect(queue.bodies()).toEqual([event]);
  });
});

describe("the queue() entry", () => {
  it("refuses a batch from a queue it does not consume, so Cloudflare retries it", async () => {
    const batch = batchOf("someone-elses-queue", [statusChanged()]);
    await expect(handleQueue(batch, webhookEnv())).rejects.toThrow(/does not consume/);
    expect(batch.messages[0]).toMatchObject({ acked: false, retried: undefined });
  });

  it("is exported beside fetch", async () => {
    const worker = await import("../../src/index");
    expect(worker.default.queue).toBe(handleQueue);
  });
});
