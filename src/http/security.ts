import type { Context, MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "./types";

/**
 * Headers for every response, from hono/secure-headers configured for what we serve. Pages
 * carry no script and only inline style, so the CSP forbids everything else; no page may be
 * framed (clickjacking on the Connect start); no URL (which may carry a code or a ticket) leaks
 * through Referer; HSTS for a year.
 */
export const securityHeaders: MiddlewareHandler<AppEnv> = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    styleSrc: ["'unsafe-inline'"],
    imgSrc: ["'self'", "data:"],
    formAction: ["'none'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
  },
  xFrameOptions: "DENY",
  strictTransportSecurity: "max-age=31536000; includeSubDomains",
  permissionsPolicy: { camera: [], microphone: [], geolocation: [], payment: [] },
  // Nothing here sets X-Powered-By, and the proxy passes back only a fixed list of Finch's
  // headers: the delete per response would find nothing (test/http/security.test.ts checks).
  removePoweredBy: false,
});

/**
 * Before hono/secure-headers writes its headers (the request frame runs inside it): the
 * response's headers made writable, the request id, and no-store unless the handler chose.
 * A Response straight from fetch() has immutable headers, which hono/secure-headers would fail
 * on: the first write finds out, and the response is re-wrapped (the body stays streamed).
 * X-Content-Type-Options comes from hono/secure-headers.
 */
export function finishHeaders(c: Context<AppEnv>): void {
  const id = c.get("trace").requestId;
  try {
    c.res.headers.set("X-Request-Id", id);
  } catch {
    c.res = new Response(c.res.body, c.res);
    c.res.headers.set("X-Request-Id", id);
  }
  if (!c.res.headers.has("Cache-Control")) c.res.headers.set("Cache-Control", "no-store");
}
