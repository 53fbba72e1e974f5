import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors";
import { errorResponse } from "../../src/http/error-response";
import { requestFrame } from "../../src/http/frame";
import { newApp } from "../../src/http/router";
import { securityHeaders } from "../../src/http/security";
import { jsonLogLinesSince, logLines } from "../support/logs";

/**
 * The request frame (src/http/frame.ts) inside hono/secure-headers, as src/app.ts mounts it, on
 * a small app of its own: each kind of ending gets the request id (the same one its log line and
 * error body carry), no-store unless the handler chose, every security header, and one log line.
 */
function frameApp() {
  const app = newApp();
  app.use("*", securityHeaders);
  app.use("*", requestFrame);
  app.get("/ok", (c) => c.json({ ok: true }));
  app.get("/cached", (c) => c.text("x", 200, { "Cache-Control": "public, max-age=60" }));
  // Response.redirect's headers are immutable, like those of a Response straight from fetch().
  app.get("/immutable", () => Response.redirect("https://example.invalid/next", 302));
  app.get("/throws", () => {
    throw new AppError("param_invalid", "test refusal");
  });
  app.notFound((c) => errorResponse(new AppError("not_found"), c));
  app.onError(errorResponse);
  return app;
}

async function through(path: string, headers: Record<string, string> = {}) {
  const mark = logLines().length;
  const res = await frameApp().request(path, { headers }, env);
  const lines = jsonLogLinesSince(mark);
  return { res, lines };
}

function expectFramed(res: Response, lines: Record<string, unknown>[], cacheControl = "no-store") {
  const id = res.headers.get("x-request-id");
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  expect(res.headers.get("cache-control")).toBe(cacheControl);
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  expect(res.headers.get("x-frame-options")).toBe("DENY");
  expect(res.headers.has("x-powered-by")).toBe(false);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ msg: "request", request_id: id, status: res.status });
}

describe("the request frame", () => {
  it("a success: request id, no-store, security headers, one line", async () => {
    const { res, lines } = await through("/ok");
    expect(res.status).toBe(200);
    expectFramed(res, lines);
    expect(lines[0]).toMatchObject({ route: "/ok", outcome: "ok", level: "info" });
  });

  it("keeps a Cache-Control the handler chose", async () => {
    const { res, lines } = await through("/cached");
    expectFramed(res, lines, "public, max-age=60");
  });

  it("re-wraps a response whose headers are immutable, keeping its status and Location", async () => {
    const { res, lines } = await through("/immutable");
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("https://example.invalid/next");
    expectFramed(res, lines);
  });

  it("an error thrown by a handler: its code in the body and the line, with the same request id", async () => {
    const { res, lines } = await through("/throws");
    expect(res.status).toBe(400);
    expectFramed(res, lines);
    const body = (await res.json()) as { error: { code: string; request_id: string } };
    expect(body.error).toMatchObject({ code: "param_invalid", request_id: res.headers.get("x-request-id") });
    expect(lines[0]).toMatchObject({ outcome: "param_invalid", level: "warn" });
  });

  it("the frame's own refusal (a Cookie header over 8 KiB) still ends framed and logged, before routing", async () => {
    const { res, lines } = await through("/no/such/route", { cookie: `a=${"b".repeat(9000)}` });
    expect(res.status).toBe(431);
    expectFramed(res, lines);
    const body = (await res.json()) as { error: { code: string } };
    expect(body.error.code).toBe("cookie_too_large");
    // Only the "*" middlewares matched: the line names the last of them, as for any unknown path.
    expect(lines[0]).toMatchObject({ outcome: "cookie_too_large", route: "/*" });
  });

  it("an unknown route: 404 not_found, framed and logged", async () => {
    const { res, lines } = await through("/no/such/route");
    expect(res.status).toBe(404);
    expectFramed(res, lines);
    expect(lines[0]).toMatchObject({ outcome: "not_found", route: "/*" });
  });
});
