import { AppError } from "../errors";
import { readBounded } from "../lib/body";
import { retryAfterMs } from "../lib/retry-after";
import type { Trace } from "../lib/trace";

/**
 * The one place that talks HTTP to Finch: version header, timeout, bounded bodies,
 * retries only where a repeat cannot do harm, and Finch's error shape parsed from unknown.
 * Nothing here logs bodies: they may hold tokens.
 *
 * Retries are few on purpose: every retry is one more request at a Finch that is already
 * struggling, multiplied by every caller. A 429 is never retried (Finch said to slow down;
 * its Retry-After goes back to our caller), and a refused connection or 502/503/504 gets
 * one more attempt at most.
 */
/** The Finch API version every request names (Finch-API-Version). */
export const FINCH_API_VERSION = "2020-09-17";

/** What the client needs to reach Finch as this application (config/finch.ts reads it). */
export interface FinchSettings {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  timeoutMs: number;
}

export type FinchAuth = { kind: "basic" } | { kind: "bearer"; token: string } | { kind: "none" };

export interface FinchRequest {
  method: "GET" | "POST";
  path: string;
  auth: FinchAuth;
  json?: unknown;
  /** One retry on a refused connection or 502/503/504. Never for the code exchange. */
  idempotent: boolean;
  /**
   * The endpoint answers 429 with a body of its own (POST /jobs/automated: the hourly refresh
   * limit): hand that reply back to the caller instead of throwing finch_rate_limited.
   */
  own429?: boolean;
}

export interface FinchReply {
  status: number;
  body: unknown;
  headers: Headers;
}

/** Finch's error envelope: { code, name, finch_code?, message }. */
export interface FinchErrorBody {
  name: string | undefined;
  finchCode: string | undefined;
}

export const MAX_FINCH_BODY = 256 * 1024;
/** One entry per retry: a single retry, after 200 ms. */
const RETRY_DELAYS_MS = [200];
const RETRYABLE_STATUS = new Set([502, 503, 504]);

function authHeader(settings: FinchSettings, auth: FinchAuth): string | undefined {
  if (auth.kind === "basic") return `Basic ${btoa(`${settings.clientId}:${settings.clientSecret}`)}`;
  if (auth.kind === "bearer") return `Bearer ${auth.token}`;
  return undefined;
}

export function parseErrorBody(body: unknown): FinchErrorBody {
  if (typeof body !== "object" || body === null) return { name: undefined, finchCode: undefined };
  const b = body as Record<string, unknown>;
  return {
    name: typeof b.name === "string" ? b.name : undefined,
    finchCode: typeof b.finch_code === "string" ? b.finch_code : undefined,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends one request to Finch (with the configured timeout) and returns the raw Response. */
export async function sendToFinch(
  settings: FinchSettings,
  req: { method: string; url: string; headers: HeadersInit; body?: BodyInit | null },
  trace: Trace,
): Promise<Response> {
  trace.upstreamCalls++;
  let res: Response;
  try {
    res = await fetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body ?? null,
      redirect: "manual",
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
  } catch (e) {
    const name = e instanceof Error ? e.name : "";
    if (name === "TimeoutError" || name === "AbortError") throw new AppError("finch_timeout", req.method);
    throw new AppError("finch_unavailable", `network error (${name || "unknown"})`);
  }
  const requestId = res.headers.get("finch-request-id");
  if (requestId) trace.finchRequestId = requestId.slice(0, 128);
  return res;
}

/** A JSON call to Finch. Non-2xx replies are returned, not thrown, except 429 and 5xx. */
export async function callFinch(settings: FinchSettings, call: FinchRequest, trace: Trace): Promise<FinchReply> {
  const headers = new Headers({ "Finch-API-Version": FINCH_API_VERSION, Accept: "application/json" });
  const auth = authHeader(settings, call.auth);
  if (auth) headers.set("Authorization", auth);
  let body: string | undefined;
  if (call.json !== undefined) {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(call.json);
  }
  const url = `${settings.baseUrl}${call.path}`;
  const attempts = call.idempotent ? RETRY_DELAYS_MS.length + 1 : 1;

  for (let attempt = 1; ; attempt++) {
    let res: Response;
    try {
      res = await sendToFinch(settings, { method: call.method, url, headers, body: body ?? null }, trace);
    } catch (e) {
      // A timeout may have reached Finch; only a refused connection is retried.
      if (attempt < attempts && e instanceof AppError && e.code === "finch_unavailable") {
        await sleep(RETRY_DELAYS_MS[attempt - 1] as number);
        continue;
      }
      throw e;
    }
    if (res.status === 429 && !call.own429) {
      await res.body?.cancel();
      throw rateLimited(res.headers, call.path);
    }
    if (res.status >= 500) {
      await res.body?.cancel();
      if (attempt < attempts && RETRYABLE_STATUS.has(res.status)) {
        await sleep(RETRY_DELAYS_MS[attempt - 1] as number);
        continue;
      }
      throw new AppError("finch_unavailable", `${call.path} ${res.status}`);
    }
    const text = await readBounded(res, MAX_FINCH_BODY);
    if (text === undefined) throw new AppError("finch_bad_response", `${call.path} body over ${MAX_FINCH_BODY} bytes`);
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      throw new AppError("finch_bad_response", `${call.path} ${res.status} body is not JSON`);
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }
}

/** Finch's 429: finch_rate_limited, with its Retry-After (or retry-after-ms) in whole seconds, rounded up. */
export function rateLimited(headers: Headers, path: string): AppError {
  const wait = retryAfterMs(headers, Date.now());
  const retry: Record<string, string> = wait === undefined ? {} : { "Retry-After": String(Math.ceil(wait / 1000)) };
  return new AppError("finch_rate_limited", `${path} 429`, { headers: retry });
}
