import * as v from "valibot";
import type { ConnectSettings } from "../config";
import { constantTimeEqual } from "../crypto/compare";
import { hmacKey } from "../crypto/hmac";
import { verifyHs256 } from "../crypto/jws";
import { AppError } from "../errors";
import { PRODUCT } from "../finch/products";
import { ConnectionIdSchema } from "../finch/schemas";
import { sha256Base64Url, utf8 } from "../lib/encoding";

/**
 * Tickets: short-lived HS256 JWTs minted by the app's back end, so that who the customer
 * is comes from the app, never from the browser. The secret is TICKET_SECRET (UTF-8).
 */
export const MAX_TICKET_LENGTH = 4096;
const MAX_TICKET_LIFETIME_S = 15 * 60;
/** Tolerated clock difference between the app's servers and Cloudflare's. */
export const CLOCK_SKEW_S = 60;

/**
 * The claims the flow cookie carries, measured exactly as stored: the UTF-8 bytes of
 * `JSON.stringify({ sub, name, email, return_to })` (return_to as the ticket's text, not
 * percent-encoded). With every other field of the pending cookie at its maximum (jti and
 * connection_id of 128 characters), a ticket at this limit still fits a browser's 4,096-byte
 * cookie (test/connect-flow/ticket-size.test.ts); over it, the ticket is refused before anything is spent.
 */
export const MAX_CLAIMS_BYTES = 2560;

/** A ticket's id: what makes it a one-time link (the ticket ledger is keyed by it). */
const JTI = /^[A-Za-z0-9._~:-]{8,128}$/;

const Claims = v.object({
  sub: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  exp: v.pipe(v.number(), v.integer()),
  iat: v.optional(v.pipe(v.number(), v.integer())),
  nbf: v.optional(v.pipe(v.number(), v.integer())),
  email: v.optional(v.pipe(v.string(), v.maxLength(320), v.email())),
  products: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(PRODUCT))), v.minLength(1), v.maxLength(32))),
  return_to: v.optional(v.pipe(v.string(), v.maxLength(1024))),
  connection_id: v.optional(ConnectionIdSchema),
  jti: v.pipe(v.string(), v.regex(JTI)),
  /** base64url SHA-256 of the app's session cookie (TICKET_BINDING_COOKIE): 32 bytes, unpadded. */
  bind: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/))),
});

/** A verified ticket: its claims, with return_to checked against the allowlist. */
export type Ticket = v.InferOutput<typeof Claims>;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

const looksLikeTicket = (value: string) => value.length <= MAX_TICKET_LENGTH && COMPACT_JWS.test(value);

export async function verifyTicket(
  token: string | undefined,
  secret: string,
  connect: ConnectSettings,
  nowMs = Date.now(),
): Promise<Ticket> {
  if (!token) throw new AppError("ticket_missing");
  if (!looksLikeTicket(token)) throw new AppError("ticket_malformed", `length ${token.length}`);

  // The signature is checked before any claim, so a forged ticket is "invalid", never
  // "expired"; alg none / RS256 / HS512 headers are refused before any crypto.
  const verified = await verifyHs256(token, await hmacKey(secret));
  if (!verified.ok) {
    if (verified.reason === "malformed") throw new AppError("ticket_malformed", "undecodable header or payload");
    throw new AppError("ticket_invalid", verified.reason);
  }

  const parsed = v.safeParse(Claims, verified.payload);
  if (!parsed.success) {
    const field = parsed.issues[0] ? v.getDotPath(parsed.issues[0]) : undefined;
    // Claim names are not secret: the app's developer sees which one to fix.
    throw new AppError("ticket_claims_invalid", `claim ${field ?? "(root)"} invalid`, {
      expose: `Claim: ${field ?? "(root)"}.`,
    });
  }
  const claims = parsed.output;
  const now = Math.floor(nowMs / 1000);
  if (claims.exp <= now) throw new AppError("ticket_expired");
  if (claims.exp > now + MAX_TICKET_LIFETIME_S + CLOCK_SKEW_S) throw new AppError("ticket_lifetime_too_long");
  if (claims.iat !== undefined && claims.iat > now + CLOCK_SKEW_S)
    throw new AppError("ticket_invalid", "iat in the future");
  if (claims.nbf !== undefined && claims.nbf > now + CLOCK_SKEW_S)
    throw new AppError("ticket_invalid", "nbf in the future");

  if (claims.return_to !== undefined) checkReturnTo(claims.return_to, connect);
  const size = claimsBytes(claims);
  if (size > MAX_CLAIMS_BYTES) {
    throw new AppError("ticket_claims_invalid", `claims ${size} bytes, over ${MAX_CLAIMS_BYTES}`, {
      expose: `sub, name, email and return_to together are over ${MAX_CLAIMS_BYTES} bytes; shorten: ${claimsToShorten(claims, size - MAX_CLAIMS_BYTES).join(", ")}.`,
    });
  }
  return claims;
}

export interface CookieClaims {
  sub: string;
  name: string;
  email?: string | undefined;
  return_to?: string | undefined;
}

/** The size MAX_CLAIMS_BYTES limits (absent claims are left out, as JSON.stringify leaves undefined). */
const claimsBytes = (c: CookieClaims) =>
  utf8(JSON.stringify({ sub: c.sub, name: c.name, email: c.email, return_to: c.return_to })).byteLength;

/** The claims to shorten, largest first, until `excess` bytes (of JSON) would be saved. */
export function claimsToShorten(claims: CookieClaims, excess: number): string[] {
  const sizes = (["sub", "name", "email", "return_to"] as const)
    .map((claim): [string, number] => [claim, utf8(JSON.stringify(claims[claim] ?? "")).byteLength])
    .sort((a, b) => b[1] - a[1]);
  const named: string[] = [];
  let saved = 0;
  for (const [claim, size] of sizes) {
    if (saved >= excess) break;
    named.push(claim);
    saved += size;
  }
  return named;
}

/**
 * return_to must be an http(s) URL on a configured origin: no open redirect. It is kept as the
 * ticket's text (the flow cookie holds UTF-8, not the percent-encoded form, which can be nine
 * times longer); the URL is built again from it only to redirect, with the same result.
 */
function checkReturnTo(value: string, connect: ConnectSettings): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AppError("return_to_not_allowed", "not an absolute URL");
  }
  const schemeOk = url.protocol === "https:" || url.protocol === "http:";
  if (!schemeOk || url.username || url.password || !connect.allowedReturnOrigins.has(url.origin)) {
    throw new AppError("return_to_not_allowed", "origin not on ALLOWED_RETURN_ORIGINS");
  }
}

/**
 * A ticket bound to the app's signed-in session: its `bind` claim is the SHA-256 of the app's
 * session cookie (TICKET_BINDING_COOKIE) in the browser it was minted for. Another browser (the
 * admin of another company who was sent the link) does not send that cookie, so the ticket is
 * refused there before it is spent. Fails closed both ways: with the setting, a ticket without
 * `bind`, a browser without the cookie or a different value is refused; without the setting, a
 * ticket that carries `bind` is refused too (its binding could not be honoured).
 */
export async function checkBinding(
  ticket: Ticket,
  cookieName: string | undefined,
  cookieValue: string | undefined,
): Promise<void> {
  if (cookieName === undefined) {
    if (ticket.bind !== undefined) throw new AppError("ticket_not_bound", "bind claim, but no TICKET_BINDING_COOKIE");
    return;
  }
  if (ticket.bind === undefined) throw new AppError("ticket_not_bound", "ticket has no bind claim");
  if (!cookieValue) throw new AppError("ticket_not_bound", "the binding cookie is not in this browser");
  if (!constantTimeEqual(await sha256Base64Url(cookieValue), ticket.bind)) {
    throw new AppError("ticket_not_bound", "the binding cookie does not match the ticket");
  }
}
