import { beforeEach, describe, expect, it } from "vitest";
import { createMockFinch } from "../../mock-finch/src/mock";
import { expectError, expectStored, JSON_ACCEPT } from "../support/assert";
import { callMock, finch } from "../support/finch";
import { clearKv } from "../support/fixtures";
import { startFlow } from "../support/flow";
import { call } from "../support/http";
import { CONNECT_ORIGIN, TEST_SECRETS, TEST_VARS } from "../support/secrets";

/**
 * The mock Finch's Connect side as Finch has it: sessions expire (minutes_to_expire, Finch's
 * defaults when not sent), an expired session cannot be approved and sends the browser back to
 * the app with an error, GET /_mock/sessions/:id shows what was stored, and the
 * finch_multi_entity provider gives a connection with two entities.
 */
beforeEach(clearKv);

const NEW = { customer_id: "acme", customer_name: "Acme Inc", products: ["company"] };
const REDIRECT = "https://app.example.com/callback";

async function newSession(extra: Record<string, unknown> = {}) {
  const res = await callMock("POST", "/connect/sessions", { auth: "basic", body: { ...NEW, ...extra } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.session_id as string;
}

const stored = async (sessionId: string) => (await callMock("GET", `/_mock/sessions/${sessionId}`)).body;
const page = (path: string) => finch().mock.fetch(new Request(`${CONNECT_ORIGIN}${path}`));

describe("Connect session expiry", () => {
  it("stores minutes_to_expire and expires_at; Finch's defaults: 90 days new, 30 days re-authentication", async () => {
    const id = await newSession();
    const view = await stored(id);
    expect(view).toMatchObject({ session_id: id, customer_id: "acme", minutes_to_expire: 129_600, expired: false });
    expect(Date.parse(view.expires_at) - Date.parse(view.created_at)).toBe(129_600 * 60_000);

    const c = finch().mock.seedConnection({ customerId: "acme", customerName: "Acme Inc" });
    const reauth = await callMock("POST", "/connect/sessions/reauthenticate", {
      auth: "basic",
      body: { connection_id: c.connectionId },
    });
    expect(await stored(reauth.body.session_id)).toMatchObject({
      connection_id: c.connectionId,
      minutes_to_expire: 43_200,
    });
  });

  it.each([1, 60, 129_600])("accepts minutes_to_expire %i", async (minutes) => {
    expect((await stored(await newSession({ minutes_to_expire: minutes }))).minutes_to_expire).toBe(minutes);
  });

  it.each([0, 129_601, 1.5, "60"])("refuses minutes_to_expire %j with 400", async (minutes) => {
    const res = await callMock("POST", "/connect/sessions", {
      auth: "basic",
      body: { ...NEW, minutes_to_expire: minutes },
    });
    expect(res.status).toBe(400);
    expect(finch().mock.sessions.size).toBe(0);
  });

  it("GET /_mock/sessions/:id is 404 for an unknown session", async () => {
    const res = await callMock("GET", "/_mock/sessions/no-such-session");
    expect(res.status).toBe(404);
    expect(res.body.name).toBe("not_found_error");
  });

  it("a session is live until expires_at, and expired from that millisecond on", async () => {
    let now = Date.parse("2026-03-01T12:00:00.000Z");
    const mock = createMockFinch({
      clientId: TEST_SECRETS.FINCH_CLIENT_ID,
      clientSecret: TEST_SECRETS.FINCH_CLIENT_SECRET,
      now: () => now,
    });
    const headers = {
      authorization: `Basic ${btoa(`${TEST_SECRETS.FINCH_CLIENT_ID}:${TEST_SECRETS.FINCH_CLIENT_SECRET}`)}`,
    };
    const created = await mock.fetch(
      new Request("https://mock.test/connect/sessions", {
        method: "POST",
        headers,
        body: JSON.stringify({ ...NEW, minutes_to_expire: 1 }),
      }),
    );
    const { session_id } = (await created.json()) as { session_id: string };
    now += 60_000 - 1;
    expect((await mock.fetch(new Request(`https://mock.test/authorize?session=${session_id}`))).status).toBe(200);
    now += 1;
    expect((await mock.fetch(new Request(`https://mock.test/authorize?session=${session_id}`))).status).toBe(410);
    expect(() => mock.approve(session_id)).toThrow(/expired/);
  });

  it("an expired session's page says so, offers no approval, and links back to the app with an error", async () => {
    const id = await newSession({ minutes_to_expire: 1, redirect_uri: REDIRECT });
    finch().mock.advanceClock(60_000);
    const res = await page(`/authorize?session=${id}&state=s-1`);
    expect(res.status).toBe(410);
    const html = await res.text();
    expect(html).toContain("<h1>Session expired</h1>");
    expect(html).not.toContain('id="approve"');
    const back = new URL(/id="return" href="([^"]+)"/.exec(html)?.[1]?.replaceAll("&amp;", "&") ?? "");
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    expect(Object.fromEntries(back.searchParams)).toEqual({
      error: "session_expired",
      error_description: "The Connect session expired",
      state: "s-1",
    });
    expect((await stored(id)).expired).toBe(true);
  });

  it("approving an expired session redirects with error=session_expired and no code", async () => {
    const id = await newSession({ minutes_to_expire: 1, redirect_uri: REDIRECT });
    finch().mock.advanceClock(60_000);
    for (const action of ["approve", "deny"]) {
      const res = await page(`/authorize/${action}?session=${id}&state=s-1`);
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get("location") ?? "");
      expect(location.searchParams.get("error")).toBe("session_expired");
      expect(location.searchParams.has("code")).toBe(false);
    }
    expect(finch().mock.sessions.get(id)?.completed).toBe(false);
  });

  it("through the Worker: the expired page's link ends at /callback as connect_cancelled, nothing stored", async () => {
    const flow = await startFlow();
    const session = await stored(flow.sessionId);
    finch().mock.advanceClock(session.minutes_to_expire * 60_000);
    const html = await (await page(`${flow.location.pathname}${flow.location.search}`)).text();
    const back = new URL(/id="return" href="([^"]+)"/.exec(html)?.[1]?.replaceAll("&amp;", "&") ?? "");
    expect(`${back.origin}${back.pathname}`).toBe(TEST_VARS.FINCH_REDIRECT_URI);
    const res = await call(`${back.pathname}${back.search}`, {
      headers: { ...JSON_ACCEPT, cookie: flow.jar.header() },
    });
    await expectError(res, 400, "connect_cancelled");
    expect(finch().calls("POST /auth/token")).toEqual([]);
    await expectStored([]);
  });
});

describe("finch_multi_entity through Connect", () => {
  it("the exchange lists two entity_ids and introspect shows both entities", async () => {
    const id = await newSession({ redirect_uri: REDIRECT });
    const html = await (await page(`/authorize?session=${id}`)).text();
    expect(html).toContain('id="approve-multi-entity"');
    const href = /id="approve-multi-entity" href="([^"]+)"/.exec(html)?.[1]?.replaceAll("&amp;", "&") ?? "";
    const approved = await page(href);
    const code = new URL(approved.headers.get("location") ?? "").searchParams.get("code") ?? "";
    const token = await callMock("POST", "/auth/token", {
      body: {
        client_id: TEST_SECRETS.FINCH_CLIENT_ID,
        client_secret: TEST_SECRETS.FINCH_CLIENT_SECRET,
        code,
        redirect_uri: REDIRECT,
      },
    });
    expect(token.body).toMatchObject({ provider_id: "finch_multi_entity" });
    expect(token.body.entity_ids).toHaveLength(2);
    const info = await callMock("GET", "/introspect", { auth: { bearer: token.body.access_token } });
    expect(info.body.entities).toEqual(
      token.body.entity_ids.map((entityId: string) => ({
        id: entityId,
        name: expect.stringContaining("Acme Inc"),
        source_id: expect.any(String),
        status: "connected",
      })),
    );
  });

  it("MockFinch.approve can pick it too; an unknown provider is refused", async () => {
    const id = await newSession();
    expect(() => finch().mock.approve(id, { providerId: "nope" })).toThrow(/unknown provider/);
    finch().mock.approve(id, { providerId: "finch_multi_entity" });
    expect((await stored(id)).provider_id).toBe("finch_multi_entity");
  });
});
