import { sign } from "hono/jwt";
import { beforeEach, describe, expect, it } from "vitest";
import { expectError, expectNoSecrets, expectSecurityHeaders, expectStored, JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv } from "../support/fixtures";
import { call, mintTicket, type TicketClaims } from "../support/http";
import { TEST_SECRETS } from "../support/secrets";

/**
 * The ticket rules of GET /connect: only a fresh HS256 ticket signed with TICKET_SECRET
 * starts Connect. Every refusal is a stable code, stores nothing and calls no one.
 */
const b64url = (value: unknown) =>
  btoa(typeof value === "string" ? value : JSON.stringify(value))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const now = () => Math.floor(Date.now() / 1000);
const claims = (extra: TicketClaims = {}) => ({
  sub: "acme",
  name: "Acme Inc",
  iat: now(),
  exp: now() + 600,
  ...extra,
});

const connect = (ticket: string, headers: Record<string, string> = JSON_ACCEPT) =>
  call(`/connect?ticket=${encodeURIComponent(ticket)}`, { headers });

async function expectRefused(res: Response, status: number, code: string) {
  await expectError(res, status, code);
  expect(finch().sent).toEqual([]);
  await expectStored([]);
  expect(res.headers.getSetCookie()).toEqual([]);
}

beforeEach(clearKv);

describe("a valid ticket", () => {
  it("starts Connect (the positive control for every refusal below)", async () => {
    const res = await connect(await mintTicket());
    expect(res.status).toBe(302);
    expect(finch().calls("POST /connect/sessions")).toHaveLength(1);
  });

  it("may be valid for up to 15 minutes", async () => {
    const res = await connect(await mintTicket({ exp: now() + 15 * 60 }));
    expect(res.status).toBe(302);
  });
});

describe("a refused ticket", () => {
  it("missing: ticket_missing", async () => {
    await expectRefused(await call("/connect", { headers: JSON_ACCEPT }), 400, "ticket_missing");
    await expectRefused(await call("/connect?ticket=", { headers: JSON_ACCEPT }), 400, "ticket_missing");
  });

  it("signed with another secret: ticket_invalid", async () => {
    const forged = await sign(claims(), "another-secret-0123456789abcdefghijklmnop", "HS256");
    await expectRefused(await connect(forged), 401, "ticket_invalid");
  });

  it("expired: ticket_expired", async () => {
    await expectRefused(await connect(await mintTicket({ iat: now() - 900, exp: now() - 5 })), 401, "ticket_expired");
  });

  it("forged and expired: ticket_invalid, the signature is checked first", async () => {
    const forged = await sign(claims({ exp: now() - 5 }), "another-secret-0123456789abcdefghijklmnop", "HS256");
    await expectRefused(await connect(forged), 401, "ticket_invalid");
  });

  it("unsigned (alg none): ticket_invalid", async () => {
    const unsigned = `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims())}.`;
    await expectRefused(await connect(unsigned), 401, "ticket_invalid");
  });

  it("signed with HS512, even with the right secret: ticket_invalid", async () => {
    const hs512 = await sign(claims(), TEST_SECRETS.TICKET_SECRET, "HS512");
    await expectRefused(await connect(hs512), 401, "ticket_invalid");
  });

  it("an RS256 header over an HMAC signature (algorithm confusion): ticket_invalid", async () => {
    const valid = await mintTicket();
    const [, payload, signature] = valid.split(".");
    const confused = `${b64url({ alg: "RS256", typ: "JWT" })}.${payload}.${signature}`;
    await expectRefused(await connect(confused), 401, "ticket_invalid");
  });

  it("tampered claims under the original signature: ticket_invalid", async () => {
    const [header, , signature] = (await mintTicket()).split(".");
    const tampered = `${header}.${b64url(claims({ sub: "someone-else" }))}.${signature}`;
    await expectRefused(await connect(tampered), 401, "ticket_invalid");
  });

  it("not a JWT at all: ticket_malformed", async () => {
    await expectRefused(await connect("not-a-ticket"), 400, "ticket_malformed");
    await expectRefused(await connect("only.two"), 400, "ticket_malformed");
    await expectRefused(await connect("a.b.c.d"), 400, "ticket_malformed");
    await expectRefused(await connect("abc.def.ghi"), 400, "ticket_malformed");
  });

  it("oversized (over 4096 characters): param_invalid", async () => {
    const big = await mintTicket({ pad: "x".repeat(5000) });
    await expectRefused(await connect(big), 400, "param_invalid");
  });

  it("with an undecodable percent-escape: param_invalid", async () => {
    await expectRefused(await call(`/connect?ticket=a.b%FF.c`, { headers: JSON_ACCEPT }), 400, "param_invalid");
  });

  it("repeated: param_invalid", async () => {
    const t = encodeURIComponent(await mintTicket());
    await expectRefused(await call(`/connect?ticket=${t}&ticket=${t}`, { headers: JSON_ACCEPT }), 400, "param_invalid");
  });

  it("valid for more than 15 minutes: ticket_lifetime_too_long", async () => {
    const res = await connect(await mintTicket({ exp: now() + 20 * 60 }));
    await expectRefused(res, 400, "ticket_lifetime_too_long");
  });

  it("issued in the future: ticket_invalid", async () => {
    await expectRefused(await connect(await mintTicket({ iat: now() + 600 })), 401, "ticket_invalid");
  });

  it("not valid before a future time (nbf): ticket_invalid", async () => {
    await expectRefused(await connect(await mintTicket({ nbf: now() + 600 })), 401, "ticket_invalid");
  });

  it("with a truncated signature: ticket_invalid", async () => {
    await expectRefused(await connect((await mintTicket()).slice(0, -4)), 401, "ticket_invalid");
  });

  it.each([
    ["no sub", { sub: undefined }],
    ["empty name", { name: "" }],
    ["exp as a string", { exp: "soon" }],
    ["unknown product", { products: ["Company!"] }],
    ["malformed connection_id", { connection_id: "../etc" }],
    ["malformed email", { email: "not-an-email" }],
  ])("with bad claims (%s): ticket_claims_invalid", async (_, extra) => {
    await expectRefused(await connect(await mintTicket(extra as TicketClaims)), 400, "ticket_claims_invalid");
  });

  it("shows an HTML error page to a browser, with the code and a reference", async () => {
    const res = await connect("not-a-ticket", { accept: "text/html,application/xhtml+xml,*/*;q=0.8" });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("text/html");
    await expectNoSecrets(res);
    const html = await res.text();
    expect(html).toContain('<code id="error-code">ticket_malformed</code>');
    expect(html).toContain(`<code id="reference">${res.headers.get("x-request-id")}</code>`);
    expectSecurityHeaders(res);
  });
});

describe("return_to", () => {
  it("on an allowed origin is accepted and kept for the callback", async () => {
    const res = await connect(await mintTicket({ return_to: "https://app.example.com/settings?tab=payroll" }));
    expect(res.status).toBe(302);
  });

  it.each([
    "https://evil.com/",
    "https://app.example.com.evil.com/",
    "https://app.example.com@evil.com/",
    "https://user:pass@app.example.com/",
    "http://app.example.com/",
    "https://app.example.com:8443/",
    "https://sub.app.example.com/",
    "//evil.com/",
    "/relative/path",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
  ])("%s is refused: return_to_not_allowed", async (returnTo) => {
    await expectRefused(await connect(await mintTicket({ return_to: returnTo })), 400, "return_to_not_allowed");
  });
});
