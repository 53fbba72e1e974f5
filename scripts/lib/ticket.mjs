// Connect tickets: compact JWS, HS256, key = UTF-8 bytes of TICKET_SECRET. The Worker verifies
// exactly this format (header {"alg":"HS256","typ":"JWT"}; claims sub, name, iat, exp, jti, and
// optionally email, products, return_to, connection_id, bind). A ticket is a one-time link: each one
// gets a fresh random jti, and the Worker lets it start one Finch Connect session only.
import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";

export const MAX_TICKET_TTL_SECONDS = 900;
export const DEFAULT_TICKET_TTL_SECONDS = 600;
const HEADER = { alg: "HS256", typ: "JWT" };
const OPTIONAL_CLAIMS = ["email", "products", "return_to", "connection_id", "bind"];

const encode = (value) => Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
const sign = (secret, input) => createHmac("sha256", Buffer.from(secret, "utf8")).update(input).digest("base64url");

/**
 * The `bind` claim for a ticket bound to the app's session (TICKET_BINDING_COOKIE): the unpadded
 * base64url SHA-256 of the session cookie's value, as the browser sends it (percent-decoded).
 * @param {string} cookieValue
 */
export function bindClaim(cookieValue) {
  if (typeof cookieValue !== "string" || cookieValue.length === 0)
    throw new TypeError("bindClaim: a cookie value is required");
  return createHash("sha256").update(cookieValue, "utf8").digest("base64url");
}

/**
 * Mints a ticket.
 * @param {string} secret TICKET_SECRET
 * @param {{ sub: string, name: string, email?: string, products?: string[], return_to?: string,
 *           connection_id?: string, bind?: string, jti?: string }} claims  jti defaults to a random UUID
 * @param {{ ttlSeconds?: number, now?: number }} [options] now in epoch milliseconds
 * @returns {string}
 */
export function mintTicket(secret, claims, { ttlSeconds = DEFAULT_TICKET_TTL_SECONDS, now = Date.now() } = {}) {
  if (typeof secret !== "string" || secret.length === 0) throw new TypeError("mintTicket: secret is required");
  if (typeof claims?.sub !== "string" || claims.sub.length === 0)
    throw new TypeError("mintTicket: claims.sub (customer id) is required");
  if (typeof claims.name !== "string" || claims.name.length === 0)
    throw new TypeError("mintTicket: claims.name (customer name) is required");
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TICKET_TTL_SECONDS) {
    throw new RangeError(`mintTicket: ttlSeconds must be an integer from 1 to ${MAX_TICKET_TTL_SECONDS}`);
  }
  if (claims.jti !== undefined && !/^[A-Za-z0-9._~:-]{8,128}$/.test(claims.jti)) {
    throw new TypeError("mintTicket: claims.jti must be 8-128 characters of A-Z a-z 0-9 . _ ~ : -");
  }
  if (
    claims.products !== undefined &&
    (!Array.isArray(claims.products) || claims.products.some((p) => typeof p !== "string"))
  ) {
    throw new TypeError("mintTicket: claims.products must be an array of strings");
  }
  const iat = Math.floor(now / 1000);
  const payload = { sub: claims.sub, name: claims.name, iat, exp: iat + ttlSeconds, jti: claims.jti ?? randomUUID() };
  for (const key of OPTIONAL_CLAIMS) if (claims[key] !== undefined) payload[key] = claims[key];
  const input = `${encode(HEADER)}.${encode(payload)}`;
  return `${input}.${sign(secret, input)}`;
}

/**
 * Checks a ticket's signature and expiry (for tests and tooling; the Worker has its own verifier).
 * @returns {Record<string, unknown>} the claims
 */
export function verifyTicket(secret, ticket, { now = Date.now() } = {}) {
  const parts = String(ticket).split(".");
  if (parts.length !== 3) throw new Error("ticket: not a compact JWS");
  const [h, p, s] = parts;
  const expected = Buffer.from(sign(secret, `${h}.${p}`));
  const given = Buffer.from(s);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new Error("ticket: bad signature");
  const header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
  if (header.alg !== "HS256") throw new Error("ticket: unexpected alg");
  const claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8"));
  if (typeof claims.exp !== "number" || claims.exp <= Math.floor(now / 1000)) throw new Error("ticket: expired");
  return claims;
}

/** `${baseUrl}/connect?ticket=..` (redirect flow) or `${baseUrl}/connect/session?ticket=..` (embedded). */
export function connectUrl(baseUrl, ticket, flow = "redirect") {
  const path = flow === "embedded" ? "connect/session" : "connect";
  const url = new URL(path, `${String(baseUrl).replace(/\/+$/, "")}/`);
  url.searchParams.set("ticket", ticket);
  return url.toString();
}
