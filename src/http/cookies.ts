import { tryDecodeURIComponent } from "hono/utils/url";

/**
 * The little of cookies this Worker uses: read one named cookie, write one with fixed
 * attributes, delete one. It reads and writes exactly as hono/cookie's getCookie, setCookie
 * and deleteCookie do (test/cookies.test.ts compares them on hostile headers), without the
 * signed-cookie, prefix, Domain, Expires, Priority and Partitioned code this Worker never
 * needs. Values are decoded with Hono's own decoder, already in the bundle for the router.
 */
export interface CookieAttributes {
  path: "/";
  httpOnly: boolean;
  secure: boolean;
  sameSite: "Lax" | "Strict";
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
}

/** RFC 6265 cookie-octets plus space and comma, as Hono accepts them. */
const COOKIE_VALUE = /^[ !#-:<-[\]-~]*$/;
const trimSpaceTab = (s: string) => s.replace(/^[ \t]+|[ \t]+$/g, "");

/**
 * The first `name=value` pair of the Cookie header with this exact name and a well-formed
 * value (an RFC 6265 quoted value loses its quotes), percent-decoded; undefined when none.
 */
export function readCookie(headers: Headers, name: string): string | undefined {
  const header = headers.get("Cookie");
  if (!header || !header.includes(name)) return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq === -1 || trimSpaceTab(pair.slice(0, eq)) !== name) continue;
    let value = trimSpaceTab(pair.slice(eq + 1));
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (COOKIE_VALUE.test(value)) return tryDecodeURIComponent(value);
  }
  return undefined;
}

/** One Set-Cookie value. Names are constants of this Worker; the value is percent-encoded. */
export function serializeCookie(name: string, value: string, a: CookieAttributes): string {
  return `${name}=${encodeURIComponent(value)}; Max-Age=${a.maxAge | 0}; Path=${a.path}${a.httpOnly ? "; HttpOnly" : ""}${a.secure ? "; Secure" : ""}; SameSite=${a.sameSite}`;
}
