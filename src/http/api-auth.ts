import type { Context, MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { matchesAny } from "../crypto/compare";
import { AppError } from "../errors";
import { configOf } from "./deps";
import type { AppEnv } from "./types";

/**
 * `Authorization: Bearer <api key>` for everything under /api. Keys come from API_KEYS
 * (several at once, so they rotate without downtime) and are all compared in constant time.
 *
 * A missing header, a malformed one and a wrong key get the same 401 with the same
 * challenge, so a caller learns nothing about which part was wrong. Hono's middleware would
 * answer 400 for a malformed header and name the error in the challenge; every branch is
 * routed to one AppError instead, and only the log line says which case it was.
 */
export const API_REALM = "finch-connect-edge";
const CHALLENGE = `Bearer realm="${API_REALM}"`;

const refuse = (why: string) => (): never => {
  throw new AppError("unauthorized", `api key ${why}`, { headers: { "WWW-Authenticate": CHALLENGE } });
};

export const apiAuth: MiddlewareHandler<AppEnv> = bearerAuth<AppEnv>({
  realm: API_REALM,
  verifyToken: (token: string, c: Context<AppEnv>) => matchesAny(token, configOf(c).apiKeys()),
  noAuthenticationHeader: { message: refuse("missing") },
  invalidAuthenticationHeader: { message: refuse("malformed") },
  invalidToken: { message: refuse("not recognised") },
});
