import { beforeEach, describe, expect, it } from "vitest";
import { FINCH_API_VERSION } from "../../src/finch/http";
import { expectError, expectNoSecrets, expectSecurityHeaders, expectStored, JSON_ACCEPT } from "../support/assert";
import { callMock, finch } from "../support/finch";
import { clearKv } from "../support/fixtures";
import { connectCustomer, startFlow } from "../support/flow";
import { call, mintTicket } from "../support/http";
import { CONNECT_ORIGIN, TEST_SECRETS, TEST_VARS } from "../support/secrets";
import { workerWith } from "../support/worker";

/** GET /connect: what is sent to Finch, where the browser goes, and the state cookie. */
const basic = `Basic ${btoa(`${TEST_SECRETS.FINCH_CLIENT_ID}:${TEST_SECRETS.FINCH_CLIENT_SECRET}`)}`;

beforeEach(clearKv);

describe("GET /connect with a valid ticket", () => {
  it("creates a Connect session exactly as Finch expects", async () => {
    await startFlow({ sub: "acme-42", name: "Acme Inc", email: "hr@acme.example" });
    expect(finch().sent).toHaveLength(1);
    const [sent] = finch().calls("POST /connect/sessions");
    expect(sent.url.href).toBe(`${TEST_VARS.FINCH_API_BASE_URL}/connect/sessions`);
    expect(sent.headers.get("authorization")).toBe(basic);
    expect(sent.headers.get("finch-api-version")).toBe(FINCH_API_VERSION);
    expect(sent.headers.get("content-type")).toBe("application/json");
    expect(sent.json()).toEqual({
      customer_id: "acme-42",
      customer_name: "Acme Inc",
      customer_email: "hr@acme.example",
      products: TEST_VARS.FINCH_PRODUCTS.split(","),
      redirect_uri: TEST_VARS.FINCH_REDIRECT_URI,
      minutes_to_expire: 60,
    });
  });

  it("asks for the ticket's products when it names some", async () => {
    await startFlow({ products: ["company", "payment", "pay_statement"] });
    expect(finch().calls("POST /connect/sessions")[0].json().products).toEqual(["company", "payment", "pay_statement"]);
  });

  it("redirects (302) to Finch's connect_url with the state appended", async () => {
    const ticket = await mintTicket();
    const res = await call(`/connect?ticket=${ticket}`);
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get("location") ?? "");
    const session = [...finch().mock.sessions.values()][0];
    expect(`${location.origin}${location.pathname}`).toBe(`${CONNECT_ORIGIN}/authorize`);
    expect(location.searchParams.get("session")).toBe(session?.sessionId);
    const state = location.searchParams.get("state") ?? "";
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expectSecurityHeaders(res);
    await expectNoSecrets(res, [ticket]);
  });

  it("binds the flow to the browser with a short-lived, HttpOnly, SameSite=Lax, __Host- cookie", async () => {
    const res = await call(`/connect?ticket=${await mintTicket()}`);
    const cookies = res.headers.getSetCookie();
    expect(cookies).toHaveLength(1);
    const [pair, ...attributes] = (cookies[0] ?? "").split(";").map((s) => s.trim());
    expect(pair).toMatch(/^__Host-fce_state=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const attrs = attributes.map((a) => a.toLowerCase());
    expect(attrs).toEqual(expect.arrayContaining(["httponly", "secure", "samesite=lax", "path=/"]));
    expect(attrs.some((a) => a.startsWith("domain="))).toBe(false);
    const maxAge = Number(attrs.find((a) => a.startsWith("max-age="))?.slice(8));
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(30 * 60);
  });

  it("gives every browser its own state", async () => {
    const a = await startFlow();
    const b = await startFlow();
    expect(a.state).not.toBe(b.state);
  });

  it("stores nothing before the callback", async () => {
    await startFlow();
    await expectStored([]);
  });
});

describe("GET /connect when Finch refuses the session", () => {
  it("maps Finch's invalid_client_error to finch_invalid_client and sets no cookie", async () => {
    finch().mock.failNext({ path: "/connect/sessions" }, { status: 401, name: "invalid_client_error" });
    const res = await call(`/connect?ticket=${await mintTicket()}`, { headers: JSON_ACCEPT });
    await expectError(res, 502, "finch_invalid_client");
    expect(res.headers.getSetCookie()).toEqual([]);
    await expectStored([]);
  });

  it("retries a 503 (creating a session is safe to repeat) and then succeeds", async () => {
    finch().mock.failNext({ path: "/connect/sessions" }, { status: 503, name: "server_error" });
    const res = await call(`/connect?ticket=${await mintTicket()}`);
    expect(res.status).toBe(302);
    expect(finch().calls("POST /connect/sessions")).toHaveLength(2);
  });

  it("refuses a connect_url that is not https", async () => {
    finch().override("POST /connect/sessions", () =>
      Response.json({ session_id: "s1", connect_url: "http://connect.tryfinch.com/authorize?session=s1" }),
    );
    const res = await call(`/connect?ticket=${await mintTicket()}`, { headers: JSON_ACCEPT });
    await expectError(res, 502, "finch_bad_response");
    expect(res.headers.get("location")).toBeNull();
  });
});

describe("GET /connect for re-authentication of an unknown connection", () => {
  it("is refused with connection_not_found and no upstream call", async () => {
    const ticket = await mintTicket({ connection_id: "3f2b1c0d-aaaa-4bbb-8ccc-123456789abc" });
    const res = await call(`/connect?ticket=${ticket}`, { headers: JSON_ACCEPT });
    await expectError(res, 404, "connection_not_found");
    expect(finch().sent).toEqual([]);
  });
});

describe("Connect session expiry (CONNECT_SESSION_MINUTES)", () => {
  it("Finch keeps the session for the configured 60 minutes, not its 90-day default", async () => {
    const flow = await startFlow();
    const session = await callMock("GET", `/_mock/sessions/${flow.sessionId}`);
    expect(session.body).toMatchObject({ session_id: flow.sessionId, minutes_to_expire: 60, expired: false });
    expect(Date.parse(session.body.expires_at) - Date.parse(session.body.created_at)).toBe(60 * 60_000);
  });

  it("defaults to 60 when the setting is absent", async () => {
    await startFlow({}, undefined, workerWith({ CONNECT_SESSION_MINUTES: undefined }));
    expect(finch().calls("POST /connect/sessions")[0].json().minutes_to_expire).toBe(60);
  });

  it.each(["1", "129600"])("sends %s on both session calls (new and re-authentication)", async (minutes) => {
    const worker = workerWith({ CONNECT_SESSION_MINUTES: minutes });
    await startFlow({}, undefined, worker);
    const { jar } = await connectCustomer();
    const [id = ""] = [...finch().mock.connections.keys()];
    await startFlow({ connection_id: id }, jar, worker);
    expect(finch().calls("POST /connect/sessions")[0].json().minutes_to_expire).toBe(Number(minutes));
    const [reauth] = finch().calls("POST /connect/sessions/reauthenticate");
    expect(reauth.json().minutes_to_expire).toBe(Number(minutes));
    const last = [...finch().mock.sessions.values()].at(-1);
    expect(last?.connectionId).toBe(id);
    expect((await callMock("GET", `/_mock/sessions/${last?.sessionId}`)).body.minutes_to_expire).toBe(Number(minutes));
  });
});
