import * as v from "valibot";

/**
 * Shapes of Finch's answers, parsed from unknown. Only what we use is required; extra
 * fields are ignored. Bounds keep a hostile or broken upstream from filling KV.
 */
const text = (max: number) => v.pipe(v.string(), v.minLength(1), v.maxLength(max));
const optionalText = (max: number) => v.nullish(v.pipe(v.string(), v.maxLength(max)));
const CONNECTION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** Finch's connection id shape: the one rule wherever an id comes in (API, RPC, tickets, webhooks, events). */
export const ConnectionIdSchema = v.pipe(v.string(), v.regex(CONNECTION_ID));
/**
 * An entity id as this service takes it from a caller (API body, proxy query): Finch's are
 * UUIDs; the rule is the connection id's, so nothing but letters, digits, _ and - reaches Finch.
 */
export const EntityIdSchema = v.pipe(v.string(), v.regex(CONNECTION_ID));
/** Finch's connection statuses today: pending, processing, connected, error_*, reauth. New ones are stored as sent. */
export const CONNECTION_STATUS = /^[a-z][a-z_]{0,39}$/;
const products = v.pipe(v.array(v.pipe(v.string(), v.maxLength(64))), v.maxLength(64));
/** Entities are read generously (a long list is not an error) but bounded; a record keeps a bounded prefix. */
export const MAX_FINCH_ENTITIES = 10_000;
const entityId = text(128);

export const SessionSchema = v.object({
  session_id: text(256),
  connect_url: v.pipe(v.string(), v.maxLength(2048), v.url()),
});

/** What Finch says of a connection in its token answer and its introspect answer alike. */
const connectionFacts = {
  client_type: optionalText(64),
  connection_type: optionalText(64),
  products: v.nullish(products),
  provider_id: optionalText(128),
  company_id: optionalText(128),
  account_id: optionalText(128),
  customer_id: optionalText(255),
  customer_name: optionalText(255),
};

export const TokenSchema = v.object({
  access_token: text(4096),
  connection_id: ConnectionIdSchema,
  token_type: v.optional(v.string()),
  ...connectionFacts,
  entity_ids: v.nullish(v.pipe(v.array(entityId), v.maxLength(MAX_FINCH_ENTITIES))),
});
export type TokenResponse = v.InferOutput<typeof TokenSchema>;

const statusObject = v.object({
  status: v.nullish(text(64)),
  last_successful_sync: optionalText(64),
  message: optionalText(1024),
});

/** Read generously (a long list is not an error); the record keeps a bounded prefix. */
const AuthenticationMethodSchema = v.object({
  type: text(64),
  connection_status: v.nullish(statusObject),
});
const EntitySchema = v.object({
  id: entityId,
  name: optionalText(255),
  source_id: optionalText(255),
  status: optionalText(64),
});

export const IntrospectSchema = v.object({
  connection_id: v.nullish(ConnectionIdSchema),
  connection_status: v.nullish(statusObject),
  authentication_methods: v.nullish(v.pipe(v.array(AuthenticationMethodSchema), v.maxLength(1000))),
  entities: v.nullish(v.pipe(v.array(EntitySchema), v.maxLength(MAX_FINCH_ENTITIES))),
  ...connectionFacts,
  customer_email: optionalText(320),
});
export type Introspection = v.InferOutput<typeof IntrospectSchema>;

export const DisconnectSchema = v.object({ status: v.string() });

/** POST /sandbox/connections (the SDK's ConnectionCreateResponse). */
export const SandboxConnectionSchema = v.object({
  access_token: text(4096),
  connection_id: ConnectionIdSchema,
  token_type: v.optional(v.string()),
  entity_id: v.nullish(entityId),
  /** Not in Finch's sandbox answer today; read if it ever lists every entity. */
  entity_ids: v.nullish(v.pipe(v.array(entityId), v.maxLength(MAX_FINCH_ENTITIES))),
  provider_id: text(128),
  products,
  authentication_type: optionalText(64),
  company_id: optionalText(128),
  account_id: optionalText(128),
});

/** A job id as Finch gives it (a UUID): checked before it goes into a path. */
export const JobIdSchema = v.pipe(v.string(), v.regex(CONNECTION_ID));
const count = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1_000_000));

/** POST /jobs/automated: a job (new or the running one), or none and retry_at when the hour's refresh is used. */
export const RefreshSchema = v.object({
  allowed_refreshes: count,
  remaining_refreshes: count,
  job_id: v.nullish(JobIdSchema),
  job_url: v.nullish(v.pipe(v.string(), v.maxLength(2048))),
  retry_at: optionalText(64),
});

/** Finch's refusal of a forced refresh over the hourly limit: the quota and when to retry. */
export const RefreshLimitSchema = v.object({
  allowed_refreshes: count,
  remaining_refreshes: count,
  retry_at: text(64),
});

export const JOB_STATUSES = [
  "pending",
  "in_progress",
  "complete",
  "error",
  "reauth_error",
  "permissions_error",
] as const;

/** GET /jobs/automated/{job_id} (the SDK's AutomatedAsyncJob); an unknown status fails closed. */
export const JobSchema = v.object({
  job_id: JobIdSchema,
  type: text(64),
  status: v.picklist(JOB_STATUSES),
  created_at: optionalText(64),
  scheduled_at: optionalText(64),
  started_at: optionalText(64),
  completed_at: optionalText(64),
});
