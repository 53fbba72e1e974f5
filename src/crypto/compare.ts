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

/** True when `candidate` equals any of `secrets`; every entry is compared, no early exit. */
export function matchesAny(candidate: string, secrets: readonly string[]): boolean {
  let found = false;
  for (const secret of secrets) {
    if (constantTimeEqual(candidate, secret)) found = true;
  }
  return found;
}
