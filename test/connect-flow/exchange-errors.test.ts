import { beforeEach, describe, expect, it } from "vitest";
import { expectError, expectNoSecrets, expectStored, JSON_ACCEPT } from "../support/assert";
import { finch, type Override } from "../support/finch";
import { clearKv } from "../support/fixtures";
import { callbackPath, startFlow } from "../support/flow";
import { call } from "../support/http";

/**
 * Finch's answers to POST /auth/token that are not a usable token. Each maps to its own
 * stable code, nothing is stored, and the exchange is sent exactly once: the code is
 * single-use, so a retry after Finch received it could only fail or double-spend.
 */
beforeEach(clearKv);

async function exchangeWith(override?: Override) {
  const f = await startFlow();
  const code = finch().mock.approve(f.sessionId);
  if (override) finch().override("POST /auth/token", override);
  const res = await call(callbackPath({ code, state: f.state }), {
    headers: { ...JSON_ACCEPT, cookie: f.jar.header() },
  });
  return { res, code };
}

async function expectFailed(res: Response, status: number, code: string, spent: string) {
  await expectError(res, status, code);
  expect(finch().calls("POST /auth/token")).toHaveLength(1);
  await expectStored([]);
  await expectNoSecrets(res, [spent]);
  // The flow cannot be resumed with a spent code: the pending cookie is cleared.
  expect(res.headers.getSetCookie().some((c) => /^__Host-fce_state=;.*max-age=0/i.test(c))).toBe(true);
}

const finchError = (status: number, name: string) =>
  Response.json({ code: status, name, message: `mock ${name}` }, { status });

const validToken = async (req: Request) => {
  const res = await finch().mock.fetch(req);
  return (await res.json()) as Record<string, unknown>;
};

describe("POST /auth/token failures", () => {
  it("invalid_grant_error (code invalid, used or expired): finch_invalid_grant", async () => {
    const { res, code } = await exchangeWith(() => finchError(400, "invalid_grant_error"));
    await expectFailed(res, 400, "finch_invalid_grant", code);
  });

  it("a code Finch does not know, answered by the mock: finch_invalid_grant", async () => {
    const f = await startFlow();
    const res = await call(callbackPath({ code: "unknown-code", state: f.state }), {
      headers: { ...JSON_ACCEPT, cookie: f.jar.header() },
    });
    await expectFailed(res, 400, "finch_invalid_grant", "unknown-code");
  });

  it("invalid_client_error: finch_invalid_client", async () => {
    const { res, code } = await exchangeWith(() => finchError(401, "invalid_client_error"));
    await expectFailed(res, 502, "finch_invalid_client", code);
  });

  it("500: finch_unavailable", async () => {
    const { res, code } = await exchangeWith(() => finchError(500, "server_error"));
    await expectFailed(res, 502, "finch_unavailable", code);
  });

  it("503, which is retried elsewhere, is not retried here: finch_unavailable", async () => {
    const { res, code } = await exchangeWith(() => finchError(503, "server_error"));
    await expectFailed(res, 502, "finch_unavailable", code);
  });

  it("429 is not retried either: finch_rate_limited", async () => {
    const { res, code } = await exchangeWith(() => finchError(429, "rate_limit_error"));
    await expectFailed(res, 503, "finch_rate_limited", code);
  });

  it("no answer within FINCH_TIMEOUT_MS: finch_timeout", async () => {
    const hang: Override = (req) =>
      new Promise((_, reject) => {
        req.signal.addEventListener("abort", () => reject(req.signal.reason));
      });
    const { res, code } = await exchangeWith(hang);
    await expectFailed(res, 504, "finch_timeout", code);
  });

  it("a network failure is not retried: finch_unavailable", async () => {
    const { res, code } = await exchangeWith(() => Promise.reject(new TypeError("connection refused")));
    await expectFailed(res, 502, "finch_unavailable", code);
  });

  it("a 200 whose body is not JSON: finch_bad_response", async () => {
    const { res, code } = await exchangeWith(() => new Response("{ not json", { status: 200 }));
    await expectFailed(res, 502, "finch_bad_response", code);
  });

  it("a 200 without access_token: finch_bad_response", async () => {
    const { res, code } = await exchangeWith(async (req) => {
      const { access_token: _, ...rest } = await validToken(req);
      return Response.json(rest);
    });
    await expectFailed(res, 502, "finch_bad_response", code);
  });

  it("a 200 without connection_id: finch_bad_response, and the token it carried is not echoed", async () => {
    let token = "";
    const { res, code } = await exchangeWith(async (req) => {
      const { connection_id: _, ...rest } = await validToken(req);
      token = String(rest.access_token);
      return Response.json(rest);
    });
    await expectFailed(res, 502, "finch_bad_response", code);
    await expectNoSecrets(res, [token]);
  });

  it("a 200 with a connection_id that is not an id: finch_bad_response", async () => {
    const { res, code } = await exchangeWith(async (req) =>
      Response.json({ ...(await validToken(req)), connection_id: "../x" }),
    );
    await expectFailed(res, 502, "finch_bad_response", code);
  });

  it("a body over the size limit: finch_bad_response", async () => {
    const { res, code } = await exchangeWith(async (req) =>
      Response.json({ ...(await validToken(req)), padding: "x".repeat(300 * 1024) }),
    );
    await expectFailed(res, 502, "finch_bad_response", code);
  });
});
