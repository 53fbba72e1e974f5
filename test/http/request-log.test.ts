import { describe, expect, it } from "vitest";
import wrangler from "../../wrangler.toml?raw";
import { finch } from "../support/finch";
import { seedConnection } from "../support/fixtures";
import { connectCustomer } from "../support/flow";
import { api, call, mintTicket } from "../support/http";
import { findLeaks, jsonLogLinesSince, logLines, markSecret } from "../support/logs";
import { TEST_SECRETS } from "../support/secrets";

/**
 * The guard in support/setup.ts fails any test whose log lines hold a secret. These tests
 * prove the guard sees the Worker's own lines and recognises each kind of secret; each one
 * consumes the leak it provokes with findLeaks() so the guard itself stays green.
 */
describe("log guard", () => {
  it("captures the Worker's request log line: one JSON line with id, route, outcome, status and duration", async () => {
    const mark = logLines().length;
    const res = await call("/healthz");
    const lines = jsonLogLinesSince(mark);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: "request",
      request_id: res.headers.get("x-request-id"),
      route: "/healthz",
      status: 200,
      outcome: "ok",
    });
    expect(typeof lines[0]?.duration_ms).toBe("number");
  });

  it("names the route that answered, not a middleware registered after it", async () => {
    // Under /api, the body limit is registered after the proxy route (the proxy streams its
    // own, larger bodies) and matches every path: it never runs for a proxied call.
    const { connectionId } = await seedConnection();
    const cases: [string, string][] = [
      [`/api/connections/${connectionId}/finch/employer/company`, "/api/connections/:connection_id/finch/*"],
      [`/api/connections/${connectionId}`, "/api/connections/:connection_id"],
      ["/api/connections", "/api/connections"],
      ["/api/no-such-route", "/api/*"],
    ];
    for (const [path, route] of cases) {
      const mark = logLines().length;
      await api(path);
      expect(jsonLogLinesSince(mark).find((l) => l.msg === "request")?.route, path).toBe(route);
    }
  });

  it("logs a full connect flow with the connection id and Finch's request id but no token, code or ticket", async () => {
    const mark = logLines().length;
    const { res } = await connectCustomer();
    expect(res.status).toBe(200);
    const [connection] = [...finch().mock.connections.values()];
    const callback = jsonLogLinesSince(mark).find((l) => l.route === "/callback");
    expect(callback).toMatchObject({ status: 200, outcome: "ok", connection_id: connection?.connectionId });
    expect(callback?.finch_request_id).toEqual(expect.any(String));
    expect(findLeaks()).toEqual([]);
  });

  it("recognises every configured secret, each key of a list on its own", () => {
    const values = [
      TEST_SECRETS.FINCH_CLIENT_SECRET,
      TEST_SECRETS.TICKET_SECRET,
      ...TEST_SECRETS.ENCRYPTION_KEYS.split(",").map((e) => e.split(":")[1]),
      ...TEST_SECRETS.API_KEYS.split(","),
      ...TEST_SECRETS.WEBHOOK_SECRETS.split(","),
    ];
    for (const value of values) console.warn(`[log-guard self-test] config dump: ${value}`);
    const leaks = findLeaks();
    expect(leaks).toHaveLength(values.length);
    for (const leak of leaks) for (const value of values) expect(leak).not.toContain(value);
  });

  it("recognises the tokens, codes and tickets handed out during the test", async () => {
    const { code, ticket } = await connectCustomer();
    const [token] = [...finch().mock.tokens.keys()];
    const seeded = finch().mock.seedConnection({ customerId: "globex", customerName: "Globex" });
    const other = await mintTicket({ sub: "initech" });
    console.log("[log-guard self-test]", { code });
    console.info("[log-guard self-test]", new Error(`exchange failed for ${token}`));
    console.error("[log-guard self-test] seeded", seeded.accessToken);
    console.debug(`[log-guard self-test] tickets ${ticket} ${other.split(".")[2]}`);
    const leaks = findLeaks();
    expect(leaks.map((l) => l.split(":")[0])).toEqual([
      "log line holds an authorization code",
      "log line holds an access token",
      "log line holds an access token",
      "log line holds a ticket, a ticket signature",
    ]);
  });

  it("accepts secrets registered by a test and ignores values too short to be one", () => {
    markSecret("a test's own secret", "tiny");
    markSecret("a test's own secret", "x-custom-secret-value-42");
    console.log("[log-guard self-test] tiny is fine; x-custom-secret-value-42 is not");
    expect(findLeaks()).toEqual([
      "log line holds a test's own secret: [log-guard self-test] tiny is fine; [a test's own secret] is not",
    ]);
  });
});

describe("platform logs", () => {
  it("wrangler.toml keeps our own log lines but turns off Cloudflare's invocation logs (they record URLs)", () => {
    // /connect?ticket= and /callback?code= carry secrets in the URL; only our line is safe.
    const section = (name: string) =>
      wrangler.match(new RegExp(`^\\[${name}\\]\\n((?:(?:[^\\[\\n].*)?\\n)*)`, "m"))?.[1] ?? "";
    expect(section("observability")).toMatch(/^enabled = true$/m);
    expect(section("observability\\.logs")).toMatch(/^enabled = true$/m);
    expect(section("observability\\.logs")).toMatch(/^invocation_logs = false$/m);
  });
});
