import * as v from "valibot";
import type { FinchSettings } from "../config";
import { AppError } from "../errors";
import { decodeCursor, encodeCursor } from "../lib/cursor";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connections";
import { type ConnectionFacts, publicFacts } from "../storage/records";
import type { Disconnected, EntitiesDisconnected, Introspected, SyncStarted, Writers } from "../writer/commands";

/**
 * What the app's back end can do with a stored connection. Shared by the HTTP API and the
 * RPC entrypoint, so both have the same rules; nothing here knows about HTTP. Only
 * `accessToken` ever hands out the token. Reads of facts come from KV at the edge; the token
 * and every change go through the connection's single writer (src/writer/).
 */
export interface ConnectionDeps {
  finch: FinchSettings;
  store: ConnectionStore;
  writers: Writers;
}

/** The customers whose connections a caller may touch; undefined for every customer. */
export type Customers = ReadonlySet<string> | undefined;

/** A connection with no customer belongs to no restricted caller. */
export const customerAllowed = (customers: Customers, customerId: string | null | undefined): boolean =>
  customers === undefined || (typeof customerId === "string" && customers.has(customerId));

/** Another customer's connection is answered as if it did not exist: its existence is not leaked. */
const notYours = () => new AppError("connection_not_found", "connection of a customer outside the caller's");

/**
 * The connection's facts from KV at this location (one read). A miss is asked of the writer
 * (one object request): KV here may not have seen a connection created elsewhere within the
 * minute, or may still serve a cached miss from before it existed. The writer answers from its
 * own storage, and never for a disconnected connection. A caller limited to customers sees only
 * theirs.
 */
export async function getConnection(
  deps: { store: ConnectionStore; writers: Writers },
  connectionId: string,
  trace: Trace,
  customers: Customers = undefined,
): Promise<ConnectionFacts> {
  const record = await deps.store.get(connectionId);
  if (record) {
    if (!customerAllowed(customers, record.customer_id)) throw notYours();
    return publicFacts(record);
  }
  const facts = await deps.writers(connectionId).facts(trace);
  trace.notes.push("not in KV here: facts from the writer");
  return checkCustomer(facts, customers);
}

/**
 * Before a writer operation, for a caller limited to customers: the connection must be one of
 * theirs. One KV read at this location (none for an unrestricted caller); a miss is asked of the
 * writer, as a read is. KV can be up to a minute behind the writer; a live connection's customer
 * never changes (the writer refuses a connect for another customer).
 */
export async function requireCustomer(
  deps: { store: ConnectionStore; writers: Writers },
  connectionId: string,
  customers: Customers,
  trace: Trace,
): Promise<void> {
  if (customers === undefined) return;
  await getConnection(deps, connectionId, trace, customers);
}

/** For a caller limited to customers: a record it holds must be one of theirs (a miss is not found). */
export function ensureCustomer(record: { customer_id: string } | undefined, customers: Customers): void {
  if (customers === undefined) return;
  if (!record) throw new AppError("connection_not_found", "not in KV here: a restricted caller cannot be checked");
  if (!customerAllowed(customers, record.customer_id)) throw notYours();
}

/** After a writer answered with the connection's facts: the customer is checked again against the writer's own record. */
export function checkCustomer<T extends { customer_id: string | null }>(facts: T, customers: Customers): T {
  if (!customerAllowed(customers, facts.customer_id)) throw notYours();
  return facts;
}

/**
 * The token, from the writer rather than KV: a back end that caches it must never be handed
 * one a re-authentication elsewhere has already replaced (KV may lag for a minute).
 */
export async function accessToken(
  writers: Writers,
  connectionId: string,
  trace: Trace,
  customers: Customers = undefined,
): Promise<string> {
  // The writer records the reveal in the connection's audit trail (token_revealed, by whom).
  const current = await writers(connectionId).revealToken(trace);
  // Checked on the writer's own record: exact, however far KV lags.
  checkCustomer({ customer_id: current.customerId }, customers);
  return current.token;
}

/**
 * Asks Finch about the connection (GET /introspect with its token) and stores Finch's answer:
 * status, per authentication method and per entity, products, provider and account facts.
 * The customer's identity stays as the app's ticket set it.
 */
export function introspectConnection(writers: Writers, connectionId: string, trace: Trace): Promise<Introspected> {
  return writers(connectionId).refresh("introspect", trace);
}

/**
 * Ends the connection at Finch (POST /disconnect), then forgets it here and leaves a tombstone
 * in the writer. Finch bills per connection until it is disconnected, so when Finch cannot be
 * reached or errors, the record stays and the error is raised: the caller retries instead of
 * orphaning a billed connection. A caller limited to customers is checked by the writer, on its
 * own record, before Finch is asked.
 */
export function disconnectConnection(
  writers: Writers,
  connectionId: string,
  trace: Trace,
  customers: Customers = undefined,
): Promise<Disconnected> {
  return writers(connectionId).disconnect(customers === undefined ? null : [...customers], trace);
}

const AuditCursor = v.object({ a: v.pipe(v.number(), v.integer(), v.minValue(0)) });

/**
 * A page of the connection's audit trail, from its writer (the trail outlives a disconnect),
 * with the whole kept chain checked on this read. A caller limited to customers sees only
 * theirs (a tombstone keeps its customer).
 */
export async function auditTrail(
  writers: Writers,
  connectionId: string,
  page: { cursor: string | undefined; limit: number },
  trace: Trace,
  customers: Customers = undefined,
) {
  const after = page.cursor === undefined ? 0 : decodeCursor(AuditCursor, page.cursor).a;
  const trail = await writers(connectionId).auditTrail(after, page.limit, trace);
  checkCustomer(trail, customers);
  return {
    connection_id: connectionId,
    chain: trail.chain,
    retained_from: trail.retained_from,
    entries: trail.entries,
    cursor: trail.next_after === null ? null : encodeCursor({ a: trail.next_after }),
  };
}

/**
 * Disconnects some of a multi-entity connection's entities at Finch (POST /disconnect-entity),
 * then stores Finch's word on every entity (src/writer/account.ts). When they were its last,
 * Finch ends the connection, and it is disconnected here too (`connection_disconnected`).
 */
export function disconnectEntities(
  writers: Writers,
  connectionId: string,
  entityIds: readonly string[],
  trace: Trace,
): Promise<EntitiesDisconnected> {
  // Once each: Finch is told every entity once, and the answer lists each once.
  return writers(connectionId).disconnectEntities([...new Set(entityIds)], trace);
}

/**
 * Starts Finch's data_sync_all for the connection (its token never leaves the writer). While
 * one runs, Finch answers that job. Its completion reaches the app as `connection.data_synced`,
 * once Finch confirms the job its webhook names.
 */
export function startSync(writers: Writers, connectionId: string, trace: Trace): Promise<SyncStarted> {
  return writers(connectionId).startSync(trace);
}
