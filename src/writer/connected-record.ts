import type { Sealed } from "../crypto/keyring";
import { AppError } from "../errors";
import { introspect as finchIntrospect } from "../finch/api";
import type { FinchSettings } from "../finch/http";
import type { Introspection } from "../finch/schemas";
import type { Trace } from "../lib/trace";
import type { ConnectionStore } from "../storage/connection-store";
import { RECORD_VERSION, type StoredConnection, storedReadiness } from "../storage/records";
import type { ConnectInput } from "./commands";

/**
 * Pieces of the writer's operations that need no writer state: the record a connect builds,
 * Finch's word on an incoming token, a re-sealed token.
 */

/**
 * The record a completed Connect stores: Finch's token answer and the flow's customer, over
 * what an existing record already knew; "connected" as of `at`, generation `gen`.
 */
export function connectedRecord(
  input: ConnectInput,
  existing: StoredConnection | undefined,
  next: { id: string; gen: number; at: string; token: Sealed },
): StoredConnection {
  return {
    v: RECORD_VERSION,
    connection_id: next.id,
    customer_id: input.customerId,
    customer_name: input.finchCustomerName || existing?.customer_name || input.customerName,
    customer_email: input.customerEmail ?? existing?.customer_email ?? null,
    provider_id: input.provider_id ?? existing?.provider_id ?? null,
    products: input.products ?? existing?.products ?? [],
    client_type: input.client_type ?? existing?.client_type ?? null,
    connection_type: input.connection_type ?? existing?.connection_type ?? null,
    company_id: input.company_id ?? existing?.company_id ?? null,
    account_id: input.account_id ?? existing?.account_id ?? null,
    // A re-authentication may add entities, never remove them: Finch's newest list stands.
    ...entityIds(input.entity_ids ?? existing?.entity_ids),
    // Readiness Finch reported earlier still holds after a re-authentication (the data synced
    // is still there); a fresh introspect, when the connect ran one, refreshes it.
    ...(existing ? storedReadiness(existing) : {}),
    status: "connected",
    status_at: next.at,
    created_at: existing?.created_at ?? next.at,
    updated_at: next.at,
    gen: next.gen,
    token_gen: next.gen,
    token: next.token,
  };
}

const entityIds = (ids: string[] | null | undefined): Partial<StoredConnection> => (ids ? { entity_ids: ids } : {});

/**
 * Asks Finch about an incoming token (one introspect): its answer, "refused" when Finch no
 * longer accepts it, "unknown" when Finch could not be asked (a token a callback has just
 * received is then the likely newest, and is stored).
 */
export async function checkToken(
  finch: FinchSettings,
  connectionId: string,
  token: string,
  trace: Trace,
): Promise<Introspection | "refused" | "unknown"> {
  try {
    const facts = await finchIntrospect(finch, token, trace);
    return facts.connection_id && facts.connection_id !== connectionId ? "unknown" : facts;
  } catch (e) {
    if (e instanceof AppError && e.code === "finch_rejected") return "refused";
    if (!(e instanceof AppError && e.code === "finch_reauthenticate")) trace.notes.push("token not verified");
    return "unknown";
  }
}

/**
 * The token re-sealed under the active key, or why not: already current, or not openable
 * ("old" when its key was dropped from ENCRYPTION_KEYS, "unreadable" when a configured key
 * cannot open it).
 */
export async function reencrypted(
  store: ConnectionStore,
  record: StoredConnection,
  trace: Trace,
): Promise<Sealed | "current" | "old" | "unreadable"> {
  if (store.isCurrentKey(record.token)) return "current";
  let token: string;
  try {
    token = await store.token(record);
  } catch (e) {
    if (!(e instanceof AppError && e.code === "record_unreadable")) throw e;
    trace.notes.push(`reencrypt: ${record.connection_id} key ${record.token.kid} cannot open it`);
    return store.knowsKey(record.token.kid) ? "unreadable" : "old";
  }
  return store.seal(record.connection_id, token);
}
