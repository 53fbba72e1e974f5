import * as v from "valibot";
import type { EventSubject } from "../app-events/builders";
import {
  connectionCreated,
  connectionDisconnected,
  connectionReauthenticated,
  connectionUpdated,
  dataSynced,
  statusChanged,
} from "../app-events/builders";
import {
  type AppEvent,
  type ConnectionState,
  ConnectionStateSchema,
  PRINTABLE_ASCII,
  STATE_FIELDS,
  type STATUS_CHANGE_REASONS,
  type SYNC_JOB_TYPES,
} from "../app-events/model";
import { CONNECTION_STATUS } from "../finch/schemas";
import { MAX_AUTH_METHODS, MAX_ENTITIES, type StoredConnection } from "../storage/records";
import type { WriterState } from "./state";

/**
 * Which lifecycle event a stored change is, decided in one place from the state before and
 * the record after the change, so no operation can store a change and forget its event. The
 * operation only says what caused it (the source of a new connection, why a status moved,
 * which Finch job finished). One change is at most one event, and every event carries the
 * connection as stored after it (`connection`): a re-authentication that also moved the status
 * is told by `connection.reauthenticated` alone. A change of the connection's facts with no
 * other event (products, per-entity or per-method status, `last_successful_sync` refreshed by an
 * introspect) is `connection.updated`, so the newest event always holds the current state.
 * Changes the app cannot see (a token re-sealed under a new key, facts events do not carry)
 * emit nothing.
 */
export type StatusReason = (typeof STATUS_CHANGE_REASONS)[number];
export type SyncJob = { job_type: (typeof SYNC_JOB_TYPES)[number]; job_id: string; completed_at: string };
/** A job as a Finch webhook names it: not yet confirmed, and without a time (Finch's is recorded). */
export type SyncJobClaim = Omit<SyncJob, "completed_at">;

export type Cause =
  | { op: "connect" }
  | { op: "import" }
  | { op: "sandbox" }
  | { op: "status"; reason: StatusReason }
  | { op: "job"; job: SyncJob }
  | { op: "reencrypt" };

export function changeEvents(
  before: WriterState | undefined,
  after: StoredConnection,
  cause: Cause,
  at: string,
): AppEvent[] {
  const prior = before?.kind === "live" ? before.record : undefined;
  const now = subject(after, after.gen ?? 0);
  if (!prior) return [connectionCreated(now, createdSource(cause), at)];
  if ((after.token_gen ?? 0) !== (prior.token_gen ?? 0)) return [connectionReauthenticated(now, at)];
  if (cause.op === "job") return [dataSynced(now, cause.job, at)];
  // A re-seal changes how the token is stored, nothing an event shows.
  if (cause.op === "reencrypt") return [];
  // A status can only move on Finch's word; a connect that did not change the token is rare
  // (the same token again) and its status check counts as an introspect.
  const reason = cause.op === "status" ? cause.reason : "introspect";
  const was = connectionState(prior, prior.gen ?? 0);
  const moved = statusChanged(now, was.status, reason, at);
  if (moved) return [moved];
  const changed = STATE_FIELDS.filter((f) => JSON.stringify(was[f]) !== JSON.stringify(now.connection[f]));
  return changed.length ? [connectionUpdated(now, changed, reason, at)] : [];
}

/** How a new connection came to be stored: a Connect flow, an imported token, or Finch's sandbox. */
const createdSource = (cause: Cause) => (cause.op === "import" || cause.op === "sandbox" ? cause.op : "connect");

/** The status a disconnected connection's state shows in its events (a connection never has it at Finch). */
const DISCONNECTED = "disconnected";

/**
 * The tombstone a disconnect stores: `record` is the connection as it was, `gen` the
 * tombstone's generation. Its state is the record's last with status `disconnected`.
 */
export function disconnectEvents(record: StoredConnection, gen: number, at: string): AppEvent[] {
  const c = subject(record, gen);
  const gone = { ...c, connection: { ...c.connection, status: DISCONNECTED } };
  return [connectionDisconnected(gone, eventStatus(record.status), at)];
}

const subject = (r: StoredConnection, gen: number): EventSubject => ({
  connection_id: r.connection_id,
  connection: connectionState(r, gen),
});

/**
 * The record as an event carries it. The record keeps what Finch sent (bounded, but not always
 * in the event schema's alphabet); a change must never fail to store because its event would
 * be invalid, so odd values are normalised here instead: a status outside `[a-z_]` is folded,
 * Finch's names and ids outside printable ASCII or their length are left out (the API still
 * shows them), lists keep the record's bounded prefix, a time that is not ISO-8601 is re-read
 * or null.
 */
function connectionState(r: StoredConnection, gen: number): ConnectionState {
  const methods = r.authentication_methods
    ? carried(r.authentication_methods, (m) => m.type, 64, MAX_AUTH_METHODS)
    : null;
  const entities = r.entities ? carried(r.entities, (e) => e.id, 128, MAX_ENTITIES) : null;
  return {
    generation: gen,
    status: eventStatus(r.status),
    customer_id: r.customer_id,
    provider_id: ascii(r.provider_id, 128),
    products: carried(r.products, (p) => p, 64, 64),
    authentication_methods: methods?.map((m) => ({ type: m.type, status: ascii(m.status, 64) })) ?? null,
    entities: entities?.map((e) => ({ id: e.id, status: ascii(e.status, 64) })) ?? null,
    last_successful_sync: isoTime(r.last_successful_sync),
    last_initial_sync_at: isoTime(r.last_initial_sync_at),
    last_data_sync_all_at: isoTime(r.last_data_sync_all_at),
  };
}

const ascii = (value: string | null | undefined, max: number): string | null =>
  typeof value === "string" && value.length <= max && PRINTABLE_ASCII.test(value) ? value : null;

/**
 * A stored list as events carry it: the entries whose name (`nameOf`) an event can hold
 * (printable ASCII, at most `nameMax`), the first `max` of them.
 */
const carried = <T>(list: readonly T[], nameOf: (item: T) => string, nameMax: number, max: number): T[] =>
  list.filter((item) => ascii(nameOf(item), nameMax) !== null).slice(0, max);

const isoTimeSchema = ConnectionStateSchema.entries.last_successful_sync.wrapped;

function isoTime(value: string | null | undefined): string | null {
  if (typeof value !== "string" || value.length > 64) return null;
  if (v.is(isoTimeSchema, value)) return value;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return null;
  const iso = new Date(ms).toISOString();
  // Years past 9999 print as "+010000-...", which is not ISO-8601 for the schema.
  return v.is(isoTimeSchema, iso) ? iso : null;
}

function eventStatus(status: string): string {
  if (CONNECTION_STATUS.test(status)) return status;
  const folded = status
    .toLowerCase()
    .replace(/[^a-z_]+/g, "_")
    .replace(/^_+/, "")
    .slice(0, 40);
  return CONNECTION_STATUS.test(folded) ? folded : "unknown";
}
