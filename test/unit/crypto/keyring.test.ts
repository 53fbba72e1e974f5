import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { createKeyRing, DecryptError, OPENED_LIMIT } from "../../../src/crypto/keyring";

/**
 * A ring opens each sealed value once (src/crypto/keyring.ts): a repeat of the same sealed value
 * and binding is answered from the ring's memory, a failure is tried (and fails) every time,
 * another ring never answers from this one's memory, and it remembers a bounded number.
 */
const keyOf = (fill: number) => btoa(String.fromCharCode(...new Uint8Array(32).fill(fill)));
const ring = () => createKeyRing(`k2:${keyOf(2)},k1:${keyOf(1)}`);

let decrypt: MockInstance<SubtleCrypto["decrypt"]>;
beforeEach(() => {
  decrypt = vi.spyOn(crypto.subtle, "decrypt");
});
afterEach(() => decrypt.mockRestore());

describe("opening a sealed token", () => {
  it("decrypts a sealed value once per ring", async () => {
    const keys = ring();
    const sealed = await keys.seal("token-opened-once-0123", "conn:once");
    expect(await keys.open(sealed, "conn:once")).toBe("token-opened-once-0123");
    // A copy of the same value (as each KV read parses) is the same value.
    expect(await keys.open({ ...sealed }, "conn:once")).toBe("token-opened-once-0123");
    expect(decrypt).toHaveBeenCalledTimes(1);
  });

  it("decrypts, and fails, every time for another binding or a changed ciphertext", async () => {
    const keys = ring();
    const sealed = await keys.seal("token-bound-0123456789", "conn:bound");
    expect(await keys.open(sealed, "conn:bound")).toBe("token-bound-0123456789");
    const flipped = `${sealed.ct.at(0) === "A" ? "B" : "A"}${sealed.ct.slice(1)}`;
    for (let i = 0; i < 2; i++) {
      await expect(keys.open(sealed, "conn:other")).rejects.toBeInstanceOf(DecryptError);
      await expect(keys.open({ ...sealed, ct: flipped }, "conn:bound")).rejects.toBeInstanceOf(DecryptError);
    }
    expect(decrypt).toHaveBeenCalledTimes(5);
  });

  it("answers from memory only within one ring: another key under the same kid still fails", async () => {
    const sealed = await ring().seal("token-ring-bound-0123", "conn:ring");
    const keys = ring();
    expect(await keys.open(sealed, "conn:ring")).toBe("token-ring-bound-0123");
    const impostor = createKeyRing(`k2:${keyOf(7)}`);
    await expect(impostor.open(sealed, "conn:ring")).rejects.toBeInstanceOf(DecryptError);
    await expect(impostor.open(sealed, "conn:ring")).rejects.toBeInstanceOf(DecryptError);
  });

  it(`remembers at most ${OPENED_LIMIT} opened values, the least recently used going first`, async () => {
    const keys = ring();
    const values = await Promise.all(
      Array.from({ length: OPENED_LIMIT + 1 }, (_, i) => keys.seal(`token-${i}-0123456789`, `conn:${i}`)),
    );
    for (let i = 0; i < OPENED_LIMIT; i++) await keys.open(values[i]!, `conn:${i}`);
    expect(decrypt).toHaveBeenCalledTimes(OPENED_LIMIT);
    // Full: all remembered.
    for (let i = 0; i < OPENED_LIMIT; i++)
      expect(await keys.open(values[i]!, `conn:${i}`)).toBe(`token-${i}-0123456789`);
    expect(decrypt).toHaveBeenCalledTimes(OPENED_LIMIT);
    // One over pushes out the least recently used (value 0), which is then decrypted again.
    await keys.open(values[OPENED_LIMIT]!, `conn:${OPENED_LIMIT}`);
    expect(await keys.open(values[1]!, "conn:1")).toBe("token-1-0123456789");
    expect(decrypt).toHaveBeenCalledTimes(OPENED_LIMIT + 1);
    expect(await keys.open(values[0]!, "conn:0")).toBe("token-0-0123456789");
    expect(decrypt).toHaveBeenCalledTimes(OPENED_LIMIT + 2);
  });
});
