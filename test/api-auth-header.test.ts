import fc from "fast-check";
import type { Context } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { expect, it } from "vitest";
import { bearerToken } from "../src/http/api-auth";
import { propertyTimeout, runProperty } from "./support/property";

/**
 * src/http/api-auth.ts reads the Authorization header itself since hono/bearer-auth left the
 * bundle. It must read it exactly as that middleware did with the options the Worker gave
 * it: the same headers are missing, malformed, or carry the same token to the key check.
 */
async function honoReads(header: string | undefined): Promise<{ token: string } | "missing" | "malformed"> {
  let outcome: { token: string } | "missing" | "malformed" = "missing";
  const stop = (why: "missing" | "malformed") => () => {
    outcome = why;
    throw new Error(why);
  };
  const middleware = bearerAuth({
    realm: "finch-connect-edge",
    verifyToken: (token: string) => {
      outcome = { token };
      return true;
    },
    noAuthenticationHeader: { message: stop("missing") },
    invalidAuthenticationHeader: { message: stop("malformed") },
    invalidToken: { message: stop("malformed") },
  });
  const c = {
    req: { header: (name: string) => (name === "Authorization" ? header : undefined) },
  } as unknown as Context;
  await middleware(c, async () => {}).catch(() => {});
  return outcome;
}

const latin1 = fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c));
const TOKEN_CHARS = "ABCXYZabcxyz0189._~+/-=";
const token = fc.oneof(
  fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), maxLength: 40 }),
  fc.string({ unit: latin1, maxLength: 20 }),
);
const header = fc.oneof(
  fc
    .tuple(
      fc.constantFrom("Bearer", "bearer", "BEARER", "BeArEr", "Bearer:", "Bear", "Basic", "", "Bearerx", "\tBearer"),
      fc.constantFrom(" ", "  ", "\t", " \t ", "", "\u00a0", " \u00a0"),
      token,
      fc.constantFrom("", " ", "\t", "=", "==", " x"),
    )
    .map((parts) => parts.join("")),
  fc.string({ unit: latin1, maxLength: 60 }),
);

it(
  "bearerToken reads every Authorization header exactly as hono/bearer-auth did",
  async () => {
    for (const h of [
      undefined,
      "",
      " ",
      "Bearer",
      "Bearer ",
      "Bearer  abc",
      "bearer abc=",
      "Bearer a=b",
      "Bearer\tabc",
    ]) {
      expect(bearerToken(h), String(h)).toEqual(await honoReads(h));
    }
    await runProperty(
      "authorization header (vs hono/bearer-auth)",
      fc.asyncProperty(header, async (h) => {
        expect(bearerToken(h)).toEqual(await honoReads(h));
      }),
    );
  },
  propertyTimeout(2),
);
