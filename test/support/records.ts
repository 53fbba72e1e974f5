import { env } from "cloudflare:workers";
import { createKeyRing, type KeyRing } from "../../src/crypto/keyring";
import { ConnectionStore } from "../../src/storage/connections";
import { RECORD_VERSION, type StoredConnection } from "../../src/storage/records";
import { TEST_SECRETS } from "./secrets";

/** The Worker's key ring (k2 active, k1 older) and one entry of it on its own. */
export const fullRing = (): KeyRing => createKeyRing(TEST_SECRETS.ENCRYPTION_KEYS);
export function ringOf(kid: string): KeyRing {
  const entry = TEST_SECRETS.ENCRYPTION_KEYS.split(",").find((e) => e.startsWith(`${kid}:`));
  if (!entry) throw new Error(`no test key ${kid}`);
  return createKeyRing(entry);
}
/** A key the Worker was never given (e.g. one dropped after a rotation). */
export const retiredRing = (): KeyRing => createKeyRing("k0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");

export const storeWith = (ring: KeyRing = fullRing()) => new ConnectionStore(env.CONNECTIONS, ring);

/**
 * Writes a connection record (and its customer index entry) straight into KV, sealed
 * with `ring`, as an earlier deployment would have.
 */
export async function seedRecord(input: {
  connectionId: string;
  token: string;
  customerId?: string;
  createdAt?: string;
  ring?: KeyRing;
}): Promise<StoredConnection> {
  const at = input.createdAt ?? "2025-01-02T03:04:05.000Z";
  const store = storeWith(input.ring ?? fullRing());
  const record: StoredConnection = {
    v: RECORD_VERSION,
    connection_id: input.connectionId,
    customer_id: input.customerId ?? "acme",
    customer_name: "Acme Inc",
    customer_email: null,
    provider_id: "gusto",
    products: ["company", "directory"],
    client_type: "sandbox",
    connection_type: "provider",
    company_id: null,
    account_id: null,
    status: "connected",
    status_at: at,
    created_at: at,
    updated_at: at,
    token: await store.seal(input.connectionId, input.token),
  };
  await store.create(record);
  return record;
}
