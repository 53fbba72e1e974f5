import { beforeEach, describe, expect, it } from "vitest";
import { PENDING_TTL_S, type PendingFlow, sealFlow } from "../../src/connect-flow/flow-state";
import { cookieKey } from "../../src/crypto/cookie-key";
import { FINCH_API_VERSION } from "../../src/finch/http";
import { expectError, expectNoSecrets, expectSecurityHeaders, expectStored, JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv } from "../support/fixtures";
import { callbackPath, connectCustomer, startFlow } from "../support/flow";
import { call, Jar } from "../support/http";
import { TEST_SECRETS, TEST_VARS } from "../support/secrets";

/** GET /callback: the exchange request, and every refusal before it. */
const STATE_COOKIE = "__Host-fce_state";

beforeEach(clearKv);

/** A started flow whose employer approved: the browser holds the cookie, Finch minted a code. */
async function approved() {
  const flow = await startFlow();
  return { ...flow, code: finch().mock.approve(flow.sessionId) };
}

const callback = (params: Record<string, string>, cookie = "", accept: string = JSON_ACCEPT.accept) =>
  call(callbackPath(params), { headers: { accept, cookie } });

type F = Awaited<ReturnType<typeof approved>>;

/** Refused before any exchange: the code is still unspent and nothing was stored. */
async function expectRefused(res: Response, status: number, code: string) {
  await expectError(res, status, code);
  expect(finch().calls("POST /auth/token")).toEqual([]);
  await expectStored([]);
}

describe("the code exchange", () => {
  it("sends POST /auth/token exactly as Finch expects", async () => {
    const { res, code } = await connectCustomer();
    expect(res.status).toBe(200);
    const sent = finch().calls("POST /auth/token");
    expect(sent).toHaveLength(1);
    const [exchange] = sent;
    expect(exchange.url.href).toBe(`${TEST_VARS.FINCH_API_BASE_URL}/auth/token`);
    expect(exchange.headers.get("authorization")).toBeNull();
    expect(exchange.headers.get("finch-api-version")).toBe(FINCH_API_VERSION);
    expect(exchange.headers.get("content-type")).toBe("application/json");
    expect(exchange.json()).toEqual({
      client_id: TEST_SECRETS.FINCH_CLIENT_ID,
      client_secret: TEST_SECRETS.FINCH_CLIENT_SECRET,
      code,
      redirect_uri: TEST_VARS.FINCH_REDIRECT_URI,
    });
  });

  it("ends the pending flow: the state cookie is cleared", async () => {
    const { res, jar } = await connectCustomer();
    expect(res.headers.getSetCookie().some((c) => c.startsWith(`${STATE_COOKIE}=;`) && /max-age=0/i.test(c))).toBe(
      true,
    );
    expect(jar.get(STATE_COOKIE)).toBeUndefined();
  });

  it("answers JSON with the connection when asked for it", async () => {
    const { res } = await connectCustomer({}, new Jar(), call, JSON_ACCEPT);
    const body = await res.clone().json();
    const [id] = [...finch().mock.connections.keys()];
    expect(body).toEqual({ connection_id: id, provider_id: "gusto" });
    expectSecurityHeaders(res);
  });
});

describe("a refused callback", () => {
  it("without state: state_missing", async () => {
    const f = await approved();
    await expectRefused(await callback({ code: f.code }, f.jar.header()), 400, "state_missing");
  });

  it("with another state than the cookie's: state_mismatch", async () => {
    const f = await approved();
    await expectRefused(await callback({ code: f.code, state: "x".repeat(43) }, f.jar.header()), 403, "state_mismatch");
  });

  it("without the state cookie (another browser): state_mismatch", async () => {
    const f = await approved();
    await expectRefused(await callback({ code: f.code, state: f.state }), 403, "state_mismatch");
  });

  it("with a tampered cookie: state_mismatch", async () => {
    const f = await approved();
    const [payload, sig] = (f.jar.get(STATE_COOKIE) ?? "").split(".");
    // Change one character of the signed payload (not the last: its low bits may be padding).
    const flipped = `${payload.slice(0, 4)}${payload[4] === "A" ? "B" : "A"}${payload.slice(5)}`;
    const cookie = `${STATE_COOKIE}=${flipped}.${sig}`;
    await expectRefused(await callback({ code: f.code, state: f.state }, cookie), 403, "state_mismatch");
  });

  it("with an expired cookie: state_mismatch (the same cookie unexpired is accepted)", async () => {
    const f = await approved();
    const key = await cookieKey(TEST_SECRETS.TICKET_SECRET);
    const now = Math.floor(Date.now() / 1000);
    const flow: PendingFlow = {
      k: "pending",
      state: f.state,
      jti: "test-ticket-id",
      flow: "redirect",
      customer_id: "acme",
      customer_name: "Acme Inc",
      exp: now - 1,
    };
    const expired = `${STATE_COOKIE}=${await sealFlow(key, flow)}`;
    await expectRefused(await callback({ code: f.code, state: f.state }, expired), 403, "state_mismatch");

    const fresh = `${STATE_COOKIE}=${await sealFlow(key, { ...flow, exp: now + PENDING_TTL_S })}`;
    expect((await callback({ code: f.code, state: f.state }, fresh)).status).toBe(200);
  });

  it("without a code: code_missing, and the pending flow is cleared", async () => {
    const f = await approved();
    const res = await callback({ state: f.state }, f.jar.header());
    await expectRefused(res, 400, "code_missing");
    expect(res.headers.getSetCookie().some((c) => c.startsWith(`${STATE_COOKIE}=;`))).toBe(true);
  });

  it("when the employer denied (error=access_denied): connect_cancelled", async () => {
    const f = await startFlow();
    const params = { error: "access_denied", error_description: "The employer denied access", state: f.state };
    await expectRefused(await callback(params, f.jar.header()), 400, "connect_cancelled");
  });

  it.each([
    ["a repeated code", (f: F) => `code=${f.code}&code=${f.code}&state=${f.state}`],
    ["a repeated state", (f: F) => `code=${f.code}&state=${f.state}&state=${f.state}`],
    ["an over-long code", (f: F) => `code=${"c".repeat(513)}&state=${f.state}`],
    ["an over-long state", (f: F) => `code=${f.code}&state=${"s".repeat(4097)}`],
    ["a non-ASCII code", (f: F) => `code=${encodeURIComponent("cödé")}&state=${f.state}`],
    ["a non-ASCII state", (f: F) => `code=${f.code}&state=${encodeURIComponent("ß")}`],
    ["a code with a space", (f: F) => `code=a%20b&state=${f.state}`],
    ["an undecodable escape in the code", (f: F) => `code=%FF&state=${f.state}`],
    ["an undecodable escape in the state", (f: F) => `code=${f.code}&state=%E0%A4%A`],
    ["an over-long error", (f: F) => `error=${"e".repeat(257)}&state=${f.state}`],
  ])("with %s: param_invalid", async (_, query) => {
    const f = await approved();
    const res = await call(`/callback?${query(f)}`, { headers: { ...JSON_ACCEPT, cookie: f.jar.header() } });
    await expectRefused(res, 400, "param_invalid");
  });

  it("shows an HTML page with the code and a reference to a browser", async () => {
    const f = await approved();
    const res = await callback({ code: f.code, state: f.state }, "", "text/html,*/*;q=0.8");
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toContain("text/html");
    expectSecurityHeaders(res);
    await expectNoSecrets(res, [f.code]);
    const html = await res.text();
    expect(html).toContain('<code id="error-code">state_mismatch</code>');
    expect(html).toContain(`<code id="reference">${res.headers.get("x-request-id")}</code>`);
  });
});
