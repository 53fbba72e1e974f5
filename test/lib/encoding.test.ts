import { describe, expect, it } from "vitest";
import { fromBase64, fromBase64Url, toBase64, toBase64Url } from "../../src/lib/encoding";
import { JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { callbackPath, startFlow } from "../support/flow";
import { call, mintTicket } from "../support/http";

/**
 * Issue 9, finding 6: base64 keeps spare bits in its last character (2 of them for a 32-byte
 * HMAC in base64url). atob ignores them, so a ticket or flow cookie whose last character was
 * swapped for a sibling decoded to the same MAC and verified: one signed value, several
 * accepted spellings. Only the canonical encoding may decode now.
 */
const URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** The same string with its last character's unused low bits changed (same significant bits). */
function spareBitsSibling(text: string, unusedBits: number): string {
  const last = URL_ALPHABET.indexOf(text.at(-1) ?? "");
  expect(last).toBeGreaterThanOrEqual(0);
  expect(last & ((1 << unusedBits) - 1), "a canonical encoding has zero spare bits").toBe(0);
  return text.slice(0, -1) + URL_ALPHABET[last | 1];
}

describe("decoders accept only the canonical encoding", () => {
  it("base64url: a sibling of the last character is refused, the original still decodes", () => {
    const bytes = new Uint8Array(32).map((_, i) => i * 7 + 1);
    const canonical = toBase64Url(bytes);
    expect(canonical).toHaveLength(43);
    expect(fromBase64Url(canonical)).toEqual(bytes);
    expect(fromBase64Url(spareBitsSibling(canonical, 2))).toBeUndefined();
    // One byte: 4 spare bits ("AQ" is canonical for 0x01; "AR".."Af" are not).
    expect(fromBase64Url("AQ")).toEqual(new Uint8Array([1]));
    expect(fromBase64Url("AR")).toBeUndefined();
    expect(fromBase64Url("Af")).toBeUndefined();
    expect(fromBase64Url("")).toEqual(new Uint8Array(0));
  });

  it("base64: the same for padded input", () => {
    const bytes = new Uint8Array([0xff, 0x00, 0x10, 0x20]);
    const canonical = toBase64(bytes);
    expect(canonical).toBe("/wAQIA==");
    expect(fromBase64(canonical)).toEqual(bytes);
    expect(fromBase64("/wAQIB==")).toBeUndefined();
    expect(fromBase64("/wAQIP==")).toBeUndefined();
    expect(fromBase64("AQ==")).toEqual(new Uint8Array([1]));
    expect(fromBase64("AR==")).toBeUndefined();
  });
});

describe("signed values with a non-canonical signature are refused", () => {
  it("a ticket whose signature's last character differs only in spare bits", async () => {
    const ticket = await mintTicket();
    const [head, body, sig = ""] = ticket.split(".");
    const forged = `${head}.${body}.${spareBitsSibling(sig, 2)}`;
    expect(forged).not.toBe(ticket);
    const res = await call(`/connect/session?ticket=${forged}`);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(/^ticket_(malformed|invalid)$/);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(finch().sent).toEqual([]);
    // The original still works: the refusal is about the encoding, not the ticket.
    expect((await call(`/connect/session?ticket=${ticket}`)).status).toBe(200);
  });

  it("a flow cookie whose MAC's last character differs only in spare bits", async () => {
    const flow = await startFlow();
    const [payload, mac = ""] = (flow.jar.get("__Host-fce_state") ?? "").split(".");
    expect(payload).toBeTruthy();
    const forged = `__Host-fce_state=${payload}.${spareBitsSibling(mac, 2)}`;
    const code = finch().mock.approve(flow.sessionId);
    const before = finch().sent.length;
    const res = await call(callbackPath({ code, state: flow.state }), { headers: { ...JSON_ACCEPT, cookie: forged } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("state_mismatch");
    expect(finch().sent.slice(before)).toEqual([]);
  });
});
