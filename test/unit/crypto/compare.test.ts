import { afterEach, describe, expect, it, vi } from "vitest";
import { constantTimeEqual, indexOfMatch } from "../../../src/crypto/compare";

/**
 * Secret comparison (src/crypto/compare.ts). Timing is not asserted (a shared machine cannot
 * prove it); what is checked is that every comparison goes through the runtime's timingSafeEqual,
 * over every entry, whatever matched, and that the answers are right at the edges: other lengths,
 * multi-byte text, an empty candidate.
 */
const enc = new TextEncoder();
const bytes = (...keys: string[]) => keys.map((k) => enc.encode(k));

afterEach(() => vi.restoreAllMocks());

describe("constantTimeEqual", () => {
  it("is true only for the same text, byte for byte", () => {
    expect(constantTimeEqual("secret-value", "secret-value")).toBe(true);
    expect(constantTimeEqual("secret-value", "secret-valuE")).toBe(false);
    expect(constantTimeEqual("secret-value", "secret-value-")).toBe(false);
    expect(constantTimeEqual("", "")).toBe(true);
    // Same number of UTF-16 units, other bytes.
    expect(constantTimeEqual("é", "e")).toBe(false);
    expect(constantTimeEqual("ключ", "ключ")).toBe(true);
  });

  it("compares a length mismatch in the runtime too, rather than returning at once", () => {
    const spy = vi.spyOn(crypto.subtle, "timingSafeEqual");
    expect(constantTimeEqual("short", "a-much-longer-value")).toBe(false);
    expect(spy).toHaveBeenCalledTimes(1);
  });
});

describe("indexOfMatch", () => {
  const secrets = bytes(
    "fce_first_key_0123456789abcdef",
    "fce_second_key_0123456789abcdef",
    "fce_third_key_0123456789abcde",
  );

  it("answers the index of the matching entry, or -1", () => {
    expect(indexOfMatch("fce_first_key_0123456789abcdef", secrets)).toBe(0);
    expect(indexOfMatch("fce_second_key_0123456789abcdef", secrets)).toBe(1);
    expect(indexOfMatch("fce_third_key_0123456789abcde", secrets)).toBe(2);
    expect(indexOfMatch("fce_third_key_0123456789abcdf", secrets)).toBe(-1);
    expect(indexOfMatch("", secrets)).toBe(-1);
    expect(indexOfMatch("fce_first_key_0123456789abcdef", [])).toBe(-1);
  });

  it("compares every entry whichever one matches (no early exit)", () => {
    const spy = vi.spyOn(crypto.subtle, "timingSafeEqual");
    for (const [i, candidate] of ["fce_first_key_0123456789abcdef", "x", "fce_third_key_0123456789abcde"].entries()) {
      spy.mockClear();
      indexOfMatch(candidate, secrets);
      expect(spy, `candidate ${i}`).toHaveBeenCalledTimes(secrets.length);
    }
  });

  it("reads multi-byte candidates as UTF-8, as the secrets were encoded", () => {
    expect(indexOfMatch("ключ-ключ-ключ-ключ-ключ", bytes("ключ-ключ-ключ-ключ-ключ"))).toBe(0);
    expect(indexOfMatch("ключ-ключ-ключ-ключ-ключa", bytes("ключ-ключ-ключ-ключ-ключ"))).toBe(-1);
  });
});
