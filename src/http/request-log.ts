import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { newTrace } from "../lib/trace";
import type { AppEnv } from "./types";

/**
 * One structured JSON line per request. Only ids, codes and numbers go in: never a URL
 * query, header, body, token, code or ticket.
 */
export const requestLog: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  const trace = newTrace(crypto.randomUUID());
  c.set("trace", trace);
  c.set("presentation", "json");
  await next();
  c.res.headers.set("X-Request-Id", trace.requestId);
  const status = c.res.status;
  const line: Record<string, unknown> = {
    level: status >= 500 ? "error" : status >= 400 ? "warn" : "info",
    msg: "request",
    request_id: trace.requestId,
    method: c.req.method,
    route: routePath(c, -1) || "unmatched",
    status,
    outcome: trace.outcome ?? (status < 400 ? "ok" : `http_${status}`),
    duration_ms: Math.round((performance.now() - started) * 100) / 100,
    upstream_calls: trace.upstreamCalls,
  };
  if (trace.finchRequestId) line.finch_request_id = trace.finchRequestId;
  if (trace.connectionId) line.connection_id = trace.connectionId;
  if (trace.notes.length) line.notes = trace.notes;
  console.log(JSON.stringify(line));
};
