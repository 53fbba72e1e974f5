import * as v from "valibot";
import type { Sealed } from "../crypto/keyring";

/**
 * The stored shape of a connection (value of `conn:<connection_id>`), parsed from unknown
 * on every read so a corrupt or foreign value is reported, never trusted.
 * docs/storage-schema.md describes the same layout for operators.
 */
export const RECORD_VERSION = 1;

export interface ConnectionFacts {
  connection_id: string;
  customer_id: string;
  customer_name: string;
  customer_email: string | null;
  provider_id: string | null;
  products: string[];
  client_type: string | null;
  connection_type: string | null;
  company_id: string | null;
  account_id: string | null;
  /** Finch's connection status: connected, reauth, error_*, pending, processing, ... */
  status: string;
  /** When `status` was last set, ISO-8601. Webhooks older than this do not overwrite it. */
  status_at: string;
  created_at: string;
  updated_at: string;
}

/** Webhook bookkeeping kept inside the record so an event costs one read and one write. */
export interface EventMarks {
  /** Most recent applied event ids, newest last, bounded. */
  recent_ids: string[];
}

export interface StoredConnection extends ConnectionFacts {
  v: typeof RECORD_VERSION;
  token: Sealed;
  events?: EventMarks;
}

const str = v.string();
const nullableStr = v.nullable(v.string());

export const StoredConnectionSchema = v.object({
  v: v.literal(RECORD_VERSION),
  connection_id: str,
  customer_id: str,
  customer_name: str,
  customer_email: nullableStr,
  provider_id: nullableStr,
  products: v.array(str),
  client_type: nullableStr,
  connection_type: nullableStr,
  company_id: nullableStr,
  account_id: nullableStr,
  status: str,
  status_at: str,
  created_at: str,
  updated_at: str,
  token: v.object({ kid: str, iv: str, ct: str }),
  events: v.optional(v.object({ recent_ids: v.array(str) })),
});

/** Facts only: what the API, RPC and listings return. Never the token. */
export function publicFacts(record: StoredConnection): ConnectionFacts {
  const { v: _v, token: _t, events: _e, ...facts } = record;
  return facts;
}
