import { authorize } from "../access/principal";
import { getConfig } from "../config";
import { type ProxyCall, proxyToFinch } from "../proxy/proxy";
import { connectionId } from "./connections";
import { budgetFor, type OperationContext, storeFor, writersFor } from "./context";

/**
 * Finch's API with the connection's token. The call itself (method, path, headers, body
 * stream) is built by the adapter from its own form (a request, or RPC's Request/FinchCall);
 * the path and query rules are the proxy's (src/proxy/path.ts).
 */
export async function proxyFinch(
  ctx: OperationContext,
  input: unknown,
  call: Omit<ProxyCall, "connectionId">,
): Promise<Response> {
  authorize(ctx.principal, "proxyFinch");
  const id = connectionId(ctx, input);
  const deps = {
    finch: getConfig(ctx.env).finch(),
    store: storeFor(ctx.env),
    writers: writersFor(ctx.env),
    budget: budgetFor(ctx.env),
    // Checked on the record the proxy reads for the token anyway: no extra read.
    customers: ctx.principal.customers,
  };
  return proxyToFinch(deps, { ...call, connectionId: id }, ctx.trace);
}
