import { markSecret } from "./logs";
import { type Caller, workerWith } from "./worker";

/**
 * API_KEYS in its JSON form (src/access/api-keys.ts): named keys limited to scopes and customers,
 * for the tests of least privilege over HTTP and RPC.
 */
export const SCOPED = {
  /** connections:read only. */
  reader: "fce_scoped_reader_0123456789abcdefgh",
  /** Every scope a customer-limited key can hold, for customer "acme" only. */
  acme: "fce_scoped_acme_only_0123456789abcdef",
  /** connections:read, for "acme" and "initech". */
  pair: "fce_scoped_acme_initech_0123456789ab",
  /** No scopes and no customers listed: everything. */
  ops: "fce_scoped_operations_0123456789abcde",
  /** token only (it cannot even read a connection's facts). */
  tokenOnly: "fce_scoped_token_only_0123456789abcd",
} as const;
export type ScopedKey = keyof typeof SCOPED;

/** The key names, as the request log and the audit trail show them. */
export const SCOPED_NAMES: Record<ScopedKey, string> = {
  reader: "reader",
  acme: "acme-app",
  pair: "acme-initech",
  ops: "ops",
  tokenOnly: "token-only",
};

export const SCOPED_API_KEYS = JSON.stringify([
  { name: SCOPED_NAMES.reader, key: SCOPED.reader, scopes: ["connections:read"] },
  { name: SCOPED_NAMES.acme, key: SCOPED.acme, customers: ["acme"] },
  { name: SCOPED_NAMES.pair, key: SCOPED.pair, scopes: ["connections:read"], customers: ["acme", "initech"] },
  { name: SCOPED_NAMES.ops, key: SCOPED.ops },
  { name: SCOPED_NAMES.tokenOnly, key: SCOPED.tokenOnly, scopes: ["token"] },
]);

/** The Worker with SCOPED_API_KEYS, and a caller that presents one of them. */
export function scopedWorker(extra: Parameters<typeof workerWith>[0] = {}): (who: ScopedKey) => Caller {
  for (const [name, key] of Object.entries(SCOPED)) markSecret(`scoped API key ${name}`, key);
  const worker = workerWith({ ...extra, API_KEYS: SCOPED_API_KEYS });
  return (who) =>
    (path, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set("authorization", `Bearer ${SCOPED[who]}`);
      return worker(path, { ...init, headers });
    };
}
