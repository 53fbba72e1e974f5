import type { FinchSettings } from "../config";
import { AppError } from "../errors";
import { disconnect as finchDisconnect, introspect as finchIntrospect } from "../finch/api";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connections";
import { type ConnectionFacts, publicFacts, type StoredConnection } from "../storage/records";

/**
 * What the app's back end can do with a stored connection. Shared by the HTTP API and the
 * RPC entrypoint, so both have the same rules; nothing here knows about HTTP. Only
 * `accessToken` ever hands out the token.
 */
export interface ConnectionDeps {
  finch: FinchSettings;
  store: ConnectionStore;
}

export async function getConnection(store: ConnectionStore, connectionId: string): Promise<ConnectionFacts> {
  return publicFacts(await store.require(connectionId));
}

export async function accessToken(store: ConnectionStore, connectionId: string): Promise<string> {
  return store.token(await store.require(connectionId));
}

/**
 * Records that Finch wants the employer to re-authenticate (one write, none when the
 * record already says so). Webhooks may later move the status on; status_at orders them.
 */
export async function markReauth(store: ConnectionStore, record: StoredConnection, trace: Trace, now = new Date()) {
  trace.notes.push("finch says reauthenticate_user");
  if (record.status === "reauth") return record;
  const at = now.toISOString();
  const updated: StoredConnection = { ...record, status: "reauth", status_at: at, updated_at: at };
  await store.write(updated, { indexNew: false });
  return updated;
}

export interface Introspected extends ConnectionFacts {
  /** As Finch reported them; not stored. */
  last_successful_sync: string | null;
  status_message: string | null;
}

/**
 * Asks Finch about the connection (GET /introspect with its token) and stores what changed:
 * status, products, provider and account facts. The customer's identity stays as the app's
 * ticket set it. One KV read, one upstream call, one KV write.
 */
export async function introspectConnection(
  deps: ConnectionDeps,
  connectionId: string,
  trace: Trace,
  now = new Date(),
): Promise<Introspected> {
  const record = await deps.store.require(connectionId);
  const token = await deps.store.token(record);
  let facts: Awaited<ReturnType<typeof finchIntrospect>>;
  try {
    facts = await finchIntrospect(deps.finch, token, trace);
  } catch (e) {
    if (e instanceof AppError && e.code === "finch_reauthenticate") await markReauth(deps.store, record, trace, now);
    throw e;
  }
  if (facts.connection_id && facts.connection_id !== connectionId) {
    throw new AppError("finch_bad_response", "introspect names another connection");
  }
  const at = now.toISOString();
  const status = facts.connection_status?.status;
  const updated: StoredConnection = {
    ...record,
    ...(status ? { status, status_at: at } : {}),
    provider_id: facts.provider_id ?? record.provider_id,
    products: facts.products ?? record.products,
    client_type: facts.client_type ?? record.client_type,
    connection_type: facts.connection_type ?? record.connection_type,
    company_id: facts.company_id ?? record.company_id,
    account_id: facts.account_id ?? record.account_id,
    updated_at: at,
  };
  await deps.store.write(updated, { indexNew: false });
  return {
    ...publicFacts(updated),
    last_successful_sync: facts.connection_status?.last_successful_sync ?? null,
    status_message: facts.connection_status?.message ?? null,
  };
}

export interface Disconnected {
  connection_id: string;
  disconnected: true;
  /** "already_invalid": Finch no longer accepted the token; the record was removed anyway. */
  finch: "disconnected" | "already_invalid";
}

/**
 * Ends the connection at Finch (POST /disconnect), then forgets it here. Finch bills per
 * connection until it is disconnected, so when Finch cannot be reached or errors, the record
 * stays and the error is raised: the caller retries instead of orphaning a billed connection.
 */
export async function disconnectConnection(
  deps: ConnectionDeps,
  connectionId: string,
  trace: Trace,
): Promise<Disconnected> {
  const record = await deps.store.require(connectionId);
  const finch = await finchDisconnect(deps.finch, await deps.store.token(record), trace);
  if (finch === "already_invalid") trace.notes.push("finch says the token is already invalid");
  await deps.store.remove(record);
  return { connection_id: connectionId, disconnected: true, finch };
}
