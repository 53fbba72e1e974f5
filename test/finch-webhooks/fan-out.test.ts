import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { finch } from "../support/finch";
import { clearKv, storedRecord as record } from "../support/fixtures";
import {
  accountUpdated,
  connected,
  deliver,
  nowS,
  outcome,
  signed,
  watchBindings,
  withoutQueue,
} from "../support/webhooks";
import { alarmLater } from "../support/writer";

/**
 * Fan-out to the optional EVENTS queue. The test pool binds a real Miniflare Queue
 * producer (vitest.config.ts); the send is observed with a pass-through spy. The unbound
 * case runs the same app with EVENTS removed, as a deployment without [[queues.producers]].
 */
beforeEach(clearKv);

describe("with the EVENTS queue bound", () => {
  it("sends each verified event with its ids, data and both times, before answering", async () => {
    // Connect on the real clock: the ticket ledger's object shares this isolate's Date, and a
    // faked past would set its forget-alarm in the past, dropping the claim mid-connect.
    const id = await connected();
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const watch = watchBindings();
      vi.setSystemTime(new Date("2036-03-01T12:00:00.250Z"));
      const d = await signed(accountUpdated(id, "reauth"), { timestamp: nowS() - 2 });
      const res = await deliver(d);
      expect((await res.json<any>()).outcome).toBe("applied");
      expect(watch.send).toHaveBeenCalledTimes(1);
      expect(watch.send.mock.calls[0]?.[1]).toEqual({ contentType: "json" });
      expect(watch.messages()[0]).toEqual({
        event_id: d.eventId,
        event_type: "account.updated",
        connection_id: id,
        company_id: "c0a8e1f2-0000-4000-8000-000000000001",
        account_id: "a0a8e1f2-0000-4000-8000-000000000002",
        data: { status: "reauth", authentication_method: { type: "credential" } },
        received_at: "2036-03-01T12:00:00.250Z",
        timestamp: "2036-03-01T11:59:58.000Z",
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it("sends events that change nothing stored: other types, unchanged, unknown connection, test", async () => {
    const id = await connected();
    // A first prompt stores what Finch reports beyond the status; the next one changes nothing.
    expect(await outcome(deliver(await signed(accountUpdated(id, "connected"))))).toBe("applied");
    const watch = watchBindings();
    const events = [
      await signed({ ...accountUpdated(id, "x"), event_type: "directory.updated", entity_id: "e1", data: null }),
      await signed(accountUpdated(id, "reauth"), { timestamp: nowS() - 100 }),
      await signed(accountUpdated("0b7d5a3c-0000-4000-8000-000000000000", "reauth")),
      await signed({ event_type: "test" }),
    ];
    const outcomes = [];
    for (const d of events) outcomes.push(await outcome(deliver(d)));
    expect(outcomes).toEqual(["acknowledged", "unchanged", "unknown_connection", "test"]);
    expect(watch.messages().map((m) => [m.event_id, m.event_type, m.connection_id])).toEqual([
      [events[0]?.eventId, "directory.updated", id],
      [events[1]?.eventId, "account.updated", id],
      [events[2]?.eventId, "account.updated", "0b7d5a3c-0000-4000-8000-000000000000"],
      [events[3]?.eventId, "test", null],
    ]);
    expect(watch.messages()[0]).toMatchObject({ entity_id: "e1", data: null });
    expect(watch.messages()[3]?.data).toBeNull();
  });

  it("does not send a recognised duplicate again", async () => {
    const id = await connected();
    const watch = watchBindings();
    const d = await signed(accountUpdated(id, "reauth"), { timestamp: nowS() + 1 });
    expect(await outcome(deliver(d))).toBe("applied");
    expect(await outcome(deliver(d))).toBe("duplicate");
    expect(watch.send).toHaveBeenCalledTimes(1);
  });

  it("keeps the message when the queue refuses, and the writer's alarm sends it; a redelivery is a duplicate", async () => {
    const id = await connected();
    finch().mock.setConnectionStatus(id, "reauth");
    const watch = watchBindings();
    watch.send.mockRejectedValueOnce(new Error("queue unavailable"));
    const d = await signed(accountUpdated(id, "reauth"), { timestamp: nowS() + 1 });
    // Finch's answer and the message are committed together: the webhook is answered.
    expect(await outcome(deliver(d))).toBe("applied");
    expect((await record(id)).status).toBe("reauth");
    expect(watch.send).toHaveBeenCalledTimes(1);
    // The alarm (or the writer's next call, whatever it is) sends what was kept.
    expect(await alarmLater(id)).toBe(true);
    expect(watch.send).toHaveBeenCalledTimes(2);
    expect(watch.messages().map((m) => m.event_id)).toEqual([d.eventId, d.eventId]);
    expect(await outcome(deliver(d))).toBe("duplicate");
    expect(await alarmLater(id)).toBe(false);
    expect(watch.send).toHaveBeenCalledTimes(2);
  });
});

describe("without the EVENTS queue", () => {
  it("applies the same events and sends nothing", async () => {
    const id = await connected();
    const watch = watchBindings();
    const worker = withoutQueue();
    finch().mock.setConnectionStatus(id, "error_no_account_setup");
    const d = await signed(accountUpdated(id, "error_no_account_setup"), { timestamp: nowS() + 1 });
    const res = await deliver(d, worker);
    expect(await res.json<any>()).toEqual({ received: true, event_id: d.eventId, outcome: "applied" });
    expect(await outcome(deliver(await signed({ event_type: "test" }), worker))).toBe("test");
    expect(watch.put).toHaveBeenCalledTimes(1);
    expect(watch.send).not.toHaveBeenCalled();
    expect((await record(id)).status).toBe("error_no_account_setup");
    // Sanity: the spy does observe sends when the binding is there.
    await deliver(await signed({ event_type: "test" }));
    expect(watch.send).toHaveBeenCalledTimes(1);
    expect(env.EVENTS).toBeDefined();
  });
});
