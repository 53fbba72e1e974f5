import * as v from "valibot";
import { AppError } from "../errors";
import { CONNECTION_STATUS, ConnectionIdSchema } from "../finch/schemas";
import { toBase64Url } from "../lib/encoding";
import { MAX_AUTH_METHODS, MAX_ENTITIES } from "../storage/records";

/**
 * Lifecycle events this service tells the app about (docs/events.md). One schema per type,
 * every type derived from it. Objects are strict: a field not listed here (a token, say)
 * makes the event invalid instead of riding along to the app's queue or webhook.
 */
export const EVENT_ID = /^evt_[A-Za-z0-9_-]{16,64}$/;

/**
 * The most an event's JSON can take, in UTF-8 bytes: the bounds below allow about 36 KB (a
 * test builds the largest one). Usually under 2 KB. Queues take 128 KB a message.
 */
export const EVENT_MAX_BYTES = 40 * 1024;

const status = v.pipe(v.string(), v.regex(CONNECTION_STATUS));
const isoTime = v.pipe(v.string(), v.isoTimestamp());
const name = (max: number) => v.pipe(v.string(), v.minLength(1), v.maxLength(max));
/** Finch's names and ids as events carry them: printable ASCII, so an event's size is bounded in bytes too. */
export const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;
const ascii = (max: number) => v.pipe(v.string(), v.regex(PRINTABLE_ASCII), v.maxLength(max));
const products = v.pipe(v.array(ascii(64)), v.maxLength(64));
const generation = v.pipe(v.number(), v.integer(), v.minValue(0));

/**
 * The connection as stored after the change (the same names as the API's connection object,
 * docs/api.md), in every event. Per connection, the event with the highest generation holds the
 * current state: a receiver that drops older events loses nothing (docs/events.md, "The
 * receiver rule"). Lists keep the stored record's bounded prefixes.
 */
export const ConnectionStateSchema = v.strictObject({
  generation,
  status,
  customer_id: name(255),
  provider_id: v.nullable(ascii(128)),
  products,
  authentication_methods: v.nullable(
    v.pipe(v.array(v.strictObject({ type: ascii(64), status: v.nullable(ascii(64)) })), v.maxLength(MAX_AUTH_METHODS)),
  ),
  entities: v.nullable(
    v.pipe(v.array(v.strictObject({ id: ascii(128), status: v.nullable(ascii(64)) })), v.maxLength(MAX_ENTITIES)),
  ),
  last_successful_sync: v.nullable(isoTime),
  last_initial_sync_at: v.nullable(isoTime),
  last_data_sync_all_at: v.nullable(isoTime),
});
export type ConnectionState = v.InferOutput<typeof ConnectionStateSchema>;
/** The fields of `connection` a `connection.updated` can name (the generation always moves). */
export const STATE_FIELDS = [
  "status",
  "customer_id",
  "provider_id",
  "products",
  "authentication_methods",
  "entities",
  "last_successful_sync",
  "last_initial_sync_at",
  "last_data_sync_all_at",
] as const satisfies readonly Exclude<keyof ConnectionState, "generation">[];

const envelope = {
  id: v.pipe(v.string(), v.regex(EVENT_ID)),
  connection_id: ConnectionIdSchema,
  customer_id: name(255),
  /** The connection's generation after the change: receivers keep the event with the highest. */
  generation,
  occurred_at: isoTime,
  connection: ConnectionStateSchema,
};

export const STATUS_CHANGE_REASONS = ["webhook", "introspect", "proxy_401", "reconcile", "entity_disconnect"] as const;
export const CREATED_SOURCES = ["connect", "import", "sandbox"] as const;

/** One event type's schema: the envelope every event carries, its type, and its own `data`. */
const lifecycleEvent = <T extends string, D extends v.ObjectEntries>(type: T, data: D) =>
  v.strictObject({ ...envelope, type: v.literal(type), data: v.strictObject(data) });

const CreatedSchema = lifecycleEvent("connection.created", {
  source: v.picklist(CREATED_SOURCES),
  status,
  products,
  provider_id: v.nullable(ascii(128)),
});

const ReauthenticatedSchema = lifecycleEvent("connection.reauthenticated", { status, products });

const StatusChangedSchema = lifecycleEvent("connection.status_changed", {
  old_status: v.nullable(status),
  new_status: status,
  reason: v.picklist(STATUS_CHANGE_REASONS),
});

/** Finch job types whose completion means data can be read (see jobCompletion below). */
export const SYNC_JOB_TYPES = ["initial_data_sync_org", "initial_data_sync_payroll", "data_sync_all"] as const;

const DataSyncedSchema = lifecycleEvent("connection.data_synced", {
  job_type: v.picklist(SYNC_JOB_TYPES),
  job_id: name(128),
  completed_at: isoTime,
});

const UpdatedSchema = lifecycleEvent("connection.updated", {
  changed: v.pipe(v.array(v.picklist(STATE_FIELDS)), v.minLength(1), v.maxLength(STATE_FIELDS.length)),
  reason: v.picklist(STATUS_CHANGE_REASONS),
});

const DisconnectedSchema = lifecycleEvent("connection.disconnected", { old_status: v.nullable(status) });

export const AppEventSchema = v.variant("type", [
  CreatedSchema,
  ReauthenticatedSchema,
  StatusChangedSchema,
  DataSyncedSchema,
  UpdatedSchema,
  DisconnectedSchema,
]);

export type AppEvent = v.InferOutput<typeof AppEventSchema>;
export type AppEventType = AppEvent["type"];
export const APP_EVENT_TYPES: readonly AppEventType[] = AppEventSchema.options.map((o) => o.entries.type.literal);

/** What a caller gives newEvent: one type's fields minus the ones newEvent fills in. */
export type NewEventInput = {
  [T in AppEventType]: Omit<Extract<AppEvent, { type: T }>, "id" | "occurred_at"> & { occurred_at?: string };
}[AppEventType];

/** `evt_` and 128 random bits. Fixed when the event is built, so every redelivery carries the same id. */
export const newEventId = (): string => `evt_${toBase64Url(crypto.getRandomValues(new Uint8Array(16)))}`;

/**
 * Builds one event and checks it against its schema. Throws internal_error naming the field
 * when the caller passes something invalid: that is a bug in the caller, never user input.
 *
 * @example
 * newEvent({ type: "connection.status_changed", connection_id, customer_id, generation: 7,
 *   data: { old_status: "connected", new_status: "reauth", reason: "proxy_401" } })
 */
export function newEvent(input: NewEventInput): AppEvent {
  const candidate = { ...input, id: newEventId(), occurred_at: input.occurred_at ?? new Date().toISOString() };
  return parseAppEvent(candidate, "internal_error");
}

/** Parses a stored or queued event from unknown; the error names the first bad field. */
export function parseAppEvent(value: unknown, code: "internal_error" | "body_invalid" = "body_invalid"): AppEvent {
  const parsed = v.safeParse(AppEventSchema, value);
  if (!parsed.success) {
    const field = v.getDotPath(parsed.issues[0] as v.BaseIssue<unknown>) ?? "event";
    throw new AppError(code, `app event ${field} invalid`);
  }
  const event = parsed.output;
  // One number, said twice: the envelope's (to order events) and the state's (to keep it).
  if (event.connection.generation !== event.generation || event.connection.customer_id !== event.customer_id) {
    throw new AppError(code, "app event connection invalid");
  }
  return event;
}

const JOB_EVENT = /^job\.([a-z_]+)\.(completed|succeeded)$/;

/**
 * Reads a Finch job event (`job.initial_data_sync_org.succeeded`, `job.data_sync_all.completed`)
 * into the job it names; undefined for any other event or job type. A claim only: Finch's
 * payload carries no completion time, and the writer asks Finch whether the job completed
 * (src/writer/job-check.ts) before anything is recorded.
 */
export function jobCompletion(
  eventType: string,
  data: unknown,
): Omit<Extract<AppEvent, { type: "connection.data_synced" }>["data"], "completed_at"> | undefined {
  const jobType = JOB_EVENT.exec(eventType)?.[1];
  if (!jobType || !(SYNC_JOB_TYPES as readonly string[]).includes(jobType)) return undefined;
  const jobId = v.safeParse(v.object({ job_id: name(128) }), data);
  if (!jobId.success) return undefined;
  return { job_type: jobType as (typeof SYNC_JOB_TYPES)[number], job_id: jobId.output.job_id };
}
