import { sha256Hex } from "../lib/encoding";

/**
 * Every KV key this Worker uses, built here and nowhere else (docs/storage-schema.md):
 *   conn:<connection_id>                                    the record
 *   cust:<sha256(customer_id)[0..32]>:<rev>:<connection_id> customer index, newest first
 * The sealed token's AAD is the record key, so changing a format here is a data migration.
 * (`reconcile:cursor`, written by older versions, is no longer read: the reconciliation's
 * position lives in the ReconcileCursor Durable Object, maintenance/reconcile-lease.ts.)
 */
export const CONNECTION_PREFIX = "conn:";
const CUSTOMER_PREFIX = "cust:";
const REV_BASE = 10_000_000_000_000;

export const connectionKey = (connectionId: string) => `${CONNECTION_PREFIX}${connectionId}`;

/** The connection id of a `conn:` key, or of a `cust:` index key (its last segment). */
export function connectionIdOfKey(key: string): string {
  return key.startsWith(CONNECTION_PREFIX) ? key.slice(CONNECTION_PREFIX.length) : key.slice(key.lastIndexOf(":") + 1);
}

export async function customerPrefix(customerId: string): Promise<string> {
  return `${CUSTOMER_PREFIX}${(await sha256Hex(customerId)).slice(0, 32)}:`;
}

export async function customerIndexKey(customerId: string, createdAt: string, connectionId: string) {
  const rev = String(REV_BASE - Date.parse(createdAt)).padStart(13, "0");
  return `${await customerPrefix(customerId)}${rev}:${connectionId}`;
}
