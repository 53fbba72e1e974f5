import { beforeEach, describe, expect, it } from "vitest";
import { expectError, expectNoSecrets, expectSecurityHeaders, expectStored, JSON_ACCEPT } from "./support/assert";
import { finch } from "./support/finch";
import { callbackPath } from "./support/flow";
import { call, Jar, mintTicket, type TicketClaims } from "./support/http";
import { clearKv, kvNames } from "./support/kv";
import { TEST_SECRETS, TEST_VARS } from "./support/secrets";

/**
 * The embedded (popup) flow, where Finch's front-end SDK opens Connect and hands
 * { code, state } to the page, and sessions an app creates in its own back end with a
 * ticket as their state. Finch refuses redirect_uri at exchange time for sessions that
 * were created without one, so the exchange must follow the flow.
 */
beforeEach(clearKv);

describe("GET /connect/session (embedded flow)", () => {
  it("answers { session_id, state } and sets the state cookie", async () => {
    const ticket = await mintTicket();
    const res = await call(`/connect/session?ticket=${ticket}`);
    expect(res.status).toBe(200);
    expectSecurityHeaders(res);
    const body = (await res.clone().json()) as { session_id: string; state: string };
    expect(Object.keys(body).sort()).toEqual(["session_id", "state"]);
    expect(body.session_id).toBe([...finch().mock.sessions.keys()][0]);
    expect(body.state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const cookies = res.headers.getSetCookie();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatch(/^__Host-fce_state=.+; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    await expectNoSecrets(res, [ticket]);
  });

  it("creates the session without a redirect_uri", async () => {
    await call(`/connect/session?ticket=${await mintTicket()}`);
    const body = finch().calls("POST /connect/sessions")[0].json();
    expect(body).not.toHaveProperty("redirect_uri");
    expect(body.customer_id).toBe("acme");
  });

  it("exchanges the code without redirect_uri and stores the connection", async () => {
    const started = await call(`/connect/session?ticket=${await mintTicket()}`);
    const jar = new Jar().take(started);
    const { session_id, state } = (await started.json()) as { session_id: string; state: string };
    const code = finch().mock.approve(session_id);
    const res = await call(callbackPath({ code, state }), { headers: { ...JSON_ACCEPT, cookie: jar.header() } });
    expect(res.status, await res.clone().text()).toBe(200);
    const exchange = finch().calls("POST /auth/token")[0].json();
    expect(exchange).toEqual({
      client_id: TEST_SECRETS.FINCH_CLIENT_ID,
      client_secret: TEST_SECRETS.FINCH_CLIENT_SECRET,
      code,
    });
    expect((await kvNames()).filter((k) => k.startsWith("conn:"))).toHaveLength(1);
  });

  it("refuses a bad ticket with JSON, whatever the Accept header", async () => {
    await expectError(
      await call("/connect/session?ticket=nope", { headers: { accept: "text/html" } }),
      400,
      "ticket_malformed",
    );
    expect(finch().sent).toEqual([]);
  });
});

/** What an app's back end does: create the session itself, with its own redirect_uri or none. */
async function appCreatedSession(redirectUri: string | undefined) {
  const res = await finch().mock.fetch(
    new Request(`${TEST_VARS.FINCH_API_BASE_URL}/connect/sessions`, {
      method: "POST",
      headers: {
        authorization: `Basic ${btoa(`${TEST_SECRETS.FINCH_CLIENT_ID}:${TEST_SECRETS.FINCH_CLIENT_SECRET}`)}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({
        customer_id: "acme",
        customer_name: "Acme Inc",
        products: ["company"],
        ...(redirectUri ? { redirect_uri: redirectUri } : {}),
      }),
    }),
  );
  const { session_id } = (await res.json()) as { session_id: string };
  return finch().mock.approve(session_id);
}

async function ticketAsState(claims: TicketClaims, redirectUri: string | undefined) {
  const code = await appCreatedSession(redirectUri);
  const state = await mintTicket(claims);
  const res = await call(callbackPath({ code, state }), { headers: JSON_ACCEPT });
  return { res, code };
}

describe("a ticket used as state (no state cookie)", () => {
  it("is accepted, and the exchange carries redirect_uri for a redirect-flow ticket", async () => {
    const { res, code } = await ticketAsState({}, TEST_VARS.FINCH_REDIRECT_URI);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(finch().calls("POST /auth/token")[0].json()).toMatchObject({
      code,
      redirect_uri: TEST_VARS.FINCH_REDIRECT_URI,
    });
    expect((await kvNames()).filter((k) => k.startsWith("conn:"))).toHaveLength(1);
  });

  it("omits redirect_uri when the ticket says flow=embedded", async () => {
    const { res } = await ticketAsState({ flow: "embedded" }, undefined);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(finch().calls("POST /auth/token")[0].json()).not.toHaveProperty("redirect_uri");
  });

  it("honours the ticket's return_to", async () => {
    const code = await appCreatedSession(TEST_VARS.FINCH_REDIRECT_URI);
    const state = await mintTicket({ return_to: "https://app.example.com/back" });
    const res = await call(callbackPath({ code, state }));
    expect(res.status).toBe(303);
    expect(new URL(res.headers.get("location") ?? "").pathname).toBe("/back");
  });

  it("signed with another secret is refused: state_mismatch, no exchange", async () => {
    const code = await appCreatedSession(TEST_VARS.FINCH_REDIRECT_URI);
    const state = await mintTicket({}, "another-secret-0123456789abcdefghijklmnop");
    await expectError(await call(callbackPath({ code, state }), { headers: JSON_ACCEPT }), 403, "state_mismatch");
    expect(finch().calls("POST /auth/token")).toEqual([]);
    await expectStored([]);
  });

  it("expired is refused: ticket_expired, no exchange", async () => {
    const code = await appCreatedSession(TEST_VARS.FINCH_REDIRECT_URI);
    const now = Math.floor(Date.now() / 1000);
    const state = await mintTicket({ iat: now - 900, exp: now - 1 });
    await expectError(await call(callbackPath({ code, state }), { headers: JSON_ACCEPT }), 401, "ticket_expired");
    expect(finch().calls("POST /auth/token")).toEqual([]);
    await expectStored([]);
  });
});
