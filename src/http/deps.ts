import type { Context } from "hono";
import { getConfig } from "../config";
import { AppError } from "../errors";
import type { OperationContext } from "../operations/context";
import type { AppEnv } from "./types";

/**
 * A request's configuration (parsed once per isolate) and an operation's context. Every other
 * dependency is assembled in one place, src/operations/context.ts, from the bindings alone.
 */
export const configOf = (c: Context<AppEnv>) => getConfig(c.env);

/**
 * What an operation (src/operations/) runs with: this request's bindings, trace, and the caller
 * apiAuth authenticated. A route outside apiAuth has no caller: that is a bug, and fails closed.
 */
export function opContext(c: Context<AppEnv>): OperationContext {
  const principal = c.get("principal");
  if (!principal) throw new AppError("internal_error", "operation called without an authenticated caller");
  const trace = c.get("trace");
  trace.actor = principal.actor;
  return { env: c.env, trace, principal };
}
