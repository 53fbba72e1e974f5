import type { Context } from "hono";
import { getConfig } from "../config";
import { errorBody, publicMessage, toAppError } from "../errors";
import { errorPage } from "./pages";
import type { AppEnv } from "./types";

/**
 * The one place where errors become responses. Clients get a stable code, a generic
 * message and the request id; the detail goes to the request's log line only.
 */
// The Hono middleware we mount (bearer-auth, body-limit) is configured to throw AppError
// rather than its own HTTPException, so anything that is not an AppError is a bug.

const wantsJson = (c: Context<AppEnv>) => {
  const accept = c.req.header("accept") ?? "";
  return accept.includes("application/json") && !accept.includes("text/html");
};

export function errorResponse(err: unknown, c: Context<AppEnv>): Response {
  const error = toAppError(err);
  const trace = c.get("trace");
  const requestId = trace?.requestId ?? "unknown";
  if (trace) {
    trace.outcome = error.code;
    if (error.detail) trace.notes.push(error.detail);
  }
  for (const [name, value] of Object.entries(error.headers ?? {})) c.header(name, value);

  const presentation = c.get("presentation") ?? "json";
  if (presentation === "json" || wantsJson(c)) {
    // Configuration errors name the setting (never its value) so operators can fix them.
    return c.json(errorBody(error, requestId), error.status as 400);
  }
  if (presentation === "callback") {
    const errorUrl = safeErrorUrl(c);
    if (errorUrl) {
      const url = new URL(errorUrl);
      url.searchParams.set("error", error.code);
      url.searchParams.set("request_id", requestId);
      return c.redirect(url.href, 303);
    }
  }
  return c.html(errorPage(error.code, publicMessage(error), requestId), error.status as 400);
}

function safeErrorUrl(c: Context<AppEnv>): string | undefined {
  try {
    return getConfig(c.env).connect().errorUrl;
  } catch {
    return undefined;
  }
}
