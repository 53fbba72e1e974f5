import { bearerAuth } from "hono/bearer-auth";
import type { ApiKey } from "../access/api-keys";
import { principalOf } from "../access/principal";
import { indexOfMatch } from "../crypto/compare";
import { AppError } from "../errors";
import { utf8 } from "../lib/encoding";
import { configOf } from "./deps";
import type { AppEnv } from "./types";

/**
 * `Authorization: Bearer <api key>` for everything under /api, read by hono/bearer-auth.
 * Keys come from API_KEYS (several at once, so they rotate without downtime) and are all
 * compared in constant time (indexOfMatch, no early exit on the first match). The matched key
 * becomes the request's `principal` (its scopes and customers, checked by each operation).
 *
 * A missing header, a malformed one and a wrong key get the same 401 `unauthorized` with
 * the same challenge, so a caller learns nothing about which part was wrong; only the log
 * line says which case it was. bearer-auth would answer a malformed header with 400 and
 * its own challenges, so each of its three refusals throws our AppError instead (it calls
 * the message function before building its own response): errorResponse answers them all.
 */
const API_REALM = "finch-connect-edge";
const CHALLENGE = `Bearer realm="${API_REALM}"`;

const refuse = (why: string) => () => {
  throw new AppError("unauthorized", `api key ${why}`, { headers: { "WWW-Authenticate": CHALLENGE } });
};

/** Each key list's secrets as bytes, encoded once per isolate (the list is parsed once, too). */
const encodedKeys = new WeakMap<readonly ApiKey[], readonly Uint8Array[]>();
function secretsOf(keys: readonly ApiKey[]): readonly Uint8Array[] {
  let secrets = encodedKeys.get(keys);
  if (!secrets) {
    secrets = keys.map((k) => utf8(k.key));
    encodedKeys.set(keys, secrets);
  }
  return secrets;
}

export const apiAuth = bearerAuth<AppEnv>({
  realm: API_REALM,
  verifyToken: async (token, c) => {
    const keys = configOf(c).apiKeys();
    const key = keys[indexOfMatch(token, secretsOf(keys))];
    if (!key) return false;
    c.set("principal", await principalOf(key));
    return true;
  },
  noAuthenticationHeader: { message: refuse("missing") },
  invalidAuthenticationHeader: { message: refuse("malformed") },
  invalidToken: { message: refuse("not recognised") },
});
