import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeEach, expect, it, vi } from "vitest";
import { finch } from "../support/finch";
import { clearKv, seedConnection } from "../support/fixtures";
import {
  anyText,
  caseWatch,
  errorCode,
  expectRefusedSafely,
  propertyRuns,
  propertyTimeout,
  runProperty,
} from "../support/property";
import { nowS, WEBHOOK_SECRET } from "../support/webhooks";
import { workerWith } from "../support/worker";

/**
 * Hostile webhook deliveries on POST /webhooks/finch:
 * - forged: random or missing headers, random signatures, any body;
 * - tampered: signed by Finch's secret, then one byte of the body, the event id, the
 *   timestamp or the signature changed;
 * - authentic but odd: correctly signed arbitrary bodies (any JSON, junk, odd statuses).
 * Forged and tampered ones are refused with no KV write, no queue message and no call to
 * Finch; authentic ones never cause a 5xx, only an account.updated for the stored connection
 * may ask Finch (GET /introspect) and write, and what it writes is Finch's status, never the
 * event's.
 */
beforeEach(clearKv);
const worker = workerWith({});

type Delivery = { headers: Record<string, string>; body: string; authentic: boolean };
type Recipe = { make: () => Promise<Delivery>; [fc.toStringMethod]: () => string };

/** How to build one delivery; prints as its inputs in a counterexample. */
const recipe = (description: unknown, make: Recipe["make"]): Recipe => ({
  make,
  [fc.toStringMethod]: () => JSON.stringify(description),
});

const sign = async (body: string, eventId: string, timestamp: number) =>
  finch().mock.signWebhook(body, { eventId, timestamp, secret: WEBHOOK_SECRET });

const eventIds = fc.oneof(fc.stringMatching(/^msg_[A-Za-z0-9]{1,40}$/), anyText(40));

it(
  "hostile webhook deliveries",
  async () => {
    const { connectionId } = await seedConnection();
    const statusBody = (status: unknown, id: unknown = connectionId) =>
      JSON.stringify({ connection_id: id, event_type: "account.updated", data: { status } });
    const bodies = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      anyText(2000),
      fc
        .oneof(fc.constantFrom("reauth", "connected", "error_permissions"), anyText(50), fc.jsonValue())
        .map((s) => statusBody(s)),
      fc.oneof(fc.uuid(), anyText(200), fc.constant(null)).map((id) => statusBody("reauth", id)),
      fc
        .constantFrom("test", "directory.updated", "job.benefit_create.updated", "a".repeat(200))
        .map((t) => JSON.stringify({ connection_id: connectionId, event_type: t, data: { x: 1 } })),
    );

    const forged = fc
      .record(
        {
          "finch-event-id": eventIds,
          "finch-timestamp": fc.oneof(
            fc.integer({ min: -400, max: 400 }).map((d) => String(nowS() + d)),
            anyText(20),
          ),
          "finch-signature": fc.oneof(
            fc.base64String({ minLength: 4, maxLength: 64 }).map((b) => `v1,${b}`),
            anyText(100),
            fc
              .array(
                fc.base64String({ maxLength: 44 }).map((b) => `v1,${b}`),
                { maxLength: 20 },
              )
              .map((a) => a.join(" ")),
          ),
        },
        { requiredKeys: [] },
      )
      .chain((headers) => bodies.map((body): Delivery => ({ headers: ascii(headers), body, authentic: false })));

    const signedParts = fc.tuple(
      bodies,
      fc.stringMatching(/^msg_[A-Za-z0-9]{8,32}$/),
      fc.integer({ min: -60, max: 250 }),
    );
    const tampered = fc
      .tuple(
        signedParts,
        fc.constantFrom("body", "event id", "timestamp", "signature"),
        fc.nat(),
        fc.integer({ min: 1, max: 127 }),
      )
      .map(([[body, id, offset], what, at, xor]) =>
        recipe({ tamper: what, body, id, offset, at, xor }, async () => {
          const timestamp = nowS() + offset;
          const headers: Record<string, string> = { ...(await sign(body, id, timestamp)) };
          const change = (s: string) => {
            const i = at % Math.max(s.length, 1);
            return s.slice(0, i) + String.fromCharCode(((s.charCodeAt(i) || 65) ^ xor) & 0x7f || 1) + s.slice(i + 1);
          };
          if (what === "body") return { headers, body: body === "" ? "x" : change(body), authentic: false };
          if (what === "event id") headers["finch-event-id"] = change(id);
          if (what === "timestamp") headers["finch-timestamp"] = String(timestamp + (at % 2 ? 1 : -1));
          if (what === "signature") headers["finch-signature"] = `v1,${change(headers["finch-signature"]!.slice(3))}`;
          return { headers: ascii(headers), body, authentic: false };
        }),
      );

    const authentic = signedParts.map(([body, id, offset]) =>
      recipe({ authentic: { body, id, offset } }, async () => {
        const headers = { ...(await sign(body, id, nowS() + offset)) };
        return { headers, body, authentic: true };
      }),
    );

    const watch = caseWatch();
    const send = vi.spyOn(env.EVENTS as Queue<unknown>, "send");
    let applied = 0;
    await runProperty(
      "webhooks",
      fc.asyncProperty(
        fc.oneof(
          forged.map((d) => recipe({ forged: d }, async () => d)),
          tampered,
          authentic,
        ),
        async (make) => {
          const d = await make.make();
          watch.next();
          send.mockClear();
          const res = await worker("/webhooks/finch", {
            method: "POST",
            headers: { "content-type": "application/json", ...d.headers },
            body: d.body,
          });
          await expectRefusedSafely(res, watch, { upstream: d.authentic, writes: d.authentic });
          for (const sent of watch.upstream()) expect(`${sent.method} ${sent.path}`).toBe("GET /introspect");
          if (!d.authentic) {
            expect(res.status).toBeGreaterThanOrEqual(400);
            expect(await errorCode(res)).toMatch(
              /^(webhook_signature_missing|webhook_signature_invalid|webhook_timestamp_invalid)$/,
            );
            expect(send).not.toHaveBeenCalled();
            return;
          }
          const writes = watch.writes();
          if (writes.length > 0) {
            applied++;
            const event = JSON.parse(d.body);
            expect(writes).toEqual([`put conn:${connectionId}`]);
            expect(event).toMatchObject({ connection_id: connectionId, event_type: "account.updated" });
            const stored = JSON.parse((await env.CONNECTIONS.get(`conn:${connectionId}`)) ?? "{}");
            expect(stored.status).toBe(finch().mock.connections.get(connectionId)?.status);
          }
        },
      ),
    );
    if (propertyRuns() >= 100) expect(applied, "no authentic status change was ever applied").toBeGreaterThan(0);
  },
  propertyTimeout(),
);

/** Header values a client can send: printable ASCII (workerd refuses the rest outright). */
function ascii(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = v.replace(/[^\x20-\x7e]/g, "?").trim();
  return out;
}
