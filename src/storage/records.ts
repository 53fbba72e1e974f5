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
/**
 * Per entity (multi-entity connections), as introspect reports it. `name` and `source_id` are
 * absent on records stored before they were kept (the API shows them as null).
 */
export const EntitySchema = v.object({
  id: short(128),
  name: v.optional(v.nullable(short(255))),
  source_id: v.optional(v.nullable(short(255))),
  status: v.nullable(short(64)),
});
/** An entity as the API and listings show it: every field present, null when Finch did not say. */
export const EntityViewSchema = v.object({
  id: short(128),
  name: v.nullable(short(255)),
  source_id: v.nullable(short(255)),
  status: v.nullable(short(64)),
});
export const MAX_AUTH_METHODS = 8;
export const MAX_ENTITIES = 32;
/** Distinct entity statuses counted one by one; any further status is counted under "other". */
export const MAX_ENTITY_STATUSES = 8;
/** Entities by status, over every entity Finch listed (not only the stored prefix). */
export const EntityCountsSchema = v.pipe(v.record(short(64), count), v.maxEntries(MAX_ENTITY_STATUSES + 1));

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
  /** Counts of `entities` by status, from the last introspect (every entity, not only the stored prefix). */
  entity_counts: v.optional(v.nullable(EntityCountsSchema)),
  /** The entity ids Finch's token answer (or sandbox answer) listed, a bounded prefix; absent on older records. */
  entity_ids: v.optional(v.nullable(v.pipe(v.array(short(128)), v.maxLength(MAX_ENTITIES)))),
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
  return { ...facts, ...readiness(facts), entity_ids: facts.entity_ids ?? null };
}

/** The data readiness fields: null until Finch reported them; a re-authentication keeps them. */
export const READINESS_FIELDS = [
  "authentication_methods",
  "entities",
  "entity_counts",
  "last_successful_sync",
  "last_initial_sync_at",
  "last_data_sync_all_at",
] as const satisfies readonly (keyof ConnectionFacts)[];

/** The readiness fields as the API and listings show them: always present, possibly null. */
export const ReadinessViewSchema = v.object({
  authentication_methods: v.nullable(v.pipe(v.array(AuthMethodSchema), v.maxLength(MAX_AUTH_METHODS))),
  entities: v.nullable(v.pipe(v.array(EntityViewSchema), v.maxLength(MAX_ENTITIES))),
  entity_counts: v.nullable(EntityCountsSchema),
  last_successful_sync: v.nullable(v.string()),
  last_initial_sync_at: v.nullable(v.string()),
  last_data_sync_all_at: v.nullable(v.string()),
} satisfies Record<(typeof READINESS_FIELDS)[number], unknown>);

/** The readiness view of a connection's facts (ReadinessViewSchema). */
export function readiness(f: ConnectionFacts): v.InferOutput<typeof ReadinessViewSchema> {
  return {
    authentication_methods: f.authentication_methods ?? null,
    ...entityFacts(f.entities, f.entity_counts),
    last_successful_sync: f.last_successful_sync ?? null,
    last_initial_sync_at: f.last_initial_sync_at ?? null,
    last_data_sync_all_at: f.last_data_sync_all_at ?? null,
  };
}

/** The readiness fields a stored record has (absent ones stay absent), to carry into its next version. */
export function storedReadiness(r: StoredConnection): Partial<StoredConnection> {
  const kept: Partial<StoredConnection> = {};
  for (const field of READINESS_FIELDS) if (r[field] !== undefined) Object.assign(kept, { [field]: r[field] });
  return kept;
}

/**
 * The entities as the API and listings show them, with their counts by status (counted from
 * the stored entities for a record or listing entry written before counts were kept).
 */
export function entityFacts(
  entities: readonly EntityStatus[] | null | undefined,
  counts: Record<string, number> | null | undefined,
) {
  return {
    entities: entities ? entities.map(entityView) : null,
    entity_counts: counts ?? (entities ? entityCounts(entities) : null),
  };
}

/** An entity as the API shows it: every field present (null when Finch did not say, or the record predates it). */
const entityView = (e: EntityStatus): v.InferOutput<typeof EntityViewSchema> => ({
  id: e.id,
  name: e.name ?? null,
  source_id: e.source_id ?? null,
  status: e.status,
});

/**
 * Entities by status (null status counted as "unknown"), at most MAX_ENTITY_STATUSES distinct
 * ones and "other" for the rest: a hostile upstream cannot grow the record with statuses.
 */
export function entityCounts(entities: readonly { status?: string | null | undefined }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  let distinct = 0;
  for (const e of entities) {
    let key = (e.status ?? "unknown").slice(0, 64);
    if (!Object.hasOwn(counts, key)) {
      if (distinct >= MAX_ENTITY_STATUSES) key = "other";
      else distinct++;
    }
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
