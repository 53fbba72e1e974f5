import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { errorResponse } from "../../../src/http/error-response";
import { queryInput, singleParam, TOKEN_CHARS } from "../../../src/http/params";
import type { AppEnv } from "../../../src/http/types";

/**
 * Query parameters as routes read them (src/http/params.ts), through a bare Hono app whose
 * errors go through the app's one error mapping (no Worker, no KV).
 */
const MAX = 8;

const app = new Hono<AppEnv>();
app.onError(errorResponse);
app.get("/token", (c) => c.json({ value: singleParam(c, "v", { max: MAX, pattern: TOKEN_CHARS }) ?? null }));
app.get("/free", (c) => c.json({ value: singleParam(c, "v", { max: MAX }) ?? null }));
app.get("/query", (c) => c.json(queryInput(c, { n: "number", t: "text" })));

async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await app.request(`https://edge.example${path}`);
  return { status: res.status, body: await res.json() };
}

async function refused(path: string) {
  const { status, body } = await get(path);
  expect(status).toBe(400);
  expect(body.error.code).toBe("param_invalid");
  return JSON.stringify(body);
}

describe("singleParam", () => {
  it("returns a parameter present once, exactly at the length limit", async () => {
    expect(await get(`/token?v=${"a".repeat(MAX)}`)).toEqual({ status: 200, body: { value: "a".repeat(MAX) } });
  });

  it("refuses one character over the limit", async () => {
    await refused(`/token?v=${"a".repeat(MAX + 1)}`);
    await refused(`/free?v=${"a".repeat(MAX + 1)}`);
  });

  it("measures the decoded value, not its escapes", async () => {
    expect((await get(`/token?v=${"%41".repeat(MAX)}`)).body.value).toBe("A".repeat(MAX));
  });

  it("refuses a repeated parameter, even when one copy is empty", async () => {
    await refused("/token?v=a&v=b");
    await refused("/token?v=a&v=a");
    await refused("/token?v=a&v=");
  });

  it("missing or empty is undefined", async () => {
    expect((await get("/token")).body.value).toBeNull();
    expect((await get("/token?v=")).body.value).toBeNull();
    expect((await get("/token?v")).body.value).toBeNull();
    expect((await get("/token?w=a")).body.value).toBeNull();
  });

  it.each([
    ["a space", "a%20b"],
    ["a plus (a space once decoded)", "a+b"],
    ["a control character", "a%00b"],
    ["non-ASCII", "%C3%A9"],
    ["an invalid escape (U+FFFD once decoded)", "%FF"],
  ])("refuses %s against TOKEN_CHARS", async (_, raw) => {
    await refused(`/token?v=${raw}`);
  });

  it("without a pattern, any text within the limit passes", async () => {
    expect((await get("/free?v=a%20b%C3%A9")).body.value).toBe("a bé");
  });

  it("never echoes the value it refuses", async () => {
    const body = await refused(`/token?v=${"secretish".repeat(3)}`);
    expect(body).not.toContain("secretish");
  });
});

describe("TOKEN_CHARS", () => {
  it("is printable ASCII without spaces, and not empty", () => {
    expect(TOKEN_CHARS.test("!~azAZ09.-_")).toBe(true);
    for (const bad of ["", " ", "a b", "\x7f", "\x20", "\t", "é"]) expect(TOKEN_CHARS.test(bad)).toBe(false);
  });
});

describe("queryInput", () => {
  it("leaves absent parameters out and passes text on as sent", async () => {
    expect((await get("/query")).body).toEqual({});
    expect((await get("/query?t=hello&other=1")).body).toEqual({ t: "hello" });
    expect((await get("/query?t=")).body).toEqual({ t: "" });
  });

  it("turns a number parameter of 1 to 15 digits into a number", async () => {
    expect((await get("/query?n=0")).body).toEqual({ n: 0 });
    expect((await get("/query?n=007")).body).toEqual({ n: 7 });
    expect((await get(`/query?n=${"9".repeat(15)}`)).body).toEqual({ n: 999_999_999_999_999 });
  });

  it("leaves any other number parameter as text, for the operation's schema to refuse", async () => {
    for (const raw of ["9".repeat(16), "-1", "1.5", "1e3", "", "%201", "0x10"]) {
      const { body } = await get(`/query?n=${raw}`);
      expect(typeof body.n, raw).toBe("string");
    }
  });

  it("a text parameter made of digits stays text", async () => {
    expect((await get("/query?t=42")).body).toEqual({ t: "42" });
  });

  it("refuses a repeated parameter", async () => {
    await refused("/query?n=1&n=2");
    await refused("/query?t=a&t=a");
  });
});
