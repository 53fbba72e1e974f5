import { getConfig } from "../config";
import * as connections from "../domain/connections";
import { listConnections as listPage } from "../domain/listing";
import { type ProxyCall, proxyToFinch } from "../domain/proxy";
import { rateBudgetPort } from "../durable/budget-port";
import { type OperationContext, storeFor, writersFor } from "./context";
import { AuditInput, ByIdInput, DisconnectEntitiesInput, ListInput, parseInput } from "./input";
import type {
  AccessTokenSchema,
  AuditTrailSchema,
  ConnectionPageSchema,
  ConnectionSchema,
  DisconnectedSchema,
  EntitiesDisconnectedSchema,
  IntrospectedSchema,
  Out,
  SyncStartedSchema,
} from "./outputs";
import { authorize, type OperationId } from "./principal";

/**
 * The connection operations, shared by the HTTP API (src/routes/api.ts, proxy.ts) and the
 * RPC entrypoint (src/rpc.ts): each checks its caller's scope (./principal.ts), then parses
 * its unknown input once with its schema from ./input.ts, so both surfaces refuse and accept
 * exactly the same things. A caller limited to customers sees only their connections: any
 * other answers 404 connection_not_found, as if it did not exist.
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
  authorize(ctx.principal, "listConnections");
  const { query } = parseInput(ListInput, input);
  const store = storeFor(ctx.env);
  const page = { status: query.status, limit: query.limit, cursor: query.cursor };
  const only = ctx.principal.customers;
  if (only === undefined) return listPage(store, { customerId: query.customer_id, ...page });
  if (query.customer_id !== undefined) {
    // Another customer's listing is empty for this caller: it learns nothing about who exists.
    if (!only.has(query.customer_id)) return { connections: [], cursor: null };
    return listPage(store, { customerId: query.customer_id, ...page });
  }
  // One customer: its own index, newest first. Several: every connection, filtered to theirs.
  if (only.size === 1) return listPage(store, { customerId: [...only][0], ...page });
  return listPage(store, page, only);
}

/** An operation on one connection: the caller's scope checked, the id parsed (and traced), then `run`. */
const onConnection =
  <T>(operation: OperationId, run: (ctx: OperationContext, id: string) => Promise<T>) =>
  async (ctx: OperationContext, input: unknown): Promise<T> => {
    authorize(ctx.principal, operation);
    return run(ctx, connectionId(ctx, input));
  };

/**
 * Before a writer operation for a caller limited to customers: the connection must be theirs,
 * checked on the KV record at this location (a miss asks the writer). KV may lag the writer by
 * up to a minute; the writer does not yet take the expected customer itself (docs/security.md).
 */
const ownConnection = (ctx: OperationContext, id: string) =>
  connections.requireCustomer(
    { store: storeFor(ctx.env), writers: writersFor(ctx.env) },
    id,
    ctx.principal.customers,
    ctx.trace,
  );

export const getConnection = onConnection<Out<typeof ConnectionSchema>>("getConnection", (ctx, id) =>
  connections.getConnection(
    { store: storeFor(ctx.env), writers: writersFor(ctx.env) },
    id,
    ctx.trace,
    ctx.principal.customers,
  ),
);

/** The one operation that hands out a token (HTTP marks its answer no-store). */
export const getAccessToken = onConnection<Out<typeof AccessTokenSchema>>("getAccessToken", async (ctx, id) => {
  const token = await connections.accessToken(writersFor(ctx.env), id, ctx.trace, ctx.principal.customers);
  return { access_token: token };
});

export const introspectConnection = onConnection<Out<typeof IntrospectedSchema>>(
  "introspectConnection",
  async (ctx, id) => {
    await ownConnection(ctx, id);
    const facts = await connections.introspectConnection(writersFor(ctx.env), id, ctx.trace);
    return connections.checkCustomer(facts, ctx.principal.customers);
  },
);

export const disconnectConnection = onConnection<Out<typeof DisconnectedSchema>>(
  "disconnectConnection",
  // Checked by the writer on its own record, before Finch is asked (exact, however far KV lags).
  (ctx, id) => connections.disconnectConnection(writersFor(ctx.env), id, ctx.trace, ctx.principal.customers),
);

/** Some entities of a multi-entity connection disconnected at Finch, and their status stored. */
export async function disconnectEntities(
  ctx: OperationContext,
  input: unknown,
): Promise<Out<typeof EntitiesDisconnectedSchema>> {
  authorize(ctx.principal, "disconnectEntities");
  const { path, body } = parseInput(DisconnectEntitiesInput, input);
  const id = path.connection_id;
  ctx.trace.connectionId = id;
  await ownConnection(ctx, id);
  return connections.disconnectEntities(writersFor(ctx.env), id, body.entity_ids, ctx.trace);
}

/** Finch's data_sync_all started for the connection (or the running one answered). */
export const syncConnection = onConnection<Out<typeof SyncStartedSchema>>("syncConnection", async (ctx, id) => {
  await ownConnection(ctx, id);
  return connections.startSync(writersFor(ctx.env), id, ctx.trace);
});

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
  authorize(ctx.principal, "proxyFinch");
  const id = connectionId(ctx, input);
  const config = getConfig(ctx.env);
  const deps = {
    finch: config.finch(),
    store: storeFor(ctx.env),
    writers: writersFor(ctx.env),
    budget: rateBudgetPort(config.rateBudget()),
    // Checked on the record the proxy reads for the token anyway: no extra read.
    customers: ctx.principal.customers,
  };
  return proxyToFinch(deps, { ...call, connectionId: id }, ctx.trace);
}

/** The connection's audit trail, a page at a time (oldest first), its chain checked on this read. */
export const getAuditTrail = async (ctx: OperationContext, input: unknown): Promise<Out<typeof AuditTrailSchema>> => {
  authorize(ctx.principal, "getAuditTrail");
  const { path, query } = parseInput(AuditInput, input);
  ctx.trace.connectionId = path.connection_id;
  const page = { cursor: query.cursor, limit: query.limit ?? 100 };
  return connections.auditTrail(writersFor(ctx.env), path.connection_id, page, ctx.trace, ctx.principal.customers);
};
