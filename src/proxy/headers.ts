import { FINCH_API_VERSION } from "../finch/http";

/** Which headers cross the proxy, each way. */

// Credentials, cookies and whatever describes the hop to this edge stay here.
const DROP = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
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

// Every call on a runtime Headers object costs about a microsecond (docs/performance.md, "The
// request frame"), so what a lookup would ask again is noted during the one pass over the list.
// (Handing the runtime a list of pairs instead costs more than the appends.)

export function upstreamHeaders(from: Headers, token: string): Headers {
  const headers = new Headers();
  let version = false;
  for (const [name, value] of from) {
    if (dropped(name)) continue;
    headers.append(name, value);
    if (name === "finch-api-version") version = true;
  }
  headers.set("Authorization", `Bearer ${token}`);
  if (!version) headers.set("Finch-API-Version", FINCH_API_VERSION);
  return headers;
}

export function responseHeaders(from: Headers): Headers {
  const headers = new Headers({ "Cache-Control": "no-store" });
  let length: string | undefined;
  let encoded = false;
  for (const [name, value] of from) {
    if (PASS_BACK.has(name) || name.startsWith("x-ratelimit-")) headers.append(name, value);
    else if (name === "content-length") length = value;
    else if (name === "content-encoding") encoded = true;
  }
  // A decoded body no longer has the encoded length.
  if (length !== undefined && !encoded) headers.set("content-length", length);
  return headers;
}
