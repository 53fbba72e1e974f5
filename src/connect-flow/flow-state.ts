import * as v from "valibot";
import { hmacSign, hmacVerify } from "../crypto/hmac";
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from "../lib/encoding";

/**
 * The browser-bound half of a Connect flow, carried in signed, HttpOnly cookies.
 * - pending: created by /connect, proves the callback comes back to the browser that
 *   started it (CSRF / code injection defence) and remembers who the customer is.
 * - done: left after a successful callback so a reload shows the same result without a
 *   second exchange (the code is single-use at Finch).
 * Signed with a key derived from TICKET_SECRET (HKDF, its own label), never the ticket key.
 */
export const PENDING_TTL_S = 30 * 60;
export const DONE_TTL_S = 10 * 60;

const FlowSchema = v.picklist(["redirect", "embedded"]);
export type Flow = v.InferOutput<typeof FlowSchema>;

/** Who the callback is for, as /connect learnt it from the verified ticket. */
const PendingSchema = v.object({
  k: v.literal("pending"),
  state: v.string(),
  /** The ticket this flow came from: lets the same browser resume it (see connect-flow/start.ts). */
  jti: v.string(),
  flow: FlowSchema,
  customer_id: v.string(),
  customer_name: v.string(),
  email: v.optional(v.string()),
  connection_id: v.optional(v.string()),
  return_to: v.optional(v.string()),
  exp: v.number(),
});
export type PendingFlow = v.InferOutput<typeof PendingSchema>;

const DoneSchema = v.object({
  k: v.literal("done"),
  /** Digest of the callback's state value, so a reload is recognised without keeping the state. */
  state_hash: v.string(),
  connection_id: v.string(),
  provider_id: v.nullable(v.string()),
  /** Where the browser goes (return_to or SUCCESS_URL) as text; connection_id is added when redirecting. */
  location: v.optional(v.string()),
  exp: v.number(),
});
export type DoneFlow = v.InferOutput<typeof DoneSchema>;

export async function sealFlow(key: CryptoKey, flow: PendingFlow | DoneFlow): Promise<string> {
  const payload = toBase64Url(utf8(JSON.stringify(flow)));
  return `${payload}.${toBase64Url(await hmacSign(key, payload))}`;
}

/** Browsers keep a cookie's name and value up to 4096 bytes together; longer ones are dropped. */
export const MAX_COOKIE = 4096;

async function open(key: CryptoKey, value: string | undefined, nowMs: number): Promise<unknown> {
  if (!value || value.length > MAX_COOKIE) return undefined;
  const dot = value.indexOf(".");
  if (dot <= 0) return undefined;
  const payload = value.slice(0, dot);
  const sig = fromBase64Url(value.slice(dot + 1));
  if (!sig || sig.byteLength !== 32 || !(await hmacVerify(key, sig, payload))) return undefined;
  const bytes = fromBase64Url(payload);
  if (!bytes) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(bytes));
  } catch {
    return undefined;
  }
  const exp = (json as { exp?: unknown } | null)?.exp;
  return typeof exp === "number" && exp * 1000 > nowMs ? json : undefined;
}

/** A verified, unexpired pending flow, or undefined (tampered, expired, absent). */
export async function openPending(key: CryptoKey, value: string | undefined, nowMs = Date.now()) {
  const r = v.safeParse(PendingSchema, await open(key, value, nowMs));
  return r.success ? r.output : undefined;
}

export async function openDone(key: CryptoKey, value: string | undefined, nowMs = Date.now()) {
  const r = v.safeParse(DoneSchema, await open(key, value, nowMs));
  return r.success ? r.output : undefined;
}
