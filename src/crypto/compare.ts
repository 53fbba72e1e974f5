import { utf8 } from "../lib/encoding";

/**
 * Constant-time string comparison for secrets (state values, API keys, signatures).
 * Uses the runtime's timingSafeEqual; a length difference returns false after a
 * same-length comparison so the early exit does not depend on content.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = utf8(a);
  const y = utf8(b);
  if (x.byteLength !== y.byteLength) {
    crypto.subtle.timingSafeEqual(x, x);
    return false;
  }
  return crypto.subtle.timingSafeEqual(x, y);
}

/**
 * The index of the entry of `secrets` that equals `candidate`, or -1. Every entry is compared,
 * no early exit, so timing says nothing about which entry matched or how much of one.
 */
export function indexOfMatch(candidate: string, secrets: readonly string[]): number {
  let found = -1;
  for (const [i, secret] of secrets.entries()) {
    if (constantTimeEqual(candidate, secret) && found < 0) found = i;
  }
  return found;
}
