import { describe, expect, it } from "vitest";
import { PENDING_TTL_S } from "../../src/connect-flow/flow-state";
import { JSON_ACCEPT } from "../support/assert";
import { connectCustomer, startFlow } from "../support/flow";
import { Jar, mintTicket } from "../support/http";
import { workerWith } from "../support/worker";

/**
 * The flow cookies exactly as browsers receive them, written by hono/cookie: names, order
 * and values of every attribute, over https (Secure, __Host-) and on a loopback http setup
 * (neither). A browser drops a __Host- cookie that lacks Secure or Path=/ or has a Domain, so
 * these strings are the contract, not an implementation detail.
 */
const VALUE = "[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+";
const https = workerWith({});
const loopback = workerWith({ FINCH_REDIRECT_URI: "http://127.0.0.1:8787/callback" });

describe("over https", () => {
  it("/connect sets one Secure __Host- pending cookie", async () => {
    const res = await https(`/connect?ticket=${await mintTicket()}`);
    const lines = res.headers.getSetCookie();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^__Host-fce_state=${VALUE}; Max-Age=${PENDING_TTL_S}; Path=/; HttpOnly; Secure; SameSite=Lax$`),
    );
  });

  it("a finished flow deletes the pending cookie and sets the done marker", async () => {
    const { res } = await connectCustomer({}, new Jar(), https, JSON_ACCEPT);
    expect(res.status, await res.clone().text()).toBe(200);
    const lines = res.headers.getSetCookie();
    expect(lines).toContain("__Host-fce_state=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax");
    expect(lines.filter((l) => l.startsWith("__Host-fce_done="))).toHaveLength(1);
    expect(lines.find((l) => l.startsWith("__Host-fce_done="))).toMatch(
      new RegExp(`^__Host-fce_done=${VALUE}; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax$`),
    );
  });
});

describe("on loopback http (npm start)", () => {
  it("the same cookies without Secure and without the __Host- prefix, and the flow completes", async () => {
    const flow = await startFlow({}, new Jar(), loopback);
    expect(flow.jar.get("fce_state")).toMatch(new RegExp(`^${VALUE}$`));
    const { res } = await connectCustomer({}, new Jar(), loopback, JSON_ACCEPT);
    expect(res.status, await res.clone().text()).toBe(200);
    const lines = res.headers.getSetCookie();
    expect(lines).toContain("fce_state=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax");
    expect(lines.find((l) => l.startsWith("fce_done="))).toMatch(
      new RegExp(`^fce_done=${VALUE}; Max-Age=600; Path=/; HttpOnly; SameSite=Lax$`),
    );
  });

  it("each setup reads only its own cookie names", async () => {
    // A plain fce_state is never read over https (no subdomain may plant the flow cookie),
    // and a __Host- cookie is not what a loopback setup wrote.
    const overHttps = await startFlow({}, new Jar(), https);
    const renamed = new Jar();
    renamed.set("fce_state", overHttps.jar.get("__Host-fce_state") ?? "");
    const q = new URLSearchParams({ state: overHttps.state, code: "c0de" });
    const refused = await https(`/callback?${q}`, { headers: { ...JSON_ACCEPT, cookie: renamed.header() } });
    expect(refused.status).toBe(403);

    const overHttp = await startFlow({}, new Jar(), loopback);
    const hosted = new Jar();
    hosted.set("__Host-fce_state", overHttp.jar.get("fce_state") ?? "");
    const q2 = new URLSearchParams({ state: overHttp.state, code: "c0de" });
    const refused2 = await loopback(`/callback?${q2}`, { headers: { ...JSON_ACCEPT, cookie: hosted.header() } });
    expect(refused2.status).toBe(403);
  });
});
