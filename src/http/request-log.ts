import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { logTrace, newTrace } from "../lib/trace";
import type { AppEnv } from "./types";

/**
 * One structured JSON line per request. Only ids, codes and numbers go in: never a URL
 * query, header, body, token, code or ticket. `actor` says who acted: the API key that
 * authenticated (its name, or `key:` and 8 hex characters of its SHA-256 for a bare key, never
 * the key), `connect` for a callback, `finch-webhook` for a verified webhook.
 */
export const requestLog: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  const trace = newTrace(crypto.randomUUID());
  c.set("trace", trace);
  c.set("presentation", "json");
  await next();
  c.res.headers.set("X-Request-Id", trace.requestId);
  const status = c.res.status;
  logTrace(trace, started, {
    level: status >= 500 ? "error" : status >= 400 ? "warn" : "info",
    msg: "request",
    request_id: trace.requestId,
    method: c.req.method,
    route: routePath(c, -1) || "unmatched",
    status,
    outcome: trace.outcome ?? (status < 400 ? "ok" : `http_${status}`),
    ...(trace.actor ? { actor: trace.actor } : {}),
  });
};
