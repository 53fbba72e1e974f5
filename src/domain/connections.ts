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

export async function getConnection(store: ConnectionStore, connectionId: string): Promise<ConnectionFacts> {
  return publicFacts(await store.require(connectionId));
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
