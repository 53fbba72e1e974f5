import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import type { Env } from "../../src/env";
import { expectError } from "../support/assert";
import { finch } from "../support/finch";
import { seedConnection } from "../support/fixtures";
import { API_KEY, api, call, OLD_API_KEY } from "../support/http";
import { WORKER_ORIGIN } from "../support/secrets";

const CHALLENGE = 'Bearer realm="finch-connect-edge"';

/** What a refused caller can observe, minus the per-request id. */
async function refusal(res: Response) {
  const body = await expectError(res, 401, "unauthorized");
  expect(res.headers.get("www-authenticate")).toBe(CHALLENGE);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return { status: res.status, challenge: res.headers.get("www-authenticate"), message: body.error.message };
}

describe("API key authentication", () => {
  it("accepts every key listed in API_KEYS, so keys rotate without downtime", async () => {
    const { connectionId } = await seedConnection();
    for (const key of [API_KEY, OLD_API_KEY]) {
      const res = await api(`/api/connections/${connectionId}`, {}, `Bearer ${key}`);
      expect(res.status, await res.clone().text()).toBe(200);
    }
  });

  it("answers missing, malformed and wrong keys identically, before touching storage or Finch", async () => {
    const { connectionId } = await seedConnection();
    const path = `/api/connections/${connectionId}/token`;
    const missing = await refusal(await call(path, { method: "POST" }));
    const variants = [
      `Bearer ${API_KEY}x`,
      `Bearer ${API_KEY.slice(0, -1)}`,
      "Bearer fce_test_key_wrong_0123456789abcdef0",
      `Basic ${btoa(`user:${API_KEY}`)}`,
      "Bearer",
      "Bearer with spaces in it",
      `Bearer ${API_KEY}!`,
      API_KEY,
    ];
    for (const authorization of variants) {
      const res = await call(path, { method: "POST", headers: { authorization } });
      const text = await res.clone().text();
      expect(text).not.toContain(API_KEY);
      expect(await refusal(res), authorization).toEqual(missing);
    }
    expect(finch().sent).toEqual([]);
  });

  it("guards unknown /api paths too, so a caller without a key cannot probe the routes", async () => {
    await refusal(await call("/api/nothing-here"));
    await expectError(await api("/api/nothing-here"), 404, "not_found");
  });

  it("accepts the scheme name in any case, as RFC 9110 allows", async () => {
    const { connectionId } = await seedConnection();
    const res = await api(`/api/connections/${connectionId}`, {}, `bearer ${API_KEY}`);
    expect(res.status).toBe(200);
  });

  it.each([
    ["missing", undefined],
    ["too short", "short-key"],
    ["outside the Bearer alphabet", 'fce_key_with_a_quote_"_0123456789'],
  ])("fails closed with config_invalid when API_KEYS is %s", async (_, value) => {
    const custom = { ...env, API_KEYS: value } as Env;
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request(`${WORKER_ORIGIN}/api/connections`, { headers: { authorization: `Bearer ${API_KEY}` } }),
      custom,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const body = await expectError(res, 500, "config_invalid");
    expect(body.error.message).toContain("API_KEYS");
    if (value) expect(body.error.message).not.toContain(value);
  });
});
