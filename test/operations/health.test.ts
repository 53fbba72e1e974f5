import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import type { Env } from "../../src/env";
import { finch } from "../support/finch";
import { call } from "../support/http";
import { jsonLogLinesSince, logLines } from "../support/logs";
import { TEST_SECRETS, WORKER_ORIGIN } from "../support/secrets";

/**
 * The pool's exports.default.fetch always runs with the configured bindings. Config is
 * parsed once per env object, so a fresh object gives the app a fresh configuration.
 */
async function healthzWith(changes: Partial<Record<keyof Env, unknown>>): Promise<Response> {
  const custom = { ...env, ...changes } as Env;
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(new URL("/healthz", WORKER_ORIGIN)), custom, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const secretValues = Object.values(TEST_SECRETS)
  .flatMap((v) => [v, ...v.split(/[,:]/)])
  .filter((v) => v.length >= 8);

describe("GET /healthz", () => {
  it("answers 200 with every check ok when fully configured, without authentication", async () => {
    const res = await call("/healthz");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({
      ok: true,
      checks: { config: { ok: true, problems: [] }, kv: { ok: true } },
    });
    expect(finch().sent, "a health probe never calls Finch").toEqual([]);
  });

  it("answers 503 and names a missing secret, never a value", async () => {
    const mark = logLines().length;
    const res = await healthzWith({ FINCH_CLIENT_SECRET: undefined });
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      ok: false,
      checks: {
        config: { ok: false, problems: [{ setting: "FINCH_CLIENT_SECRET", problem: "is missing" }] },
        kv: { ok: true },
      },
    });
    for (const value of secretValues) expect(text).not.toContain(value);
    const line = jsonLogLinesSince(mark).find((l) => l.route === "/healthz");
    expect(line).toMatchObject({ status: 503, outcome: "config_invalid" });
  });

  it("lists every missing setting at once, including several from one section", async () => {
    const res = await healthzWith({
      FINCH_CLIENT_ID: undefined,
      FINCH_CLIENT_SECRET: "  ",
      FINCH_REDIRECT_URI: undefined,
      TICKET_SECRET: undefined,
      ENCRYPTION_KEYS: undefined,
      API_KEYS: "",
      WEBHOOK_SECRETS: undefined,
    });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { checks: { config: { problems: { setting: string; problem: string }[] } } };
    expect(body.checks.config.problems).toEqual(
      [
        "FINCH_CLIENT_ID",
        "FINCH_CLIENT_SECRET",
        "FINCH_REDIRECT_URI",
        "TICKET_SECRET",
        "ENCRYPTION_KEYS",
        "API_KEYS",
        "WEBHOOK_SECRETS",
      ].map((setting) => ({ setting, problem: "is missing" })),
    );
  });

  it("reports malformed settings by name and problem without echoing what was configured", async () => {
    const badKey = "k9:c2VjcmV0LWJ1dC10b28tc2hvcnQ";
    const shortTicketSecret = "short-ticket-secret-xyz";
    const res = await healthzWith({
      ENCRYPTION_KEYS: badKey,
      TICKET_SECRET: shortTicketSecret,
      FINCH_TIMEOUT_MS: "soon",
    });
    expect(res.status).toBe(503);
    const text = await res.text();
    const problems = (JSON.parse(text) as { checks: { config: { problems: { setting: string }[] } } }).checks.config
      .problems;
    expect(problems.map((p) => p.setting).sort()).toEqual(["ENCRYPTION_KEYS", "FINCH_TIMEOUT_MS", "TICKET_SECRET"]);
    for (const value of [badKey, "c2VjcmV0LWJ1dC10b28tc2hvcnQ", shortTicketSecret, "soon"]) {
      expect(text).not.toContain(value);
    }
  });

  it("reports an unbound KV namespace", async () => {
    const res = await healthzWith({ CONNECTIONS: undefined });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      ok: false,
      checks: {
        config: { ok: false, problems: [{ setting: "CONNECTIONS", problem: "KV binding is missing" }] },
        kv: { ok: false },
      },
    });
  });

  it.each([
    ["CONNECTION_WRITER", { CONNECTION_WRITER: undefined }],
    ["TICKETS", { TICKETS: undefined }],
    ["RATE_BUDGET", { RATE_BUDGET: undefined }],
    ["RECONCILE_CURSOR", { RECONCILE_CURSOR: undefined }],
  ] as const)("names an unbound Durable Object namespace: %s", async (setting, vars) => {
    const res = await healthzWith(vars);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { checks: { config: { problems: { setting: string }[] } } };
    expect(body.checks.config.problems.map((p) => p.setting)).toEqual([setting]);
  });

  it("needs no RECONCILE_CURSOR when reconciliation is off", async () => {
    const res = await healthzWith({ RECONCILE_CURSOR: undefined, RECONCILE_MAX_PER_RUN: "0" });
    expect(res.status).toBe(200);
  });
});
