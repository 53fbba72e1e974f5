import { describe, expect, it } from "vitest";
import { webhookHeaders } from "../../mock-finch/src/webhook";
import { AppError } from "../../src/errors";
import { WEBHOOK_TOLERANCE_S, type WebhookSecret } from "../../src/finch-webhooks/verify";
import { fromBase64 } from "../../src/lib/encoding";
import { OTHER_WEBHOOK_SECRET, verifyWebhook, WEBHOOK_SECRET } from "../support/webhooks";

/** The pure verifier, with the clock passed in: exact window edges, rotation, several signatures. */

const secret = (text: string): WebhookSecret => ({ id: text, key: fromBase64(text) as Uint8Array });
const CURRENT = secret(WEBHOOK_SECRET);
const NEXT = secret(OTHER_WEBHOOK_SECRET);
const T = 1_767_225_600; // 2026-01-01T00:00:00Z
const BODY = JSON.stringify({ connection_id: "c1", event_type: "account.updated", data: { status: "reauth" } });

async function headersFor(opts: { secrets?: string[]; timestamp?: number; id?: string; body?: string } = {}) {
  return new Headers({
    ...(await webhookHeaders(
      opts.body ?? BODY,
      opts.id ?? "msg_1",
      opts.timestamp ?? T,
      opts.secrets ?? [WEBHOOK_SECRET],
    )),
  });
}

/** The error code verifyWebhook throws, or "ok". */
async function verdict(body: string, headers: Headers, secrets: WebhookSecret[] = [CURRENT], nowS = T) {
  try {
    await verifyWebhook(body, headers, secrets, nowS * 1000);
    return "ok";
  } catch (e) {
    if (e instanceof AppError) return e.code;
    throw e;
  }
}

describe("verifyWebhook", () => {
  it("accepts Finch's signature and returns the event id, timestamp and raw body", async () => {
    const verified = await verifyWebhook(BODY, await headersFor(), [CURRENT], T * 1000);
    expect(verified).toEqual({ eventId: "msg_1", timestamp: T, body: BODY });
  });

  it("accepts the timestamp at exactly -300 s and +300 s, and refuses -301 s and +301 s", async () => {
    expect(WEBHOOK_TOLERANCE_S).toBe(300);
    const h = await headersFor();
    expect(await verdict(BODY, h, [CURRENT], T + 300)).toBe("ok");
    expect(await verdict(BODY, h, [CURRENT], T - 300)).toBe("ok");
    expect(await verdict(BODY, h, [CURRENT], T + 301)).toBe("webhook_timestamp_invalid");
    expect(await verdict(BODY, h, [CURRENT], T - 301)).toBe("webhook_timestamp_invalid");
  });

  it("uses whole seconds of the clock, as Finch's SDK does", async () => {
    const h = await headersFor();
    // 300.999 s later is still 300 whole seconds.
    await expect(verifyWebhook(BODY, h, [CURRENT], (T + 300) * 1000 + 999)).resolves.toBeTruthy();
    await expect(verifyWebhook(BODY, h, [CURRENT], (T + 301) * 1000)).rejects.toThrow();
  });

  it("accepts either of two configured secrets (rotation)", async () => {
    expect(await verdict(BODY, await headersFor({ secrets: [WEBHOOK_SECRET] }), [CURRENT, NEXT])).toBe("ok");
    expect(await verdict(BODY, await headersFor({ secrets: [OTHER_WEBHOOK_SECRET] }), [CURRENT, NEXT])).toBe("ok");
    expect(await verdict(BODY, await headersFor({ secrets: [OTHER_WEBHOOK_SECRET] }), [CURRENT])).toBe(
      "webhook_signature_invalid",
    );
  });

  it("accepts a header with several signatures when any one of them matches", async () => {
    const both = await headersFor({ secrets: [OTHER_WEBHOOK_SECRET, WEBHOOK_SECRET] });
    expect(both.get("finch-signature")?.split(" ")).toHaveLength(2);
    expect(await verdict(BODY, both, [CURRENT])).toBe("ok");
    const valid = both.get("finch-signature")?.split(" ")[1] as string;
    const mixed = new Headers(both);
    mixed.set("finch-signature", `v2,abc v1,%%%notbase64 ${valid} v1,AAAA`);
    expect(await verdict(BODY, mixed, [CURRENT])).toBe("ok");
  });

  it("refuses when no entry matches, including malformed and non-v1 entries", async () => {
    const h = await headersFor();
    const good = h.get("finch-signature") as string;
    for (const signature of ["v1,%%%", `v2,${good.slice(3)}`, "v1", good.slice(3), `v1,${good.slice(3, -4)}AAA=`]) {
      h.set("finch-signature", signature);
      expect(await verdict(BODY, h), signature).toBe("webhook_signature_invalid");
    }
  });

  it("refuses a changed body, event id or timestamp", async () => {
    const h = await headersFor();
    expect(await verdict(`${BODY} `, h)).toBe("webhook_signature_invalid");
    const id = new Headers(h);
    id.set("finch-event-id", "msg_2");
    expect(await verdict(BODY, id)).toBe("webhook_signature_invalid");
    const ts = new Headers(h);
    ts.set("finch-timestamp", String(T + 1));
    expect(await verdict(BODY, ts)).toBe("webhook_signature_invalid");
  });

  it("names a missing header before anything else", async () => {
    for (const name of ["finch-event-id", "finch-timestamp", "finch-signature"]) {
      const h = await headersFor();
      h.delete(name);
      expect(await verdict(BODY, h), name).toBe("webhook_signature_missing");
    }
  });

  it("refuses oversized or absurd headers without computing anything", async () => {
    const h = await headersFor();
    const good = h.get("finch-signature") as string;
    h.set("finch-signature", `${"v1,AAAA ".repeat(20)}${good}`);
    expect(await verdict(BODY, h)).toBe("webhook_signature_invalid");
    const longId = await headersFor({ id: "m".repeat(256) });
    expect(await verdict(BODY, longId)).toBe("webhook_signature_invalid");
  });
});
