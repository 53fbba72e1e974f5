import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type DeadLetterDeps,
  SEND_BACK_DELAY_S,
  storeDeadLetterBatch,
} from "../../src/app-events/dead-letter-consumer";
import { type DeadLetterStore, deadLetterStore } from "../../src/app-events/dead-letters";
import type { AppEvent } from "../../src/app-events/model";
import { APP_WEBHOOK_DLQ_NAME, APP_WEBHOOK_DLQ2_NAME, deadLetterDeps } from "../../src/app-events/queue";
import { DEAD_LETTER_MAX_RETRIES, retryDelaySeconds } from "../../src/app-events/retry";
import { AppError } from "../../src/errors";
import { batchOf, statusChanged, webhookEnv } from "../support/events";
import { jsonLogLinesSince, logLines } from "../support/logs";
import { type Consume, type ConsumerConfig, consumerConfig, QueueModel } from "../support/queue-model";

/**
 * Dead letters through outages of their store (the EventDeadLetters object), with Cloudflare
 * Queues' retry rules modelled (test/support/queue-model.ts) and configured from wrangler.toml:
 * the real consumer (dead-letter-consumer.ts, with the dependencies queue() gives it) over the
 * real store, which refuses every write until the outage ends. Nothing may be lost.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const store = () => deadLetterStore(env.EVENT_DEAD_LETTERS as never);

/** Everything the store holds, by event id. */
async function storedIds(): Promise<string[]> {
  const ids: string[] = [];
  let after = 0;
  for (;;) {
    const page = await store().page({ after, limit: 100 });
    if (page.length === 0) return ids;
    ids.push(...page.map((r) => r.event_id));
    after = page.at(-1)!.seq;
  }
}

beforeEach(async () => {
  for (let page = await store().page({ after: 0, limit: 100 }); page.length; ) {
    await store().remove(page.map((r) => r.seq));
    page = await store().page({ after: 0, limit: 100 });
  }
});

function configs(): Record<string, ConsumerConfig> {
  const dlq = consumerConfig(APP_WEBHOOK_DLQ_NAME);
  const dlq2 = consumerConfig(APP_WEBHOOK_DLQ2_NAME);
  expect(dlq, "wrangler.toml consumes the dead-letter queue").toBeDefined();
  expect(dlq?.dead_letter_queue, "the dead-letter queue has one of its own").toBe(APP_WEBHOOK_DLQ2_NAME);
  expect(dlq2, "wrangler.toml consumes the second-level dead-letter queue").toBeDefined();
  return { [APP_WEBHOOK_DLQ_NAME]: dlq as ConsumerConfig, [APP_WEBHOOK_DLQ2_NAME]: dlq2 as ConsumerConfig };
}

/**
 * The world: the model's queues from wrangler.toml, the consumers queue() runs (their
 * dependencies from deadLetterDeps) on the model's clock, and a store that is down until `upAt`.
 */
function world(downUntilMs: number, options: { crashUntilMs?: number } = {}) {
  const model = new QueueModel(configs());
  const failures = { store: 0 };
  const outage = (real: DeadLetterStore): DeadLetterStore => ({
    ...real,
    store: async (entries, deadAt) => {
      if (model.now < downUntilMs) {
        failures.store++;
        throw new AppError("storage_unavailable", "dead letters store failed");
      }
      return real.store(entries, deadAt);
    },
  });
  const deps = (level: 1 | 2): DeadLetterDeps => {
    const real = deadLetterDeps(webhookEnv(), level);
    return {
      ...real,
      store: () => outage(real.store()),
      now: () => Date.parse("2026-03-01T00:00:00.000Z") + model.now,
      ...(real.sendBack ? { sendBack: { queue: model.producer(APP_WEBHOOK_DLQ_NAME) } } : {}),
    };
  };
  const consumer =
    (level: 1 | 2): Consume =>
    async (batch) => {
      // A bad deploy: the handler throws before it gets to anything.
      if (model.now < (options.crashUntilMs ?? 0)) throw new Error("consumer crashed");
      await storeDeadLetterBatch(batch, deps(level));
    };
  const consumers = { [APP_WEBHOOK_DLQ_NAME]: consumer(1), [APP_WEBHOOK_DLQ2_NAME]: consumer(2) };
  return { model, failures, run: (untilMs: number) => model.run(consumers, untilMs) };
}

/** `n` dead letters arriving over the first minutes, as the webhook consumer gives up on them. */
function deadLetters(model: QueueModel, n: number): AppEvent[] {
  const events = Array.from({ length: n }, (_, i) => statusChanged(i + 1));
  for (const [i, event] of events.entries()) model.enqueue(APP_WEBHOOK_DLQ_NAME, event, i % 7);
  return events;
}

describe("dead letters through an outage of their store", () => {
  it("an hour-long outage: every dead letter is stored once the store is back, none deleted", async () => {
    const w = world(HOUR);
    const events = deadLetters(w.model, 150);
    await w.run(10 * DAY);
    expect(w.model.lost).toEqual([]);
    expect(w.failures.store).toBeGreaterThan(10);
    expect((await storedIds()).sort()).toEqual(events.map((e) => e.id).sort());
    // Backed off, not hammered: a few deliveries each, and none needed the second level.
    expect(w.model.delivered.get(APP_WEBHOOK_DLQ_NAME)).toBeLessThan(150 * 12);
    expect(w.model.delivered.get(APP_WEBHOOK_DLQ2_NAME) ?? 0).toBe(0);
    expect([w.model.pending(APP_WEBHOOK_DLQ_NAME), w.model.pending(APP_WEBHOOK_DLQ2_NAME)]).toEqual([0, 0]);
  });

  it("a five-day outage (past both levels' retries and the retention period): nothing lost", async () => {
    const w = world(5 * DAY);
    const events = deadLetters(w.model, 40);
    await w.run(20 * DAY);
    expect(w.model.lost).toEqual([]);
    // The events went round: level 1, level 2, back to level 1.
    expect(w.model.delivered.get(APP_WEBHOOK_DLQ2_NAME)).toBeGreaterThan(0);
    expect((await storedIds()).sort()).toEqual(events.map((e) => e.id).sort());
  });

  it("a consumer that throws on every batch for a day (retry_delay) loses nothing either", async () => {
    const w = world(0, { crashUntilMs: DAY });
    const events = deadLetters(w.model, 30);
    await w.run(10 * DAY);
    expect(w.model.thrown).toBeGreaterThan(10);
    expect(w.model.lost).toEqual([]);
    expect((await storedIds()).sort()).toEqual(events.map((e) => e.id).sort());
  });

  it("the model deletes as Cloudflare does: without backoff and a queue behind it, an hour's outage loses them", async () => {
    // The first release's consumer: max_retries = 10, no retry_delay, no dead-letter queue, and
    // a failed store threw the batch (retried at once).
    const model = new QueueModel({
      [APP_WEBHOOK_DLQ_NAME]: { max_batch_size: 100, max_retries: 10, retry_delay: 0, dead_letter_queue: undefined },
    });
    const events = deadLetters(model, 20);
    await model.run(
      {
        [APP_WEBHOOK_DLQ_NAME]: async () => {
          if (model.now < HOUR) throw new Error("dead letters store failed");
        },
      },
      10 * DAY,
    );
    expect(model.lost.map((l) => (l.body as AppEvent).id).sort()).toEqual(events.map((e) => e.id).sort());
  });
});

describe("the dead-letter consumer, one batch", () => {
  const down: DeadLetterStore = {
    store: () => Promise.reject(new AppError("storage_unavailable", "dead letters store failed")),
    page: () => Promise.resolve([]),
    remove: () => Promise.resolve(0),
  };
  const deps = (sendBack?: DeadLetterDeps["sendBack"]): DeadLetterDeps => ({
    store: () => down,
    now: () => Date.now(),
    ...(sendBack ? { sendBack } : {}),
  });

  it("a failed store retries each message with the backoff, never throws the batch", async () => {
    const batch = batchOf(APP_WEBHOOK_DLQ_NAME, [statusChanged(1), statusChanged(2)], 4);
    await storeDeadLetterBatch(batch, deps());
    expect(batch.messages.map((m) => [m.acked, m.retried])).toEqual([
      [false, { delaySeconds: retryDelaySeconds(4) }],
      [false, { delaySeconds: retryDelaySeconds(4) }],
    ]);
  });

  it("a missing store binding is a failed store too: retried, not thrown", async () => {
    const batch = batchOf(APP_WEBHOOK_DLQ_NAME, [statusChanged()]);
    await storeDeadLetterBatch(batch, deadLetterDeps(webhookEnv({ EVENT_DEAD_LETTERS: undefined }), 1));
    expect(batch.messages[0]).toMatchObject({ acked: false, retried: { delaySeconds: retryDelaySeconds(1) } });
  });

  it("level 2's last attempt sends the event back to the dead-letter queue and acks", async () => {
    const event = statusChanged(5);
    const sent: unknown[] = [];
    const queue = {
      send: async (body: unknown, options?: QueueSendOptions) => {
        sent.push([body, options]);
        return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } };
      },
    };
    const early = batchOf(APP_WEBHOOK_DLQ2_NAME, [event], DEAD_LETTER_MAX_RETRIES);
    await storeDeadLetterBatch(early, deps({ queue }));
    expect(early.messages[0]?.retried).toEqual({ delaySeconds: retryDelaySeconds(DEAD_LETTER_MAX_RETRIES) });
    const last = batchOf(APP_WEBHOOK_DLQ2_NAME, [event], DEAD_LETTER_MAX_RETRIES + 1);
    await storeDeadLetterBatch(last, deps({ queue }));
    expect(last.messages[0]).toMatchObject({ acked: true, retried: undefined });
    expect(sent).toEqual([[event, { contentType: "json", delaySeconds: SEND_BACK_DELAY_S }]]);
  });

  it("when even that send fails, the loss is logged with the event id (and only then does Cloudflare delete it)", async () => {
    const event = statusChanged(6);
    const mark = logLines().length;
    const last = batchOf(APP_WEBHOOK_DLQ2_NAME, [event], DEAD_LETTER_MAX_RETRIES + 1);
    await storeDeadLetterBatch(last, deps({ queue: undefined }));
    expect(last.messages[0]).toMatchObject({ acked: false, retried: {} });
    expect(jsonLogLinesSince(mark)).toContainEqual(
      expect.objectContaining({ level: "error", msg: "app_webhook_dead_letter_lost", event_id: event.id }),
    );
  });
});
