import { beforeEach, describe, expect, it } from "vitest";
import { sha256Base64Url } from "../../src/lib/encoding";
import { expectError, expectSecurityHeaders, expectStored, JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv } from "../support/fixtures";
import { call, Jar, mintTicket } from "../support/http";
import { markSecret } from "../support/logs";
import { workerWith } from "../support/worker";

/**
 * Tickets bound to the app's session (TICKET_BINDING_COOKIE): a ticket whose `bind` claim is the
 * SHA-256 of the app's session cookie opens only in a browser that sends that cookie. Every
 * refusal is 403 ticket_not_bound before the ticket is spent and before Finch is called.
 */
const SESSION = "app-session-4f1c2a9e-mallory-or-alice";
markSecret("the app's session cookie", SESSION);
const bound = workerWith({ TICKET_BINDING_COOKIE: "app_session" });

const open = (ticket: string, cookie: string, via = bound, path = "/connect") =>
  via(`${path}?ticket=${encodeURIComponent(ticket)}`, { headers: { ...JSON_ACCEPT, cookie } });
const sessions = () => finch().calls("POST /connect/sessions");

async function expectNotBound(res: Response) {
  await expectError(res, 403, "ticket_not_bound");
  expect(res.headers.getSetCookie()).toEqual([]);
  expect(finch().sent).toEqual([]);
  await expectStored([]);
}

beforeEach(clearKv);

describe("with TICKET_BINDING_COOKIE=app_session", () => {
  it("a ticket bound to the browser's app_session reaches Finch Connect", async () => {
    const ticket = await mintTicket({ bind: await sha256Base64Url(SESSION) });
    const res = await open(ticket, `app_session=${SESSION}`);
    expect(res.status, await res.clone().text()).toBe(302);
    expect(res.headers.get("location")).toContain("session=");
    expect(sessions()).toHaveLength(1);
    expect(sessions()[0]?.json()).toMatchObject({ customer_id: "acme" });
  });

  it("the same ticket without the cookie: 403 ticket_not_bound, the ledger untouched, no Finch call", async () => {
    const ticket = await mintTicket({ bind: await sha256Base64Url(SESSION) });
    await expectNotBound(await open(ticket, ""));
    await expectNotBound(await open(ticket, "other_cookie=1"));
    // Not spent: the browser it was minted for still opens it (a spent ticket would be 409 here).
    const res = await open(ticket, `app_session=${SESSION}`, bound);
    expect(res.status, await res.clone().text()).toBe(302);
    expect(sessions()).toHaveLength(1);
  });

  it("another session's cookie (the forwarded link opened by someone else): ticket_not_bound", async () => {
    const ticket = await mintTicket({ bind: await sha256Base64Url(SESSION) });
    await expectNotBound(await open(ticket, "app_session=the-other-companys-admin-session"));
    await expectNotBound(await open(ticket, `app_session=${SESSION}x`));
    await expectNotBound(await open(ticket, "app_session="));
  });

  it("a ticket without bind is refused, even in the right browser", async () => {
    await expectNotBound(await open(await mintTicket(), `app_session=${SESSION}`));
  });

  it("the embedded flow answers JSON; /connect shows the page to a browser", async () => {
    const ticket = await mintTicket({ bind: await sha256Base64Url(SESSION) });
    await expectNotBound(await open(ticket, "", bound, "/connect/session"));
    const page = await bound(`/connect?ticket=${encodeURIComponent(ticket)}`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(403);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain('<code id="error-code">ticket_not_bound</code>');
    expectSecurityHeaders(page);
    const ok = await open(ticket, `app_session=${SESSION}`, bound, "/connect/session");
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(await ok.json()).toMatchObject({ session_id: expect.any(String), state: expect.any(String) });
  });

  it("a bound ticket resumes in its own browser (reload) and is 409 elsewhere, like any ticket", async () => {
    const ticket = await mintTicket({ bind: await sha256Base64Url(SESSION) });
    const jar = new Jar();
    jar.set("app_session", SESSION);
    const first = await open(ticket, jar.header());
    jar.take(first);
    const again = await open(ticket, jar.header());
    expect([first.status, again.status]).toEqual([302, 302]);
    expect(again.headers.get("location")).toBe(first.headers.get("location"));
    await expectError(await open(ticket, `app_session=${SESSION}`), 409, "ticket_used");
    expect(sessions()).toHaveLength(1);
  });

  it("a malformed bind claim is ticket_claims_invalid, naming the claim", async () => {
    const body = await expectError(
      await open(await mintTicket({ bind: "not-a-hash" }), ""),
      400,
      "ticket_claims_invalid",
    );
    expect(body.error.message).toContain("Claim: bind.");
  });
});

describe("without TICKET_BINDING_COOKIE", () => {
  it("a ticket that carries bind is refused (fails closed), before anything is spent", async () => {
    const ticket = await mintTicket({ bind: await sha256Base64Url(SESSION) });
    await expectNotBound(await call(`/connect?ticket=${encodeURIComponent(ticket)}`, { headers: JSON_ACCEPT }));
  });

  it("a ticket without bind opens as before", async () => {
    const res = await call(`/connect?ticket=${encodeURIComponent(await mintTicket())}`);
    expect(res.status).toBe(302);
  });
});

describe("the setting", () => {
  it.each(["app session", "app;session", "app=session", "sessión", "a".repeat(129)])(
    "%j is not a cookie name: config_invalid naming TICKET_BINDING_COOKIE",
    async (name) => {
      const worker = workerWith({ TICKET_BINDING_COOKIE: name });
      const res = await open(await mintTicket(), "", worker);
      const body = await expectError(res, 500, "config_invalid");
      expect(body.error.message).toContain("TICKET_BINDING_COOKIE");
      expect(body.error.message).not.toContain(name);
      expect(finch().sent).toEqual([]);
    },
  );

  it("accepts a prefixed name as browsers send it (__Secure-)", async () => {
    const worker = workerWith({ TICKET_BINDING_COOKIE: "__Secure-app_session" });
    const ticket = await mintTicket({ bind: await sha256Base64Url(SESSION) });
    expect((await open(ticket, `__Secure-app_session=${SESSION}`, worker)).status).toBe(302);
  });
});
