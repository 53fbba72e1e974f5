import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { EventDeadLetters } from "../../src/app-events/dead-letters-object";
import type { AppEvent } from "../../src/app-events/model";
import type { EventSink, EventSinks } from "../../src/app-events/outbox";
import { EventOutbox, OUTBOX_DDL } from "../../src/app-events/outbox-table";
import { AppError } from "../../src/errors";
import { statusChanged } from "../support/events";

/**
 * The writer's outbox, run in a real SQLite Durable Object's storage (a fresh object of the
 * dead-letter class per test, used only for its storage): events commit with their change, and
 * leave the table only once every sink accepted them.
 */
function inObject<R>(run: (state: DurableObjectState) => R | Promise<R>): Promise<R> {
  const ns = env.EVENT_DEAD_LETTERS as DurableObjectNamespace<EventDeadLetters>;
  const stub = ns.get(ns.idFromName(`outbox-test-${crypto.randomUUID()}`));
  return runInDurableObject(stub, (_instance, state) => {
    // The owning object creates the table with its schema (src/writer/sql-storage.ts).
    state.storage.sql.exec(OUTBOX_DDL);
    return run(state);
  });
}

/** A sink port that records what it accepted, or refuses the next `failures` calls. */
function recordingSink(failures = 0) {
  const accepted: AppEvent[] = [];
  let left = failures;
  const sink: EventSink = {
    async sendBatch(messages) {
      if (left-- > 0) throw new Error("queue unavailable");
      for (const m of messages) accepted.push(m.body as AppEvent);
    },
  };
  return { sink, accepted };
}

describe("EventOutbox", () => {
  it("keeps events with the change they belong to: a rolled-back change leaves no event", async () => {
    await inObject((state) => {
      const outbox = new EventOutbox(state.storage.sql);
      expect(() =>
        state.storage.transactionSync(() => {
          outbox.append([statusChanged(1)]);
          throw new Error("the change failed");
        }),
      ).toThrow("the change failed");
      expect(outbox.pending()).toBe(0);
      state.storage.transactionSync(() => outbox.append([statusChanged(2), statusChanged(2)]));
      expect(outbox.pending()).toBe(2);
    });
  });

  it("refuses an invalid event, so the change it came with rolls back too", async () => {
    await inObject((state) => {
      const outbox = new EventOutbox(state.storage.sql);
      const bad = { ...statusChanged(), access_token: "never" } as unknown as AppEvent;
      const error = (() => {
        try {
          state.storage.transactionSync(() => outbox.append([statusChanged(), bad]));
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error instanceof AppError && error.code).toBe("internal_error");
      expect(outbox.pending()).toBe(0);
    });
  });

  it("hands events to every sink in order and deletes them only after both accepted", async () => {
    await inObject(async (state) => {
      const outbox = new EventOutbox(state.storage.sql);
      const events = Array.from({ length: 150 }, (_, i) => statusChanged(i));
      state.storage.transactionSync(() => outbox.append(events));
      const app = recordingSink();
      const hooks = recordingSink(1);
      const sinks: EventSinks = { appQueue: app.sink, webhookQueue: hooks.sink };

      const failed = await outbox.flush(sinks).catch((e) => e);
      expect(failed instanceof AppError && failed.code).toBe("event_queue_unavailable");
      expect(outbox.pending()).toBe(150);

      expect(await outbox.flush(sinks)).toEqual({ sent: 150, remaining: 0 });
      expect(hooks.accepted).toEqual(events);
      // The app queue saw the first page twice (accepted before the webhook queue refused): at least once.
      expect(app.accepted.slice(100)).toEqual(events);
      expect(await outbox.flush(sinks)).toEqual({ sent: 0, remaining: 0 });
    });
  });

  it("runs concurrent flushes one after another, so no page is sent twice", async () => {
    await inObject(async (state) => {
      const outbox = new EventOutbox(state.storage.sql);
      const hooks = recordingSink();
      const sinks: EventSinks = { appQueue: undefined, webhookQueue: hooks.sink };
      const [a, b] = [statusChanged(1), statusChanged(2)];
      state.storage.transactionSync(() => outbox.append([a]));
      const first = outbox.flush(sinks);
      state.storage.transactionSync(() => outbox.append([b]));
      const second = outbox.flush(sinks);
      expect((await first).sent + (await second).sent).toBe(2);
      expect(hooks.accepted).toEqual([a, b]);
    });
  });

  it("bounds one flush and reports what is left", async () => {
    await inObject(async (state) => {
      const outbox = new EventOutbox(state.storage.sql);
      state.storage.transactionSync(() => outbox.append(Array.from({ length: 250 }, (_, i) => statusChanged(i))));
      const sinks: EventSinks = { appQueue: undefined, webhookQueue: recordingSink().sink };
      expect(await outbox.flush(sinks, 2)).toEqual({ sent: 200, remaining: 50 });
    });
  });
});
