import { describe, expect, it } from "vitest";
import { APP_WEBHOOK_DLQ_NAME, APP_WEBHOOK_DLQ2_NAME, APP_WEBHOOK_QUEUE_NAME } from "../../../src/app-events/queue";
import {
  classify,
  DEAD_LETTER_MAX_RETRIES,
  DEAD_LETTER_RETRY_DELAY_S,
  MAX_RETRIES,
  QUEUE_MAX_DELAY_S,
  retryDelaySeconds,
} from "../../../src/app-events/retry";
import { retryAfterMs, retryAfterSeconds } from "../../../src/lib/retry-after";
import toml from "../../../wrangler.toml?raw";
import { consumerConfig } from "../../support/queue-model";

/** The retry schedule of webhook deliveries and the consumer configuration it depends on. */
const DAY_S = 24 * 3600;

describe("retry schedule", () => {
  it("backs off 30 s doubling, capped at 1 h", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 30].map((n) => retryDelaySeconds(n))).toEqual([
      30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600,
    ]);
  });

  it("keeps retrying for at least 24 hours before the dead-letter queue", () => {
    let total = 0;
    for (let n = 1; n <= MAX_RETRIES; n++) total += retryDelaySeconds(n);
    expect(total).toBeGreaterThanOrEqual(DAY_S);
    // ... and not for days on end: one retry fewer would not reach a day.
    expect(total - retryDelaySeconds(MAX_RETRIES)).toBeLessThan(DAY_S);
  });

  it("matches wrangler.toml: max_retries and the dead-letter queue of the webhook consumer", () => {
    const consumers = toml.split("[[queues.consumers]]").slice(1);
    const webhook = consumers.find((c) => c.includes(`queue = "${APP_WEBHOOK_QUEUE_NAME}"`)) ?? "";
    expect(/^max_retries = (\d+)$/m.exec(webhook)?.[1]).toBe(String(MAX_RETRIES));
    expect(webhook).toContain(`dead_letter_queue = "${APP_WEBHOOK_DLQ_NAME}"`);
    expect(consumers.some((c) => c.includes(`queue = "${APP_WEBHOOK_DLQ_NAME}"`))).toBe(true);
  });

  it("matches wrangler.toml: both dead-letter consumers back off, and the first has a queue behind it", () => {
    const dlq = consumerConfig(APP_WEBHOOK_DLQ_NAME);
    const dlq2 = consumerConfig(APP_WEBHOOK_DLQ2_NAME);
    const expected = { max_retries: DEAD_LETTER_MAX_RETRIES, retry_delay: DEAD_LETTER_RETRY_DELAY_S };
    expect(dlq).toMatchObject({ ...expected, dead_letter_queue: APP_WEBHOOK_DLQ2_NAME });
    // The second level sends back to the first itself (dead-letter-consumer.ts): no third queue.
    expect(dlq2).toMatchObject({ ...expected, dead_letter_queue: undefined });
    // Queues' own limits: at most 100 retries, delays up to 12 h.
    expect(DEAD_LETTER_MAX_RETRIES).toBeLessThanOrEqual(100);
    expect(DEAD_LETTER_RETRY_DELAY_S).toBeLessThanOrEqual(QUEUE_MAX_DELAY_S);
  });

  it("a failed dead-letter store is retried for over 24 h per level, and a throwing batch for over 24 h too", () => {
    let backoff = 0;
    for (let n = 1; n <= DEAD_LETTER_MAX_RETRIES; n++) backoff += retryDelaySeconds(n);
    expect(backoff).toBeGreaterThanOrEqual(DAY_S);
    expect(DEAD_LETTER_MAX_RETRIES * DEAD_LETTER_RETRY_DELAY_S).toBeGreaterThanOrEqual(DAY_S);
  });

  it("honours a longer Retry-After, never a shorter one, and stays within Queues' limit", () => {
    expect(retryDelaySeconds(1, 600)).toBe(600);
    expect(retryDelaySeconds(3, 5)).toBe(120);
    expect(retryDelaySeconds(1, 10 * DAY_S)).toBe(QUEUE_MAX_DELAY_S);
  });
});

describe("Retry-After", () => {
  const now = Date.parse("2026-03-01T12:00:00Z");
  it("reads seconds and HTTP dates; ignores anything else", () => {
    expect(retryAfterSeconds("120", now)).toBe(120);
    expect(retryAfterSeconds("Sun, 01 Mar 2026 12:05:00 GMT", now)).toBe(300);
    expect(retryAfterSeconds("Sun, 01 Mar 2026 11:00:00 GMT", now)).toBe(0);
    expect(retryAfterSeconds(null, now)).toBeUndefined();
    expect(retryAfterSeconds("-5", now)).toBeUndefined();
    expect(retryAfterSeconds("soon", now)).toBeUndefined();
    expect(retryAfterSeconds("9".repeat(100), now)).toBeUndefined();
  });

  it("Finch's wait: retry-after-ms when a whole number, else Retry-After, never an exponent or loose date", () => {
    const wait = (h: Record<string, string>) => retryAfterMs(new Headers(h), now);
    expect(wait({ "retry-after-ms": "1500", "retry-after": "9" })).toBe(1500);
    expect(wait({ "retry-after-ms": "1e9", "retry-after": "2" })).toBe(2000);
    expect(wait({ "retry-after": "Sun, 01 Mar 2026 12:00:30 GMT" })).toBe(30_000);
    // Number() and Date.parse read these; a budget paused for 1e15 ms would never reopen.
    expect(wait({ "retry-after": "1e12" })).toBeUndefined();
    expect(wait({ "retry-after": "March 1, 2027" })).toBeUndefined();
    expect(wait({})).toBeUndefined();
  });
});

describe("classify", () => {
  it("2xx delivered; 429 and 5xx retried; other statuses dead-lettered", () => {
    const kinds = [200, 204, 299, 301, 400, 401, 404, 410, 429, 500, 503].map((s) => classify(s, undefined).kind);
    expect(kinds).toEqual([
      "delivered",
      "delivered",
      "delivered",
      "dead",
      "dead",
      "dead",
      "dead",
      "dead",
      "retry",
      "retry",
      "retry",
    ]);
    expect(classify(429, 90)).toMatchObject({ kind: "retry", retryAfter: 90 });
  });
});
