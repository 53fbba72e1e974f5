import type { MiddlewareHandler } from "hono";
import { refuseLargeCookie } from "./cookie-limit";
import { errorResponse } from "./error-response";
import { logRequest, startTrace } from "./request-log";
import { finishHeaders } from "./security";
import type { AppEnv } from "./types";

/**
 * What every request goes through around its route, inside hono/secure-headers: its trace
 * started, an oversized Cookie header refused, then (the response final) its headers finished
 * and its log line written. One middleware for steps that are each synchronous: every Hono
 * middleware layer costs the request an async frame and its promises (docs/performance.md,
 * "The request frame").
 */
export const requestFrame: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = startTrace(c);
  try {
    refuseLargeCookie(c.req.raw.headers);
    await next();
  } catch (e) {
    // Only the frame's own refusal lands here: Hono answers an error thrown further in with
    // app.onError (the same errorResponse) before next() returns.
    c.res = errorResponse(e, c);
  }
  finishHeaders(c);
  logRequest(c, started);
};
