import { beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_WEBHOOK_BODY } from "../../src/routes/webhooks";
import { expectError } from "../support/assert";
import { clearKv, storedRecord as record } from "../support/fixtures";
import { call } from "../support/http";
import {
  accountUpdated,
  connected,
  deliver,
  eventId,
  nowS,
  OTHER_WEBHOOK_SECRET,
  signed,
  watchBindings,
} from "../support/webhooks";

/** POST /webhooks/finch refusals: each is a stable 4xx, before KV or the queue is touched. */

describe("refusals leave storage and the queue untouched", () => {
  let id: string;
  let before: string;
  beforeEach(async () => {
    await clearKv();
    id = await connected();
    before = JSON.stringify(await record(id));
  });

  async function refused(res: Response, status: number, code: string, watch: ReturnType<typeof watchBindings>) {
    await expectError(res, status, code);
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
