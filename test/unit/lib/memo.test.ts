import { describe, expect, it } from "vitest";
import { BoundedMemo, deepFreeze } from "../../../src/lib/memo";

/** src/lib/memo.ts: the bounded memo behind parsed records and opened tokens, and deep freezing. */
describe("BoundedMemo", () => {
  it("holds at most its limit, the least recently used (read or written) going first", () => {
    const memo = new BoundedMemo<string, number>(3);
    memo.set("a", 1);
    memo.set("b", 2);
    memo.set("c", 3);
    expect(memo.get("a")).toBe(1); // a is now the most recent: b is the oldest
    memo.set("d", 4);
    expect(memo.size).toBe(3);
    expect([memo.get("b"), memo.get("c"), memo.get("a"), memo.get("d")]).toEqual([undefined, 3, 1, 4]);
    memo.set("c", 30); // a write refreshes too, without growing
    memo.set("e", 5);
    expect(memo.size).toBe(3);
    expect([memo.get("a"), memo.get("d"), memo.get("c"), memo.get("e")]).toEqual([undefined, 4, 30, 5]);
  });
});

describe("deepFreeze", () => {
  it("freezes every object and array reachable from the value", () => {
    const value = deepFreeze({ a: { b: [{ c: 1 }] }, d: null, e: "x" });
    expect([
      Object.isFrozen(value),
      Object.isFrozen(value.a),
      Object.isFrozen(value.a.b),
      Object.isFrozen(value.a.b[0]),
    ]).toEqual([true, true, true, true]);
    expect(() => {
      (value.a.b[0] as { c: number }).c = 2;
    }).toThrow(TypeError);
  });
});
