import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { AppError } from "../../../src/errors";
import { decodeCursor, encodeCursor } from "../../../src/lib/cursor";

/**
 * Pagination cursors (src/lib/cursor.ts): opaque base64url JSON, decoded strictly. Cursors
 * are not signed: the schema is what stands between a caller's edits and the query.
 */
const Schema = v.strictObject({ a: v.pipe(v.number(), v.integer(), v.minValue(0)), c: v.optional(v.string()) });

function refusal(cursor: string): AppError {
  try {
    decodeCursor(Schema, cursor);
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  return expect.fail(`accepted ${cursor}`);
}

const b64url = (text: string) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

describe("cursor", () => {
  it("round-trips its state", () => {
    const state = { a: 42, c: "kv:page/é" };
    const cursor = encodeCursor(state);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(Schema, cursor)).toEqual(state);
    expect(decodeCursor(Schema, encodeCursor({ a: 0 }))).toEqual({ a: 0 });
  });

  it.each([
    ["empty", ""],
    ["not base64url", "!!!"],
    ["padded", `${encodeCursor({ a: 1 })}=`],
    ["standard base64 characters", "eyJhIjo+/w"],
    ["an impossible length", "abcde"],
    ["base64url of text that is not JSON", b64url("not json")],
    ["base64url of bytes that are not UTF-8", "_w"],
    ["truncated", encodeCursor({ a: 123456 }).slice(0, -3)],
  ])("refuses %s as param_invalid", (_, cursor) => {
    const error = refusal(cursor);
    expect(error.code).toBe("param_invalid");
    expect(error.status).toBe(400);
  });

  it("refuses a cursor whose last character differs only in unused bits", () => {
    const cursor = encodeCursor({ a: 1 }); // 7 bytes: the last character carries 4 spare bits
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const sibling = cursor.slice(0, -1) + alphabet[alphabet.indexOf(cursor.at(-1) as string) | 1];
    expect(sibling).not.toBe(cursor);
    expect(refusal(sibling).code).toBe("param_invalid");
  });

  it.each([
    ["a wrong type", { a: "1" }],
    ["a negative position", { a: -1 }],
    ["a missing field", { c: "x" }],
    ["an unknown field", { a: 1, q: "x" }],
    ["not an object", [1]],
    ["null", null],
  ])("refuses well-formed JSON of %s (schema mismatch)", (_, state) => {
    expect(refusal(encodeCursor(state)).code).toBe("param_invalid");
  });

  it("never echoes the cursor it refuses", () => {
    const cursor = b64url('{"a":"secretish"}');
    const error = refusal(cursor);
    expect(`${error.message} ${error.detail}`).not.toContain(cursor);
    expect(`${error.message} ${error.detail}`).not.toContain("secretish");
  });
});
