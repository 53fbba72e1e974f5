import * as v from "valibot";

/**
 * The stored shape of a connection (value of `conn:<connection_id>`), parsed from unknown
 * on every read so a corrupt or foreign value is reported, never trusted. The types are
 * derived from the schemas. docs/storage-schema.md describes the same layout for operators.
 */
export const RECORD_VERSION = 1;

const str = v.string();
const nullableStr = v.nullable(v.string());
const count = v.pipe(v.number(), v.integer(), v.minValue(0));
const short = (max: number) => v.pipe(v.string(), v.maxLength(max));

/** Per authentication method, as Finch's introspect reports it (bounded: a hostile upstream cannot grow KV). */
export const AuthMethodSchema = v.object({
  type: short(64),
  status: v.nullable(short(64)),
});
/** Per entity (multi-entity connections), as introspect reports it. */
export const EntitySchema = v.object({
  id: short(128),
  status: v.nullable(short(64)),
});
export const MAX_AUTH_METHODS = 8;
export const MAX_ENTITIES = 32;

const SealedSchema = v.object({ kid: str, iv: str, ct: str });

export const ConnectionFactsSchema = v.object({
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
  /** Finch's connection status: connected, reauth, error_*, pending, processing, ... */
  status: str,
  /** When `status` was last set by this Worker (connect, introspect, a proxied 401), ISO-8601. */
  status_at: str,
  created_at: str,
  updated_at: str,
  /** From the last completed introspect; absent until one ran. */
  last_successful_sync: v.optional(nullableStr),
  authentication_methods: v.optional(v.nullable(v.pipe(v.array(AuthMethodSchema), v.maxLength(MAX_AUTH_METHODS)))),
  entities: v.optional(v.nullable(v.pipe(v.array(EntitySchema), v.maxLength(MAX_ENTITIES)))),
  /**
   * When Finch's initial sync last completed (its `job.initial_data_sync_*` webhook, as received):
   * data endpoints answer from then on. Absent or null until one was received.
   */
  last_initial_sync_at: v.optional(nullableStr),
  /** When Finch's last `job.data_sync_all` completed, as received. */
  last_data_sync_all_at: v.optional(nullableStr),
  /**
   * The connection's writer generation: +1 on every change. Absent on records written before
   * the single writer existed; the writer adopts them as generation 0.
   */
  gen: v.optional(count),
});

export const StoredConnectionSchema = v.object({
  v: v.literal(RECORD_VERSION),
  ...ConnectionFactsSchema.entries,
  /** The generation at which the token last changed (connect or re-authentication). */
  token_gen: v.optional(count),
  token: SealedSchema,
});

export type ConnectionFacts = v.InferOutput<typeof ConnectionFactsSchema>;
export type StoredConnection = v.InferOutput<typeof StoredConnectionSchema>;
export type AuthMethod = v.InferOutput<typeof AuthMethodSchema>;
export type EntityStatus = v.InferOutput<typeof EntitySchema>;

/**
 * Facts only: what the API, RPC and listings return. Never the token. The data readiness
 * fields are always present (null until Finch reported them), so callers need not tell
 * "unknown" from "missing".
 */
export function publicFacts(record: StoredConnection): ConnectionFacts {
  const { v: _v, token: _t, token_gen: _tg, ...facts } = record;
  return { ...facts, ...readiness(facts) };
}

/** The data readiness fields of a connection, each null until Finch reported it. */
export function readiness(f: ConnectionFacts) {
  return {
    authentication_methods: f.authentication_methods ?? null,
    entities: f.entities ?? null,
    last_successful_sync: f.last_successful_sync ?? null,
    last_initial_sync_at: f.last_initial_sync_at ?? null,
    last_data_sync_all_at: f.last_data_sync_all_at ?? null,
  };
}
