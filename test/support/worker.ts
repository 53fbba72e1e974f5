import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { app } from "../../src/app";
import type { Env } from "../../src/env";
import { API_KEY } from "./http";
import { WORKER_ORIGIN } from "./secrets";

/** Calls the Worker: `call` from http.ts, or `workerWith(...)` for another configuration. */
export type Caller = (path: string, init?: RequestInit) => Promise<Response>;

/**
 * The same app with different settings (e.g. ERROR_URL, a missing secret). The pool's
 * `exports.default.fetch` always uses the configured bindings, so this calls the Hono app
 * directly with a fresh env object; config.ts caches per env object, so each
 * `workerWith` gets its own parsed configuration. KV and the Finch harness are shared.
 */
export function workerWith(vars: Partial<Env>): Caller {
  const custom: Env = { ...env, ...vars } as Env;
  return async (path, init = {}) => {
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request(new URL(path, WORKER_ORIGIN), { redirect: "manual", ...init }),
      custom,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return res;
  };
}

/**
 * Settings that make the Worker another Finch application (its own client id), so it draws
 * from rate budgets of its own: a test that makes Finch answer 429 (which pauses the
 * product's budget) or spends a budget does not starve the tests after it.
 */
export const ownBudget = (): Partial<Env> => ({ FINCH_CLIENT_ID: `test-app-${crypto.randomUUID()}` });

/**
 * The proxy of a Worker that is its own Finch application (ownBudget) with Finch's default
 * limits unless `vars` say otherwise: `(connectionId, path?)` calls the proxy with the API key.
 */
export function budgetApp(vars: Partial<Env> = {}) {
  const worker = workerWith({ ...ownBudget(), FINCH_RATE_LIMITS: "", ...vars });
  return (connectionId: string, path = "/employer/company") =>
    worker(`/api/connections/${connectionId}/finch${path}`, { headers: { authorization: `Bearer ${API_KEY}` } });
}
