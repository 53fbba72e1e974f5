import type { MiddlewareHandler } from "hono";
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
 * Nothing this Worker answers is cacheable unless its handler says so. Runs inside
 * securityHeaders, and first makes the response's headers writable: a Response straight from
 * fetch() has immutable headers, which hono/secure-headers would fail on (re-wrapped, the body
 * stays streamed).
 */
export const noStore: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  try {
    c.res.headers.set("X-Content-Type-Options", "nosniff");
  } catch {
    c.res = new Response(c.res.body, c.res);
  }
  if (!c.res.headers.has("Cache-Control")) c.res.headers.set("Cache-Control", "no-store");
};
