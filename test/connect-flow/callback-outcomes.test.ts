import { beforeEach, describe, expect, it } from "vitest";
import { expectError, expectNoSecrets, expectSecurityHeaders, expectStored, JSON_ACCEPT } from "../support/assert";
import { finch } from "../support/finch";
import { clearKv, kvEntries } from "../support/fixtures";
import { callbackPath, connectCustomer, startFlow } from "../support/flow";
import { call, Jar } from "../support/http";
import { workerWith } from "../support/worker";

/**
 * Where the browser ends up after /callback: the app's success or error URL, the ticket's
 * return_to, or a small page; and what a reload of the same callback URL does.
 */
const SUCCESS_URL = "https://app.example.com/finch/connected?from=edge";
const ERROR_URL = "https://app.example.com/finch/failed";
const connectionId = () => [...finch().mock.connections.keys()][0] ?? "";

beforeEach(clearKv);

describe("success", () => {
  it("without SUCCESS_URL or return_to: an HTML page naming the provider", async () => {
    const { res, code } = await connectCustomer();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expectSecurityHeaders(res);
    await expectNoSecrets(res, [code]);
    const html = await res.text();
    expect(html).toContain('<strong id="provider">gusto</strong>');
    expect(html).toContain(`data-connection-id="${connectionId()}"`);
  });

  it("with return_to: 303 to it with connection_id added, keeping its own query", async () => {
    const { res, code } = await connectCustomer({ return_to: "https://app.example.com/settings?tab=payroll" });
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get("location") ?? "");
    expect(location.origin + location.pathname).toBe("https://app.example.com/settings");
    expect(location.searchParams.get("tab")).toBe("payroll");
    expect(location.searchParams.get("connection_id")).toBe(connectionId());
    expectSecurityHeaders(res);
    await expectNoSecrets(res, [code]);
  });

  it("with SUCCESS_URL configured: 303 to it with connection_id added", async () => {
    const worker = workerWith({ SUCCESS_URL });
    const { res } = await connectCustomer({}, new Jar(), worker);
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get("location") ?? "");
    expect(location.searchParams.get("from")).toBe("edge");
    expect(location.searchParams.get("connection_id")).toBe(connectionId());
  });

  it("asked for JSON, answers JSON even with SUCCESS_URL or return_to (as errors do with ERROR_URL)", async () => {
    const worker = workerWith({ SUCCESS_URL });
    const { res } = await connectCustomer({ return_to: "https://app.example.com/x" }, new Jar(), worker, JSON_ACCEPT);
    expect(res.status).toBe(200);
    expect(res.headers.get("location")).toBeNull();
    expect(await res.json()).toEqual({ connection_id: connectionId(), provider_id: "gusto" });
  });

  it("return_to wins over SUCCESS_URL", async () => {
    const worker = workerWith({ SUCCESS_URL });
    const { res } = await connectCustomer({ return_to: "https://app.example.com/mine" }, new Jar(), worker);
    expect(new URL(res.headers.get("location") ?? "").pathname).toBe("/mine");
  });
});

describe("failure", () => {
  async function deniedCallback(via = call, accept = "text/html") {
    const f = await startFlow({}, new Jar(), via);
    return via(callbackPath({ error: "access_denied", state: f.state }), {
      headers: { accept, cookie: f.jar.header() },
    });
  }

  it("with ERROR_URL configured: 303 to it with error=<code> and the reference", async () => {
    const res = await deniedCallback(workerWith({ ERROR_URL }));
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get("location") ?? "");
    expect(location.origin + location.pathname).toBe(ERROR_URL);
    expect(location.searchParams.get("error")).toBe("connect_cancelled");
    expect(location.searchParams.get("request_id")).toBe(res.headers.get("x-request-id"));
    expectSecurityHeaders(res);
    await expectStored([]);
  });

  it("with ERROR_URL configured, a JSON request still gets JSON", async () => {
    await expectError(await deniedCallback(workerWith({ ERROR_URL }), JSON_ACCEPT.accept), 400, "connect_cancelled");
  });

  it("without ERROR_URL: an HTML page with the code", async () => {
    const res = await deniedCallback();
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<code id="error-code">connect_cancelled</code>');
  });

  it("a failed exchange redirects to ERROR_URL with the Finch error's code", async () => {
    const worker = workerWith({ ERROR_URL });
    const f = await startFlow({}, new Jar(), worker);
    const res = await worker(callbackPath({ code: "not-a-code-finch-knows", state: f.state }), {
      headers: { cookie: f.jar.header() },
    });
    expect(res.status).toBe(303);
    expect(new URL(res.headers.get("location") ?? "").searchParams.get("error")).toBe("finch_invalid_grant");
  });
});

describe("a replayed callback", () => {
  it("in the same browser shows the same success without a second exchange", async () => {
    const first = await connectCustomer();
    const firstBody = await first.res.text();
    const stored = await kvEntries();

    const again = await call(callbackPath({ code: first.code, state: first.state }), {
      headers: { cookie: first.jar.header() },
    });
    expect(again.status).toBe(200);
    expect(await again.text()).toBe(firstBody);
    expect(finch().calls("POST /auth/token")).toHaveLength(1);
    expect(await kvEntries()).toEqual(stored);
  });

  it("in the same browser repeats the same redirect to return_to", async () => {
    const first = await connectCustomer({ return_to: "https://app.example.com/done" });
    const again = await call(callbackPath({ code: first.code, state: first.state }), {
      headers: { cookie: first.jar.header() },
    });
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toBe(first.res.headers.get("location"));
    expect(finch().calls("POST /auth/token")).toHaveLength(1);
  });

  it("in a fresh browser (no cookies) is refused and stores nothing new", async () => {
    const first = await connectCustomer();
    const stored = await kvEntries();
    const res = await call(callbackPath({ code: first.code, state: first.state }), { headers: JSON_ACCEPT });
    await expectError(res, 403, "state_mismatch");
    expect(finch().calls("POST /auth/token")).toHaveLength(1);
    expect(await kvEntries()).toEqual(stored);
  });

  it("does not cover a new flow started later in the same browser", async () => {
    const first = await connectCustomer();
    const second = await connectCustomer({}, first.jar);
    expect(second.res.status).toBe(200);
    expect(finch().calls("POST /auth/token")).toHaveLength(2);
    expect(finch().mock.connections.size).toBe(2);
  });
});
