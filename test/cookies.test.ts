import fc from "fast-check";
import type { Context } from "hono";
import { generateCookie, getCookie } from "hono/cookie";
import { expect, it } from "vitest";
import { type CookieAttributes, readCookie, serializeCookie } from "../src/http/cookies";
import { propertyRuns, propertyTimeout, runProperty } from "./support/property";

/**
 * src/http/cookies.ts replaced hono/cookie to keep the bundle small; it must read and write
 * exactly as hono/cookie did. Hostile Cookie headers (our names, near-miss names, quoting,
 * percent-escapes valid and broken, whitespace, repeats, characters outside cookie-octet)
 * are read both ways, and every attribute set the Worker writes is serialized both ways.
 */
const NAMES = ["__Host-fce_state", "__Host-fce_done", "fce_state", "fce_done"];
const honoRead = (headers: Headers, name: string) =>
  getCookie({ req: { raw: new Request("https://w.example/", { headers }) } } as unknown as Context, name);

const asciiChar = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const ascii = (maxLength: number) => fc.string({ unit: asciiChar, maxLength });
const name = fc.oneof(
  fc.constantFrom(...NAMES, "__host-fce_state", "fce_state ", " fce_done", "\tfce_state", "fce_stat", "x"),
  ascii(12),
);
const value = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{0,40}(\.[A-Za-z0-9_-]{0,20})?$/),
  fc.constantFrom('""', '"', '"abc"', '"a"b"', "%2E", "%2e%", "%E0%A4%A", "%zz", "a%20b", " a ", "\ta", "a,b", "a\\b"),
  ascii(30),
);
const pair = fc.oneof(
  fc.tuple(name, fc.constantFrom("=", " = ", "=\t"), value).map(([n, eq, v]) => `${n}${eq}${v}`),
  ascii(20),
);
const header = fc.oneof(
  fc
    .array(pair, { maxLength: 5 })
    .chain((pairs) => fc.constantFrom(";", "; ", " ;", ";;").map((sep) => pairs.join(sep))),
  ascii(120),
);

it(
  "readCookie reads every Cookie header exactly as hono/cookie's getCookie",
  async () => {
    await runProperty(
      "cookie read (vs hono/cookie)",
      fc.asyncProperty(header, fc.constantFrom(...NAMES), async (text, wanted) => {
        let headers: Headers;
        try {
          headers = new Headers({ Cookie: text });
        } catch {
          return fc.pre(false);
        }
        expect(readCookie(headers, wanted)).toBe(honoRead(headers, wanted));
      }),
    );
  },
  propertyTimeout(2),
);

it("readCookie: no header, other cookies only, quoted and escaped values", () => {
  const read = (cookie: string | undefined, n = "fce_state") =>
    readCookie(new Headers(cookie === undefined ? {} : { Cookie: cookie }), n);
  expect(read(undefined)).toBeUndefined();
  expect(read("")).toBeUndefined();
  expect(read("other=1")).toBeUndefined();
  expect(read('fce_state="abc.def"')).toBe("abc.def");
  expect(read("fce_state=abc%2Edef")).toBe("abc.def");
  expect(read("fce_state=a\\b; fce_state=ok")).toBe("ok");
  expect(read("fce_state=first; fce_state=second")).toBe("first");
  expect(propertyRuns()).toBeGreaterThan(0);
});

it("serializeCookie writes exactly what hono/cookie's setCookie and deleteCookie wrote", () => {
  for (const [n, secure] of [
    ["__Host-fce_state", true],
    ["__Host-fce_done", true],
    ["fce_state", false],
    ["fce_done", false],
  ] as const) {
    for (const maxAge of [0, 600, 1800]) {
      for (const v of ["", "eyJrIjoicGVuZGluZyJ9.c2lnbmF0dXJl", "a b;c=d", "é%"]) {
        const attributes: CookieAttributes = { path: "/", httpOnly: true, secure, sameSite: "Lax", maxAge };
        expect(serializeCookie(n, v, attributes)).toBe(generateCookie(n, v, attributes));
      }
    }
  }
  expect(
    serializeCookie("fce_state", "", { path: "/", httpOnly: true, secure: false, sameSite: "Lax", maxAge: 0 }),
  ).toBe("fce_state=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax");
});
