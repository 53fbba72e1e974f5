import type { Context } from "hono";
import { routePath } from "hono/route";
import { logTrace, newTrace } from "../lib/trace";
import type { AppEnv } from "./types";

/**
 * One structured JSON line per request. Only ids, codes and numbers go in: never a URL
 * query, header, body, token, code or ticket. `actor` says who acted: the API key that
 * authenticated (its name, or `key:` and 8 hex characters of its SHA-256 for a bare key, never
 * the key), `connect` for a callback, `finch-webhook` for a verified webhook.
 */

/** Starts the request's trace (what its log line will say); returns when it started. */
export function startTrace(c: Context<AppEnv>): number {
  const started = performance.now();
  c.set("trace", newTrace(crypto.randomUUID()));
  c.set("presentation", "json");
  return started;
}

/** Writes the request's line, once its response is final. */
export function logRequest(c: Context<AppEnv>, started: number): void {
  const trace = c.get("trace");
  const status = c.res.status;
  logTrace(trace, started, {
    level: status >= 500 ? "error" : status >= 400 ? "warn" : "info",
    msg: "request",
    request_id: trace.requestId,
    method: c.req.method,
    // The route whose handler Hono reached last: the one that answered (or the middleware that
    // refused). Not the last route that matched: under /api that is the body limit registered
    // after the proxy route, which never runs for a proxied call.
    route: routePath(c) || "unmatched",
    status,
    outcome: trace.outcome ?? (status < 400 ? "ok" : `http_${status}`),
    ...(trace.actor ? { actor: trace.actor } : {}),
  });
}
