import type { MiddlewareHandler } from "hono";
import { matchesAny } from "../crypto/compare";
import { AppError } from "../errors";
import { configOf } from "./deps";
import type { AppEnv } from "./types";

/**
 * `Authorization: Bearer <api key>` for everything under /api. Keys come from API_KEYS
 * (several at once, so they rotate without downtime) and are all compared in constant time.
 *
 * A missing header, a malformed one and a wrong key get the same 401 with the same
 * challenge, so a caller learns nothing about which part was wrong; only the log line says
 * which case it was. The header is read exactly as hono/bearer-auth reads it (scheme in any
 * case, then a space, then a token68 value; test/api-auth-header.test.ts compares the two):
 * that middleware was used here until its 2.9 KiB (minified, with its unused hashing
 * comparison) had to go for the 25 KiB bundle target, and every branch of it was overridden.
 */
export const API_REALM = "finch-connect-edge";
const CHALLENGE = `Bearer realm="${API_REALM}"`;
const TOKEN68 = /^[A-Za-z0-9._~+/-]+=*$/;

/** The presented key, or why there is none. */
export function bearerToken(header: string | undefined): { token: string } | "missing" | "malformed" {
  if (!header) return "missing";
  const token = header.toLowerCase().startsWith("bearer") && header[6] === " " ? header.slice(6).trimStart() : "";
  return token && TOKEN68.test(token) ? { token } : "malformed";
}

const refuse = (why: string) =>
  new AppError("unauthorized", `api key ${why}`, { headers: { "WWW-Authenticate": CHALLENGE } });

export const apiAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const presented = bearerToken(c.req.header("Authorization"));
  if (typeof presented === "string") throw refuse(presented);
  if (!matchesAny(presented.token, configOf(c).apiKeys())) throw refuse("not recognised");
  await next();
};
