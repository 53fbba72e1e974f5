import * as v from "valibot";
import { ERRORS, type ErrorCode } from "../errors";
import { ConnectionFactsSchema, ReadinessViewSchema } from "../storage/records";
import { AUDIT_ACTIONS } from "../writer/audit";

/**
 * What each operation answers, as schemas: the operations declare their return types from
 * them, docs/openapi.json is generated from them (scripts/openapi.ts), and
 * test/operations/outputs.test.ts checks real answers against them. The connection object
 * is the stored facts' schema itself (src/storage/records.ts), so a new stored fact is
 * documented the moment it is added.
 */
const count = v.pipe(v.number(), v.integer(), v.minValue(0));
const cursor = v.nullable(v.string());

export const ConnectionSchema = ConnectionFactsSchema;

export const ConnectionSummarySchema = v.object({
  ...v.pick(ConnectionFactsSchema, ["connection_id", "provider_id", "status", "created_at", "updated_at"]).entries,
  /** Null only for a listing entry whose metadata predates the customer fields. */
  customer_id: v.nullable(v.string()),
  customer_name: v.nullable(v.string()),
  /** Data readiness (docs/api.md): always present in a listing, null until Finch reports it. */
  ...ReadinessViewSchema.entries,
});

export const ConnectionPageSchema = v.object({
  connections: v.array(ConnectionSummarySchema),
  /** Pass back as `cursor` for the next page; null when this page was the last. */
  cursor,
});

export const AccessTokenSchema = v.object({ access_token: v.string() });

export const IntrospectedSchema = v.object({
  ...ConnectionFactsSchema.entries,
  /** Finch's status message, as it reported it; not stored. */
  status_message: v.nullable(v.string()),
});

export const DisconnectedSchema = v.object({
  connection_id: v.string(),
  disconnected: v.literal(true),
  /** "already_invalid": Finch no longer accepted the token; the record was removed anyway. */
  finch: v.picklist(["disconnected", "already_invalid"]),
});

export const EntitiesDisconnectedSchema = v.object({
  connection_id: v.string(),
  /** The entity ids asked for, once each. */
  entity_ids: v.array(v.string()),
  /** true: they were the connection's last entities; Finch ended it, and it is disconnected here too. */
  connection_disconnected: v.boolean(),
  /** The connection as stored after the change; null when it was disconnected. */
  connection: v.nullable(ConnectionFactsSchema),
});

export const SyncStartedSchema = v.object({
  /** Finch's job (the one already running, when there is one). */
  job_id: v.string(),
  allowed_refreshes: count,
  remaining_refreshes: count,
  /** When the next forced refresh is allowed (ISO-8601), when Finch says. */
  retry_at: v.nullable(v.string()),
});

const TallySchema = v.object({
  scanned: count,
  rewritten: count,
  remaining_on_old_keys: count,
  unreadable: count,
});

export const ReencryptResultSchema = v.object({
  ...TallySchema.entries,
  active_kid: v.string(),
  cursor,
  /** Totals since the pass began; complete when `cursor` is null. */
  pass: TallySchema,
});

export const ImportResultSchema = v.object({
  connection_id: v.string(),
  /** false: the connection was already stored for this customer, and nothing changed. */
  imported: v.boolean(),
  connection: ConnectionFactsSchema,
});

export const RedeliverResultSchema = v.object({
  redelivered: count,
  not_found: v.array(v.string()),
  unreadable: count,
  next_cursor: cursor,
});

export const AuditEntrySchema = v.object({
  seq: v.pipe(v.number(), v.integer(), v.minValue(1)),
  at: v.string(),
  action: v.picklist(AUDIT_ACTIONS),
  /** The API key's name, `key:` + 8 hex characters of a bare key's SHA-256, `rpc`, `connect`, `finch-webhook` or `cron`. */
  actor: v.string(),
  request_id: v.string(),
  /** SHA-256 (hex) of the previous entry's hash, a line break, and this entry's canonical JSON. */
  hash: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
});

export const AuditTrailSchema = v.object({
  connection_id: v.string(),
  /** Every kept entry checked against the chain on this read. */
  chain: v.picklist(["valid", "broken"]),
  /** The first seq still kept: the last 1,000 entries are kept, the last dropped one's hash anchors the chain. */
  retained_from: v.pipe(v.number(), v.integer(), v.minValue(1)),
  /** Oldest first. */
  entries: v.array(AuditEntrySchema),
  cursor,
});

/** The error body for one HTTP status (any status when omitted): `code` is a table code with that status. */
export function errorBodySchema(status?: number) {
  const all = Object.keys(ERRORS) as ErrorCode[];
  const codes = status === undefined ? all : all.filter((code) => ERRORS[code].status === status);
  const code = codes.length ? v.picklist(codes as [ErrorCode, ...ErrorCode[]]) : v.string();
  return v.object({ error: v.object({ code, message: v.string(), request_id: v.string() }) });
}

export type Out<S extends v.GenericSchema> = v.InferOutput<S>;
