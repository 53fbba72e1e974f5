import { FINCH_API_VERSION, type FinchSettings } from "../config";
import { AppError } from "../errors";
import { parseErrorBody, retryAfterMs, sendToFinch } from "../finch/http";
import { FINCH_RATE_WINDOW_MS, productOf } from "../finch/products";
import { readBounded } from "../lib/body";
import { utf8 } from "../lib/encoding";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connections";
import { markReauth } from "./connections";
import { finchUrl, isReservedPath } from "./proxy-path";
import type { BudgetDecision } from "./rate-budget";

/**
 * Calls Finch with a stored connection's token on behalf of the app: the HTTP proxy and the
 * RPC `fetchFinch` both end here. Method, path, query and body pass through (the body is
 * streamed, never buffered); the caller's credentials and the edge's own headers do not.
 * One KV read and one upstream call per request; never retried, since a repeated POST
 * could do something twice at Finch: retrying is the caller's decision.
 */
export const PROXY_BODY_LIMIT = 1024 * 1024;
export const PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;

export interface ProxyCall {
  connectionId: string;
  method: string;
  /** Path below the Finch base URL, percent-encoded as received, starting with "/". */
  path: string;
  /** "" or "?..." as received. */
  search: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | string | null;
  /** The declared Content-Length of a streamed body, when there was one. */
  bodyLength?: number | undefined;
}

/** The app-wide Finch rate budget (durable/budget-port.ts); absent when FINCH_RATE_BUDGET=off. */
export interface RateBudgetPort {
  budgeted(product: string): boolean;
  acquire(product: string, connectionId: string): Promise<BudgetDecision>;
  /** Finch answered 429 for this product: hold every call for `ms`. */
  pause(product: string, ms: number): Promise<void>;
}

export interface ProxyDeps {
  finch: FinchSettings;
  store: ConnectionStore;
  budget?: RateBudgetPort | undefined;
}

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
const REAUTH_PEEK_LIMIT = 16 * 1024;

function upstreamHeaders(from: Headers, token: string): Headers {
  const headers = new Headers();
  for (const [name, value] of from) if (!dropped(name)) headers.append(name, value);
  headers.set("Authorization", `Bearer ${token}`);
  if (!headers.has("finch-api-version")) headers.set("Finch-API-Version", FINCH_API_VERSION);
  return headers;
}

/** The request body, refused when it is (or turns out to be) larger than the limit. */
function boundedBody(call: ProxyCall, tripped: { over: boolean }): ReadableStream<Uint8Array> | string | null {
  if (call.method === "GET" || call.method === "HEAD" || call.body === null) return null;
  if (typeof call.body === "string") {
    if (utf8(call.body).byteLength > PROXY_BODY_LIMIT) throw tooLarge();
    return call.body;
  }
  if (call.bodyLength !== undefined) {
    if (call.bodyLength > PROXY_BODY_LIMIT) throw tooLarge();
    // A declared length is enforced by the runtime and keeps Content-Length upstream.
    return call.body;
  }
  let size = 0;
  return call.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        size += chunk.byteLength;
        if (size > PROXY_BODY_LIMIT) {
          tripped.over = true;
          controller.error(new Error("body over limit"));
        } else controller.enqueue(chunk);
      },
    }),
  );
}

const tooLarge = () => new AppError("body_too_large", `proxy body over ${PROXY_BODY_LIMIT} bytes`);

function responseHeaders(from: Headers): Headers {
  const headers = new Headers({ "Cache-Control": "no-store" });
  for (const [name, value] of from) {
    if (PASS_BACK.has(name) || name.startsWith("x-ratelimit-")) headers.append(name, value);
  }
  // A decoded body no longer has the encoded length.
  const length = from.get("content-length");
  if (length !== null && !from.has("content-encoding")) headers.set("content-length", length);
  return headers;
}

export async function proxyToFinch(deps: ProxyDeps, call: ProxyCall, trace: Trace): Promise<Response> {
  trace.connectionId = call.connectionId;
  if (!(PROXY_METHODS as readonly string[]).includes(call.method)) {
    throw new AppError("method_not_allowed", `proxy method ${call.method.slice(0, 16)}`, {
      headers: { Allow: PROXY_METHODS.join(", ") },
    });
  }
  const url = finchUrl(deps.finch.baseUrl, call.path, call.search);
  if (isReservedPath(call.path)) throw new AppError("proxy_path_reserved", "proxy path is reserved");
  const tripped = { over: false };
  const body = boundedBody(call, tripped);
  const budget = deps.budget;
  const product = budget ? productOf(decodeURIComponent(call.path)) : undefined;
  // The record and the budget slot are fetched together: the slot is the one Durable Object
  // request a proxied call makes, and waiting for KV first would add its latency to every call.
  const [record, slot] = await Promise.all([
    deps.store.require(call.connectionId),
    budget && product && budget.budgeted(product) ? budget.acquire(product, call.connectionId) : undefined,
  ]);
  if (slot && !slot.ok) throw budgetExhausted(product as string, slot);
  const headers = upstreamHeaders(call.headers, await deps.store.token(record));

  let res: Response;
  try {
    res = await sendToFinch(deps.finch, { method: call.method, url: url.href, headers, body }, trace);
  } catch (e) {
    if (tripped.over) throw tooLarge();
    throw e;
  }

  if (res.status === 429 && budget && product && budget.budgeted(product)) {
    // Finch's own 429 passes through as is, and holds the whole app's calls to this product.
    const wait = retryAfterMs(res) ?? FINCH_RATE_WINDOW_MS;
    trace.notes.push(`finch 429 on ${product}: budget paused ${Math.ceil(wait / 1000)} s`);
    await budget.pause(product, wait).catch(() => trace.notes.push("budget pause failed"));
  }

  let out: ReadableStream<Uint8Array> | null = res.body;
  if (res.status === 401 && res.body) {
    // Read a copy of the (small) error body; the caller still gets every byte of the original.
    const [pass, peek] = res.body.tee();
    out = pass;
    const text = await readBounded(new Response(peek), REAUTH_PEEK_LIMIT);
    if (text !== undefined && finchCode(text) === "reauthenticate_user") {
      // The caller gets Finch's answer even if recording it fails.
      await markReauth(deps.store, record, trace).catch(() => trace.notes.push("reauth mark failed"));
    }
  }
  return new Response(out, { status: res.status, statusText: res.statusText, headers: responseHeaders(res.headers) });
}

/** Our own 429: Finch is not called; Retry-After says when the first slot frees. */
function budgetExhausted(product: string, slot: Extract<BudgetDecision, { ok: false }>): AppError {
  return new AppError("finch_budget_exhausted", `${product} budget ${slot.reason}, retry in ${slot.retryAfterMs} ms`, {
    headers: {
      "Retry-After": String(Math.ceil(slot.retryAfterMs / 1000)),
      "retry-after-ms": String(slot.retryAfterMs),
    },
  });
}

function finchCode(text: string): string | undefined {
  try {
    return parseErrorBody(JSON.parse(text)).finchCode;
  } catch {
    return undefined;
  }
}
