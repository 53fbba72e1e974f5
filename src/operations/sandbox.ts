import { customerAllowed } from "../access/customers";
import { getConfig } from "../config";
import type { Env } from "../env";
import { AppError } from "../errors";
import { type OperationContext, writersFor } from "./context";
import { authorizedInput, SandboxInput } from "./input";
import type { ConnectionSchema, Out } from "./outputs";
import { createSandbox } from "./sandbox-connection";

/**
 * Whether this deployment makes sandbox connections (FINCH_SANDBOX set to finch or provider).
 * Without it the route answers as if it did not exist (src/routes/api.ts asks first).
 */
export const sandboxEnabled = (env: Env): boolean => getConfig(env).connect().sandbox !== undefined;

/**
 * A Finch sandbox connection made and stored in one call (src/operations/sandbox-connection.ts). HTTP only.
 * A key limited to customers makes them only for its customers (checked before Finch is asked).
 */
export async function createSandboxConnection(
  ctx: OperationContext,
  input: unknown,
): Promise<Out<typeof ConnectionSchema>> {
  const { body } = authorizedInput(ctx.principal, "createSandboxConnection", SandboxInput, input);
  if (!sandboxEnabled(ctx.env)) throw new AppError("not_found", "sandbox connections need FINCH_SANDBOX");
  if (!customerAllowed(ctx.principal.customers, body.customer_id)) {
    throw new AppError("customer_not_allowed", "sandbox connection for a customer outside the caller's");
  }
  const deps = { finch: getConfig(ctx.env).finch(), writers: writersFor(ctx.env) };
  return createSandbox(deps, body, ctx.trace);
}
