import type { EventSubject } from "../events/builders";
import {
  connectionCreated,
  connectionDisconnected,
  connectionReauthenticated,
  dataSynced,
  statusChanged,
} from "../events/builders";
import type { AppEvent, STATUS_CHANGE_REASONS, SYNC_JOB_TYPES } from "../events/model";
import type { StoredConnection } from "../storage/records";
import { CONNECTION_STATUS } from "../webhooks/event";
import type { WriterState } from "./state";

/**
 * Which lifecycle event a stored change is, decided in one place from the state before and
 * the record after the change, so no operation can store a change and forget its event. The
 * operation only says what caused it (the source of a new connection, why a status moved,
 * which Finch job finished). One change is at most one event: a re-authentication that also
 * moved the status is told by `connection.reauthenticated` alone (its `data.status`).
 * Changes the app has no event for (a token re-sealed under a new key, products or per-entity
 * facts refreshed without a status change) emit nothing.
 */
export type StatusReason = (typeof STATUS_CHANGE_REASONS)[number];
export type SyncJob = { job_type: (typeof SYNC_JOB_TYPES)[number]; job_id: string; completed_at: string };

export type Cause =
  | { op: "connect" }
  | { op: "import" }
  | { op: "status"; reason: StatusReason }
  | { op: "job"; job: SyncJob }
  | { op: "reseal" };

export function changeEvents(
  before: WriterState | undefined,
  after: StoredConnection,
  cause: Cause,
  at: string,
): AppEvent[] {
  const stamp = { generation: after.gen ?? 0, at };
  const prior = before?.kind === "live" ? before.record : undefined;
  const now = subject(after);
  if (!prior) return [connectionCreated(now, cause.op === "import" ? "import" : "connect", stamp)];
  if ((after.token_gen ?? 0) !== (prior.token_gen ?? 0)) return [connectionReauthenticated(now, stamp)];
  if (cause.op === "job") return [dataSynced(now, cause.job, stamp)];
  // A status can only move on Finch's word; a connect that did not change the token is rare
  // (the same token again) and its status check counts as an introspect.
  const reason = cause.op === "status" ? cause.reason : "introspect";
  const changed = statusChanged(now, eventStatus(prior.status), reason, stamp);
  return changed ? [changed] : [];
}

/** The tombstone a disconnect stores: `record` is the connection as it was. */
export function disconnectEvents(record: StoredConnection, gen: number, at: string): AppEvent[] {
  return [connectionDisconnected(subject(record), { generation: gen, at })];
}

/**
 * The record as an event may carry it. The record keeps what Finch sent (bounded, but not
 * always in the event schema's alphabet); a change must never fail to store because its
 * event would be invalid, so odd values are normalised here instead.
 */
function subject(r: StoredConnection): EventSubject {
  const provider = r.provider_id && r.provider_id.length <= 128 ? r.provider_id : null;
  return {
    connection_id: r.connection_id,
    customer_id: r.customer_id,
    status: eventStatus(r.status),
    products: r.products.filter((p) => p.length > 0 && p.length <= 64).slice(0, 64),
    provider_id: provider,
  };
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
