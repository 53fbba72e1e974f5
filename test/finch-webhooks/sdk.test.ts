import Finch from "@tryfinch/finch-api";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { webhookHeaders } from "../../mock-finch/src/webhook";
import type { WebhookSecret } from "../../src/finch-webhooks/verify";
import { fromBase64 } from "../../src/lib/encoding";
import { verifyWebhook } from "../support/webhooks";

/**
 * Cross-check against Finch's official SDK (@tryfinch/finch-api 10.7.0,
 * `client.webhooks.verifySignature`), which runs in the Workers pool as is (pure JS HMAC).
 * Generated deliveries (valid, tampered, wrong or rotated secrets, several signatures, any
 * timestamp around the window) must get the same verdict from both. The SDK takes one
 * secret per call, so "accepted with secrets S" means "accepted with some secret of S".
 * Signatures are made by the mock Finch's signer, a third, independent implementation.
 */
const SECRETS = [
  "d2ViaG9vay1zZWNyZXQtY3VycmVudC0wMTIzNDU2Nzg5",
  "b3RoZXItd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ==",
  btoa("a third secret, 32 bytes long!!!"),
  btoa("never configured, also 32 bytes!"),
];
const CONFIGURABLE = SECRETS.slice(0, 3);
const T = 1_767_225_600;
const sdk = new Finch({ accessToken: "unused-in-this-test" });

async function ours(body: string, headers: Headers, secrets: string[]): Promise<boolean> {
  const parsed: WebhookSecret[] = secrets.map((s) => ({ id: s, key: fromBase64(s) as Uint8Array }));
  return verifyWebhook(body, headers, parsed, Date.now()).then(
    () => true,
    () => false,
  );
}

function theirs(body: string, headers: Headers, secrets: string[]): boolean {
  return secrets.some((secret) => {
    try {
      sdk.webhooks.verifySignature(body, headers, secret);
      return true;
    } catch {
      return false;
    }
  });
}

const mutations = [
  "none",
  "body",
  "event_id",
  "timestamp",
  "garbage_first",
  "garbage_only",
  "other_version",
  "truncated",
] as const;

const delivery = fc.record({
  body: fc.oneof(
    fc.string({ unit: "grapheme", maxLength: 200 }),
    fc.json({ maxDepth: 3 }),
    fc.constantFrom('{"connection_id":"c1","event_type":"account.updated","data":{"status":"reauth"}}'),
  ),
  eventId: fc.stringMatching(/^msg_[A-Za-z0-9]{1,32}$/),
  configured: fc.subarray(CONFIGURABLE, { minLength: 1 }),
  signedWith: fc.subarray(SECRETS, { minLength: 1 }),
  offsetS: fc.oneof(fc.integer({ min: -400, max: 400 }), fc.constantFrom(-301, -300, 300, 301)),
  clockMs: fc.integer({ min: 0, max: 999 }),
  mutation: fc.constantFrom(...mutations),
  garbage: fc.string({ maxLength: 48 }),
});

type Delivery = typeof delivery extends fc.Arbitrary<infer U> ? U : never;

async function build(d: Delivery) {
  const timestamp = T + d.offsetS;
  const h = await webhookHeaders(d.body, d.eventId, timestamp, d.signedWith);
  const headers = new Headers({ ...h });
  let body = d.body;
  if (d.mutation === "body") body = `${body}x`;
  if (d.mutation === "event_id") headers.set("finch-event-id", `${d.eventId}x`);
  if (d.mutation === "timestamp") headers.set("finch-timestamp", String(timestamp + 1));
  if (d.mutation === "garbage_first") headers.set("finch-signature", `v1,AAAA ${h["finch-signature"]}`);
  if (d.mutation === "garbage_only") headers.set("finch-signature", `v1,${d.garbage}`);
  if (d.mutation === "other_version") headers.set("finch-signature", h["finch-signature"].replace(/v1,/g, "v9,"));
  if (d.mutation === "truncated") headers.set("finch-signature", h["finch-signature"].replace(/.=?( |$)/g, "$1"));
  return { body, headers };
}

describe("the verifier agrees with @tryfinch/finch-api", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("gives the same verdict on generated deliveries", async () => {
    let accepted = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(delivery, async (d) => {
        vi.setSystemTime(T * 1000 + d.clockMs);
        const { body, headers } = await build(d);
        const verdict = await ours(body, headers, d.configured);
        expect(verdict, JSON.stringify({ ...d, body: body.slice(0, 40) })).toBe(theirs(body, headers, d.configured));
        if (verdict) accepted++;
        else refused++;
      }),
      { numRuns: 400, seed: 4_2026 },
    );
    // The generator must exercise both verdicts, or agreement proves nothing.
    expect(accepted).toBeGreaterThan(40);
    expect(refused).toBeGreaterThan(40);
  });

  it("agrees at the exact window edges", async () => {
    for (const [offset, expected] of [
      [-301, false],
      [-300, true],
      [300, true],
      [301, false],
    ] as const) {
      vi.setSystemTime(T * 1000);
      const headers = new Headers({ ...(await webhookHeaders("{}", "msg_edge", T + offset, [SECRETS[0] as string])) });
      expect(await ours("{}", headers, [SECRETS[0] as string]), `offset ${offset}`).toBe(expected);
      expect(theirs("{}", headers, [SECRETS[0] as string]), `offset ${offset}`).toBe(expected);
    }
  });

  it("is stricter than the SDK on a non-canonical timestamp, which Finch never sends", async () => {
    vi.setSystemTime(T * 1000);
    // The SDK reads "0<T>" with parseInt and verifies against "<T>": it accepts; we refuse
    // rather than sign something other than the header we received.
    const h = await webhookHeaders("{}", "msg_x", T, [SECRETS[0] as string]);
    const headers = new Headers({ ...h, "finch-timestamp": `0${T}` });
    expect(theirs("{}", headers, [SECRETS[0] as string])).toBe(true);
    expect(await ours("{}", headers, [SECRETS[0] as string])).toBe(false);
  });
});
