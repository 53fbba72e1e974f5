import { beforeEach, describe, expect, it } from "vitest";
import { MAX_COOKIE_HEADER } from "../../src/http/cookie-limit";
import { expectError, JSON_ACCEPT } from "../support/assert";
import { watchKvWrites } from "../support/faults";
import { finch } from "../support/finch";
import { clearKv, kvEntries, seedConnection } from "../support/fixtures";
import { callbackPath, startFlow } from "../support/flow";
import { API_KEY, call, mintTicket } from "../support/http";

/**
 * Issue 9, finding 3: a 32 KiB Cookie header of spaces cost the old hand-written parser close
 * to a second of CPU per /callback. Every route now refuses a Cookie header over 8 KiB with
 * 431 cookie_too_large before any cookie is read, and nothing is written or sent upstream.
 */
beforeEach(clearKv);

const hostile = (bytes: number) => `__Host-fce_state=a${" ".repeat(bytes - 19)}b`;

describe("a Cookie header over 8 KiB", () => {
  it("a 32 KiB header of spaces on /callback: 431 cookie_too_large, no KV write, no Finch call", async () => {
    const flow = await startFlow();
    const code = finch().mock.approve(flow.sessionId);
    const before = await kvEntries();
    const sentBefore = finch().sent.length;
    const writes = watchKvWrites();
    const cookie = `${flow.jar.header()}; ${hostile(32 * 1024)}`;
    const res = await call(callbackPath({ code, state: flow.state }), { headers: { ...JSON_ACCEPT, cookie } });
    await expectError(res, 431, "cookie_too_large");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect(res.headers.get("content-security-policy")).toBeTruthy();
    expect(writes).toEqual([]);
    expect(await kvEntries()).toEqual(before);
    expect(finch().sent.slice(sentBefore)).toEqual([]);
  });

  it.each([
    ["GET", "/connect?ticket=TICKET"],
    ["GET", "/connect/session?ticket=TICKET"],
    ["GET", "/callback?state=s&code=c"],
    ["GET", "/healthz"],
    ["GET", "/api/connections/CONN"],
    ["POST", "/webhooks/finch"],
    ["GET", "/no/such/route"],
  ])("%s %s is refused the same way", async (method, path) => {
    const { connectionId } = await seedConnection();
    const url = path.replace("TICKET", await mintTicket()).replace("CONN", connectionId);
    const writes = watchKvWrites();
    const res = await call(url, {
      method,
      headers: { ...JSON_ACCEPT, authorization: `Bearer ${API_KEY}`, cookie: hostile(MAX_COOKIE_HEADER + 1) },
      ...(method === "POST" ? { body: "{}" } : {}),
    });
    await expectError(res, 431, "cookie_too_large");
    expect(writes).toEqual([]);
    expect(finch().sent).toEqual([]);
  });

  it("8 KiB exactly still passes; one byte more is refused, counted in UTF-8 bytes", async () => {
    const ok = await call("/healthz", { headers: { ...JSON_ACCEPT, cookie: hostile(MAX_COOKIE_HEADER) } });
    expect(ok.status).not.toBe(431);
    const over = await call("/healthz", { headers: { ...JSON_ACCEPT, cookie: hostile(MAX_COOKIE_HEADER + 1) } });
    await expectError(over, 431, "cookie_too_large");
    // workerd sends a non-ASCII value as UTF-8: 4,100 characters here are 8,198 bytes.
    const wide = `x=${"é".repeat(4098)}`;
    expect(wide.length).toBeLessThan(MAX_COOKIE_HEADER);
    const utf8 = await call("/healthz", { headers: { ...JSON_ACCEPT, cookie: wide } });
    await expectError(utf8, 431, "cookie_too_large");
  });
});
