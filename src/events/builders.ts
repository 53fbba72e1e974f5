import { type AppEvent, newEvent, type STATUS_CHANGE_REASONS, type SYNC_JOB_TYPES } from "./model";

/**
 * One builder per lifecycle change, for the connection's writer. Each takes the connection as
 * stored after the change (any record with these fields: the builders copy only what an event
 * may carry, so passing a whole record, sealed token included, is safe) and the generation the
 * change was stored under.
 */
export interface EventSubject {
  connection_id: string;
  customer_id: string;
  status: string;
  products: readonly string[];
  provider_id: string | null;
}

export interface Stamp {
  /** The connection's generation after the change. */
  generation: number;
  /** When the change was stored; default now. */
  at?: string;
}

const envelope = (c: EventSubject, stamp: Stamp) => ({
  connection_id: c.connection_id,
  customer_id: c.customer_id,
  generation: stamp.generation,
  ...(stamp.at ? { occurred_at: stamp.at } : {}),
});

export const connectionCreated = (c: EventSubject, source: "connect" | "import", stamp: Stamp): AppEvent =>
  newEvent({
    ...envelope(c, stamp),
    type: "connection.created",
    data: { source, status: c.status, products: [...c.products], provider_id: c.provider_id },
  });

export const connectionReauthenticated = (c: EventSubject, stamp: Stamp): AppEvent =>
  newEvent({
    ...envelope(c, stamp),
    type: "connection.reauthenticated",
    data: { status: c.status, products: [...c.products] },
  });

/**
 * The status moved from `oldStatus` to `c.status`; undefined when it did not move (a repeated
 * webhook or an introspect that found nothing new changes nothing, so it tells nothing).
 */
export function statusChanged(
  c: EventSubject,
  oldStatus: string | null,
  reason: (typeof STATUS_CHANGE_REASONS)[number],
  stamp: Stamp,
): AppEvent | undefined {
  if (oldStatus === c.status) return undefined;
  return newEvent({
    ...envelope(c, stamp),
    type: "connection.status_changed",
    data: { old_status: oldStatus, new_status: c.status, reason },
  });
}

export const dataSynced = (
  c: EventSubject,
  job: { job_type: (typeof SYNC_JOB_TYPES)[number]; job_id: string; completed_at: string },
  stamp: Stamp,
): AppEvent => newEvent({ ...envelope(c, stamp), type: "connection.data_synced", data: { ...job } });

/** `c` is the connection as it was before the disconnect: its status becomes `old_status`. */
export const connectionDisconnected = (c: EventSubject, stamp: Stamp): AppEvent =>
  newEvent({ ...envelope(c, stamp), type: "connection.disconnected", data: { old_status: c.status } });
