import * as v from "valibot";
import { type Customers, checkCustomer, ensureCustomer } from "../access/customers";
import { authorize, type OperationId } from "../access/principal";
import { decodeCursor, encodeCursor } from "../lib/cursor";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connection-store";
import { type ConnectionFacts, publicFacts } from "../storage/records";
import type { Writers } from "../writer/commands";
import { type OperationContext, storeFor, writersFor } from "./context";
import { AuditInput, authorizedInput, ByIdInput, ListInput, parseInput } from "./input";
import { listConnections as listPage } from "./listing";
import type {
  AccessTokenSchema,
  AuditTrailSchema,
  ConnectionPageSchema,
  ConnectionSchema,
  DisconnectedSchema,
  IntrospectedSchema,
  Out,
} from "./outputs";

/**
 * The connection operations, shared by the HTTP API (src/routes/api.ts) and the RPC entrypoint
 * (src/rpc/entrypoint.ts): each checks its caller's scope (./principal.ts), then parses its
 * unknown input once with its schema from ./input.ts, so both surfaces refuse and accept exactly
 * the same things. Reads of facts come from KV at the edge; the token and every change go
 * through the connection's single writer (src/writer/). A caller limited to customers sees only
 * their connections (./customers.ts).
 */

/**
 * The connection's facts from KV at this location (one read). A miss is asked of the writer
 * (one object request): KV here may not have seen a connection created elsewhere within the
 * minute, or may still serve a cached miss from before it existed. The writer answers from its
 * own storage, and never for a disconnected connection.
 */
export async function connectionFacts(
  deps: { store: ConnectionStore; writers: Writers },
  connectionId: string,
  trace: Trace,
  customers: Customers,
): Promise<ConnectionFacts> {
  const record = await deps.store.get(connectionId);
  if (record) {
    ensureCustomer(record, customers);
    return publicFacts(record);
  }
  const facts = await deps.writers(connectionId).facts(trace);
  trace.notes.push("not in KV here: facts from the writer");
  return checkCustomer(facts, customers);
}

/** The connection id of an operation on one connection (traced). */
export function connectionId(ctx: OperationContext, input: unknown): string {
  const id = parseInput(ByIdInput, input).path.connection_id;
  ctx.trace.connectionId = id;
  return id;
}

/** An operation on one connection: the caller's scope checked, the id parsed (and traced), then `run`. */
export const onConnection =
  <T>(operation: OperationId, run: (ctx: OperationContext, id: string) => Promise<T>) =>
  async (ctx: OperationContext, input: unknown): Promise<T> => {
    authorize(ctx.principal, operation);
    return run(ctx, connectionId(ctx, input));
  };

/**
 * Before a writer operation for a caller limited to customers: the connection must be theirs,
 * checked on the KV record at this location (a miss asks the writer).
 */
export async function ownConnection(ctx: OperationContext, id: string): Promise<void> {
  if (ctx.principal.customers === undefined) return;
  const deps = { store: storeFor(ctx.env), writers: writersFor(ctx.env) };
  await connectionFacts(deps, id, ctx.trace, ctx.principal.customers);
}

export async function listConnections(
  ctx: OperationContext,
  input: unknown,
): Promise<Out<typeof ConnectionPageSchema>> {
  const { query } = authorizedInput(ctx.principal, "listConnections", ListInput, input);
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

export const getConnection = onConnection<Out<typeof ConnectionSchema>>("getConnection", (ctx, id) =>
  connectionFacts({ store: storeFor(ctx.env), writers: writersFor(ctx.env) }, id, ctx.trace, ctx.principal.customers),
);

/**
 * The one operation that hands out a token (HTTP marks its answer no-store). From the writer,
 * not KV: a back end that caches it must never be handed one a re-authentication elsewhere has
 * already replaced; the writer records the reveal in the audit trail (token_revealed, by whom).
 */
export const getAccessToken = onConnection<Out<typeof AccessTokenSchema>>("getAccessToken", async (ctx, id) => {
  const current = await writersFor(ctx.env)(id).revealToken(ctx.trace);
  checkCustomer({ customer_id: current.customerId }, ctx.principal.customers);
  return { access_token: current.token };
});

/**
 * Asks Finch about the connection (GET /introspect with its token) and stores Finch's answer:
 * status, per authentication method and per entity, products, provider and account facts.
 */
export const introspectConnection = onConnection<Out<typeof IntrospectedSchema>>(
  "introspectConnection",
  async (ctx, id) => {
    await ownConnection(ctx, id);
    const facts = await writersFor(ctx.env)(id).introspect("introspect", ctx.trace);
    return checkCustomer(facts, ctx.principal.customers);
  },
);

/**
 * Ends the connection at Finch (POST /disconnect), then forgets it here and leaves a tombstone
 * in the writer. Finch bills per connection until it is disconnected, so when Finch cannot be
 * reached or errors, the record stays and the error is raised: the caller retries instead of
 * orphaning a billed connection. The writer checks a restricted caller's customers on its own
 * record before Finch is asked.
 */
export const disconnectConnection = onConnection<Out<typeof DisconnectedSchema>>("disconnectConnection", (ctx, id) => {
  const customers = ctx.principal.customers;
  return writersFor(ctx.env)(id).disconnect(customers === undefined ? null : [...customers], ctx.trace);
});

const AuditCursor = v.object({ a: v.pipe(v.number(), v.integer(), v.minValue(0)) });

/**
 * The connection's audit trail, a page at a time (oldest first), from its writer (the trail
 * outlives a disconnect), the whole kept chain checked on this read.
 */
export async function getAuditTrail(ctx: OperationContext, input: unknown): Promise<Out<typeof AuditTrailSchema>> {
  const { path, query } = authorizedInput(ctx.principal, "getAuditTrail", AuditInput, input);
  const id = path.connection_id;
  ctx.trace.connectionId = id;
  const after = query.cursor === undefined ? 0 : decodeCursor(AuditCursor, query.cursor).a;
  const trail = await writersFor(ctx.env)(id).auditTrail(after, query.limit ?? 100, ctx.trace);
  checkCustomer(trail, ctx.principal.customers);
  return {
    connection_id: id,
    chain: trail.chain,
    retained_from: trail.retained_from,
    entries: trail.entries,
    cursor: trail.next_after === null ? null : encodeCursor({ a: trail.next_after }),
  };
}
