import type { FinchSettings } from "../config";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connections";
import { type ConnectionFacts, publicFacts } from "../storage/records";
import type { Disconnected, Introspected, Writers } from "../writer/protocol";

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

/**
 * The connection's facts from KV at this location (one read). A miss is asked of the writer
 * (one object request): KV here may not have seen a connection created elsewhere within the
 * minute, or may still serve a cached miss from before it existed. The writer answers from its
 * own storage, and never for a disconnected connection.
 */
export async function getConnection(
  deps: { store: ConnectionStore; writers: Writers },
  connectionId: string,
  trace: Trace,
): Promise<ConnectionFacts> {
  const record = await deps.store.get(connectionId);
  if (record) return publicFacts(record);
  const facts = await deps.writers(connectionId).facts(trace);
  trace.notes.push("not in KV here: facts from the writer");
  return facts;
}

/**
 * The token, from the writer rather than KV: a back end that caches it must never be handed
 * one a re-authentication elsewhere has already replaced (KV may lag for a minute).
 */
export async function accessToken(writers: Writers, connectionId: string, trace: Trace): Promise<string> {
  return (await writers(connectionId).current(trace)).token;
}

/**
 * Asks Finch about the connection (GET /introspect with its token) and stores Finch's answer:
 * status, per authentication method and per entity, products, provider and account facts.
 * The customer's identity stays as the app's ticket set it.
 */
export function introspectConnection(writers: Writers, connectionId: string, trace: Trace): Promise<Introspected> {
  return writers(connectionId).refresh(trace);
}

/**
 * Ends the connection at Finch (POST /disconnect), then forgets it here and leaves a tombstone
 * in the writer. Finch bills per connection until it is disconnected, so when Finch cannot be
 * reached or errors, the record stays and the error is raised: the caller retries instead of
 * orphaning a billed connection.
 */
export function disconnectConnection(writers: Writers, connectionId: string, trace: Trace): Promise<Disconnected> {
  return writers(connectionId).disconnect(trace);
}
