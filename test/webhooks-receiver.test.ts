import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { RECENT_EVENT_IDS } from "../src/domain/webhooks";
import { MAX_WEBHOOK_BODY } from "../src/routes/webhooks";
import { connectCustomer } from "./support/flow";
import { call } from "./support/http";
import {
  accountUpdated,
  clearKv,
  deliver,
  eventId,
  kvKeys,
  nowS,
  OTHER_WEBHOOK_SECRET,
  outcome,
  record,
  signed,
  watchBindings,
} from "./support/webhooks";

/** POST /webhooks/finch through the real fetch handler: refusals, acknowledgements, dedupe, ordering. */

async function connected() {
  const { res } = await connectCustomer();
  expect(res.status).toBe(200);
  const [name] = (await kvKeys()).filter((k) => k.startsWith("conn:"));
  return (name as string).slice("conn:".length);
}

async function expectRefused(res: Response, status: number, code: string) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(JSON.parse(text).error.code).toBe(code);
}

describe("refusals leave storage and the queue untouched", () => {
  let id: string;
  let before: string;
  beforeEach(async () => {
    await clearKv();
    id = await connected();
    before = JSON.stringify(await record(id));
  });

  async function refused(res: Response, status: number, code: string, watch: ReturnType<typeof watchBindings>) {
    await expectRefused(res, status, code);
    expect(watch.get).not.toHaveBeenCalled();
    expect(watch.put).not.toHaveBeenCalled();
    expect(watch.send).not.toHaveBeenCalled();
    expect(JSON.stringify(await record(id))).toBe(before);
    // The check above read KV itself; the next refusal starts from zero.
    for (const spy of [watch.get, watch.put, watch.send]) spy.mockClear();
  }

  it.each(["finch-event-id", "finch-timestamp", "finch-signature"])("refuses a request without %s", async (name) => {
    const d = await signed(accountUpdated(id, "reauth"));
    delete d.headers[name];
    const watch = watchBindings();
    await refused(await deliver(d), 400, "webhook_signature_missing", watch);
  });

  it.each([
    ["a wrong signature", (s: string) => `v1,${s.slice(3, 10)}AAAA${s.slice(14)}`],
    ["a signature that is not base64", () => "v1,not*base64!"],
    ["only an unknown version", (s: string) => `v2,${s.slice(3)}`],
    ["an empty v1 entry", () => "v1,"],
  ])("refuses %s with webhook_signature_invalid", async (_, mutate) => {
    const d = await signed(accountUpdated(id, "reauth"));
    d.headers["finch-signature"] = mutate(d.headers["finch-signature"] as string);
    const watch = watchBindings();
    await refused(await deliver(d), 401, "webhook_signature_invalid", watch);
  });

  it("refuses a body signed with a secret that is not configured", async () => {
    const watch = watchBindings();
    const d = await signed(accountUpdated(id, "reauth"), { secret: OTHER_WEBHOOK_SECRET });
    await refused(await deliver(d), 401, "webhook_signature_invalid", watch);
  });

  it("refuses a tampered body, event id or timestamp", async () => {
    const watch = watchBindings();
    const d = await signed(accountUpdated(id, "connected"));
    const tampered = d.body.replace('"connected"', '"reauth"');
    await refused(await deliver({ ...d, body: tampered }), 401, "webhook_signature_invalid", watch);
    const otherId = { ...d.headers, "finch-event-id": eventId() };
    await refused(await deliver({ ...d, headers: otherId }), 401, "webhook_signature_invalid", watch);
    const otherTs = { ...d.headers, "finch-timestamp": String(d.timestamp - 1) };
    await refused(await deliver({ ...d, headers: otherTs }), 401, "webhook_signature_invalid", watch);
  });

  it.each([
    ["stale", -301],
    ["future", 301],
  ])("refuses a %s timestamp, even correctly signed", async (_, offset) => {
    const watch = watchBindings();
    const d = await signed(accountUpdated(id, "reauth"), { timestamp: nowS() + offset });
    await refused(await deliver(d), 401, "webhook_timestamp_invalid", watch);
  });

  it.each(["17e8", "-5", "0017000000", "now", " "])("refuses the malformed timestamp %j", async (ts) => {
    const watch = watchBindings();
    const d = await signed(accountUpdated(id, "reauth"));
    d.headers["finch-timestamp"] = ts;
    const res = await deliver(d);
    await refused(
      res,
      ts === " " ? 400 : 401,
      ts === " " ? "webhook_signature_missing" : "webhook_timestamp_invalid",
      watch,
    );
  });

  it("refuses a body over the limit by Content-Length, before reading it", async () => {
    const watch = watchBindings();
    const d = await signed({ ...accountUpdated(id, "reauth"), pad: "x".repeat(MAX_WEBHOOK_BODY) });
    await refused(await deliver(d), 413, "body_too_large", watch);
  });

  it("refuses a streamed body over the limit without a Content-Length", async () => {
    const watch = watchBindings();
    const d = await signed({ ...accountUpdated(id, "reauth"), pad: "x".repeat(MAX_WEBHOOK_BODY) });
    const bytes = new TextEncoder().encode(d.body);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
        controller.close();
      },
    });
    const res = await call("/webhooks/finch", { method: "POST", headers: d.headers, body: stream });
    await refused(res, 413, "body_too_large", watch);
  });

  it.each([
    ["not JSON", "connection_id=abc"],
    ["a JSON array", "[]"],
    ["without event_type", { connection_id: "x", data: {} }],
    ["with a malformed connection_id", { connection_id: "../conn:other", event_type: "company.updated" }],
    ["account.updated without data.status", { connection_id: "c1", event_type: "account.updated", data: {} }],
    [
      "account.updated with a non-status",
      { connection_id: "c1", event_type: "account.updated", data: { status: "<b>" } },
    ],
  ])("refuses a correctly signed body that is %s", async (_, body) => {
    const watch = watchBindings();
    await refused(await deliver(await signed(body)), 400, "webhook_body_invalid", watch);
  });

  it("never writes the refused body to the log", async () => {
    const logged: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void logged.push(args.join(" ")));
    const marker = `marker-${crypto.randomUUID()}`;
    const d = await signed({ ...accountUpdated(id, "reauth"), marker });
    await deliver({ ...d, body: d.body.replace("reauth", "connected") });
    await deliver(await signed(`not json ${marker}`));
    expect(logged.length).toBeGreaterThanOrEqual(2);
    expect(logged.join("\n")).not.toContain(marker);
    expect(logged.join("\n")).toContain("webhook_signature_invalid");
  });
});

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
