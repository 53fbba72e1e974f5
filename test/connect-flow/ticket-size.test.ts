import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { getConfig } from "../../src/config/index";
import type { PendingFlow } from "../../src/connect-flow/flow-state";
import { MAX_CLAIMS_BYTES } from "../../src/connect-flow/tickets";
import { pendingCookieLimit, sealPending } from "../../src/http/flow-cookies";
import { utf8 } from "../../src/lib/encoding";
import { expectError, JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv } from "../support/fixtures";
import { callbackPath } from "../support/flow";
import { call, Jar, mintTicket, type TicketClaims } from "../support/http";
import { TEST_SECRETS } from "../support/secrets";

/**
 * The README's promise for large tickets: sub, name, email and return_to together may be up to
 * MAX_CLAIMS_BYTES of UTF-8 JSON, measured as the ticket carries them. return_to is kept as text
 * (before, it was percent-encoded first: nine bytes per kana, so a 1,865-byte ticket failed).
 */
const ORIGIN = "https://app.example.com/";
const KANA = "カ";
const claimsBytes = (c: TicketClaims) =>
  utf8(JSON.stringify({ sub: c.sub, name: c.name, email: c.email, return_to: c.return_to })).byteLength;

/** Claims of exactly `bytes`, the rest in a return_to of kana (3 bytes each) and ASCII. */
function claimsOf(bytes: number, base: TicketClaims = { sub: "acme", name: "Acme Inc" }): TicketClaims {
  const extra = bytes - claimsBytes({ ...base, return_to: ORIGIN });
  const kana = Math.floor(extra / 3);
  const claims = { ...base, return_to: `${ORIGIN}${KANA.repeat(kana)}${"a".repeat(extra - kana * 3)}` };
  expect(claimsBytes(claims)).toBe(bytes);
  expect(claims.return_to.length).toBeLessThanOrEqual(1024);
  return claims;
}

const connect = (ticket: string, jar = new Jar()) =>
  call(`/connect?ticket=${encodeURIComponent(ticket)}`, { headers: { ...JSON_ACCEPT, cookie: jar.header() } });

/** Starts Connect and completes the callback; returns the callback's answer and the browser. */
async function completes(ticket: string) {
  const jar = new Jar();
  const started = await connect(ticket, jar);
  expect(started.status, await started.clone().text()).toBe(302);
  jar.take(started);
  for (const line of started.headers.getSetCookie())
    expect(utf8(line.split(";")[0] ?? "").byteLength).toBeLessThanOrEqual(4096);
  const location = new URL(started.headers.get("location") ?? "");
  const code = finch().mock.approve(location.searchParams.get("session") ?? "");
  const path = callbackPath({ code, state: location.searchParams.get("state") ?? "" });
  const res = await call(path, { headers: { cookie: jar.header() } });
  jar.take(res);
  return { res, jar, path };
}

beforeEach(clearKv);

describe("the review's case", () => {
  // "A 1,865-byte ticket": its claims, as UTF-8 JSON (the README's measure). A compact JWS of
  // 1,865 characters could not hold them: its payload is 1,338 bytes, less than 424 kana alone
  // (1,272 bytes) plus an origin and the required claims.
  it("claims of 1,865 bytes with 424 kana in return_to: connects, and the browser returns there", async () => {
    const returnTo = `${ORIGIN}${KANA.repeat(424)}`;
    const now = Math.floor(Date.now() / 1000);
    const base = { return_to: returnTo, iat: now, exp: now + 600, jti: "review-case-kana-0001" };
    // sub and name (each at most 255 characters) fill the rest.
    const rest = 1865 - utf8(JSON.stringify({ ...base, sub: "", name: "" })).byteLength;
    const sub = "acme-".padEnd(Math.floor(rest / 2), "0");
    const ticket = await mintTicket({ ...base, sub, name: "Acme Inc ".padEnd(rest - sub.length, "x") });
    const payload = ticket.split(".")[1] ?? "";
    expect(atob(payload.replace(/-/g, "+").replace(/_/g, "/")).length).toBe(1865);
    const { res } = await completes(ticket);
    expect(res.status, await res.clone().text()).toBe(303);
    const back = new URL(res.headers.get("location") ?? "");
    expect(decodeURIComponent(back.pathname)).toBe(`/${KANA.repeat(424)}`);
    expect(back.searchParams.get("connection_id")).toMatch(/.+/);
  });
});

describe(`the claims limit: ${MAX_CLAIMS_BYTES} bytes of UTF-8 JSON`, () => {
  it("exactly at it, with a non-ASCII return_to: connects, returns there, and a reload replays", async () => {
    const claims = claimsOf(MAX_CLAIMS_BYTES);
    const { res, jar, path } = await completes(await mintTicket(claims));
    expect(res.status, await res.clone().text()).toBe(303);
    const back = new URL(res.headers.get("location") ?? "");
    back.searchParams.delete("connection_id");
    expect(decodeURIComponent(back.href)).toBe(claims.return_to);
    // The done cookie (return_to as text) fits too: a reload of the callback gets the same answer.
    const again = await call(path, { headers: { cookie: jar.header() } });
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toBe(res.headers.get("location"));
  });

  it("one byte over: 400 ticket_claims_invalid naming return_to, nothing spent, Finch not called", async () => {
    const jti = "claims-limit-over-0001";
    const body = await expectError(
      await connect(await mintTicket({ ...claimsOf(MAX_CLAIMS_BYTES + 1), jti })),
      400,
      "ticket_claims_invalid",
    );
    expect(body.error.message).toContain(`over ${MAX_CLAIMS_BYTES} bytes; shorten: return_to.`);
    expect(finch().sent).toEqual([]);
    expect((await connect(await mintTicket({ ...claimsOf(MAX_CLAIMS_BYTES), jti }))).status).toBe(302);
  });

  it("counts each non-ASCII character as its UTF-8 bytes, in any claim", async () => {
    const base = { sub: "é".repeat(255), name: "€".repeat(255), email: "hr@acme.example" };
    expect((await connect(await mintTicket(claimsOf(MAX_CLAIMS_BYTES, base)))).status).toBe(302);
    const over = await connect(await mintTicket(claimsOf(MAX_CLAIMS_BYTES + 1, base)));
    await expectError(over, 400, "ticket_claims_invalid");
  });

  it.each([
    ["secure cookies, with email", true, true],
    ["secure cookies, without email", true, false],
    ["plain http (loopback), with email", false, true],
  ])("at the limit, with every other field at its maximum, the pending cookie fits (%s)", async (_, secure, email) => {
    const connect = { ...getConfig(env).connect(), secureCookies: secure };
    const base = { sub: "s".repeat(255), name: "n", ...(email ? { email: `${"e".repeat(60)}@acme.example` } : {}) };
    const claims = claimsOf(MAX_CLAIMS_BYTES, base);
    const pending: PendingFlow = {
      k: "pending",
      state: "s".repeat(43),
      jti: "j".repeat(128),
      flow: "embedded",
      customer_id: claims.sub as string,
      customer_name: claims.name as string,
      ...(claims.email ? { email: claims.email } : {}),
      connection_id: "c".repeat(128),
      return_to: claims.return_to,
      exp: 9_999_999_999,
    };
    const sealed = await sealPending(TEST_SECRETS.TICKET_SECRET, pending);
    expect(sealed.length).toBeLessThanOrEqual(pendingCookieLimit(connect));
  });
});
