import { beforeEach, describe, expect, it } from "vitest";
import { expectError, expectNoSecrets, expectSecurityHeaders, expectStored, JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv, kvNames } from "../support/fixtures";
import { callbackPath } from "../support/flow";
import { call, Jar, mintTicket } from "../support/http";
import { TEST_SECRETS, TEST_VARS } from "../support/secrets";

/**
 * The embedded (popup) flow, where Finch's front-end SDK opens Connect and hands
 * { code, state } to the page. Finch refuses redirect_uri at exchange time for sessions that
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

/** What an app's back end does if it creates a session itself: its own customer, its own redirect_uri. */
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

/**
 * Issue 9, finding 1: the callback used to accept a state that verified as a ticket with no
 * cookie in the browser, so a customer could send her ticket (or a Finch URL carrying it as
 * state) to an employer at another company and receive that employer's connection.
 */
describe("a ticket used as state is refused (no ticket-as-state path)", () => {
  it("without a cookie: refused, no exchange, nothing stored", async () => {
    const code = await appCreatedSession(TEST_VARS.FINCH_REDIRECT_URI);
    const state = await mintTicket({ sub: "mallory", name: "Mallory Ltd" });
    const res = await call(callbackPath({ code, state }), { headers: JSON_ACCEPT });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(["param_invalid", "state_mismatch"]).toContain(((await res.json()) as any).error.code);
    expect(finch().calls("POST /auth/token")).toEqual([]);
    await expectStored([]);
  });

  it("in a browser with its own pending flow: state_mismatch, and that flow survives", async () => {
    const victim = await call(`/connect/session?ticket=${await mintTicket()}`);
    const jar = new Jar().take(victim);
    const { session_id, state } = (await victim.json()) as { session_id: string; state: string };
    const code = finch().mock.approve(session_id);
    const attackerState = await mintTicket({ sub: "mallory", name: "Mallory Ltd" });
    const refused = await call(callbackPath({ code, state: attackerState.slice(0, 100) }), {
      headers: { ...JSON_ACCEPT, cookie: jar.header() },
    });
    await expectError(refused, 403, "state_mismatch");
    expect(refused.headers.getSetCookie()).toEqual([]);
    const res = await call(callbackPath({ code, state }), { headers: { ...JSON_ACCEPT, cookie: jar.header() } });
    expect(res.status, await res.clone().text()).toBe(200);
    const record = (await kvNames()).filter((k) => k.startsWith("conn:"));
    expect(record).toHaveLength(1);
  });
});
