import type { Introspection } from "../finch/schemas";
import {
  entityCounts,
  MAX_AUTH_METHODS,
  MAX_ENTITIES,
  MAX_ENTITY_STATUSES,
  type StoredConnection,
} from "../storage/records";
import type { SyncJob } from "./change-events";

/**
 * Finch's introspect answer applied to the stored record: Finch is the source of truth for
 * status, per authentication method and per entity (lists kept to a bounded prefix). The
 * customer's identity stays as the app's ticket set it. undefined when nothing changed, so
 * an unchanged answer costs no KV write.
 */
export function applyIntrospection(
  record: StoredConnection,
  facts: Introspection,
  now: Date,
): StoredConnection | undefined {
  const status = facts.connection_status?.status ?? record.status;
  const next: StoredConnection = {
    ...record,
    status,
    provider_id: facts.provider_id ?? record.provider_id,
    products: facts.products ?? record.products,
    client_type: facts.client_type ?? record.client_type,
    connection_type: facts.connection_type ?? record.connection_type,
    company_id: facts.company_id ?? record.company_id,
    account_id: facts.account_id ?? record.account_id,
    last_successful_sync: facts.connection_status?.last_successful_sync ?? record.last_successful_sync ?? null,
  };
  if (facts.authentication_methods) {
    next.authentication_methods = facts.authentication_methods
      .slice(0, MAX_AUTH_METHODS)
      .map((m) => ({ type: m.type, status: m.connection_status?.status ?? null }));
  }
  if (facts.entities) {
    next.entities = facts.entities.slice(0, MAX_ENTITIES).map((e) => ({
      id: e.id,
      name: e.name ?? null,
      source_id: e.source_id ?? null,
      status: e.status ?? null,
    }));
    // Counted over every entity Finch listed: the stored list is only a prefix.
    next.entity_counts = entityCounts(facts.entities);
  }
  if (sameFacts(record, next)) return undefined;
  const at = now.toISOString();
  return { ...next, ...(status !== record.status ? { status_at: at } : {}), updated_at: at };
}

/**
 * Entities Finch has just disconnected (POST /disconnect-entity answered success) when it
 * could not be asked for the result: those of the stored entities become "disconnected" and
 * the counts follow. undefined when none of them is stored (nothing known to change).
 */
export function markedEntitiesDisconnected(
  record: StoredConnection,
  entityIds: readonly string[],
  now: Date,
): StoredConnection | undefined {
  const ids = new Set(entityIds);
  const entities = record.entities ?? [];
  const changed = entities.filter((e) => ids.has(e.id) && e.status !== DISCONNECTED);
  if (changed.length === 0) return undefined;
  const next = entities.map((e) => (ids.has(e.id) ? { ...e, status: DISCONNECTED } : e));
  // Counts cover every entity Finch listed, the stored list only a prefix: moved one by one.
  const counts = { ...(record.entity_counts ?? entityCounts(entities)) };
  const fold = (status: string) =>
    Object.hasOwn(counts, status) || Object.keys(counts).filter((k) => k !== "other").length < MAX_ENTITY_STATUSES
      ? status
      : "other";
  for (const e of changed) {
    const from = Object.hasOwn(counts, e.status ?? "unknown") ? (e.status ?? "unknown") : "other";
    if ((counts[from] ?? 0) > 1) counts[from] = (counts[from] as number) - 1;
    else delete counts[from];
    const to = fold(DISCONNECTED);
    counts[to] = (counts[to] ?? 0) + 1;
  }
  return { ...record, entities: next, entity_counts: counts, updated_at: now.toISOString() };
}

const DISCONNECTED = "disconnected";

/**
 * Whether `entityIds` name every entity of the connection not already disconnected, as far as
 * the record knows them completely (introspect's entities, else the exchange's entity ids; a
 * stored list shorter than Finch's count is a prefix and proves nothing). Then a token Finch
 * refuses right after disconnecting them is explained: Finch ended the connection with its
 * last entities (and not, say, a re-authentication that replaced the token meanwhile).
 */
export function namesEveryLiveEntity(record: StoredConnection, entityIds: readonly string[]): boolean {
  const ids = new Set(entityIds);
  const known = record.entities ?? record.entity_ids?.map((id) => ({ id, status: null }));
  if (!known || known.length === 0) return false;
  const counted = record.entity_counts ? Object.values(record.entity_counts).reduce((a, b) => a + b, 0) : 0;
  if (counted > known.length) return false;
  return known.every((e) => e.status === DISCONNECTED || ids.has(e.id));
}

/** Reauth as Finch's data endpoints report it (401 reauthenticate_user): undefined when already so. */
export function markedReauth(record: StoredConnection, now: Date): StoredConnection | undefined {
  if (record.status === "reauth") return undefined;
  const at = now.toISOString();
  return { ...record, status: "reauth", status_at: at, updated_at: at };
}

/**
 * A finished Finch sync recorded: an initial sync (org or payroll) sets `last_initial_sync_at`,
 * `data_sync_all` sets `last_data_sync_all_at`. Finch delivers out of order, so a time never
 * moves back; undefined when it would not move forward.
 */
export function recordedSync(record: StoredConnection, job: SyncJob, now: Date): StoredConnection | undefined {
  const field = job.job_type === "data_sync_all" ? "last_data_sync_all_at" : "last_initial_sync_at";
  const stored = record[field] ?? null;
  // Nothing newer than what is stored: no change, and so no event.
  if (stored !== null && stored >= job.completed_at) return undefined;
  return { ...record, [field]: job.completed_at, updated_at: now.toISOString() };
}

function sameFacts(a: StoredConnection, b: StoredConnection): boolean {
  const pick = (r: StoredConnection) =>
    JSON.stringify([
      r.status,
      r.provider_id,
      r.products,
      r.client_type,
      r.connection_type,
      r.company_id,
      r.account_id,
      r.last_successful_sync ?? null,
      r.authentication_methods ?? null,
      r.entities ?? null,
      r.entity_counts ?? null,
    ]);
  return pick(a) === pick(b);
}
