import { getConfig } from "../config";
import * as connections from "../domain/connections";
import { listConnections as listPage } from "../domain/listing";
import { type ProxyCall, proxyToFinch } from "../domain/proxy";
import { rateBudgetPort } from "../durable/budget-port";
import { type OperationContext, storeFor, writersFor } from "./context";
import { ByIdInput, ListInput, parseInput } from "./input";
import type {
  AccessTokenSchema,
  ConnectionPageSchema,
  ConnectionSchema,
  DisconnectedSchema,
  IntrospectedSchema,
  Out,
} from "./outputs";

/**
 * The connection operations, shared by the HTTP API (src/routes/api.ts, proxy.ts) and the
 * RPC entrypoint (src/rpc.ts): each parses its unknown input once with its schema from
 * ./input.ts, so both surfaces refuse and accept exactly the same things.
 */

function connectionId(ctx: OperationContext, input: unknown): string {
  const id = parseInput(ByIdInput, input).path.connection_id;
  ctx.trace.connectionId = id;
  return id;
}

export async function listConnections(
  ctx: OperationContext,
  input: unknown,
): Promise<Out<typeof ConnectionPageSchema>> {
  const { query } = parseInput(ListInput, input);
  return listPage(storeFor(ctx.env), {
    customerId: query.customer_id,
    status: query.status,
    limit: query.limit,
    cursor: query.cursor,
  });
}

/** An operation on one connection: the id parsed (and traced) first, then `run`. */
const onConnection =
  <T>(run: (ctx: OperationContext, id: string) => Promise<T>) =>
  async (ctx: OperationContext, input: unknown): Promise<T> =>
    run(ctx, connectionId(ctx, input));

export const getConnection = onConnection<Out<typeof ConnectionSchema>>((ctx, id) =>
  connections.getConnection({ store: storeFor(ctx.env), writers: writersFor(ctx.env) }, id, ctx.trace),
);

/** The one operation that hands out a token (HTTP marks its answer no-store). */
export const getAccessToken = onConnection<Out<typeof AccessTokenSchema>>(async (ctx, id) => ({
  access_token: await connections.accessToken(writersFor(ctx.env), id, ctx.trace),
}));

export const introspectConnection = onConnection<Out<typeof IntrospectedSchema>>((ctx, id) =>
  connections.introspectConnection(writersFor(ctx.env), id, ctx.trace),
);

export const disconnectConnection = onConnection<Out<typeof DisconnectedSchema>>((ctx, id) =>
  connections.disconnectConnection(writersFor(ctx.env), id, ctx.trace),
);

/**
 * Finch's API with the connection's token. The call itself (method, path, headers, body
 * stream) is built by the adapter from its own form (a request, or RPC's Request/FinchCall);
 * the path and query rules are the proxy's (src/domain/proxy-path.ts).
 */
export async function proxyFinch(
  ctx: OperationContext,
  input: unknown,
  call: Omit<ProxyCall, "connectionId">,
): Promise<Response> {
  const id = connectionId(ctx, input);
  const config = getConfig(ctx.env);
  const deps = {
    finch: config.finch(),
    store: storeFor(ctx.env),
    writers: writersFor(ctx.env),
    budget: rateBudgetPort(config.rateBudget()),
  };
  return proxyToFinch(deps, { ...call, connectionId: id }, ctx.trace);
}
