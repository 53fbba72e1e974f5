import type { Context } from "hono";
import { AppError } from "../errors";

/**
 * Reads a query parameter that may appear at most once, within a length limit and a
 * character set. Repeats are refused rather than guessed at (parameter pollution).
 */
export function singleParam(c: Context, name: string, rule: { max: number; pattern?: RegExp }): string | undefined {
  // WHATWG decoding: an invalid escape (%FF) becomes U+FFFD and fails the pattern. Hono's
  // own decoder keeps such a value raw ("%FF"), which would pass as printable ASCII.
  const values = new URL(c.req.url).searchParams.getAll(name);
  if (values.length === 0) return undefined;
  if (values.length > 1) throw new AppError("param_invalid", `${name} repeated`);
  const value = values[0] as string;
  if (value.length === 0) return undefined;
  if (value.length > rule.max) throw new AppError("param_invalid", `${name} too long`);
  if (rule.pattern && !rule.pattern.test(value)) throw new AppError("param_invalid", `${name} malformed`);
  return value;
}

/** Printable ASCII without spaces: what OAuth codes, states and JWTs are made of. */
export const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/**
 * The named query parameters as an operation's `query` input (src/operations/input.ts): each
 * at most once (repeats are refused, as above), absent ones left out, everything else passed
 * on for the operation's schema to judge. A `number` parameter made only of digits becomes a
 * number, so HTTP and RPC callers meet the same numeric rule.
 */
export function queryInput(c: Context, params: Record<string, "text" | "number">): Record<string, string | number> {
  const search = new URL(c.req.url).searchParams;
  const out: Record<string, string | number> = {};
  for (const [name, kind] of Object.entries(params)) {
    const values = search.getAll(name);
    if (values.length === 0) continue;
    if (values.length > 1) throw new AppError("param_invalid", `${name} repeated`);
    const value = values[0] as string;
    out[name] = kind === "number" && /^[0-9]{1,15}$/.test(value) ? Number(value) : value;
  }
  return out;
}
