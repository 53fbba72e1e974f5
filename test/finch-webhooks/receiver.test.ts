import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { expectError } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv, kvNames, storedRecord as record } from "../support/fixtures";
import { markSecret } from "../support/logs";
import {
  accountUpdated,
  connected,
  deliver,
  nowS,
  OTHER_WEBHOOK_SECRET,
  outcome,
  signed,
  WEBHOOK_SECRET,
  watchBindings,
} from "../support/webhooks";
import { workerWith } from "../support/worker";
import { alarmLater } from "../support/writer";

/** POST /webhooks/finch through the real fetch handler: acknowledgements, dedupe, ordering, rotation, KV failure. */

describe("acknowledged events", () => {
  beforeEach(clearKv);

  it("takes account.updated as a prompt: asks Finch and stores its answer, no KV read, one write", async () => {
    const id = await connected();
    finch().mock.setConnectionStatus(id, "reauth");
    const watch = watchBindings();
    // The event says "connected": Finch's introspect is what counts.
    const d = await signed(accountUpdated(id, "connected"));
    const res = await deliver(d);
    expect(res.status).toBe(200);
    expect(await res.json<any>()).toEqual({ received: true, event_id: d.eventId, outcome: "applied" });
    expect(finch().calls("GET /introspect")).toHaveLength(1);
    expect(watch.get).not.toHaveBeenCalled();
    expect(watch.put).toHaveBeenCalledTimes(1);
    const stored = await record(id);
    expect(stored.status).toBe("reauth");
    expect(stored.authentication_methods).toEqual([{ type: "credential", status: "reauth" }]);
    expect(stored.entities).toHaveLength(1);
    expect(stored.entities[0].status).toBe("reauth");
    expect(stored.events).toBeUndefined();
    const { metadata } = await env.CONNECTIONS.getWithMetadata(`conn:${id}`);
    expect((metadata as { st: string }).st).toBe("reauth");
  });

  it("acknowledges a redelivery as a duplicate: no introspect, no KV read or write", async () => {
    const id = await connected();
    finch().mock.setConnectionStatus(id, "error_permissions");
    const d = await signed(accountUpdated(id, "error_permissions"));
    expect(await outcome(deliver(d))).toBe("applied");
    const after = JSON.stringify(await record(id));
    const watch = watchBindings();
    const introspects = finch().calls("GET /introspect").length;
    // Finch re-signs a retry with a fresh timestamp: same id, new signature.
    const again = await signed(accountUpdated(id, "error_permissions"), { eventId: d.eventId, timestamp: nowS() + 2 });
    expect(await outcome(deliver(again))).toBe("duplicate");
    expect(finch().calls("GET /introspect")).toHaveLength(introspects);
    expect(watch.get).not.toHaveBeenCalled();
    expect(watch.put).not.toHaveBeenCalled();
    expect(JSON.stringify(await record(id))).toBe(after);
  });

  it("a late retry of an old reauth event, re-signed with a fresh timestamp, cannot undo the repair", async () => {
    const id = await connected();
    // A first prompt fills in what Finch reports beyond the status (methods, entities, sync).
    expect(await outcome(deliver(await signed(accountUpdated(id, "connected"))))).toBe("applied");
    // Finch says connected (the employer re-authenticated); an old "reauth" event arrives late,
    // its finch-timestamp newer than anything stored because Finch re-signed the retry.
    const late = await signed(accountUpdated(id, "reauth"), { timestamp: nowS() + 60 });
    const watch = watchBindings();
    expect(await outcome(deliver(late))).toBe("unchanged");
    expect(watch.put).not.toHaveBeenCalled();
    expect((await record(id)).status).toBe("connected");
  });

  it("stores whatever Finch says at the time, whatever order the events arrive in", async () => {
    const id = await connected();
    const t = nowS();
    finch().mock.setConnectionStatus(id, "processing");
    expect(await outcome(deliver(await signed(accountUpdated(id, "connected"), { timestamp: t + 20 })))).toBe(
      "applied",
    );
    expect((await record(id)).status).toBe("processing");
    finch().mock.setConnectionStatus(id, "connected");
    expect(await outcome(deliver(await signed(accountUpdated(id, "processing"), { timestamp: t + 10 })))).toBe(
      "applied",
    );
    expect((await record(id)).status).toBe("connected");
  });

  it("answers 5xx when Finch cannot be asked, and applies the redelivery", async () => {
    const id = await connected();
    finch().mock.setConnectionStatus(id, "reauth");
    const d = await signed(accountUpdated(id, "reauth"));
    let down = true;
    finch().override("GET /introspect", (req) =>
      down ? Response.json({ code: 500, name: "server_error" }, { status: 500 }) : finch().mock.fetch(req),
    );
    vi.spyOn(globalThis, "setTimeout").mockImplementation(((fn: () => void) => {
      fn();
      return 0;
    }) as unknown as typeof setTimeout);
    const res = await deliver(d);
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect((await record(id)).status).toBe("connected");
    down = false;
    expect(await outcome(deliver(d))).toBe("applied");
    expect((await record(id)).status).toBe("reauth");
  });

  it("acknowledges other event types on a known connection without writing", async () => {
    const id = await connected();
    const before = JSON.stringify(await record(id));
    const watch = watchBindings();
    // A job, but not a sync: sync completions are recorded (test/events-emission.test.ts).
    const d = await signed({
      ...accountUpdated(id, "x"),
      event_type: "job.benefit_enroll.completed",
      data: { job_id: "j1" },
    });
    const res = await deliver(d);
    expect(await res.json<any>()).toEqual({ received: true, event_id: d.eventId, outcome: "acknowledged" });
    expect(watch.put).not.toHaveBeenCalled();
    expect(JSON.stringify(await record(id))).toBe(before);
  });

  it("acknowledges an event for an unknown connection and notes it in the log", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const d = await signed(accountUpdated("4f1c8a7e-0000-4000-8000-00000000dead", "reauth"));
    const res = await deliver(d);
    expect(res.status).toBe(200);
    expect((await res.json<any>()).outcome).toBe("unknown_connection");
    expect(await kvNames()).toEqual([]);
    const line = JSON.parse(lines.find((l) => l.includes('"msg":"request"')) as string);
    expect(line.connection_id).toBe("4f1c8a7e-0000-4000-8000-00000000dead");
    expect(line.notes).toEqual([`webhook ${d.eventId} account.updated: unknown_connection`]);
  });

  it("acknowledges the dashboard's test event without touching storage", async () => {
    const watch = watchBindings();
    const res = await deliver(await signed({ event_type: "test", data: {} }));
    expect(res.status).toBe(200);
    expect((await res.json<any>()).outcome).toBe("test");
    expect(watch.get).not.toHaveBeenCalled();
    expect(watch.put).not.toHaveBeenCalled();
  });

  it("accepts deliveries signed with either of two configured secrets (rotation)", async () => {
    markSecret("the other webhook secret", OTHER_WEBHOOK_SECRET);
    const id = await connected();
    const rotating = workerWith({ WEBHOOK_SECRETS: `${OTHER_WEBHOOK_SECRET}, ${WEBHOOK_SECRET}` });
    const t = nowS();
    const byNew = await signed(accountUpdated(id, "reauth"), { secret: OTHER_WEBHOOK_SECRET, timestamp: t + 1 });
    const byOld = await signed(accountUpdated(id, "connected"), { secret: WEBHOOK_SECRET, timestamp: t + 2 });
    finch().mock.setConnectionStatus(id, "reauth");
    expect(await outcome(deliver(byNew, rotating))).toBe("applied");
    finch().mock.setConnectionStatus(id, "connected");
    expect(await outcome(deliver(byOld, rotating))).toBe("applied");
    // Once the old secret is removed, what it signs is refused.
    const newOnly = workerWith({ WEBHOOK_SECRETS: OTHER_WEBHOOK_SECRET });
    const late = await signed(accountUpdated(id, "reauth"), { secret: WEBHOOK_SECRET, timestamp: t + 3 });
    await expectError(await deliver(late, newOnly), 401, "webhook_signature_invalid");
    expect((await record(id)).status).toBe("connected");
  });

  it("records the event in the writer even when KV cannot take it now; a redelivery is a duplicate", async () => {
    const id = await connected();
    finch().mock.setConnectionStatus(id, "reauth");
    const d = await signed(accountUpdated(id, "reauth"), { timestamp: nowS() + 5 });
    const put = vi.spyOn(env.CONNECTIONS, "put").mockRejectedValueOnce(new Error("KV unavailable"));
    expect(await outcome(deliver(d))).toBe("applied");
    expect(put).toHaveBeenCalled();
    expect((await record(id)).status).toBe("connected");
    expect(await outcome(deliver(d))).toBe("duplicate");
    expect(await alarmLater(id)).toBe(true);
    expect((await record(id)).status).toBe("reauth");
  });
});
