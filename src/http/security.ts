import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./types";

/**
 * Headers for every response. Pages carry no script and only inline style, so the CSP
 * forbids everything else; nothing here is cacheable, and no URL (which may carry a code
 * or a ticket) leaks through Referer. A fixed list rather than hono/secure-headers: the
 * values never vary, and the middleware's option parsing would cost bundle size and CPU.
 */
const HEADERS: ReadonlyArray<readonly [string, string]> = [
  [
    "Content-Security-Policy",
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  ],
  ["Referrer-Policy", "no-referrer"],
  ["X-Content-Type-Options", "nosniff"],
  ["X-Frame-Options", "DENY"],
  ["Cross-Origin-Opener-Policy", "same-origin"],
  ["Cross-Origin-Resource-Policy", "same-origin"],
  ["Strict-Transport-Security", "max-age=31536000; includeSubDomains"],
  ["Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"],
];

export const securityHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  let headers = c.res.headers;
  try {
    headers.set("X-Content-Type-Options", "nosniff");
  } catch {
    // A Response straight from fetch() has immutable headers: re-wrap it (body stays streamed).
    c.res = new Response(c.res.body, c.res);
    headers = c.res.headers;
  }
  for (const [name, value] of HEADERS) headers.set(name, value);
  if (!headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");
};
