import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  dispatchEvents,
  eventSinks,
  jsonBytes,
  SEND_BATCH_MAX,
  SEND_BATCH_MAX_BYTES,
} from "../../src/app-events/outbox";
import type { Env } from "../../src/env";
import { AppError } from "../../src/errors";
import { connectionAt, statusChanged, watchQueue, webhookEnv } from "../support/events";
import { workerWith } from "../support/worker";

/**
 * The outbox hand-off the connection's writer calls: every configured sink gets every event,
 * and a failure throws so the writer keeps its outbox rows.
 */
const appQueue = () => env.APP_EVENTS as Queue<unknown>;
const webhookQueue = () => env.APP_WEBHOOK_QUEUE as Queue<unknown>;

describe("dispatchEvents", () => {
  it("sends each event as JSON to APP_EVENTS and, with APP_WEBHOOK_URL set, to the webhook queue", async () => {
    const app = watchQueue(appQueue(), "pass");
    const hooks = watchQueue(webhookQueue());
    const events = [statusChanged(1), statusChanged(2)];
    const result = await dispatchEvents(eventSinks(webhookEnv()), events);
    expect(result).toEqual({ events: 2, app_queue: 2, webhook_queue: 2 });
    expect(app.bodies()).toEqual(events);
    expect(hooks.bodies()).toEqual(events);
    expect([...app.sendBatch.mock.calls[0]![0]].map((m) => m.contentType)).toEqual(["json", "json"]);
  });

  it("sends to APP_EVENTS only when no webhook URL is set, and to nothing when neither is configured", async () => {
    const app = watchQueue(appQueue());
    const hooks = watchQueue(webhookQueue());
    const event = statusChanged();
    expect(await dispatchEvents(eventSinks({ ...env } as Env), [event])).toEqual({
      events: 1,
      app_queue: 1,
      webhook_queue: 0,
    });
    expect(await dispatchEvents(eventSinks({ ...env, APP_EVENTS: undefined } as Env), [event])).toEqual({
      events: 1,
      app_queue: 0,
      webhook_queue: 0,
    });
    expect(app.bodies()).toEqual([event]);
    expect(hooks.bodies()).toEqual([]);
  });

  it("splits large hand-offs into batches Queues accept", async () => {
    const hooks = watchQueue(webhookQueue());
    const events = Array.from({ length: 2 * SEND_BATCH_MAX + 5 }, (_, i) => statusChanged(i));
    await dispatchEvents({ appQueue: undefined, webhookQueue: webhookQueue() }, events);
    expect(hooks.sendBatch.mock.calls.map((c) => [...c[0]].length)).toEqual([100, 100, 5]);
    expect(hooks.bodies()).toEqual(events);
  });

  it("cuts batches by bytes too, so large events pass Queues' 256 KB a batch (the real queue checks)", async () => {
    const app = watchQueue(appQueue(), "pass");
    const big = (i: number) =>
      statusChanged(i + 1, {
        connection: connectionAt(i + 1, {
          products: Array.from({ length: 64 }, (_, p) => `${p}`.padEnd(64, "p")),
          entities: Array.from({ length: 32 }, (_, e) => ({ id: `${e}`.padEnd(128, "e"), status: "connected" })),
        }),
      });
    const events = Array.from({ length: 40 }, (_, i) => big(i));
    expect(jsonBytes(events[0])).toBeGreaterThan(9_000);
    await dispatchEvents({ appQueue: appQueue(), webhookQueue: undefined }, events);
    const batches = app.sendBatch.mock.calls.map((c) => [...c[0]].map((m) => m.body));
    expect(batches.length).toBeGreaterThan(1);
    for (const batch of batches) expect(jsonBytes(batch)).toBeLessThanOrEqual(SEND_BATCH_MAX_BYTES);
    expect(app.bodies()).toEqual(events);
  });

  it("throws event_queue_unavailable when a queue refuses, so the writer keeps its rows", async () => {
    watchQueue(webhookQueue(), "refuse");
    const error = await dispatchEvents(eventSinks(webhookEnv()), [statusChanged()]).catch((e) => e);
    expect(error instanceof AppError && error.code).toBe("event_queue_unavailable");
  });

  it("sends nothing for an empty hand-off", async () => {
    const hooks = watchQueue(webhookQueue());
    expect(await dispatchEvents(eventSinks(webhookEnv()), [])).toEqual({ events: 0, app_queue: 0, webhook_queue: 0 });
    expect(hooks.sendBatch).not.toHaveBeenCalled();
  });
});

describe("eventSinks configuration", () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  it.each([
    ["APP_WEBHOOK_URL", { APP_WEBHOOK_URL: "http://app.example.com/hooks" }],
    ["APP_WEBHOOK_URL", { APP_WEBHOOK_URL: "ftp://app.example.com/hooks" }],
    ["APP_WEBHOOK_URL", { APP_WEBHOOK_URL: "https://user:pw@app.example.com/hooks" }],
    ["APP_WEBHOOK_SECRET", { APP_WEBHOOK_SECRET: undefined }],
    ["APP_WEBHOOK_SECRET", { APP_WEBHOOK_SECRET: "whsec_c2hvcnQ=" }],
    ["APP_WEBHOOK_SECRET", { APP_WEBHOOK_SECRET: "whsec_not base64 at all!!" }],
    ["APP_WEBHOOK_QUEUE", { APP_WEBHOOK_QUEUE: undefined }],
    ["APP_WEBHOOK_DLQ", { APP_WEBHOOK_DLQ: undefined }],
  ])("refuses a broken %s, naming it and never its value", (setting, vars) => {
    const error = (() => {
      try {
        eventSinks(webhookEnv(vars as Partial<Env>));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error instanceof AppError && error.code).toBe("config_invalid");
    const detail = error instanceof AppError ? (error.detail ?? "") : "";
    expect(detail.startsWith(setting)).toBe(true);
    for (const value of [...Object.values(vars), secret.slice(6)]) {
      if (typeof value === "string") expect(detail).not.toContain(value);
    }
  });

  it("accepts http only on this machine, and a bare base64 secret as the libraries do", () => {
    for (const url of ["http://127.0.0.1:8789/events", "http://localhost:8789/events", "https://app.example.com/x"]) {
      expect(eventSinks(webhookEnv({ APP_WEBHOOK_URL: url })).webhookQueue).toBeDefined();
    }
    const bare = webhookEnv({ APP_WEBHOOK_SECRET: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" });
    expect(eventSinks(bare).webhookQueue).toBeDefined();
  });
});

describe("/healthz", () => {
  it.each([
    [
      { APP_WEBHOOK_URL: "http://hooks.example.com/x" },
      "APP_WEBHOOK_URL",
      "must be https (http only for 127.0.0.1 or localhost)",
    ],
    [{ APP_WEBHOOK_SECRET: undefined }, "APP_WEBHOOK_SECRET", "is missing"],
  ])("names a broken APP_WEBHOOK_* setting, never its value (%#)", async (vars, setting, problem) => {
    const res = await workerWith(webhookEnv(vars))("/healthz");
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text).checks.config.problems).toEqual([{ setting, problem }]);
    expect(text).not.toContain("hooks.example.com");
    expect(text).not.toContain("whsec_");
  });

  it("is healthy with signed delivery configured", async () => {
    expect((await workerWith(webhookEnv())("/healthz")).status).toBe(200);
  });
});
