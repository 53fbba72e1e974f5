import { utf8 } from "../lib/encoding";

/**
 * Constant-time string comparison for secrets (state values, API keys, signatures).
 * Uses the runtime's timingSafeEqual; a length difference returns false after a
 * same-length comparison so the early exit does not depend on content.
 */
export const constantTimeEqual = (a: string, b: string): boolean => bytesEqual(utf8(a), utf8(b));

function bytesEqual(x: Uint8Array, y: Uint8Array): boolean {
  if (x.byteLength !== y.byteLength) {
    crypto.subtle.timingSafeEqual(x, x);
    return false;
  }
  return crypto.subtle.timingSafeEqual(x, y);
}

/**
 * The index of the entry of `secrets` that equals `candidate`, or -1. Every entry is compared,
 * no early exit, so timing says nothing about which entry matched or how much of one. The
 * secrets come as UTF-8 bytes, so a caller with a fixed list (the API keys) encodes it once.
 */
export function indexOfMatch(candidate: string, secrets: readonly Uint8Array[]): number {
  const x = utf8(candidate);
  let found = -1;
  for (let i = 0; i < secrets.length; i++) {
    if (bytesEqual(x, secrets[i] as Uint8Array) && found < 0) found = i;
  }
  return found;
}
