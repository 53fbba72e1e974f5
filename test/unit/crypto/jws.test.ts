import { describe, expect, it } from "vitest";
import { type JwsResult, verifyHs256 } from "../../../src/crypto/jws";

/**
 * Compact HS256 JWS verification (src/crypto/jws.ts). Tokens are built here with WebCrypto
 * HMAC and an encoder of the test's own, so the module's decoder is not checked against itself.
 * The 4 KiB length cap is the caller's (connect-flow/tickets.ts, test/connect-flow/); this
 * module only has to refuse oversized junk without throwing.
 */
const enc = new TextEncoder();

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const part = (value: unknown) => b64url(enc.encode(typeof value === "string" ? value : JSON.stringify(value)));

const hmac = (secret: string) =>
  crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);

const KEY = hmac("test-ticket-secret-of-some-length");
const OTHER_KEY = hmac("another-secret-entirely");

async function sign(head: string, body: string, key = KEY): Promise<string> {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await key, enc.encode(`${head}.${body}`)));
  return `${head}.${body}.${b64url(mac)}`;
}

const HEADER = { alg: "HS256", typ: "JWT" };
const PAYLOAD = { sub: "user-1", exp: 1_900_000_000 };
const token = (header: unknown = HEADER, payload: unknown = PAYLOAD) => sign(part(header), part(payload));

const verify = async (t: string, key = KEY): Promise<JwsResult> => verifyHs256(t, await key);
const refusal = async (t: string) => {
  const result = await verify(t);
  expect(result.ok).toBe(false);
  return result.ok ? undefined : result.reason;
};

/** The same base64url text with its last character's spare low bits set (same decoded bits). */
function spareBitsSibling(text: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const sibling = text.slice(0, -1) + alphabet[alphabet.indexOf(text.at(-1) as string) | 1];
  expect(sibling).not.toBe(text);
  return sibling;
}

describe("verifyHs256", () => {
  it("a valid HS256 token verifies and gives its payload", async () => {
    expect(await verify(await token())).toEqual({ ok: true, payload: PAYLOAD });
  });

  it("typ may be absent or any case of JWT; anything else is malformed", async () => {
    expect((await verify(await token({ alg: "HS256" }))).ok).toBe(true);
    expect((await verify(await token({ alg: "HS256", typ: "jwt" }))).ok).toBe(true);
    expect(await refusal(await token({ alg: "HS256", typ: "JOSE" }))).toBe("malformed");
    expect(await refusal(await token({ alg: "HS256", typ: 1 }))).toBe("malformed");
  });

  it("a token signed with another key is bad_signature", async () => {
    expect(await verify(await token(), OTHER_KEY)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("a changed payload under the original signature is bad_signature", async () => {
    const [head, , sig] = (await token()).split(".");
    expect(await refusal(`${head}.${part({ ...PAYLOAD, sub: "admin" })}.${sig}`)).toBe("bad_signature");
  });

  it("alg none is refused, with or without a signature", async () => {
    const none = part({ alg: "none", typ: "JWT" });
    expect(await refusal(`${none}.${part(PAYLOAD)}.`)).toBe("unsupported_alg");
    expect(await refusal(await sign(none, part(PAYLOAD)))).toBe("unsupported_alg");
  });

  it.each([
    ["HS512", { alg: "HS512" }],
    ["HS384", { alg: "HS384" }],
    ["RS256", { alg: "RS256" }],
    ["lower-case hs256", { alg: "hs256" }],
    ["no alg", { typ: "JWT" }],
    ["a crit header", { alg: "HS256", crit: ["exp"] }],
  ])("alg %s is unsupported_alg, even when HS256-signed", async (_, header) => {
    expect(await refusal(await token(header))).toBe("unsupported_alg");
  });

  it.each([
    ["empty", ""],
    ["one segment", "abc"],
    ["two segments", "abc.def"],
    ["four segments", "a.b.c.d"],
    ["a header that is not base64url", "e30!.e30.AAAA"],
    ["a header that is not JSON", `${part("not json")}.${part(PAYLOAD)}.AAAA`],
    ["a header that is JSON null", `${part("null")}.${part(PAYLOAD)}.AAAA`],
    ["a header that is a JSON array", `${part([HEADER])}.${part(PAYLOAD)}.AAAA`],
    ["a header that is a JSON string", `${part('"HS256"')}.${part(PAYLOAD)}.AAAA`],
    ["a padded header", `${part(HEADER)}=.${part(PAYLOAD)}.AAAA`],
  ])("%s is malformed", async (_, t) => {
    expect(await refusal(t)).toBe("malformed");
  });

  it("a signed payload that is not a JSON object is malformed", async () => {
    for (const payload of ["[1]", "42", "null", '"text"', "{not json"]) {
      expect(await refusal(await sign(part(HEADER), part(payload))), payload).toBe("malformed");
    }
  });

  it("an unsigned junk payload is bad_signature: the signature is checked first", async () => {
    expect(await refusal(`${part(HEADER)}.${part("{not json")}.${b64url(new Uint8Array(32))}`)).toBe("bad_signature");
  });

  it("a signature of the wrong length or alphabet is bad_signature", async () => {
    const [head, body] = (await token()).split(".");
    for (const sig of [
      "",
      b64url(new Uint8Array(31)),
      b64url(new Uint8Array(33)),
      b64url(new Uint8Array(64)),
      "a+b/",
    ]) {
      expect(await refusal(`${head}.${body}.${sig}`), sig).toBe("bad_signature");
    }
  });

  it("non-canonical base64url is refused: a signature sibling, and a header sibling", async () => {
    const valid = await token();
    const [head, body, sig] = valid.split(".") as [string, string, string];
    expect(sig).toHaveLength(43); // 32 bytes: 2 spare bits in the last character
    expect(await refusal(`${head}.${body}.${spareBitsSibling(sig)}`)).toBe("bad_signature");
    // 16 bytes: 22 characters, 4 spare bits in the last (HEADER's 27 bytes have none).
    const shortHead = part('{"alg":"HS256" }');
    expect(shortHead).toHaveLength(22);
    expect((await verify(await sign(shortHead, body))).ok).toBe(true);
    expect(await refusal(await sign(spareBitsSibling(shortHead), body))).toBe("malformed");
  });

  it("a signed payload in a non-canonical spelling is malformed", async () => {
    const body = part('{"sub":"user-1"}'); // 16 bytes: 4 spare bits in the last character
    expect(body).toHaveLength(22);
    expect(await refusal(await sign(part(HEADER), spareBitsSibling(body)))).toBe("malformed");
  });

  it("oversized junk is refused without throwing", async () => {
    const big = "A".repeat(1 << 20);
    expect(await refusal(big)).toBe("malformed");
    expect(await refusal(".".repeat(1 << 16))).toBe("malformed");
    expect(await refusal(`${big}.${big}.${big}`)).toBe("malformed");
    expect(await refusal(`${part(HEADER)}.${big}.${big}`)).toBe("bad_signature");
  });
});
