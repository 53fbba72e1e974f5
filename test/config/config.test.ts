import { describe, expect, it } from "vitest";
import { expectError, expectStored, JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv } from "../support/fixtures";
import { callbackPath, startFlow } from "../support/flow";
import { Jar, mintTicket } from "../support/http";
import { TEST_SECRETS } from "../support/secrets";
import { type Caller, workerWith } from "../support/worker";

/**
 * A missing or malformed setting fails the request with 500 config_invalid, a message
 * naming the setting, and never any configured value: not the secrets, not the bad value.
 */
const secretValues = [
  ...Object.values(TEST_SECRETS),
  ...TEST_SECRETS.ENCRYPTION_KEYS.split(",").map((e) => e.split(":")[1] ?? ""),
];

async function expectConfigError(res: Response, setting: string, badValue?: string) {
  const body = await expectError(res, 500, "config_invalid");
  expect(body.error.message).toContain(setting);
  const text = await res.clone().text();
  // Each part of a bad value is checked (a ring entry's key alone is secret); a short
  // part ("10") could match the message or the request id by accident.
  const parts = badValue ? [badValue, ...badValue.split(/[,:]/)] : [];
  const values = [...secretValues, ...parts.filter((p) => p.length >= 8)];
  for (const value of values) expect(text).not.toContain(value);
}

const connectWith = async (worker: Caller, accept: string = JSON_ACCEPT.accept) =>
  worker(`/connect?ticket=${await mintTicket()}`, { headers: { accept } });

describe("GET /connect with a broken setting", () => {
  it.each([
    ["FINCH_CLIENT_ID", undefined],
    ["FINCH_CLIENT_SECRET", undefined],
    ["FINCH_CLIENT_SECRET", "   "],
    ["TICKET_SECRET", undefined],
    ["TICKET_SECRET", "too-short-secret-value"],
    ["FINCH_REDIRECT_URI", undefined],
    ["FINCH_REDIRECT_URI", "callback-without-scheme"],
    ["FINCH_REDIRECT_URI", "ftp://connect.example.com/callback"],
    // Plain http off loopback would drop Secure and __Host- from the flow cookies.
    ["FINCH_REDIRECT_URI", "http://connect.example.com/callback"],
    ["FINCH_REDIRECT_URI", "http://10.0.0.5:8787/callback"],
    ["FINCH_REDIRECT_URI", "http://127.0.0.1.example.com/callback"],
    ["FINCH_REDIRECT_URI", "http://localhost.example.com/callback"],
    ["FINCH_API_BASE_URL", "https://user:hunter2-password@api.tryfinch.com"],
    ["FINCH_TIMEOUT_MS", "soon"],
    ["FINCH_TIMEOUT_MS", "10"],
    ["FINCH_PRODUCTS", "Company; DROP"],
    ["FINCH_SANDBOX", "yes-please"],
    ["CONNECT_SESSION_MINUTES", "0"],
    ["CONNECT_SESSION_MINUTES", "129601"],
    ["CONNECT_SESSION_MINUTES", "an hour"],
    ["CONNECT_SESSION_MINUTES", "1.5"],
    ["ALLOWED_RETURN_ORIGINS", "https://app.example.com/with/a/path"],
    ["SUCCESS_URL", "not a url at all"],
  ])("%s = %j: config_invalid naming it, no upstream call", async (setting, value) => {
    const res = await connectWith(workerWith({ [setting]: value }));
    await expectConfigError(res, setting, value?.trim() || undefined);
    expect(finch().sent).toEqual([]);
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it.each(["http://127.0.0.1:8787/callback", "http://localhost:8787/callback", "http://[::1]:8787/callback"])(
    "FINCH_REDIRECT_URI = %s (loopback http) starts Connect with plain cookies",
    async (uri) => {
      const res = await workerWith({ FINCH_REDIRECT_URI: uri })(`/connect/session?ticket=${await mintTicket()}`);
      expect(res.status, await res.clone().text()).toBe(200);
      const [cookie = ""] = res.headers.getSetCookie();
      expect(cookie).toMatch(/^fce_state=[^;]+; /);
      expect(cookie).not.toMatch(/secure/i);
    },
  );

  it("shows the same as an HTML page to a browser", async () => {
    const res = await connectWith(workerWith({ FINCH_CLIENT_SECRET: undefined }), "text/html");
    expect(res.status).toBe(500);
    const html = await res.text();
    expect(html).toContain('<code id="error-code">config_invalid</code>');
    expect(html).toContain("FINCH_CLIENT_SECRET is missing");
    for (const value of secretValues) expect(html).not.toContain(value);
  });
});

describe("GET /callback with a broken storage setting", () => {
  /** The flow starts on a healthy Worker; the callback lands on a misconfigured one. */
  async function callbackOn(worker: Caller) {
    await clearKv();
    const flow = await startFlow({}, new Jar());
    const code = finch().mock.approve(flow.sessionId);
    return worker(callbackPath({ code, state: flow.state }), {
      headers: { ...JSON_ACCEPT, cookie: flow.jar.header() },
    });
  }

  it.each([
    ["a missing ring", undefined],
    ["a key of the wrong length", "k3:c2hvcnQta2V5LXZhbHVl"],
    ["an entry without a key id", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="],
    ["a repeated key id", `${TEST_SECRETS.ENCRYPTION_KEYS},k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=`],
  ])("ENCRYPTION_KEYS with %s: config_invalid before the code is spent", async (_, value) => {
    const res = await callbackOn(workerWith({ ENCRYPTION_KEYS: value }));
    await expectConfigError(res, "ENCRYPTION_KEYS", value);
    expect(finch().calls("POST /auth/token")).toEqual([]);
    await expectStored([]);
  });

  it("without the CONNECTIONS binding: config_invalid naming it", async () => {
    const res = await callbackOn(workerWith({ CONNECTIONS: undefined }));
    await expectConfigError(res, "CONNECTIONS");
    expect(finch().calls("POST /auth/token")).toEqual([]);
  });
});
