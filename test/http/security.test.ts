import { describe, expect, it } from "vitest";
import { seedConnection } from "../support/fixtures";
import { api, call } from "../support/http";

/** The exact security headers (src/http/security.ts) on each kind of answer the Worker gives. */
const EXPECTED: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
  "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "origin-agent-cluster": "?1",
  "x-dns-prefetch-control": "off",
  "x-permitted-cross-domain-policies": "none",
  "x-xss-protection": "0",
};

function expectHeaders(res: Response, cacheControl = "no-store") {
  for (const [name, value] of Object.entries(EXPECTED)) expect(res.headers.get(name), name).toBe(value);
  expect(res.headers.get("cache-control")).toBe(cacheControl);
  expect(res.headers.has("x-powered-by")).toBe(false);
}

describe("security headers", () => {
  it("on an HTML page (a refused Connect start)", async () => {
    const res = await call("/connect");
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.headers.get("content-type")).toContain("text/html");
    expectHeaders(res);
  });

  it("on JSON: a success, a refusal, and a route that does not exist", async () => {
    expectHeaders(await call("/healthz"));
    expectHeaders(await api("/api/connections", {}, "Bearer wrong"));
    expectHeaders(await call("/no/such/route"));
  });

  it("on Finch's answer through the proxy, which keeps none of Finch's own hop headers", async () => {
    const { connectionId } = await seedConnection();
    const res = await api(`/api/connections/${connectionId}/finch/employer/company`);
    expect(res.status).toBe(200);
    expectHeaders(res);
  });
});
