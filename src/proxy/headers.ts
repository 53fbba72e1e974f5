import { FINCH_API_VERSION } from "../finch/http";

/** Which headers cross the proxy, each way. */

// Credentials, cookies and whatever describes the hop to this edge stay here.
const DROP = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  // A request's Set-Cookie means nothing to Finch (and would be the one name listed once per value).
  "set-cookie",
  "host",
  "content-length",
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "forwarded",
  "x-real-ip",
  "true-client-ip",
  "cdn-loop",
  // The runtime negotiates and decodes compression itself; a caller's value would only
  // make the length we pass back disagree with the body.
  "accept-encoding",
  // Frameworks that honour these run another method or path than the one we checked
  // (a GET that Finch would treat as DELETE, a path past the reserved-path guard).
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
  "x-original-method",
  "x-original-url",
  "x-rewrite-url",
]);
const dropped = (name: string) => DROP.has(name) || name.startsWith("cf-") || name.startsWith("x-forwarded-");

const PASS_BACK = new Set(["content-type", "finch-request-id", "retry-after"]);

// Both directions build a plain record rather than a Headers object: the runtime copies the
// headers into the Request or Response it builds either way, and each call on a Headers object
// costs about a microsecond (docs/performance.md, "The request frame, third pass"). Names come
// lowercased from the runtime's iteration, one entry per name (Set-Cookie, the exception, never
// crosses), so a record loses nothing.

export function upstreamHeaders(from: Headers, token: string): Record<string, string> {
  // No prototype: a caller's header named __proto__ is a header like any other.
  const headers: Record<string, string> = Object.create(null);
  for (const [name, value] of from) if (!dropped(name)) headers[name] = value;
  headers.authorization = `Bearer ${token}`;
  headers["finch-api-version"] ??= FINCH_API_VERSION;
  return headers;
}

export function responseHeaders(from: Headers): Record<string, string> {
  const headers: Record<string, string> = { "cache-control": "no-store" };
  let length: string | undefined;
  let encoded = false;
  for (const [name, value] of from) {
    if (PASS_BACK.has(name) || name.startsWith("x-ratelimit-")) headers[name] = value;
    else if (name === "content-length") length = value;
    else if (name === "content-encoding") encoded = true;
  }
  // A decoded body no longer has the encoded length.
  if (length !== undefined && !encoded) headers["content-length"] = length;
  return headers;
}
