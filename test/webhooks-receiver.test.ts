import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { RECENT_EVENT_IDS } from "../src/domain/webhooks";
import { markSecret } from "./support/logs";
import {
  accountUpdated,
  clearKv,
  connected,
  deliver,
  expectRefused,
  kvKeys,
  nowS,
  OTHER_WEBHOOK_SECRET,
  outcome,
  record,
  signed,
  WEBHOOK_SECRET,
  watchBindings,
} from "./support/webhooks";
import { workerWith } from "./support/worker";

/** POST /webhooks/finch through the real fetch handler: acknowledgements, dedupe, ordering, rotation, KV failure. */

describe("acknowledged events", () => {
  beforeEach(clearKv);

  it("applies account.updated: status and status_at from finch-timestamp, one read and one write", async () => {
    const id = await connected();
    const watch = watchBindings();
    const d = await signed(accountUpdated(id, "reauth"), { timestamp: nowS() + 5 });
    const res = await deliver(d);
    expect(res.status).toBe(200);
    expect(await res.json<any>()).toEqual({ received: true, event_id: d.eventId, outcome: "applied" });
    expect(watch.get).toHaveBeenCalledTimes(1);
    expect(watch.put).toHaveBeenCalledTimes(1);
    const stored = await record(id);
    expect(stored.status).toBe("reauth");
    expect(stored.status_at).toBe(new Date(d.timestamp * 1000).toISOString());
    expect(stored.events.recent_ids).toEqual([d.eventId]);
    const { metadata } = await env.CONNECTIONS.getWithMetadata(`conn:${id}`);
    expect((metadata as { st: string }).st).toBe("reauth");
  });

  it("acknowledges a redelivery as a duplicate with no write", async () => {
    const id = await connected();
    const d = await signed(accountUpdated(id, "error_permissions"), { timestamp: nowS() + 5 });
    expect(await outcome(deliver(d))).toBe("applied");
    const after = JSON.stringify(await record(id));
    const watch = watchBindings();
    const again = await deliver(d);
    expect(again.status).toBe(200);
    expect((await again.json<any>()).outcome).toBe("duplicate");
    expect(watch.get).toHaveBeenCalledTimes(1);
    expect(watch.put).not.toHaveBeenCalled();
    expect(JSON.stringify(await record(id))).toBe(after);
  });

  it("does not let an older account.updated overwrite a newer one, whatever the arrival order", async () => {
    const id = await connected();
    const t = nowS();
    const newer = await signed(accountUpdated(id, "connected"), { timestamp: t + 20 });
    const older = await signed(accountUpdated(id, "reauth"), { timestamp: t + 10 });
    expect(await outcome(deliver(newer))).toBe("applied");
    const watch = watchBindings();
    expect(await outcome(deliver(older))).toBe("stale");
    expect(watch.put).not.toHaveBeenCalled();
    const stored = await record(id);
    expect(stored.status).toBe("connected");
    expect(stored.status_at).toBe(new Date((t + 20) * 1000).toISOString());
  });

  it("does not apply a second event from the same second: only a strictly newer timestamp wins", async () => {
    const id = await connected();
    const t = nowS() + 5;
    expect(await outcome(deliver(await signed(accountUpdated(id, "reauth"), { timestamp: t })))).toBe("applied");
    expect(await outcome(deliver(await signed(accountUpdated(id, "connected"), { timestamp: t })))).toBe("stale");
    expect((await record(id)).status).toBe("reauth");
  });

  it("treats an event from before the connection's last status change as stale", async () => {
    const id = await connected();
    const d = await signed(accountUpdated(id, "reauth"), { timestamp: nowS() - 60 });
    expect(await outcome(deliver(d))).toBe("stale");
    expect((await record(id)).status).toBe("connected");
  });

  it("keeps only the last RECENT_EVENT_IDS applied ids", async () => {
    const id = await connected();
    const t = nowS();
    const ids: string[] = [];
    for (let i = 1; i <= RECENT_EVENT_IDS + 2; i++) {
      const d = await signed(accountUpdated(id, i % 2 ? "reauth" : "connected"), { timestamp: t - 250 + i * 4 });
      // The connect flow set status_at to now: move it back so each event is newer than the last.
      if (i === 1) await rewind(id, t - 300);
      expect(await outcome(deliver(d))).toBe("applied");
      ids.push(d.eventId);
    }
    expect((await record(id)).events.recent_ids).toEqual(ids.slice(-RECENT_EVENT_IDS));
  });

  it("acknowledges other event types on a known connection without writing", async () => {
    const id = await connected();
    const before = JSON.stringify(await record(id));
    const watch = watchBindings();
    const d = await signed({
      ...accountUpdated(id, "x"),
      event_type: "job.data_sync_all.completed",
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
    expect(await kvKeys()).toEqual([]);
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
    expect(await outcome(deliver(byNew, rotating))).toBe("applied");
    expect(await outcome(deliver(byOld, rotating))).toBe("applied");
    // Once the old secret is removed, what it signs is refused.
    const newOnly = workerWith({ WEBHOOK_SECRETS: OTHER_WEBHOOK_SECRET });
    const late = await signed(accountUpdated(id, "reauth"), { secret: WEBHOOK_SECRET, timestamp: t + 3 });
    await expectRefused(await deliver(late, newOnly), 401, "webhook_signature_invalid");
    expect((await record(id)).status).toBe("connected");
  });

  it("answers 503 when KV cannot record the event, so Finch delivers it again", async () => {
    const id = await connected();
    const d = await signed(accountUpdated(id, "reauth"), { timestamp: nowS() + 5 });
    vi.spyOn(env.CONNECTIONS, "put").mockRejectedValueOnce(new Error("KV unavailable"));
    await expectRefused(await deliver(d), 503, "storage_unavailable");
    expect((await record(id)).status).toBe("connected");
    const retry = await deliver(d);
    expect((await retry.json<any>()).outcome).toBe("applied");
    expect((await record(id)).status).toBe("reauth");
  });
});

/** Moves a record's status_at back (as if it had been connected earlier). */
async function rewind(id: string, atS: number) {
  const r = await record(id);
  r.status_at = new Date(atS * 1000).toISOString();
  await env.CONNECTIONS.put(`conn:${id}`, JSON.stringify(r));
}
